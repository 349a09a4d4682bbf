"""Loss by position for a checkpoint: how a model does at 1×, 2× and 4× its training context; with --diagnostics
also the memory diagnostics (train/diagnostics.py: valid bpb, memory off, read twice, recall).

    /usr/bin/python3 train/evaluate.py --ckpt train/runs/NAME/ckpt.pt --data train/data [--max-windows 64] [--out F.json]
        [--diagnostics [--recall-probe probes/recall-v1.json] [--read-twice-stories N | --limit-bytes N]]

Non-overlapping windows of 4T valid tokens (state reset at each window start), per-position cross-entropy averaged
over windows, reported in buckets of T and of T/4, plus the mean over positions [0, T), [0, 2T), [0, 4T). bpb columns
use the valid set's average bytes per token (meta.json), so they compare positions, not tokenizers.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import load_checkpoint, load_meta, load_tokens, pick_device, split_bytes  # noqa: E402
from diagnostics import DEFAULT_PROBE, memory_off, run_all  # noqa: E402


@torch.no_grad()
def loss_by_position(model, tokens: np.ndarray, length: int, max_windows: int, batch: int, device) -> np.ndarray:
    n_windows = min(max_windows, (tokens.size - 1) // length)
    if n_windows < 1:
        raise ValueError(f"valid.bin has fewer than {length + 1} tokens: no window of {length} positions")
    model.eval()
    total = torch.zeros(length, dtype=torch.float64, device=device)
    for i in range(0, n_windows, batch):
        starts = range(i * length, min(n_windows, i + batch) * length, length)
        arr = np.stack([np.asarray(tokens[s : s + length + 1], dtype=np.int64) for s in starts])
        x = torch.from_numpy(arr).to(device)
        logits, _ = model(x[:, :-1])
        nll = F.cross_entropy(logits.float().transpose(1, 2), x[:, 1:], reduction="none")  # [B, length]
        total += nll.double().sum(0)
    return (total / n_windows).cpu().numpy(), n_windows


def summarize(per_pos: np.ndarray, T: int, bytes_per_token: float, multiples: List[int]) -> Dict[str, Any]:
    to_bpb = 1 / math.log(2) / bytes_per_token

    def bucket(width: int):
        return [{"from": s, "to": s + width, "loss": float(per_pos[s : s + width].mean()),
                 "bpb": float(per_pos[s : s + width].mean() * to_bpb)} for s in range(0, per_pos.size, width)]

    return {
        "context": T,
        "bytesPerToken": bytes_per_token,
        "meanUpTo": {f"{m}x": {"loss": float(per_pos[: m * T].mean()), "bpb": float(per_pos[: m * T].mean() * to_bpb)}
                     for m in multiples if m * T <= per_pos.size},
        "bucketsT": bucket(T),
        "bucketsQuarterT": bucket(max(1, T // 4)),
    }


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--data", default="train/data")
    ap.add_argument("--context", type=int, help="T (default: the checkpoint's training context)")
    ap.add_argument("--multiples", default="1,2,4")
    ap.add_argument("--max-windows", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the JSON here too")
    ap.add_argument("--diagnostics", action="store_true",
                    help="add valid bpb, memory off (TTT models), read twice and recall (train/diagnostics.py)")
    ap.add_argument("--recall-probe", default=DEFAULT_PROBE, help="recall probe JSON ('' to skip recall)")
    ap.add_argument("--read-twice-stories", type=int, default=0, help="read twice only the first N valid stories")
    ap.add_argument("--limit-bytes", type=int, default=0,
                    help="read twice only the first whole valid stories within N bytes (as npm run eval)")
    ap.add_argument("--valid-tokens", type=int, default=0,
                    help="diagnostics: valid bpb / memory off over the first N valid tokens only (0: all; partial)")
    ap.add_argument("--memory", choices=("on", "off"), default="on",
                    help="off: evaluate the positions with the TTT inner learning rate × 0")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model, ckpt = load_checkpoint(args.ckpt, device)
    T = args.context or int(model.config["contextLength"])
    multiples = [int(m) for m in args.multiples.split(",")]
    length = max(multiples) * T
    meta = load_meta(args.data)
    valid = load_tokens(args.data, "valid")
    with (memory_off(model) if args.memory == "off" else contextlib.nullcontext()):
        per_pos, n_windows = loss_by_position(model, valid, length, args.max_windows, args.batch, device)
    result = summarize(per_pos, T, split_bytes(meta, "valid") / max(1, valid.size), multiples)
    result.update({"windows": n_windows, "windowLength": length, "step": ckpt["step"], "memory": args.memory})
    if args.diagnostics:
        result["diagnostics"] = run_all(
            model, meta, valid, split_bytes(meta, "valid"), T, device, probe_path=args.recall_probe or None,
            read_twice_stories=args.read_twice_stories, limit_bytes=args.limit_bytes, batch=args.batch,
            valid_tokens_cap=args.valid_tokens, data_dir=args.data,
            log=lambda s: print(s, file=sys.stderr, flush=True))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return result


if __name__ == "__main__":
    main()
