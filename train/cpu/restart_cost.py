"""What a restart costs when the checkpoint has no Adam moments (train/cpu/README.md "Checkpoint sizes").

From one exact checkpoint of a run, train the next STEPS steps three times, on the same batches and schedule:
with the moments in f32 (what the run would do), with the moments rounded to bf16 (what the repository keeps), and
with no moments at all (Adam starts over: its bias correction treats the next step as its first). Prints the
training loss of each over those steps and the valid loss at the end.

    /usr/bin/python3 train/cpu/restart_cost.py --ckpt train/runs/cpu/NAME/ckpt.pt --config CONFIG.json \
        --steps 40 [--data train/data] [--out train/results/restart-cost.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from common import torch_load  # noqa: E402
from period import compact, expand  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--config", required=True, help="the run's model config (JSON)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--data", default="train/data")
    ap.add_argument("--eval-tokens", type=int, default=8192)
    ap.add_argument("--out")
    args = ap.parse_args()
    ck = torch_load(args.ckpt, torch.device("cpu"))
    a = ck["args"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("f32", "bf16", "none"):
            out = os.path.join(tmp, variant)
            os.makedirs(out)
            torch.save(expand(compact(ck, variant, 0.0)), os.path.join(out, "ckpt.pt"))
            argv = [sys.executable, os.path.join(os.path.dirname(HERE), "train.py"), "--data", args.data,
                    "--config", args.config, "--out", out, "--resume", "--steps", str(a["steps"]),
                    "--batch", str(a["batch"]), "--context", str(a["context"]), "--lr", str(a["lr"]),
                    "--warmup", str(a["warmup"]), "--seed", str(a["seed"]), "--repeat-frac", str(a["repeat_frac"]),
                    "--log-every", "1", "--final-eval-tokens", str(args.eval_tokens), "--threads", "1",
                    "--time-limit", "0", "--ckpt-every", "0", "--device", "cpu"]
            if a.get("swa_windows"):
                argv += ["--swa-windows", ",".join(str(w) for w in a["swa_windows"])]
            if a.get("lesson_frac"):
                argv += ["--lesson-frac", str(a["lesson_frac"])]
            # stop after --steps more steps: a stop file appears when the log reaches the last one
            stop_at = ck["step"] + args.steps
            proc = subprocess.Popen(argv + ["--stop-file", os.path.join(out, "STOP")], stdout=subprocess.PIPE,
                                    text=True)
            losses, valid = [], None
            for line in proc.stdout:  # type: ignore[union-attr]
                if not line.startswith("{"):
                    continue
                rec = json.loads(line)
                if "loss" in rec:
                    losses.append(rec["loss"])
                    if rec["step"] >= stop_at:
                        open(os.path.join(out, "STOP"), "w").close()
                if rec.get("final"):
                    valid = rec["valid_loss"]
            proc.wait()
            results[variant] = {"trainLosses": losses, "meanTrainLoss": sum(losses) / max(1, len(losses)),
                                "validLoss": valid}
            print(variant, json.dumps(results[variant]), flush=True)
    report = {"ckpt": args.ckpt, "fromStep": ck["step"], "steps": args.steps, "results": results}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
