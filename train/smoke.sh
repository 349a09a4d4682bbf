#!/usr/bin/env bash
# The trainer in CI, in about half a minute on the CPU: the parity unit tests, then a few training steps of a tiny
# hybrid TTT model on synthetic tokens, export to .bttt with golden vectors, and the TypeScript side reading the
# file (npm run inspect) and reproducing the golden logits (scripts/check-golden.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "train/smoke.sh: $PY has no torch; on Debian: apt-get install -y python3-torch" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd train && "$PY" -m unittest test_model)
"$PY" train/make_synthetic_data.py --out "$work/data" --vocab 512 --train-tokens 20000 --valid-tokens 4000 >/dev/null
"$PY" train/train.py --data "$work/data" --config train/configs/tiny-hybrid.json --steps 6 --batch 4 --context 32 \
  --out "$work/run" --threads 2 --device cpu --seed 1 --log-every 3 --eval-every 6 --eval-tokens 1024 \
  --final-eval-tokens 2048 >/dev/null
"$PY" train/export.py --ckpt "$work/run/ckpt.pt" --data "$work/data" --name smoke --out "$work/smoke.bttt" \
  --golden "$work/golden.json" >/dev/null
npx tsx src/cli/inspect.ts "$work/smoke.bttt" --json >/dev/null
npx tsx scripts/check-golden.ts "$work/golden.json" "$work/smoke.bttt"

# The KV baseline with attention conv + gate (config.attn): train a few steps, export, reproduce its golden logits.
"$PY" train/train.py --data "$work/data" --config train/configs/tiny-kv-conv.json --steps 6 --batch 4 --context 32 \
  --out "$work/run-kv-conv" --threads 2 --device cpu --seed 1 --log-every 3 --eval-every 6 --eval-tokens 1024 \
  --final-eval-tokens 2048 >/dev/null
"$PY" train/export.py --ckpt "$work/run-kv-conv/ckpt.pt" --data "$work/data" --name smoke-kv-conv \
  --out "$work/smoke-kv-conv.bttt" --golden "$work/golden-kv-conv.json" >/dev/null
npx tsx scripts/check-golden.ts "$work/golden-kv-conv.json" "$work/smoke-kv-conv.bttt"
echo "train smoke: ok"
