"""One working period of a long CPU training run (train/cpu/run.sh is the entry point; train/cpu/README.md says why).

A run is a spec, `train/cpu/runs/NAME.json`: the model config, train.py's arguments (the total step count fixes the
schedule for the whole run) and how to evaluate it. A period:
  1. resumes from the compact checkpoint kept in the repository (`train/cpu/ckpt/NAME.pt`: latent weights in f32,
     Adam moments in bf16 unless the spec says otherwise) or, on the same machine, from the exact one in
     `train/runs/cpu/NAME/ckpt.pt`; a run with neither starts fresh;
  2. trains for a wall-clock budget (train.py --time-limit), one thread per process;
  3. measures the memory diagnostics (train/diagnostics.py, the definitions of docs/DIAGNOSTICS.md) on plain
     valid.txt: valid bpb and memory-off cost on the first `validTokens` tokens, read twice on the whole stories
     within `limitBytes`, and the recall probe;
  4. appends one row to `train/cpu/curve.jsonl` and rewrites the learning-curve table in docs/MODELS.md;
  5. replaces the compact checkpoint (one file per run, never a pile of copies) and, if the spec names one, exports
     the model (.bttt) beside the exact checkpoint.

    /usr/bin/python3 train/cpu/period.py NAME --budget SECONDS [--data train/data] [--no-eval]
    /usr/bin/python3 train/cpu/period.py --table          # rewrite docs/MODELS.md's table from curve.jsonl
"""
from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.dirname(HERE)
REPO = os.path.dirname(TRAIN)
sys.path.insert(0, TRAIN)

from common import load_checkpoint, load_meta, load_tokens, split_bytes, torch_load  # noqa: E402
from diagnostics import run_all  # noqa: E402

PY = sys.executable
CURVE = os.path.join(HERE, "curve.jsonl")
MODELS_MD = os.path.join(REPO, "docs", "MODELS.md")
TABLE_START, TABLE_END = "<!-- cpu-curve:start -->", "<!-- cpu-curve:end -->"
MOMENT_DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def load_spec(name: str, spec_dir: str) -> Dict[str, Any]:
    path = os.path.join(spec_dir, f"{name}.json")
    with open(path) as fh:
        spec = json.load(fh)
    spec.setdefault("moments", "bf16")
    if spec["moments"] not in MOMENT_DTYPES and spec["moments"] != "none":
        raise SystemExit(f"{path}: moments must be one of bf16, f16, f32, none")
    for key in ("config", "args"):
        if key not in spec:
            raise SystemExit(f"{path}: the spec needs '{key}'")
    return spec


def compact(ck: Dict[str, Any], moments: str, cpu_seconds: float) -> Dict[str, Any]:
    """The repository copy: f32 latent weights (exact), moments rounded (or dropped), the rest as it was."""
    optim = ck["optim"]
    if moments == "none":  # the schedule's state stays; Adam's moments (and its bias-correction step) start over
        optim = {"param_groups": optim["param_groups"], "state": {}}
    else:
        dtype = MOMENT_DTYPES[moments]
        optim = {"param_groups": optim["param_groups"],
                 "state": {i: {k: (v.to(dtype) if torch.is_tensor(v) and v.dim() > 0 else v) for k, v in s.items()}
                           for i, s in optim["state"].items()}}
    keep = {k: v for k, v in ck.items() if k not in ("optim",)}
    return {**keep, "optim": optim, "moments": moments, "cpu_seconds": cpu_seconds, "compact": True}


def expand(ck: Dict[str, Any]) -> Dict[str, Any]:
    """Back to what train.py --resume reads: moments widened to f32 (none at all if they were dropped)."""
    state = {i: {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() and v.dim() > 0 else v)
                 for k, v in s.items()}
             for i, s in ck["optim"]["state"].items()}
    return {**ck, "optim": {"param_groups": ck["optim"]["param_groups"], "state": state}}


def save_atomic(obj: Any, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_args(spec: Dict[str, Any], config_path: str, data: str, out: str, budget: float) -> List[str]:
    argv = [os.path.join(TRAIN, "train.py"), "--data", data, "--config", config_path, "--out", out, "--resume",
            "--time-limit", str(budget), "--threads", "1", "--device", "cpu",
            "--final-eval-tokens", str(spec.get("trainEvalTokens", 4096)), "--eval-every", "0",
            "--ckpt-every", str(spec.get("ckptEvery", 100)), "--stop-file", os.path.join(out, "STOP")]
    for key, value in spec["args"].items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not False and value is not None:
            argv += [flag, str(value)]
    return argv


def run_ranks(spec: Dict[str, Any], argv: List[str], out: str) -> int:
    """train.py as one process, or as `ranks` one-thread processes under torch.distributed (gloo, DDP), each with
    batch/ranks rows: one run on both cores. (torchrun's elastic agent fails on Debian's torch 1.13 with Python
    3.11, so the ranks are started here with the env:// variables.)"""
    ranks = int(spec.get("ranks", 1))
    if ranks == 1:
        print(" ".join([PY] + argv), flush=True)
        with open(os.path.join(out, "train.log"), "a") as log:
            return subprocess.call([PY] + argv, stdout=log, stderr=subprocess.STDOUT)
    batch = int(spec["args"]["batch"])
    if batch % ranks:
        raise SystemExit(f"batch {batch} does not split into {ranks} ranks")
    i = argv.index("--batch")
    argv = argv[: i + 1] + [str(batch // ranks)] + argv[i + 2 :]
    port = 29500 + (abs(hash(out)) % 400)
    procs = []
    for r in range(ranks):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(ranks),
               "RANK": str(r), "LOCAL_RANK": str(r)}
        log = open(os.path.join(out, "train.log" if r == 0 else f"train.rank{r}.log"), "a")
        procs.append((subprocess.Popen([PY] + argv, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    print(f"{ranks} ranks: " + " ".join([PY] + argv), flush=True)
    codes = []
    for p, log in procs:
        codes.append(p.wait())
        log.close()
    return next((c for c in codes if c), 0)


def diagnostics(ckpt_path: str, spec: Dict[str, Any], data: str, model=None) -> Dict[str, Any]:
    ev = spec.get("eval", {})
    if model is None:
        model, _ = load_checkpoint(ckpt_path, torch.device("cpu"))
    meta = load_meta(data)
    valid = load_tokens(data, "valid")
    probe = ev.get("recallProbe", os.path.join(REPO, "probes", "recall-v1.json"))
    return run_all(model, meta, valid, split_bytes(meta, "valid"), int(model.config["contextLength"]),
                   torch.device("cpu"), probe_path=probe or None, limit_bytes=int(ev.get("limitBytes", 40000)),
                   valid_tokens_cap=int(ev.get("validTokens", 10240)), batch=8, data_dir=data,
                   recall_memory_off=bool(ev.get("recallMemoryOff", False)),
                   log=lambda s: print(f"  {s}", flush=True))


def curve_row(name: str, ck: Dict[str, Any], cpu_seconds: float, diag: Dict[str, Any]) -> Dict[str, Any]:
    row: Dict[str, Any] = {
        "run": name, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "step": ck["step"], "steps": ck["args"]["steps"], "tokens": ck["tokens_seen"],
        "context": ck["args"].get("context"),
        "cpuHours": round(cpu_seconds / 3600, 3), "hardware": ck.get("hardware", ""),
        "validBpb": diag["valid"]["bpb"], "validTokens": diag["valid"]["tokens"],
        "readTwiceDrop": diag["readTwice"]["drop"], "readTwiceStories": diag["readTwice"]["stories"],
    }
    if "memoryOff" in diag:
        row["memoryOffCost"] = diag["memoryOff"]["lossIncrease"]
    if "readTwiceMemoryOff" in diag:
        row["readTwiceDropMemoryOff"] = diag["readTwiceMemoryOff"]["drop"]
    if "recall" in diag:
        r = diag["recall"]
        row["recall"] = r["accuracy"]
        row["recallControl"] = r["control"]["accuracy"]
        row["recallQueries"] = r["queries"]
    return row


def pct(x: Optional[float], signed: bool = True) -> str:
    return "—" if x is None else (f"{x * 100:+.1f} %" if signed else f"{x * 100:.1f} %")


def write_table(curve_path: str = CURVE, models_md: str = MODELS_MD) -> None:
    rows = []
    if os.path.exists(curve_path):
        with open(curve_path) as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    lines = [TABLE_START, "",
             "| run | date (UTC) | step / steps | tokens | CPU-hours | T | valid bpb | memory off | read-twice drop "
             "(memory off) | recall − control |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        recall = "—"
        if "recall" in r:
            recall = f"{(r['recall'] - r['recallControl']) * 100:+.1f} pts ({r['recall'] * 100:.1f} − " \
                     f"{r['recallControl'] * 100:.1f} %, {r['recallQueries']} q)"
        off = f" ({pct(r.get('readTwiceDropMemoryOff'))})" if "readTwiceDropMemoryOff" in r else ""
        cpu = f"— ({r['hardware']})" if r.get("source") else f"{r['cpuHours']:.2f}"
        lines.append(f"| {r['run']} | {r['date']} | {r['step']:,} / {r['steps']:,} | {r['tokens']:,} | "
                     f"{cpu} | {r.get('context') or '—'} | {r['validBpb']:.4f} | {pct(r.get('memoryOffCost'))} | "
                     f"{pct(r['readTwiceDrop'])}{off} | {recall} |")
    lines += ["", TABLE_END]
    with open(models_md) as fh:
        text = fh.read()
    if TABLE_START not in text or TABLE_END not in text:
        raise SystemExit(f"{models_md} has no {TABLE_START} … {TABLE_END} section for the learning curve")
    head, rest = text.split(TABLE_START, 1)
    tail = rest.split(TABLE_END, 1)[1]
    with open(models_md, "w") as fh:
        fh.write(head + "\n".join(lines) + tail)


def measure_bttt(args: argparse.Namespace) -> int:
    """A baseline row: the shipped file itself (its metadata gives steps and tokens; trained elsewhere: no CPU-hours)."""
    from bttt import read_bttt
    from export import model_from_bttt

    name = args.name or os.path.splitext(os.path.basename(args.measure_bttt))[0]
    meta = read_bttt(args.measure_bttt).get("metadata", {})
    model = model_from_bttt(args.measure_bttt)
    diag = diagnostics("", {}, args.data, model=model)
    steps = int(meta.get("steps", 0) or 0)
    ck = {"step": steps, "args": {"steps": steps, "context": int(model.config["contextLength"])},
          "tokens_seen": int(meta.get("tokens", 0) or 0), "hardware": meta.get("hardware", "")}
    row = {**curve_row(name, ck, 0.0, diag), "source": os.path.relpath(args.measure_bttt, REPO)}
    with open(args.curve, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        write_table(args.curve, args.models_md)
    print(json.dumps(row), flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", nargs="?")
    ap.add_argument("--budget", type=float, default=3600, help="training seconds (wall clock) in this period")
    ap.add_argument("--data", default=os.path.join(TRAIN, "data"))
    ap.add_argument("--specs", default=os.path.join(HERE, "runs"), help="folder of run specs")
    ap.add_argument("--ckpt-dir", default=os.path.join(HERE, "ckpt"), help="the repository's compact checkpoints")
    ap.add_argument("--runs", default=os.path.join(TRAIN, "runs", "cpu"), help="exact checkpoints, logs (ignored)")
    ap.add_argument("--curve", default=CURVE)
    ap.add_argument("--models-md", default=MODELS_MD)
    ap.add_argument("--no-eval", action="store_true", help="skip the diagnostics and the curve row")
    ap.add_argument("--table", action="store_true", help="only rewrite the learning-curve table")
    ap.add_argument("--measure-bttt", metavar="FILE",
                    help="measure a .bttt (e.g. a shipped model) as a curve row named NAME, with the same diagnostics")
    args = ap.parse_args(argv)
    if args.measure_bttt:
        return measure_bttt(args)
    if args.table:
        write_table(args.curve, args.models_md)
        return 0
    if not args.name:
        ap.error("a run name (train/cpu/runs/NAME.json) is needed")
    spec = load_spec(args.name, args.specs)
    out = os.path.join(args.runs, args.name)
    os.makedirs(out, exist_ok=True)
    exact = os.path.join(out, "ckpt.pt")
    repo_ckpt = os.path.join(args.ckpt_dir, f"{args.name}.pt")

    config = spec["config"]
    if isinstance(config, str):
        config_path = os.path.join(REPO, config)
    else:
        config_path = os.path.join(out, "config.json")
        with open(config_path, "w") as fh:
            json.dump(config, fh, indent=1)

    cpu_before = 0.0
    if os.path.exists(repo_ckpt):
        small = torch_load(repo_ckpt, torch.device("cpu"))
        if small["step"] >= spec["args"]["steps"]:
            print(f"{args.name}: finished ({small['step']:,} steps); nothing to train", flush=True)
            return 0
        cpu_before = float(small.get("cpu_seconds", 0.0))
        have = torch_load(exact, torch.device("cpu"))["step"] if os.path.exists(exact) else -1
        if have < small["step"]:  # a new machine, or an older local copy: continue from the repository's
            if not small["optim"]["state"]:
                print("the repository checkpoint has no Adam moments: they start over (bias correction again)")
            save_atomic(expand(small), exact)
        print(f"{args.name}: resuming at step {small['step']:,} of {spec['args']['steps']:,} "
              f"({small['tokens_seen']:,} tokens, {cpu_before / 3600:.2f} CPU-hours so far)", flush=True)
    elif os.path.exists(exact):
        cpu_before = float(torch_load(exact, torch.device("cpu")).get("cpu_seconds", 0.0))
    elif spec.get("warmStart"):
        from warm_start import warm_start

        init = os.path.join(out, "init.pt")
        save_atomic(warm_start(os.path.join(REPO, spec["warmStart"])), init)
        spec["args"] = {**spec["args"], "init_from": init}
        print(f"{args.name}: a warm start from {spec['warmStart']} (latent weights that quantise back to it)",
              flush=True)
    else:
        print(f"{args.name}: a fresh start", flush=True)

    stop = os.path.join(out, "STOP")
    if os.path.exists(stop):
        os.remove(stop)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    rc = run_ranks(spec, train_args(spec, config_path, args.data, out, args.budget), out)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if rc != 0:
        print(f"train.py failed (exit {rc}); see {os.path.join(out, 'train.log')}", file=sys.stderr)
        return rc
    ck = torch_load(exact, torch.device("cpu"))
    cpu_total = cpu_before + cpu
    ck["cpu_seconds"] = cpu_total
    torch.save(ck, exact)
    print(f"{args.name}: step {ck['step']:,} / {ck['args']['steps']:,}, {ck['tokens_seen']:,} tokens; this period "
          f"{time.time() - t0:.0f} s wall, {cpu:.0f} CPU-s", flush=True)
    save_atomic(compact(ck, spec["moments"], cpu_total), repo_ckpt)

    if not args.no_eval:
        diag = diagnostics(exact, spec, args.data)
        row = curve_row(args.name, ck, cpu_total, diag)
        with open(args.curve, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # runs side by side append and rewrite the table one at a time
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            write_table(args.curve, args.models_md)
        with open(os.path.join(out, f"diagnostics-step{ck['step']}.json"), "w") as fh:
            json.dump(diag, fh, indent=1)
        print(json.dumps(row), flush=True)
    if spec.get("export"):
        target = os.path.join(out, f"{args.name}.bttt")
        subprocess.check_call([PY, os.path.join(TRAIN, "export.py"), "--ckpt", exact, "--data", args.data,
                               "--name", args.name, "--out", target,
                               "--golden", os.path.join(out, f"{args.name}.golden.json")],
                              stdout=subprocess.DEVNULL)
        print(f"exported {target}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
