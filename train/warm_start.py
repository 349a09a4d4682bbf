"""A training checkpoint from a shipped .bttt: latent float weights whose quantisation gives back the file exactly.

    /usr/bin/python3 train/warm_start.py --bttt public/models/ttt-hybrid-d256.bttt --out train/runs/warm.pt
    # then: train.py --init-from train/runs/warm.pt … (or "init_from" in a train/cpu/runs spec)

A ternary tensor in the file is codes c ∈ {−1, 0, +1} and one f32 scale s (MATH.md: s = mean|W|, c = clamp(round(W/s))).
The latent weights are W = c · s/frac, frac = the share of non-zero codes, so that mean|W| = s and round(W/s) = c
(|W/s| = 1/frac ≥ 1 rounds and clamps to ±1). The mean is then off by an ulp or so in f32, and BitLinear recomputes
the scale from the latent weights at every step: one non-zero entry per tensor is nudged (several places and base magnitudes are tried) until
torch's own `W.abs().mean()` equals s bit for bit on this machine (a scale error of 1e-7 moved the d256 model's
logits by 0.12 in the issue's pilot: the activation quantisers amplify it). Embeddings (f16 in the file) and every
f32 tensor are copied. The script checks the result against the file's frozen model and prints the largest logit
difference on a few valid windows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bttt import read_bttt  # noqa: E402
from export import model_from_bttt  # noqa: E402
from model import BitTTTModel, bitlinear_modules, math_tensors  # noqa: E402


def _nudge(w: torch.Tensor, s: torch.Tensor, i: int, n: int, tries: int = 40) -> bool:
    """Move |w_i| until mean|w| == s; False when the mean jumps over s (this entry's partial sum is too coarse)."""
    flat = w.view(-1)
    seen = set()
    for _ in range(tries):
        m = flat.abs().mean()
        if bool(m == s):
            return True
        err = float(s) - float(m)
        mag = np.float32(abs(float(flat[i])))
        target = np.float32(float(mag) + err * n)
        if target == mag:
            target = np.nextafter(mag, np.float32(np.inf if err > 0 else 0), dtype=np.float32)
        if float(target) in seen:
            return False
        seen.add(float(target))
        flat[i] = float(np.sign(float(flat[i]))) * float(target)
    return False


def latent_from_codes(codes: np.ndarray, scale: float, candidates: int = 64) -> torch.Tensor:
    """f32 latent weights with round-and-clamp(W / mean|W|) = codes and mean|W| == scale exactly (torch's mean).

    torch sums in several partial sums; moving one entry moves the mean on that partial sum's grid, which can step
    over the target, so entries at several places of the tensor are tried in turn."""
    c = torch.from_numpy(codes.astype(np.float32))
    s = torch.tensor(scale, dtype=torch.float32)
    nonzero = torch.nonzero(c.view(-1)).view(-1)
    if nonzero.numel() == 0:
        raise ValueError("a ternary tensor with no non-zero code cannot carry a scale")
    a0 = np.float32(scale / (nonzero.numel() / c.numel()))
    picks = np.linspace(0, nonzero.numel() - 1, candidates).round().astype(int)
    for k in range(8):  # other magnitudes for all entries move every partial sum's rounding
        a = a0
        for _ in range(k):
            a = np.nextafter(a, np.float32(np.inf), dtype=np.float32)
        base = c * torch.tensor(float(a), dtype=torch.float32)
        for j in picks:
            w = base.clone()
            if _nudge(w, s, int(nonzero[j]), c.numel()):
                got = torch.clamp(torch.round(w / w.abs().mean().clamp(min=1e-5)), -1, 1)
                if not torch.equal(got, c):
                    raise RuntimeError("the latent weights do not quantise back to the file's codes")
                return w
    raise RuntimeError(f"could not match the scale {scale!r} bit for bit with one nudged entry")


def warm_start(bttt_path: str) -> Dict[str, Any]:
    f = read_bttt(bttt_path)
    model = BitTTTModel(f["config"])
    params = math_tensors(model)
    linears = bitlinear_modules(model)
    with torch.no_grad():
        for name, value in f["tensors"].items():
            if isinstance(value, tuple):
                codes, scale = value
                params[name].copy_(latent_from_codes(codes, float(scale)).view_as(params[name]))
                linears[name].frozen = None
            else:
                params[name].copy_(torch.from_numpy(np.asarray(value, dtype=np.float32)))
    return {"model": model.state_dict(), "config": model.config, "warm_start": os.path.relpath(bttt_path),
            "metadata": f.get("metadata", {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bttt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="train/data", help="valid.bin for the check (skipped if absent)")
    args = ap.parse_args()
    ck = warm_start(args.bttt)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(ck, args.out)
    latent = BitTTTModel(ck["config"])
    latent.load_state_dict(ck["model"])
    frozen = model_from_bttt(args.bttt)
    valid = os.path.join(args.data, "valid.bin")
    if os.path.exists(valid):
        tokens = np.fromfile(valid, dtype="<u2")[: 4 * 256].astype(np.int64).reshape(4, 256)
    else:
        tokens = np.random.default_rng(0).integers(0, ck["config"]["vocabSize"], (4, 256))
    with torch.no_grad():
        a, _ = latent.eval()(torch.from_numpy(tokens))
        b, _ = frozen(torch.from_numpy(tokens))
    diff = float((a - b).abs().max())
    print(json.dumps({"out": args.out, "maxLogitDiff": diff, "tokens": int(tokens.size)}))


if __name__ == "__main__":
    main()
