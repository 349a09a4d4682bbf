"""Plot loss by position (bits per byte) up to 4x the training context for the shipped pair and the ablation.

    /usr/bin/python3 train/plot_positions.py [--results train/results] [--out docs/img/loss-by-position.png]
        [--cpu-eval NAME=FILE.json ...]

Reads the positions.json files that train/evaluate.py wrote for every run (buckets of T/4 over windows of 4T valid
tokens, state reset at each window start): train/results/final/<run>/positions.json (665 steps) on the left, and
train/results/ablation/<run>/positions.json (401 steps) on the right. Where train/results/final/pos-ttt-full.json or
pos-kv-full.json exists (the same evaluation over more windows), it replaces that run's positions.json. --cpu-eval
adds the buckets of `npm run eval -- --context 1024 --buckets 16 --json` (the shipped .bttt on the TypeScript CPU
reference) as markers on the left panel (several files per run are pooled), so the plot also shows that the
exported files behave as the PyTorch checkpoints did.
Needs matplotlib (Debian: apt-get install python3-matplotlib).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any, Dict, List, Optional, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FINAL_RUNS = [("ttt-hybrid", "TTT hybrid (shipped)", "tab:blue"), ("kv", "KV baseline (shipped)", "tab:red")]
ABLATION_RUNS = [
    ("kv", "kv: 6 x attention", "tab:red"),
    ("ttt-plain", "ttt-plain: 6 x TTT-Linear", "tab:gray"),
    ("ttt-conv", "ttt-conv: + conv, shared QK, gate", "tab:orange"),
    ("ttt-hybrid", "ttt-hybrid: + 2 SWA layers (w 64)", "tab:blue"),
    ("ttt-hybrid-carry", "ttt-hybrid-carry: + state carried in training", "tab:green"),
]


class PlotError(Exception):
    pass


def load_json(path: str) -> Dict[str, Any]:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise PlotError(f"cannot read {path}: {e}") from e


# train/evaluate.py over more windows than run.sh's 64, for the final pair (file names as the lead wrote them).
FULL_POSITIONS = {"ttt-hybrid": "pos-ttt-full.json", "kv": "pos-kv-full.json"}


def positions_of(results: str, group: str, run: str) -> Tuple[Dict[str, Any], str]:
    full = os.path.join(results, group, FULL_POSITIONS.get(run, f"pos-{run}-full.json"))
    path = full if group == "final" and os.path.exists(full) else os.path.join(results, group, run, "positions.json")
    return load_json(path), path


def bucket_series(positions: Dict[str, Any], path: str) -> Tuple[List[float], List[float]]:
    buckets = positions.get("bucketsQuarterT") or positions.get("bucketsT")
    if not buckets:
        raise PlotError(f"{path} has neither bucketsQuarterT nor bucketsT")
    return [(b["from"] + b["to"]) / 2 for b in buckets], [b["bpb"] for b in buckets]


def pooled_buckets(results: List[Dict[str, Any]]) -> Tuple[List[float], List[float]]:
    """Bucket bpb over several eval outputs of the same buckets: total nats / ln 2 / total bytes per bucket."""
    first = results[0]["byPosition"]
    for r in results:
        if [(b["from"], b["to"]) for b in r["byPosition"]] != [(b["from"], b["to"]) for b in first]:
            raise PlotError("--cpu-eval files of one run must share their buckets (same --context and --buckets)")
    x, y = [], []
    for i, bucket in enumerate(first):
        nats = sum(r["byPosition"][i]["loss"] * r["byPosition"][i]["tokens"] for r in results)
        # bytes of a bucket, recovered from its bpb = nats / ln 2 / bytes
        covered = sum(r["byPosition"][i]["loss"] * r["byPosition"][i]["tokens"] / math.log(2) / r["byPosition"][i]["bpb"]
                      for r in results)
        x.append((bucket["from"] + bucket["to"]) / 2)
        y.append(nats / math.log(2) / covered)
    return x, y


def panel(ax, results: str, group: str, runs, title: str, context: Optional[int]) -> int:
    for run, label, color in runs:
        positions, path = positions_of(results, group, run)
        x, y = bucket_series(positions, path)
        ax.plot(x, y, marker="o", markersize=3, color=color, label=f"{label} ({positions.get('windows', '?')} windows)")
        context = context or int(positions["context"])
    for multiple in (1, 2, 3):
        ax.axvline(multiple * context, color="black", linewidth=0.6, linestyle=":")
    ax.set_title(title)
    ax.set_xlabel(f"position in the window (training context T = {context})")
    ax.set_ylabel("bits per byte (bucket mean)")
    ax.grid(alpha=0.3)
    return context


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="train/results")
    ap.add_argument("--out", default="docs/img/loss-by-position.png")
    ap.add_argument("--cpu-eval", action="append", default=[], metavar="NAME=FILE",
                    help="run name (ttt-hybrid or kv) = npm run eval --json output at --context 4T")
    args = ap.parse_args(argv)

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    context = panel(left, args.results, "final", FINAL_RUNS, "Shipped pair: 665 steps x 64 x 256 tokens", None)
    colors = {run: color for run, _, color in FINAL_RUNS}
    pooled: Dict[str, List[Dict[str, Any]]] = {}
    for spec in args.cpu_eval:
        name, sep, path = spec.partition("=")
        if not sep or name not in colors:
            raise PlotError(f"--cpu-eval wants NAME=FILE with NAME in {sorted(colors)}, got {spec!r}")
        pooled.setdefault(name, []).append(load_json(path))
    for name, results in pooled.items():
        x, y = pooled_buckets(results)
        windows = sum(r["windows"] for r in results)
        left.plot(x, y, linestyle="none", marker="x", color=colors[name],
                  label=f"{name}.bttt on the CPU reference ({windows} windows)")
    left.legend(fontsize=8)
    panel(right, args.results, "ablation", ABLATION_RUNS, "Ablation: 401 steps each", context)
    right.legend(fontsize=8, loc="center left", bbox_to_anchor=(0.25, 0.6))
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(json.dumps({"out": args.out}))


if __name__ == "__main__":
    try:
        main()
    except PlotError as e:
        raise SystemExit(f"plot_positions: {e}")
