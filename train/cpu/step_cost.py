"""CPU time of one training step (forward + backward, random tokens), one thread: the figure to compare before and
after a change to the trainer, in one sitting (docs/MODELS.md "CPU speed of a training step").

    /usr/bin/python3 train/cpu/step_cost.py CONFIG.json [--batch 8] [--context 512] [--vocab 4096] [--profile]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from model import BitTTTModel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's table for one more step")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with open(args.config) as fh:
        config = json.load(fh)
    config.pop("_comment", None)
    config.update(vocabSize=args.vocab, contextLength=args.context)
    torch.manual_seed(0)
    model = BitTTTModel(config)
    x = torch.randint(0, args.vocab, (args.batch, args.context + 1))

    def step() -> None:
        model.zero_grad(set_to_none=True)
        logits, _ = model(x[:, :-1])
        F.cross_entropy(logits.reshape(-1, args.vocab), x[:, 1:].reshape(-1)).backward()

    step()  # warm-up
    times = []
    for _ in range(args.repeats):
        t = time.process_time()
        step()
        times.append(time.process_time() - t)
    median = sorted(times)[len(times) // 2]
    tokens = args.batch * args.context
    print(json.dumps({"config": args.config, "batch": args.batch, "context": args.context,
                      "cpuSecondsPerStep": round(median, 3), "tokensPerCpuSecond": round(tokens / median),
                      "all": [round(t, 3) for t in times]}))
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
