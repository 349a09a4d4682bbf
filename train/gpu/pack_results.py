"""Collect a GPU run's results (train/gpu/run.sh) from WORK into OUT (at most 8 files, each ≤ 16 MB), for train/gpu/run.sh.

OUT/results.tar: ablation.json (runs with their diagnostics; comparisons at equal tokens, at equal wall-clock and
of the KV learning rates), versions.txt, probe.json, runs/NAME/{log.jsonl, summary.json, positions.json,
*.out, *.rc}, golden/*.json. OUT/models-K.tar: the .bttt files, packed into tars of at most 15.5 MB.
OUT/ckpt-NAME-f16.pt: latent weights (f16) + config + step of the two runs with the best valid bpb, loadable by
`train.py --init-from` and by common.load_checkpoint. Works with whatever exists: a failed run is reported, not fatal.
"""
import argparse
import glob
import io
import json
import os
import sys
import tarfile

MAX_FILE = 16_000_000
TAR_LIMIT = 15_500_000
MAX_FILES = 8


def read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def collect(work: str):
    runs = []
    for run_dir in sorted(glob.glob(os.path.join(work, "runs", "*"))):
        name = os.path.basename(run_dir)
        summary = read_json(os.path.join(run_dir, "summary.json")) or {}
        positions = read_json(os.path.join(run_dir, "positions.json")) or {}
        rcs = {}
        for rc_file in glob.glob(os.path.join(run_dir, "*.rc")):
            with open(rc_file) as fh:
                rcs[os.path.basename(rc_file)[:-3]] = fh.read().strip()
        models = glob.glob(os.path.join(work, "models", f"{name}-d*.bttt"))
        entry = {
            "name": name,
            "status": ("ok" if summary.get("valid_bpb") is not None and models else
                       "no-eval" if summary and models else "failed"),
            "exitCodes": rcs,
            "validBpb": summary.get("valid_bpb"),
            "validLoss": summary.get("valid_loss"),
            "validPartial": summary.get("valid_partial"),
            "steps": summary.get("steps"),
            "targetSteps": summary.get("target_steps"),
            "stoppedByTimeLimit": summary.get("stopped_by_time_limit"),
            "tokens": summary.get("tokens"),
            "tokensPerSecond": summary.get("tokens_per_s"),
            "trainSeconds": summary.get("train_seconds"),
            "params": summary.get("params"),
            "stateBytes": summary.get("state_bytes"),
            "carryState": summary.get("carry_state"),
            "positions": {k: positions.get(k) for k in ("meanUpTo", "bucketsT", "windows")} if positions else None,
            "bttt": os.path.basename(models[0]) if models else None,
            "btttBytes": os.path.getsize(models[0]) if models else None,
            "config": summary.get("config"),
            "hardware": summary.get("hardware"),
            "lr": summary.get("lr"),
            "warmup": summary.get("warmup"),
            "context": summary.get("context"),
            "repeatFrac": summary.get("repeat_frac"),
            "bitlinearProduct": summary.get("bitlinear_product"),
            "compiled": summary.get("compiled"),
            "diagnostics": positions.get("diagnostics") if positions else None,
        }
        runs.append(entry)
    return runs


def headline(r):
    """The numbers the comparisons show: valid bpb, bpb up to 1×/4× the context, and the memory diagnostics."""
    d = r.get("diagnostics") or {}
    mu = (r.get("positions") or {}).get("meanUpTo") or {}
    rc = d.get("recall") or {}
    return {
        "name": r["name"], "steps": r["steps"], "tokens": r["tokens"], "lr": r.get("lr"), "validBpb": r["validBpb"],
        "bpb1x": (mu.get("1x") or {}).get("bpb"), "bpb4x": (mu.get("4x") or {}).get("bpb"),
        "memoryOffIncrease": (d.get("memoryOff") or {}).get("lossIncrease"),
        "readTwiceDrop": (d.get("readTwice") or {}).get("drop"),
        "recall": rc.get("accuracy"), "recallControl": (rc.get("control") or {}).get("accuracy"),
    }


def comparisons(runs, probe):
    """Equal tokens: every run of the probe's step count. Equal wall-clock: the ttt run and the *-wall runs, whose
    steps took the same GPU seconds alone (steps / rate alone). KV learning rate: kv-lo / kv / kv-hi."""
    by = {r["name"]: r for r in runs}
    steps = (probe or {}).get("steps")
    solo = (probe or {}).get("solo_steps_per_s") or {}
    equal_tokens = [headline(r) for r in runs if r["validBpb"] is not None and r["steps"] == steps
                    and not r["name"].endswith("-wall")]
    wall = []
    for name, base in (("ttt", "ttt"), ("kv-wall", "kv"), ("kv-conv-wall", "kv-conv")):
        r = by.get(name)
        if r and r["validBpb"] is not None:
            rate = solo.get(base)
            wall.append({**headline(r), "secondsAlone": r["steps"] / rate if rate else None})
    lr = [headline(by[n]) for n in ("kv-lo", "kv", "kv-hi") if n in by and by[n]["validBpb"] is not None]
    best_lr = min(lr, key=lambda h: h["validBpb"])["lr"] if lr else None
    return {"equalTokens": equal_tokens, "equalWallClock": wall, "kvLearningRate": lr, "bestKvLr": best_lr}


def add_file(tar: tarfile.TarFile, path: str, arcname: str) -> None:
    if os.path.isfile(path):
        tar.add(path, arcname=arcname)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--best", type=int, default=2)
    args = ap.parse_args()
    work, out = args.work, args.out
    os.makedirs(out, exist_ok=True)
    runs = collect(work)
    ranked = sorted((r for r in runs if r["validBpb"] is not None), key=lambda r: r["validBpb"])
    probe = read_json(os.path.join(work, "probe.json"))
    ablation = {"runs": runs, "ranking": [r["name"] for r in ranked], "probe": probe,
                "comparisons": comparisons(runs, probe), "notes": []}
    written = []

    # .bttt files into as few tars as fit
    bins = []
    for path in sorted(glob.glob(os.path.join(work, "models", "*.bttt")), key=os.path.getsize, reverse=True):
        size = os.path.getsize(path)
        if size > TAR_LIMIT:
            ablation["notes"].append(f"{os.path.basename(path)} is {size} bytes, too big to come back")
            continue
        for b in bins:
            if b[0] + size + 4096 <= TAR_LIMIT:
                b[0] += size + 4096
                b[1].append(path)
                break
        else:
            bins.append([size + 4096, [path]])
    # leave room for results.tar and up to `best` checkpoints
    room_for_models = MAX_FILES - 1 - args.best
    if len(bins) > room_for_models:
        args.best = max(0, MAX_FILES - 1 - len(bins))
        ablation["notes"].append(f"only {args.best} checkpoints fit the {MAX_FILES}-file limit")
    for k, (_, paths) in enumerate(bins[: MAX_FILES - 1], start=1):
        dest = os.path.join(out, f"models-{k}.tar")
        with tarfile.open(dest, "w") as tar:
            for p in paths:
                tar.add(p, arcname=os.path.basename(p))
        written.append(dest)

    # f16 latent checkpoints of the best runs
    if args.best:
        try:
            import torch

            for r in ranked[: args.best]:
                src = os.path.join(work, "runs", r["name"], "ckpt.pt")
                try:
                    ck = torch.load(src, map_location="cpu", weights_only=False)
                except TypeError:
                    ck = torch.load(src, map_location="cpu")
                small = {"model": {k: v.half() for k, v in ck["model"].items()}, "config": ck["config"],
                         "step": ck["step"], "args": ck.get("args"), "tokens_seen": ck.get("tokens_seen"),
                         "elapsed": ck.get("elapsed"), "hardware": ck.get("hardware"), "summary": ck.get("summary"),
                         "dtype": "f16 latent weights (no optimizer state): resume with train.py --init-from"}
                dest = os.path.join(out, f"ckpt-{r['name']}-f16.pt")
                torch.save(small, dest)
                if os.path.getsize(dest) > MAX_FILE:
                    os.remove(dest)
                    ablation["notes"].append(f"ckpt of {r['name']} is over 16 MB in f16; not returned")
                else:
                    written.append(dest)
        except Exception as e:  # noqa: BLE001 — the other results must still come back
            ablation["notes"].append(f"f16 checkpoints failed: {e!r}")

    # results.tar last, so the notes above are in its ablation.json
    ablation["returnedFiles"] = [os.path.basename(p) for p in written] + ["results.tar"]
    dest = os.path.join(out, "results.tar")
    with tarfile.open(dest, "w") as tar:
        blob = json.dumps(ablation, indent=1).encode()
        info = tarfile.TarInfo("ablation.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
        for extra in ("versions.txt", "probe.json"):
            add_file(tar, os.path.join(work, extra), extra)
        for run_dir in sorted(glob.glob(os.path.join(work, "runs", "*"))):
            name = os.path.basename(run_dir)
            for f in ("log.jsonl", "summary.json", "positions.json"):
                add_file(tar, os.path.join(run_dir, f), f"runs/{name}/{f}")
            for f in glob.glob(os.path.join(run_dir, "*.out")) + glob.glob(os.path.join(run_dir, "*.rc")):
                add_file(tar, f, f"runs/{name}/{os.path.basename(f)}")
        for g in sorted(glob.glob(os.path.join(work, "golden", "*.json"))):
            add_file(tar, g, f"golden/{os.path.basename(g)}")
    if os.path.getsize(dest) > MAX_FILE:
        print(f"warning: results.tar is {os.path.getsize(dest)} bytes", file=sys.stderr)

    print(f"{'run':<18} {'status':<7} {'steps':>6} {'tok/s':>8} {'params':>9} {'bpb':>7} {'1x':>6} {'2x':>6} {'4x':>6} {'state@4T':>9}")
    for r in runs:
        mu = (r["positions"] or {}).get("meanUpTo") or {}
        bpb = lambda k: f"{mu[k]['bpb']:.3f}" if k in mu else "-"  # noqa: E731
        print(f"{r['name']:<18} {r['status']:<7} {r['steps'] or 0:>6} {r['tokensPerSecond'] or 0:>8} "
              f"{(r['params'] or {}).get('total', 0):>9} {r['validBpb'] if r['validBpb'] is not None else float('nan'):>7.4f} {bpb('1x'):>6} "
              f"{bpb('2x'):>6} {bpb('4x'):>6} {(r['stateBytes'] or {}).get('4T', 0):>9}")
    fmt = lambda v, p="{:.4f}": "-" if v is None else p.format(v)  # noqa: E731
    for title, rows in (("equal tokens", ablation["comparisons"]["equalTokens"]),
                        ("equal wall-clock (GPU seconds alone)", ablation["comparisons"]["equalWallClock"])):
        print(f"{title}: run, steps, lr, valid bpb, bpb 1x / 4x, memory off, read-twice drop, recall (control)")
        for h in rows:
            print(f"  {h['name']:<14} {h['steps'] or 0:>6} {fmt(h['lr'], '{:g}'):>7} {fmt(h['validBpb'])} "
                  f"{fmt(h['bpb1x'])} / {fmt(h['bpb4x'])} {fmt(h['memoryOffIncrease'], '{:+.1%}')} "
                  f"{fmt(h['readTwiceDrop'], '{:+.1%}')} {fmt(h['recall'], '{:.1%}')} ({fmt(h['recallControl'], '{:.1%}')})"
                  + (f" {h['secondsAlone']:.0f}s" if h.get("secondsAlone") else ""))
    print("best KV learning rate:", ablation["comparisons"]["bestKvLr"])
    for note in ablation["notes"]:
        print("note:", note)


if __name__ == "__main__":
    main()
