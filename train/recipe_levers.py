"""The training-recipe levers and the KV learning-rate/warm-up search on small CPU runs (docs/MODELS.md "Training
recipe for the memory"). Every run reads the same number of tokens (steps × batch × context) from the same data;
each is then measured with the memory diagnostics of train/diagnostics.py.

    nice -n 10 /usr/bin/python3 train/recipe_levers.py --group ttt [--phase train|eval|all] [--data train/data]
    nice -n 10 /usr/bin/python3 train/recipe_levers.py --group kv
    /usr/bin/python3 train/recipe_levers.py --table          # the markdown tables from train/results/recipe/*.json
    /usr/bin/python3 train/recipe_levers.py --step-cost      # CPU seconds per step (process time) with this BLAS

Checkpoints go to train/runs/recipe/NAME/ (ignored), results to train/results/recipe/NAME.json (committed). A run
whose checkpoint/result already exists is skipped, so the script can be stopped and restarted.
"""
from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = sys.executable

# The small hybrid: d 64, 4 layers (TTT, SWA, TTT, SWA), 1 head of 64 (the shipped head size), FFN 3·d. (d 128 ran
# at ~1,600 tokens/s on an idle core but got ~10 % of a core on the shared 2-core machine, so d 64 it is.)
BASE_TTT: Dict[str, Any] = {
    "arch": "ttt", "dModel": 64, "nLayers": 4, "nHeads": 1, "ffnHidden": 192,
    "mixers": ["ttt", "swa", "ttt", "swa"], "window": 64, "maxContext": 4096,
    "normEps": 1e-5, "ropeTheta": 10000, "tieEmbeddings": True,
    "ttt": {"miniBatch": 16, "baseLr": 1.0, "convKernel": 4, "shareQK": True, "gate": True},
}
BASE_KV: Dict[str, Any] = {**copy.deepcopy(BASE_TTT), "arch": "kv", "mixers": ["attn"] * 4}
BASE_KV.pop("ttt")

STEPS, TOKENS_PER_STEP, CONTEXT, LR_TTT = 250, 2048, 256, 1.5e-3
VALID_TOKENS = 32768  # the first 32,768 valid tokens (of 126,342): the diagnostics had to fit a loaded 2-core machine


def variant(**changes: Any) -> Dict[str, Any]:
    c = copy.deepcopy(BASE_TTT)
    for key, value in changes.items():
        if key.startswith("ttt_"):
            c["ttt"][key[4:]] = value
        else:
            c[key] = value
    return c


# name → (what changes, config, train.py arguments beyond the common ones)
TTT_RUNS: Dict[str, Any] = {
    "ttt-base": ("baseline: T 256, SWA window 64, baseLr 1, 1 head × 64, lr 1.5e-3", variant(), {}),
    "ttt-repeat25": ("25 % repeat windows", variant(), {"repeat_frac": 0.25}),
    "ttt-ctx512": ("windows of 512 (batch 4)", variant(), {"context": 512}),
    "ttt-swa16": ("SWA window 16", variant(window=16), {}),
    "ttt-1swa": ("one SWA layer: TTT, TTT, TTT, SWA", variant(mixers=["ttt", "ttt", "ttt", "swa"]), {}),
    "ttt-lr0.5": ("inner baseLr × 0.5", variant(ttt_baseLr=0.5), {}),
    "ttt-lr2": ("inner baseLr × 2", variant(ttt_baseLr=2.0), {}),
    "ttt-2x32": ("2 heads × 32", variant(nHeads=2), {}),
    "ttt-seed2": ("baseline, seed 2 (the noise between two seeds)", variant(), {"seed": 2}),
    "ttt-recipe": ("run.sh's recipe: windows of 512 and 25 % repeat windows", variant(),
                   {"context": 512, "repeat_frac": 0.25}),
    "ttt-olr3e-3": ("outer (AdamW) peak lr 3e-3", variant(), {"lr": 3e-3}),
    "ttt-olr6e-3": ("outer (AdamW) peak lr 6e-3", variant(), {"lr": 6e-3}),
}
KV_RUNS: Dict[str, Any] = {}
for lr in (1.5e-3, 3e-3, 6e-3):
    for warm in (STEPS // 40, STEPS // 10):  # 2.5 % and 10 % of the steps
        KV_RUNS[f"kv-lr{lr:g}-w{warm}"] = (f"KV, peak lr {lr:g}, warm-up {warm} steps", copy.deepcopy(BASE_KV),
                                           {"lr": lr, "warmup": warm})


def train(name: str, cfg: Dict[str, Any], extra: Dict[str, Any], data: str, runs: str) -> None:
    out = os.path.join(runs, name)
    if os.path.exists(os.path.join(out, "summary.json")):
        return
    os.makedirs(out, exist_ok=True)
    cfg_path = os.path.join(out, "config.json")
    with open(cfg_path, "w") as fh:
        json.dump(cfg, fh, indent=1)
    context = int(extra.get("context", CONTEXT))
    cmd = [PY, os.path.join(HERE, "train.py"), "--data", data, "--config", cfg_path, "--steps", str(STEPS),
           "--batch", str(TOKENS_PER_STEP // context), "--context", str(context),
           "--lr", str(extra.get("lr", LR_TTT)), "--warmup", str(extra.get("warmup", STEPS // 40)),
           "--repeat-frac", str(extra.get("repeat_frac", 0.0)), "--seed", str(extra.get("seed", 1)), "--threads", "1",
           "--device", "cpu", "--out", out, "--log-every", "20", "--ckpt-every", "0",
           "--final-eval-tokens", "1"]  # valid bpb comes from the diagnostics (whole valid.bin)
    print(time.strftime("%H:%M:%S"), "train", name, flush=True)
    subprocess.run(cmd, check=True, stdout=open(os.path.join(out, "train.out"), "w"), stderr=subprocess.STDOUT)


def evaluate(name: str, what: str, extra: Dict[str, Any], data: str, runs: str, results: str, recall: str) -> None:
    dst = os.path.join(results, f"{name}.json")
    if os.path.exists(dst):
        return
    out = os.path.join(runs, name)
    diag_path = os.path.join(out, "diagnostics.json")
    print(time.strftime("%H:%M:%S"), "eval", name, flush=True)
    cmd = [PY, os.path.join(HERE, "evaluate.py"), "--ckpt", os.path.join(out, "ckpt.pt"), "--data", data,
           "--diagnostics", "--recall-probe", recall, "--read-twice-stories", "40", "--max-windows", "4",
           "--valid-tokens", str(VALID_TOKENS),
           "--threads", "1", "--device", "cpu", "--out", diag_path]
    ckpt = os.path.join(out, "ckpt.pt")
    # A diagnostics file newer than the checkpoint is this run's (e.g. the worker stopped before writing `dst`).
    if not (os.path.exists(diag_path) and os.path.getmtime(diag_path) > os.path.getmtime(ckpt)):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "summary.json")) as fh:
        summary = json.load(fh)
    with open(diag_path) as fh:
        diag = json.load(fh)
    train_log = [json.loads(line) for line in open(os.path.join(out, "log.jsonl"))]
    last_losses = [r["loss"] for r in train_log if "loss" in r][-2:]
    keep = {k: summary.get(k) for k in ("params", "steps", "tokens", "train_seconds", "tokens_per_s", "batch",
                                        "context", "lr", "warmup", "repeat_frac", "train_data")}
    rec = {"name": name, "what": what, "extra": extra, "config": summary["config"], **keep,
           "train_loss_last": last_losses, "diagnostics": diag}
    with open(dst, "w") as fh:
        json.dump(rec, fh, indent=1)


def step_cost(data: str, steps: int = 3) -> List[Dict[str, Any]]:
    """CPU seconds per training step of the two base configs (batch 8 × 256, one thread), by process CPU time, so a
    loaded machine gives the same answer as an idle one. Run once per BLAS (e.g. LD_LIBRARY_PATH=… for another)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, HERE)
    from model import BitTTTModel

    torch.set_num_threads(1)
    toks = np.memmap(os.path.join(data, "train.bin"), dtype="<u2", mode="r")
    x = torch.from_numpy(np.stack([np.asarray(toks[i * 300 : i * 300 + CONTEXT + 1], dtype=np.int64)
                                   for i in range(TOKENS_PER_STEP // CONTEXT)]))
    out = []
    for name, cfg in (("ttt-base", BASE_TTT), ("kv", BASE_KV)):
        torch.manual_seed(0)
        m = BitTTTModel({**cfg, "vocabSize": 4096, "contextLength": CONTEXT})
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3)

        def one_step():
            logits, _ = m(x[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()

        one_step()  # warm-up
        t = time.process_time()
        for _ in range(steps):
            one_step()
        dt = (time.process_time() - t) / steps
        a, b = torch.randn(512, 512), torch.randn(512, 512)
        t, n = time.process_time(), 0
        while time.process_time() - t < 2:
            a @ b
            n += 1
        gflops = 2 * 512 ** 3 * n / (time.process_time() - t) / 1e9
        out.append({"config": name, "cpu_s_per_step": round(dt, 3), "tokens_per_cpu_s": round(TOKENS_PER_STEP / dt),
                    "matmul512_gflops_per_cpu_s": round(gflops, 1), "torch": torch.__version__,
                    "blas": os.environ.get("LD_LIBRARY_PATH") or "system libblas.so.3"})
    return out


def pct(x: float) -> str:
    return f"{100 * x:+.1f} %"


def table(results: str) -> str:
    recs = {os.path.basename(p)[:-5]: json.load(open(p)) for p in sorted(glob.glob(os.path.join(results, "*.json")))}
    lines = ["| run | what changes | valid bpb | bpb up to 4 T | memory off: Δ loss | read twice: 1st → 2nd nats "
             "(drop; memory off) | recall (control) | train loss, last 2 logs |",
             "|---|---|---|---|---|---|---|---|"]
    for name in list(TTT_RUNS) + list(KV_RUNS):
        r = recs.get(name)
        if not r:
            continue
        ev = r["diagnostics"]
        d = ev.get("diagnostics", ev)  # evaluate.py nests the §1 diagnostics beside its position buckets
        mo = d.get("memoryOff")
        rt = d["readTwice"]
        rto = d.get("readTwiceMemoryOff")
        rc = d.get("recall")
        up4 = ev.get("meanUpTo", {}).get("4x")
        lines.append(
            f"| {name} | {r['what']} | {d['valid']['bpb']:.4f} | {up4['bpb']:.4f} | " if up4 else
            f"| {name} | {r['what']} | {d['valid']['bpb']:.4f} | — | ")
        lines[-1] += (
            f"{pct(mo['lossIncrease']) if mo else '—'} | {rt['firstNats']:.3f} → {rt['secondNats']:.3f} "
            f"({pct(rt['drop'])}" + (f"; {pct(rto['drop'])})" if rto else ")") + " | "
            + (f"{rc['correct']}/{rc['queries']} ({rc['control']['correct']}/{rc['control']['queries']})" if rc else "—")
            + f" | {' → '.join(f'{x:.3f}' for x in r['train_loss_last'])} |")
    return "\n".join(lines)


def main(argv: List[str] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--group", choices=("ttt", "kv"))
    ap.add_argument("--phase", choices=("train", "eval", "all"), default="all")
    ap.add_argument("--only", help="comma-separated run names")
    ap.add_argument("--part", default="0/1", help="K/N: this worker takes runs K, K+N, K+2N, … of the group")
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--runs", default=os.path.join(HERE, "runs", "recipe"))
    ap.add_argument("--results", default=os.path.join(HERE, "results", "recipe"))
    ap.add_argument("--recall-probe", default=os.path.join(REPO, "probes", "recall-v1.json"))
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--step-cost", action="store_true", help="print CPU seconds per training step (JSON lines)")
    args = ap.parse_args(argv)
    if args.table:
        print(table(args.results))
        return
    if args.step_cost:
        for rec in step_cost(args.data):
            print(json.dumps(rec), flush=True)
        return
    if not args.group:
        ap.error("--group or --table")
    os.makedirs(args.results, exist_ok=True)
    runs = TTT_RUNS if args.group == "ttt" else KV_RUNS
    names = args.only.split(",") if args.only else list(runs)
    k, n = (int(x) for x in args.part.split("/"))
    names = names[k::n]
    for name in names:
        what, cfg, extra = runs[name]
        if args.phase in ("train", "all"):
            train(name, cfg, extra, args.data, args.runs)
        if args.phase in ("eval", "all"):
            evaluate(name, what, extra, args.data, args.runs, args.results, args.recall_probe)


if __name__ == "__main__":
    main()
