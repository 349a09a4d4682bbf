#!/usr/bin/env bash
# Long CPU training across working periods (train/cpu/README.md). Each NAME is a spec in train/cpu/runs/NAME.json;
# every run is its own one-thread process at the lowest priority (nice 19: it takes only what the other work
# leaves), all runs side by side (one per core), each for --budget seconds of training, then evaluated, its
# learning-curve row appended and its compact checkpoint in train/cpu/ckpt/ replaced.
#
#   bash train/cpu/run.sh NAME [NAME ...] [--budget SECONDS]    train, evaluate, checkpoint (in the foreground)
#   bash train/cpu/run.sh stop [NAME ...]                        ask running periods to stop at their next step
#   bash train/cpu/run.sh --smoke                                the whole cycle twice on a tiny model (CI)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/usr/bin/python3}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1   # one thread per process: see README.md

budget=3600
names=()
mode=train
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=$2; shift 2 ;;
    --smoke) mode=smoke; shift ;;
    stop) mode=stop; shift ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done

if [ "$mode" = stop ]; then
  if [ ${#names[@]} -eq 0 ]; then
    for d in train/runs/cpu/*/; do [ -d "$d" ] && names+=("$(basename "$d")"); done
  fi
  for n in "${names[@]}"; do mkdir -p "train/runs/cpu/$n" && touch "train/runs/cpu/$n/STOP"; echo "asked $n to stop"; done
  exit 0
fi

if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "run.sh: $PY has no torch; on Debian: apt-get install -y python3-torch libopenblas0-pthread" >&2
  exit 1
fi

if [ "$mode" = smoke ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$PY" train/make_synthetic_data.py --out "$work/data" --vocab 512 --train-tokens 20000 --valid-tokens 4000 >/dev/null
  mkdir -p "$work/specs"
  cat > "$work/specs/smoke.json" <<'EOF'
{"config": "train/configs/tiny-hybrid.json",
 "args": {"steps": 40, "batch": 4, "context": 32, "lr": 1e-3, "repeat_frac": 0.5, "swa_windows": "4,16", "seed": 1},
 "eval": {"validTokens": 512, "limitBytes": 2000, "recallProbe": ""}, "ckptEvery": 2, "trainEvalTokens": 256, "ranks": 2}
EOF
  printf '# smoke\n<!-- cpu-curve:start -->\n<!-- cpu-curve:end -->\n' > "$work/MODELS.md"
  common=(--data "$work/data" --specs "$work/specs" --ckpt-dir "$work/ckpt" --runs "$work/runs"
          --curve "$work/curve.jsonl" --models-md "$work/MODELS.md")
  # period 1 stops on its budget; then the exact checkpoint is removed, as on a new machine, so period 2 must
  # resume from the repository's compact copy and finish the run; a third period has nothing left to train
  "$PY" train/cpu/period.py smoke --budget 1 "${common[@]}" > "$work/p1.log" 2>&1 || { cat "$work/p1.log"; exit 1; }
  rm -rf "$work/runs"
  "$PY" train/cpu/period.py smoke --budget 600 "${common[@]}" > "$work/p2.log" 2>&1 || { cat "$work/p2.log"; exit 1; }
  "$PY" train/cpu/period.py smoke --budget 600 "${common[@]}" > "$work/p3.log" 2>&1 || { cat "$work/p3.log"; exit 1; }
  "$PY" - "$work" <<'EOF' || { cat "$work"/p*.log; exit 1; }
import json, sys
work = sys.argv[1]
rows = [json.loads(l) for l in open(f"{work}/curve.jsonl")]
assert len(rows) == 2, f"two periods trained, {len(rows)} curve rows"
assert 0 < rows[0]["step"] < 40 and rows[1]["step"] == 40, [r["step"] for r in rows]
assert rows[1]["tokens"] == 40 * 4 * 32 and rows[1]["cpuHours"] >= rows[0]["cpuHours"]
assert "resuming at step" in open(f"{work}/p2.log").read(), "period 2 did not resume from the compact checkpoint"
assert "nothing to train" in open(f"{work}/p3.log").read()
table = open(f"{work}/MODELS.md").read()
assert table.count("| smoke |") == 2, table
print(f"cpu run smoke: periods ended at steps {rows[0]['step']} and {rows[1]['step']}, resumed from the compact checkpoint")
EOF
  exit 0
fi

if [ ${#names[@]} -eq 0 ]; then
  echo "usage: bash train/cpu/run.sh NAME [NAME ...] [--budget SECONDS] | stop [NAME ...] | --smoke" >&2
  exit 2
fi
if [ ! -f train/data/train.bin ]; then
  npm run prepare-data -- --data ../shared/data/tinystories --tokenizer train/tokenizer/tinystories-4096.json \
    --extra train-extra.txt >/dev/null
fi
if [ ! -f train/data/lessons.json ]; then   # the recall lessons of --lesson-frac (a few seconds)
  npm run make-lessons >/dev/null
fi
pids=()
for n in "${names[@]}"; do
  mkdir -p "train/runs/cpu/$n"
  nice -n 19 "$PY" train/cpu/period.py "$n" --budget "$budget" > "train/runs/cpu/$n/period.log" 2>&1 &
  pids+=($!)
  echo "$n: period started (pid $!), log train/runs/cpu/$n/period.log"
done
status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then echo "${names[$i]}: period failed, see train/runs/cpu/${names[$i]}/period.log" >&2; status=1; fi
done
exit $status
