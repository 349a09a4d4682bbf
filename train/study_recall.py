#!/usr/bin/env python3
"""Synthetic associative recall (MQAR, Zoology arXiv 2312.04927) for the token mixers of this project.

Each sequence (vocab 256, T 256) starts with N key–value pairs `k1 v1 k2 v2 …` (keys from ids 0–127, distinct; values
from 128–255), then, after an optional `--gap` of filler tokens, queries `k v` of those keys in random order at random
2-token slots; every other position is a random filler token. Loss and accuracy count only the query positions (the
model must predict `v` after the queried `k`). Distance = query position − position of the pair's key.

Models: 2 pre-norm blocks of train/model.py (RMSNorm, mixer, SwiGLU FFN), d 64, one head (f 64), FFN 128, tied
embeddings. Mixers:
- `ttt`: train/model.py's TTTMixer as the product uses it (conv 4, shareQK, gate, mini-batch 16, baseLr 1), imported;
- `delta`: a gated delta rule (Gated DeltaNet, arXiv 2412.06464), written here: conv 4 + SiLU on q/k/v, L2-normalised
  q/k, write strength β = sigmoid(·), data-dependent decay α = exp(−A·softplus(·)), S_t = α_t(I − β_t k_t k_tᵀ)S_{t−1}
  + β_t k_t v_tᵀ, o_t = q_t S_t / √f, per-head RMSNorm ⊙ SiLU gate, output projection. Trained in the chunked (WY)
  form; `delta_rule_recurrent` is the token-by-token form the unit test compares it with;
- `swa` (window 16), `attn` (plain causal attention with RoPE): train/model.py's AttentionMixer;
- `attnconv`: AttentionMixer with a causal depthwise conv 4 on q/k/v (TTTMixer's conv and its uniform init), written
  here (before model.py had an attention conv); `kvconv`: model.py's own attention with `config.attn` = conv 4
  (identity-initialised) + gate, as in train/configs/kv-conv.json.
Hybrids are given as `ttt+swa`, `delta+swa` (layer 0, layer 1). `--weights float` swaps every BitLinear for a plain
linear layer (same latent weights and init); `--weights ternary` keeps train/model.py's BitLinear (the product's).

One model is trained per run on a mixture of N (each batch cycles through `--train-n`), then evaluated per N on a fixed
held-out set. Results go to `--out` as JSON; `--table DIR` prints the Markdown tables from those files.

  nice -n 10 /usr/bin/python3 train/study_recall.py --variant ttt --weights float --steps 1000 --lr 2e-3 \
      --out train/results/recall-study/float-ttt-lr2e-3.json
  /usr/bin/python3 train/study_recall.py --time-steps 5          # ms per step of every variant
  /usr/bin/python3 train/study_recall.py --table train/results/recall-study
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from model import AttentionMixer, BitLinear, BitTTTModel, TTTMixer, rms_norm, rope  # noqa: E402

VOCAB, SEQ = 256, 256
KEY_IDS = 128  # keys are ids 0..127, values 128..255
D_MODEL, FFN = 64, 128
WINDOW = 16
CHUNK = 16
DIST_BUCKETS = [(1, 16), (17, 32), (33, 64), (65, 128), (129, 255)]
VARIANTS = {  # name -> per-layer mixers
    "ttt": ["ttt", "ttt"],
    "delta": ["delta", "delta"],
    "swa": ["swa", "swa"],
    "attn": ["attn", "attn"],
    "attnconv": ["attnconv", "attnconv"],
    "kvconv": ["attn", "attn"],  # model.py's own attention conv (config.attn: conv 4 identity-initialised + gate)
    "ttt+swa": ["ttt", "swa"],
    "delta+swa": ["delta", "swa"],
}


# ---------------------------------------------------------------------------------------------- data


def mqar_batch(gen: torch.Generator, batch: int, n_pairs: int, gap: int = 0):
    """tokens [B, T], labels [B, T] (−100 except at query keys), distance [B, T] (0 except at query keys)."""
    start = 2 * n_pairs + gap
    slots = (SEQ - start) // 2
    if slots <= 0:
        raise ValueError(f"N={n_pairs} with gap {gap} leaves no room for queries in T={SEQ}")
    n_query = min(n_pairs, slots)
    tokens = torch.randint(0, VOCAB, (batch, SEQ), generator=gen)
    labels = torch.full((batch, SEQ), -100, dtype=torch.long)
    distance = torch.zeros((batch, SEQ), dtype=torch.long)
    ar = torch.arange(n_pairs)
    for r in range(batch):
        keys = torch.randperm(KEY_IDS, generator=gen)[:n_pairs]
        values = torch.randint(KEY_IDS, VOCAB, (n_pairs,), generator=gen)
        tokens[r, 2 * ar] = keys
        tokens[r, 2 * ar + 1] = values
        pairs = torch.randperm(n_pairs, generator=gen)[:n_query]
        where = start + 2 * torch.randperm(slots, generator=gen)[:n_query]
        tokens[r, where] = keys[pairs]
        tokens[r, where + 1] = values[pairs]
        labels[r, where] = values[pairs]
        distance[r, where] = where - 2 * pairs
    return tokens, labels, distance


# ---------------------------------------------------------------------------------------------- gated delta rule


def delta_rule_recurrent(q, k, v, g, beta):
    """Token by token. q, k, v [B, H, T, f]; g = log α ≤ 0 and beta [B, H, T]. Returns o [B, H, T, f], S [B, H, f, f].
    S_t = α_t (I − β_t k_tᵀk_t) S_{t−1} + β_t k_tᵀ v_t (rows are vectors), o_t = q_t S_t."""
    B, H, T, f = q.shape
    S = q.new_zeros(B, H, f, v.shape[-1])
    outs = []
    for t in range(T):
        kt, vt, qt = k[:, :, t : t + 1], v[:, :, t : t + 1], q[:, :, t : t + 1]
        a, b = g[:, :, t, None, None].exp(), beta[:, :, t, None, None]
        S = a * (S - b * kt.transpose(-1, -2) @ (kt @ S)) + b * kt.transpose(-1, -2) @ vt
        outs.append(qt @ S)
    return torch.cat(outs, dim=2), S


def delta_rule_chunked(q, k, v, g, beta, chunk: int = CHUNK):
    """The same recurrence a chunk at a time (WY form). Within a chunk with γ_t = exp(Σ_{s≤t} g_s) and start state S0,
    S_t = γ_t S0 + Σ_{j≤t} (γ_t/γ_j) k_jᵀ u_j with u = (I + A)⁻¹ (β ⊙ V − β γ ⊙ K S0), A[t,j] = β_t (k_t·k_j) γ_t/γ_j
    for j < t; o_t = γ_t q_t S0 + Σ_{j≤t} (γ_t/γ_j)(q_t·k_j) u_j."""
    B, H, T, f = q.shape
    pad = (-T) % chunk
    if pad:  # padded tokens come last with k = 0, β = 0, α = 1: they change nothing before them
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
        g, beta = F.pad(g, (0, pad)), F.pad(beta, (0, pad))
    n = (T + pad) // chunk
    q, k, v = (x.reshape(B, H, n, chunk, x.shape[-1]) for x in (q, k, v))
    g, beta = g.reshape(B, H, n, chunk), beta.reshape(B, H, n, chunk)
    gc = g.cumsum(-1)
    diff = gc[..., :, None] - gc[..., None, :]  # [.., t, j] = log γ_t/γ_j (≤ 0 for j ≤ t)
    ones = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device)
    strict, causal = torch.tril(ones, -1), torch.tril(ones)
    decay_strict = diff.masked_fill(~strict, float("-inf")).exp()  # masked before exp: diff > 0 above the diagonal
    decay_causal = diff.masked_fill(~causal, float("-inf")).exp()
    kb = k * beta[..., None]
    eye = torch.eye(chunk, dtype=q.dtype, device=q.device)
    inv = torch.linalg.solve_triangular(eye + (kb @ k.transpose(-1, -2)) * decay_strict, eye.expand(B, H, n, -1, -1),
                                        upper=False, unitriangular=True)
    w = inv @ (kb * gc.exp()[..., None])
    u = inv @ (v * beta[..., None])
    qk = (q @ k.transpose(-1, -2)) * decay_causal
    S = q.new_zeros(B, H, f, v.shape[-1])
    outs = []
    for i in range(n):
        u_i = u[:, :, i] - w[:, :, i] @ S
        outs.append((q[:, :, i] * gc[:, :, i, :, None].exp()) @ S + qk[:, :, i] @ u_i)
        last = gc[:, :, i, -1]
        S = S * last.exp()[..., None, None] + (k[:, :, i] * (last[..., None] - gc[:, :, i]).exp()[..., None]).transpose(
            -1, -2) @ u_i
    o = torch.stack(outs, dim=2).reshape(B, H, n * chunk, -1)[:, :, :T]
    return o, S


def causal_conv(u: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return TTTMixer.causal_conv(u, weight, None)[0]


class GatedDeltaMixer(nn.Module):
    """Gated DeltaNet token mixer (see the module docstring). Signature of model.py's AttentionMixer (no state carry)."""

    def __init__(self, c: Dict, conv_kernel: int = 4, chunk: int = CHUNK):
        super().__init__()
        d = c["dModel"]
        self.H, self.f, self.eps, self.chunk = c["nHeads"], d // c["nHeads"], c["normEps"], chunk
        self.wq, self.wk, self.wv, self.wg, self.wo = (BitLinear(d, d) for _ in range(5))
        bound = 1 / math.sqrt(conv_kernel)
        self.conv_q, self.conv_k, self.conv_v = (nn.Parameter(torch.empty(d, conv_kernel).uniform_(-bound, bound))
                                                 for _ in range(3))
        self.beta_w = nn.Parameter(torch.randn(self.H, d) * 0.02)
        self.beta_b = nn.Parameter(torch.zeros(self.H))
        self.alpha_w = nn.Parameter(torch.randn(self.H, d) * 0.02)
        # Mamba-2 / Gated DeltaNet init: A ~ U[1, 16], softplus(dt_bias) = dt log-uniform in [1e-3, 1e-1]
        self.A_log = nn.Parameter(torch.empty(self.H).uniform_(1, 16).log())
        dt = torch.exp(torch.empty(self.H).uniform_(math.log(1e-3), math.log(1e-1)))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.subnorm = nn.Parameter(torch.ones(self.f))

    def forward(self, xn: torch.Tensor, pos0: int, state, recurrent: bool = False):
        if state is not None or pos0:
            raise ValueError("the study's delta-rule mixer runs whole sequences only (no state carry)")
        B, T, d = xn.shape
        H, f = self.H, self.f

        def heads(x):
            return x.reshape(B, T, H, f).transpose(1, 2)

        q = F.normalize(heads(F.silu(causal_conv(self.wq(xn), self.conv_q))), dim=-1) / math.sqrt(f)
        k = F.normalize(heads(F.silu(causal_conv(self.wk(xn), self.conv_k))), dim=-1)
        v = heads(F.silu(causal_conv(self.wv(xn), self.conv_v)))
        beta = torch.sigmoid(xn @ self.beta_w.t() + self.beta_b).transpose(1, 2)  # [B, H, T]
        g = (-self.A_log.exp() * F.softplus(xn @ self.alpha_w.t() + self.dt_bias)).transpose(1, 2)
        o, _ = delta_rule_recurrent(q, k, v, g, beta) if recurrent else delta_rule_chunked(q, k, v, g, beta, self.chunk)
        o = rms_norm(o, self.subnorm, self.eps).transpose(1, 2).reshape(B, T, d)
        return self.wo(o * F.silu(self.wg(xn))), None


class AttnConvMixer(AttentionMixer):
    """model.py's attention with a causal depthwise conv (kernel 4, TTTMixer's init) on q, k and v before RoPE."""

    def __init__(self, c: Dict, kind: str, conv_kernel: int = 4):
        super().__init__(c, kind)
        d, bound = c["dModel"], 1 / math.sqrt(conv_kernel)
        self.conv_q, self.conv_k, self.conv_v = (nn.Parameter(torch.empty(d, conv_kernel).uniform_(-bound, bound))
                                                 for _ in range(3))

    def forward(self, xn: torch.Tensor, pos0: int, state):
        if state is not None or pos0:
            raise ValueError("the study's attention+conv mixer runs whole sequences only")
        B, T, d = xn.shape
        pos = torch.arange(T, device=xn.device)
        q = rope(self.heads(causal_conv(self.wq(xn), self.conv_q)), pos, self.theta)
        k = rope(self.heads(causal_conv(self.wk(xn), self.conv_k)), pos, self.theta)
        v = self.heads(causal_conv(self.wv(xn), self.conv_v))
        allowed = torch.tril(torch.ones(T, T, dtype=torch.bool, device=xn.device))
        scores = ((q @ k.transpose(-1, -2)) / math.sqrt(self.f)).masked_fill(~allowed, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v
        return self.wo(rms_norm(o.transpose(1, 2).reshape(B, T, d), self.subnorm, self.eps)), None


# ---------------------------------------------------------------------------------------------- models


class FloatLinear(nn.Module):
    """A plain bias-free linear layer that takes over a BitLinear's latent weight (the float-weights study)."""

    def __init__(self, weight: nn.Parameter):
        super().__init__()
        self.weight = weight

    def forward(self, x):
        return F.linear(x, self.weight)


def to_float(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, BitLinear):
            setattr(module, name, FloatLinear(child.weight))
        else:
            to_float(child)


def variant_mixers(variant: str, mixers: Optional[List[str]] = None) -> List[str]:
    """The per-layer mixers: `--mixers` when given (any depth, e.g. the product's ttt,ttt,swa,ttt,ttt,swa), else the
    variant's own."""
    if mixers:
        bad = [k for k in mixers if k not in ("ttt", "swa", "attn", "delta", "attnconv")]
        if bad:
            raise SystemExit(f"unknown mixer(s) {bad}; --mixers takes ttt, swa, attn, delta, attnconv")
        return list(mixers)
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def build_model(variant: str, weights: str, mixers: Optional[List[str]] = None, window: int = WINDOW,
                ffn: int = FFN) -> BitTTTModel:
    if weights not in ("float", "ternary"):
        raise SystemExit('--weights must be "float" or "ternary"')
    kinds = variant_mixers(variant, mixers)
    config = {
        "arch": "ttt", "vocabSize": VOCAB, "dModel": D_MODEL, "nLayers": len(kinds), "nHeads": 1, "ffnHidden": ffn,
        "mixers": [k if k in ("ttt", "swa", "attn") else "attn" for k in kinds], "window": window,
        "contextLength": SEQ, "maxContext": SEQ,
        "ttt": {"miniBatch": 16, "baseLr": 1.0, "convKernel": 4, "shareQK": True, "gate": True},  # the product's
    }
    if variant == "kvconv":
        config["attn"] = {"convKernel": 4, "gate": True}  # train/configs/kv-conv.json's attention
    model = BitTTTModel(config)
    for layer, kind in zip(model.layers, kinds):
        if kind == "delta":
            layer.attn = GatedDeltaMixer(model.config)
        elif kind == "attnconv":
            layer.attn = AttnConvMixer(model.config, "attn")
    if weights == "float":
        to_float(model)
    return model


def query_loss(model, tokens, labels):
    logits, _ = model(tokens)
    return F.cross_entropy(logits.reshape(-1, VOCAB), labels.reshape(-1), ignore_index=-100), logits


@torch.no_grad()
def evaluate(model, ns: List[int], gap: int, per_n: int, seed: int = 12345, device: str = "cpu") -> Dict:
    model.eval()
    out = {}
    for n in ns:
        gen = torch.Generator().manual_seed(seed + n)
        hits = total = 0
        by_dist = {f"{lo}-{hi}": [0, 0] for lo, hi in DIST_BUCKETS}
        for _ in range(per_n // 32):
            tokens, labels, dist = (x.to(device) for x in mqar_batch(gen, 32, n, gap))
            logits, _ = model(tokens)
            mask = labels >= 0
            ok = (logits.argmax(-1) == labels) & mask
            hits += int(ok.sum())
            total += int(mask.sum())
            for lo, hi in DIST_BUCKETS:
                sel = mask & (dist >= lo) & (dist <= hi)
                by_dist[f"{lo}-{hi}"][0] += int((ok & sel).sum())
                by_dist[f"{lo}-{hi}"][1] += int(sel.sum())
        out[str(n)] = {"acc": hits / total, "queries": total,
                       "byDistance": {b: {"acc": (h / c if c else None), "queries": c} for b, (h, c) in by_dist.items()}}
    model.train()
    return out


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * p))


def train(args) -> Dict:
    torch.manual_seed(args.seed)
    model = build_model(args.variant, args.weights, args.mixers, args.window, args.ffn).to(args.device)
    decay = [p for p in model.parameters() if p.dim() >= 2 and p.shape[-1] > 4]  # matrices, not conv kernels
    rest = [p for p in model.parameters() if not (p.dim() >= 2 and p.shape[-1] > 4)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)
    warmup = max(1, int(0.05 * args.steps))
    step_times, cpu_times, log = [], [], []
    t_start = time.time()
    for step in range(args.steps):
        if args.time_limit and time.time() - t_start > args.time_limit:
            print(f"time limit reached at step {step}; evaluating", flush=True)
            break
        t0, c0 = time.perf_counter(), time.process_time()
        n = args.train_n[step % len(args.train_n)]
        tokens, labels = (x.to(args.device) for x in mqar_batch(gen, args.batch, n, args.gap)[:2])
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, warmup)
        loss, _ = query_loss(model, tokens, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step_times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        if not math.isfinite(loss.item()):
            log.append({"step": step, "loss": loss.item(), "n": n, "diverged": True})
            print(f"step {step}: loss is not finite; stopping", flush=True)
            break
        if step % args.log_every == 0 or step == args.steps - 1:
            log.append({"step": step, "loss": round(loss.item(), 4), "n": n})
            print(f"step {step} N={n} loss {loss.item():.4f} {1000 * statistics.median(step_times[-50:]):.0f} ms/step",
                  flush=True)
    result = evaluate(model, args.eval_n, args.gap, args.eval_per_n, device=args.device)
    return {
        "variant": args.variant if not args.mixers else "+".join(args.mixers),
        "mixers": variant_mixers(args.variant, args.mixers), "weights": args.weights, "gap": args.gap,
        "steps": args.steps, "stepsDone": len(step_times), "batch": args.batch, "tokensPerStep": args.batch * SEQ,
        "lr": args.lr, "warmup": warmup, "seed": args.seed, "trainN": args.train_n, "threads": torch.get_num_threads(), "device": args.device,
        "code": code_version(), "torch": torch.__version__,
        "msPerStepMedian": round(1000 * statistics.median(step_times), 1),
        "cpuMsPerStepMedian": round(1000 * statistics.median(cpu_times), 1), "wallSeconds": round(time.time() - t_start, 1),
        "params": sum(p.numel() for p in model.parameters()),
        "model": {"vocab": VOCAB, "T": SEQ, "dModel": D_MODEL, "ffn": args.ffn, "heads": 1, "window": args.window},
        "eval": result, "evalPerN": args.eval_per_n, "log": log,
    }


def time_steps(args) -> None:
    print(f"| weights | variant | CPU ms/step (batch {args.batch}) | wall ms/step |\n|---|---|---|---|")
    for weights in ("float", "ternary"):
        for variant in VARIANTS:
            torch.manual_seed(0)
            model = build_model(variant, weights)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            gen = torch.Generator().manual_seed(0)
            wall, cpu = [], []
            for _ in range(args.time_steps + 1):
                tokens, labels, _ = mqar_batch(gen, args.batch, 32, 0)
                t0, c0 = time.perf_counter(), time.process_time()
                loss, _ = query_loss(model, tokens, labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            # CPU time is what a step costs; wall time on a shared machine mostly measures the other jobs
            print(f"| {weights} | {variant} | {1000 * statistics.median(cpu[1:]):.0f} | "
                  f"{1000 * statistics.median(wall[1:]):.0f} |", flush=True)


# ---------------------------------------------------------------------------------------------- tables


def code_version() -> Optional[str]:
    """The repository's commit (short), for a result's provenance: the same seed on other code or another torch may
    take another trajectory (issue 17: recall forms on some trajectories only)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


DEFAULT_TRAIN_N = [8, 16, 32, 64]


def table(directory: str) -> str:
    files = sorted(glob.glob(os.path.join(directory, "*.json")))
    if not files:
        raise SystemExit(f"no result JSON files in {directory}")
    runs = [json.load(open(p)) for p in files]
    lines = []
    groups: Dict[Tuple, List] = {}
    for r in runs:
        groups.setdefault((r["weights"], r["gap"]), []).append(r)
    for (weights, gap), rs in sorted(groups.items()):
        ns = sorted({int(n) for r in rs for n in r["eval"]})
        lines.append(f"**{weights} weights, gap {gap}** (query accuracy %, {rs[0]['evalPerN']} held-out sequences per N; "
                     "by distance: all N pooled)\n")
        lines.append("| variant | lr | steps × tokens | CPU ms/step | " + " | ".join(f"N={n}" for n in ns)
                     + " | " + " | ".join(f"d {lo}–{hi}" for lo, hi in DIST_BUCKETS) + " |")
        lines.append("|---" * (4 + len(ns) + len(DIST_BUCKETS)) + "|")
        for r in sorted(rs, key=lambda r: (list(VARIANTS).index(r["variant"]) if r["variant"] in VARIANTS
                                              else len(VARIANTS), r["variant"], r["lr"])):
            accs = [f"{100 * r['eval'][str(n)]['acc']:.1f}" if str(n) in r["eval"] else "" for n in ns]
            # by distance: pooled over every evaluated N
            dist = []
            for lo, hi in DIST_BUCKETS:
                b = f"{lo}-{hi}"
                h = sum(e["byDistance"][b]["acc"] * e["byDistance"][b]["queries"] for e in r["eval"].values()
                        if e["byDistance"][b]["queries"])
                c = sum(e["byDistance"][b]["queries"] for e in r["eval"].values())
                dist.append(f"{100 * h / c:.1f}" if c else "–")
            done = "" if r["stepsDone"] == r["steps"] else f" (stopped at {r['stepsDone']})"
            custom = r["variant"] not in VARIANTS or (r["model"]["window"], r["model"]["ffn"]) != (WINDOW, FFN)
            shape = f" (w {r['model']['window']}, ffn {r['model']['ffn']})" if custom else ""
            train_n = r.get("trainN", DEFAULT_TRAIN_N)
            shape += f", train N {','.join(map(str, train_n))}" if list(train_n) != DEFAULT_TRAIN_N else ""
            shape += f", seed {r['seed']}" if r.get("seed", 0) else ""
            shape += f" @{r['code']}" if r.get("code") else ""
            lines.append(f"| {r['variant']}{shape} | {r['lr']:g} | {r['steps']} × {r['tokensPerStep']}{done} | "
                         f"{r.get('cpuMsPerStepMedian', r['msPerStepMedian']):.0f} | " + " | ".join(accs) + " | " + " | ".join(dist) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="ttt", help=", ".join(VARIANTS))
    ap.add_argument("--weights", default="float", choices=("float", "ternary"))
    ap.add_argument("--mixers", type=lambda s: s.split(","), default=None,
                    help="per-layer mixers overriding --variant, e.g. ttt,ttt,swa,ttt,ttt,swa (the product's pattern)")
    ap.add_argument("--window", type=int, default=WINDOW, help="SWA window")
    ap.add_argument("--ffn", type=int, default=FFN, help="FFN hidden width (the product's d64 proxy: 192)")
    ap.add_argument("--gap", type=int, default=0, help="filler tokens between the pairs and the first query")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16, help="sequences of 256 tokens per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-n", type=lambda s: [int(x) for x in s.split(",")], default=DEFAULT_TRAIN_N,
                    help="pairs per training sequence, one N per step in turn (2,4,8,… adds easy steps)")
    ap.add_argument("--eval-n", type=lambda s: [int(x) for x in s.split(",")], default=[8, 16, 32, 64])
    ap.add_argument("--eval-per-n", type=int, default=256, help="held-out sequences per N (a multiple of 32)")
    ap.add_argument("--time-limit", type=float, default=0, help="stop training after this many seconds, then evaluate")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the data is made on the CPU either way)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on the shared 2-core machine)")
    ap.add_argument("--out", help="result JSON path")
    ap.add_argument("--time-steps", type=int, default=0, help="only time this many steps of every variant")
    ap.add_argument("--table", metavar="DIR", help="print the Markdown tables of the result JSONs in DIR")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.table:
        print(table(args.table))
        return
    if args.time_steps:
        time_steps(args)
        return
    if not args.out:
        raise SystemExit("--out RESULT.json is required for a training run")
    result = train(args)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(json.dumps({n: round(100 * e["acc"], 1) for n, e in result["eval"].items()}))


if __name__ == "__main__":
    main()
