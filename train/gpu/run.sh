#!/usr/bin/env bash
# The ablation on one lent GPU (H100/H200), in one go, under 9 minutes of wall time.
#
#   OUT=/path/to/out bash train/gpu/run.sh            # on the GPU machine, from the repo root, train/data carried
#   OUT=/tmp/out PY=/usr/bin/python3 bash train/gpu/run.sh --smoke    # CPU end-to-end check (tiny models)
#
# 1. prints torch/CUDA/GPU versions;
# 2. probes the step rate of all five runs *running together* for ~20 s (small models are launch-bound, so the
#    runs share the GPU well) and sizes the step count so the slowest run ends in ~5 minutes;
# 3. trains in parallel, same steps/batch/context/tokens for all: (A) kv: 6 × attn; (B) ttt-plain; (C) ttt-conv
#    (conv 4 + shareQK + gate); (D) ttt-hybrid [ttt,ttt,swa,ttt,ttt,swa], window 64; (E) D + --carry-state;
# 4. evaluates each (valid bpb; loss by position at 1×/2×/4× context), exports .bttt + golden JSON;
# 5. leaves in $OUT: results.tar (ablation.json, logs, golden JSONs, probe, versions), models-*.tar (.bttt files,
#    each tar ≤ 15.5 MB) and the f16 latent checkpoints of the two best runs (ckpt-NAME-f16.pt).
# A run that fails or runs out of time loses only itself; packing always happens (trap on EXIT).
set -u
SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
: "${OUT:?set OUT to the output folder}"
PY=${PY:-python3}
REPO=$(pwd)
WORK=${WORK:-$(mktemp -d /tmp/bttt-gpu.XXXXXX)}
START=$(date +%s)
mkdir -p "$OUT" "$WORK/runs" "$WORK/models" "$WORK/golden" "$WORK/configs"

if [[ $SMOKE == 1 ]]; then
  TOTAL_BUDGET=${TOTAL_BUDGET:-1500}; TRAIN_SECONDS=20; PROBE_SECONDS=3; BATCH=4; CONTEXT=32; MAX_STEPS=12
  THREADS=1; POS_WINDOWS=2; EVAL_SECONDS=10; PERIODIC_EVAL_TOKENS=1024; FINAL_EVAL_CAP=4096
else
  TOTAL_BUDGET=${TOTAL_BUDGET:-500}; TRAIN_SECONDS=${TRAIN_SECONDS:-270}; PROBE_SECONDS=20; BATCH=${BATCH:-64}
  CONTEXT=${CONTEXT:-256}; MAX_STEPS=${MAX_STEPS:-20000}; THREADS=3; POS_WINDOWS=64; EVAL_SECONDS=25; PERIODIC_EVAL_TOKENS=65536
  FINAL_EVAL_CAP=100000000
fi
DEADLINE=$((START + TOTAL_BUDGET))
LR=${LR:-1.5e-3}
left() { echo $((DEADLINE - $(date +%s))); }
say() { echo "[$(( $(date +%s) - START ))s] $*"; }

pack() {
  say "packing results"
  timeout 60 "$PY" train/gpu/pack_results.py --work "$WORK" --out "$OUT" || say "packing failed (rc $?)"
  ls -la "$OUT"
  say "done"
}
trap pack EXIT

# ---------------------------------------------------------------------------------------------- 1. versions
{
  "$PY" - <<'EOF'
import platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda,
      "| cudnn", torch.backends.cudnn.version() if torch.cuda.is_available() else None)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, f"{p.total_memory / 2**30:.1f} GiB", f"sm {p.major}.{p.minor}", "count", torch.cuda.device_count())
else:
    print("no CUDA device: running on the CPU")
EOF
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nproc
} 2>&1 | tee "$WORK/versions.txt"

# ---------------------------------------------------------------------------------------------- data + configs
DATA=${DATA:-train/data}
if [[ ! -f "$DATA/meta.json" ]]; then
  if [[ $SMOKE == 1 ]]; then
    DATA="$WORK/data"
    "$PY" train/make_synthetic_data.py --out "$DATA" --vocab 512 --train-tokens 100000 --valid-tokens 8000
  else
    say "no $DATA/meta.json: carry train/data (npm run prepare-data) along"; exit 1
  fi
fi
# RUNS="kv ttt-hybrid" trains only those (the final models after the ablation chose them).
read -r -a RUNS <<<"${RUNS:-kv ttt-plain ttt-conv ttt-hybrid ttt-hybrid-carry}"
declare -A CONFIG=([kv]=kv [ttt-plain]=ttt-plain [ttt-conv]=ttt-conv [ttt-hybrid]=ttt-hybrid [ttt-hybrid-carry]=ttt-hybrid)
declare -A EXTRA=([ttt-hybrid-carry]="--carry-state --carry-segments 8")
for name in "${RUNS[@]}"; do
  "$PY" - "$REPO/train/configs/${CONFIG[$name]}.json" "$WORK/configs/$name.json" "$SMOKE" <<'EOF'
import json, sys
src, dst, smoke = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
c = json.load(open(src))
if smoke:  # same mixers and flags, tiny widths
    c.update({"dModel": 32, "nHeads": 2, "ffnHidden": 64, "window": 16})
json.dump(c, open(dst, "w"), indent=1)
EOF
done

train_cmd() {  # name steps time_limit extra...
  local name=$1 steps=$2 limit=$3; shift 3
  echo "$PY" train/train.py --data "$DATA" --config "$WORK/configs/$name.json" --steps "$steps" --batch "$BATCH" \
    --context "$CONTEXT" --lr "$LR" --seed 1 --threads "$THREADS" --time-limit "$limit" ${EXTRA[$name]:-} "$@"
}

run_parallel() {  # label timeout_seconds cmd_for_name (a function that echoes the command of one run)
  local label=$1 limit=$2 fn=$3
  declare -A PIDS=()
  for name in "${RUNS[@]}"; do
    mkdir -p "$WORK/runs/$name"
    setsid bash -c "$($fn "$name")" >"$WORK/runs/$name/$label.out" 2>&1 &
    PIDS[$name]=$!
  done
  local until=$(( $(date +%s) + limit ))
  while :; do
    local alive=0
    for name in "${!PIDS[@]}"; do kill -0 "${PIDS[$name]}" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    if (( $(date +%s) > until )); then
      for name in "${!PIDS[@]}"; do
        kill -0 "${PIDS[$name]}" 2>/dev/null && { say "$label: $name over its time, stopping it"; kill -TERM -- "-${PIDS[$name]}" 2>/dev/null; }
      done
      sleep 3
      for name in "${!PIDS[@]}"; do kill -KILL -- "-${PIDS[$name]}" 2>/dev/null; done
      break
    fi
    sleep 2
  done
  for name in "${!PIDS[@]}"; do
    wait "${PIDS[$name]}"; local rc=$?
    echo "$rc" >"$WORK/runs/$name/$label.rc"
    [[ $rc != 0 ]] && { say "$label: $name exited $rc; last lines:"; tail -n 5 "$WORK/runs/$name/$label.out"; }
  done
  return 0
}

# ---------------------------------------------------------------------------------------------- 2. probe
probe_cmd() { train_cmd "$1" 100000 $((PROBE_SECONDS + 60)) --out "$WORK/probe/$1" --probe-seconds "$PROBE_SECONDS" --log-every 5; }
say "probing the step rate of all runs together for ${PROBE_SECONDS}s"
run_parallel probe $((PROBE_SECONDS + 90)) probe_cmd
STEPS=$("$PY" - "$WORK" "$TRAIN_SECONDS" "$MAX_STEPS" "${RUNS[@]}" <<'EOF'
import json, os, sys
work, seconds, max_steps, names = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rates = {}
for n in names:
    p = os.path.join(work, "probe", n, "probe.json")
    if os.path.exists(p):
        rates[n] = json.load(open(p))["steps_per_s"]
json.dump(rates, open(os.path.join(work, "probe.json"), "w"), indent=1)
slowest = min((r for r in rates.values() if r > 0), default=0.5)
# 0.85: the rate while all five share the GPU is the worst case; runs that end early free it for the slow ones.
print(max(10, min(max_steps, int(slowest * seconds * 0.85))))
EOF
)
say "probe steps/s: $(cat "$WORK/probe.json" | tr -d '\n ')  →  $STEPS steps each"
rm -rf "$WORK/probe"

# ---------------------------------------------------------------------------------------------- 3. train
LIMIT=$(( $(left) - 150 ))
(( LIMIT > TRAIN_SECONDS + 40 )) && LIMIT=$((TRAIN_SECONDS + 40))
(( LIMIT < 10 )) && LIMIT=10
EVAL_EVERY=$(( STEPS / 4 > 0 ? STEPS / 4 : 1 ))
# final valid eval: the whole valid.bin unless that would take more than ~EVAL_SECONDS at the probed rate
FINAL_EVAL_TOKENS=$("$PY" -c "import json;r=json.load(open('$WORK/probe.json'));s=min(r.values()) if r else 1;print(min($FINAL_EVAL_CAP,max(65536,int(s*$BATCH*$CONTEXT*3*$EVAL_SECONDS))))")
train_run_cmd() {
  train_cmd "$1" "$STEPS" "$LIMIT" --out "$WORK/runs/$1" --log-every 10 --eval-every "$EVAL_EVERY" \
    --eval-tokens "$PERIODIC_EVAL_TOKENS" --ckpt-every "$(( STEPS / 2 > 0 ? STEPS / 2 : 1 ))" --final-eval-tokens "$FINAL_EVAL_TOKENS"
}
say "training ${RUNS[*]}: $STEPS steps × $BATCH × $CONTEXT, time limit ${LIMIT}s each, final eval ≤ $FINAL_EVAL_TOKENS tokens"
run_parallel train $((LIMIT + 60 + EVAL_SECONDS * 2)) train_run_cmd

# ---------------------------------------------------------------------------------------------- 4. evaluate + export
post_cmd() {  # the exported name says the width: public/models/<name>-d256.bttt, train/golden/<name>-d256.json
  local name=$1 ck="$WORK/runs/$1/ckpt.pt" model
  model="$name-d$([[ $SMOKE == 1 ]] && echo 32 || echo 256)"
  echo "test -f $ck || { echo 'no checkpoint'; exit 3; };" \
    "$PY train/evaluate.py --ckpt $ck --data $DATA --max-windows $POS_WINDOWS --batch 16 --threads $THREADS --out $WORK/runs/$name/positions.json > /dev/null;" \
    "$PY train/export.py --ckpt $ck --data $DATA --name $model --out $WORK/models/$model.bttt --golden $WORK/golden/$model.json"
}
POST_LIMIT=$(( $(left) - 30 ))
(( POST_LIMIT < 20 )) && POST_LIMIT=20
say "evaluating and exporting (limit ${POST_LIMIT}s)"
run_parallel post "$POST_LIMIT" post_cmd
say "all runs done"
