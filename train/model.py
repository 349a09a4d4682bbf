"""Bit-TTT model in PyTorch, exactly as docs/MATH.md describes it.

Two architectures share everything but the token mixer: "ttt" (TTT-Linear, trained in the mini-batch dual form,
optionally mixed with sliding-window attention) and "kv" (causal attention with RoPE). Every linear layer inside a
block is a BitLinear (ternary weights, int8 activations) whose forward pass is the integer formula of MATH.md, with a
straight-through estimator for training. Runs on CPU PyTorch 1.13 and CUDA PyTorch 2.x.

State carry: `forward(tokens, state, pos0)` takes and returns the per-layer decode state (TTT W0/b0 and conv
histories, sliding-window K/V), so a stream cut into segments gives the same logits as the whole stream at once.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

MIXER_KINDS = ("ttt", "attn", "swa")
GELU_C = 0.7978845608


class ConfigError(ValueError):
    """A model config that breaks the rules of docs/MATH.md."""


DEFAULT_TTT = {"miniBatch": 16, "baseLr": 1.0, "convKernel": 0, "shareQK": False, "gate": False}
# Every "attn"/"swa" layer: the causal conv on q/k/v and the output gate of the TTT mixer (off: plain attention).
DEFAULT_ATTN = {"convKernel": 0, "gate": False}


def normalize_config(raw: Dict[str, Any]) -> Dict[str, Any]:
    """Fill defaults and check every MATH.md rule (the same ones as src/engine/model/spec.ts configProblem)."""
    c = copy.deepcopy(raw)
    c.setdefault("window", 64)
    c.setdefault("normEps", 1e-5)
    c.setdefault("ropeTheta", 10000)
    c.setdefault("tieEmbeddings", True)
    c.setdefault("maxContext", 4096)
    c["ttt"] = {**DEFAULT_TTT, **c.get("ttt", {})}
    c["attn"] = {**DEFAULT_ATTN, **c.get("attn", {})}
    for key in ("vocabSize", "dModel", "nLayers", "nHeads", "ffnHidden", "contextLength", "maxContext"):
        if not isinstance(c.get(key), int) or isinstance(c.get(key), bool) or c[key] <= 0:
            raise ConfigError(f"config.{key} must be a positive integer (got {c.get(key)!r})")
    if c.get("arch") not in ("ttt", "kv"):
        raise ConfigError('config.arch must be "ttt" or "kv"')
    if c["dModel"] % c["nHeads"]:
        raise ConfigError("config.dModel must be a multiple of nHeads")
    if (c["dModel"] // c["nHeads"]) % 2:
        raise ConfigError("the head size must be even (RoPE rotates pairs)")
    if c["dModel"] % 16 or c["ffnHidden"] % 16:
        raise ConfigError("dModel and ffnHidden must be multiples of 16")
    mixers = c.get("mixers")
    if not isinstance(mixers, list) or len(mixers) != c["nLayers"]:
        raise ConfigError("config.mixers must list one mixer per layer")
    for m in mixers:
        if m not in MIXER_KINDS:
            raise ConfigError(f'unknown mixer "{m}"')
    if c["arch"] == "kv" and any(m != "attn" for m in mixers):
        raise ConfigError('a "kv" model has only "attn" mixers')
    if "swa" in mixers and (not isinstance(c["window"], int) or c["window"] <= 0):
        raise ConfigError('config.window must be a positive integer for "swa" layers')
    if not (c["normEps"] > 0 and c["ropeTheta"] > 0):
        raise ConfigError("config.normEps and ropeTheta must be positive")
    t = c["ttt"]
    if not isinstance(t["miniBatch"], int) or t["miniBatch"] <= 0:
        raise ConfigError("config.ttt.miniBatch must be a positive integer")
    if not isinstance(t["convKernel"], int) or not 0 <= t["convKernel"] <= 16:
        raise ConfigError("config.ttt.convKernel must be 0..16")
    if t["shareQK"] and t["convKernel"] == 0:
        raise ConfigError("config.ttt.shareQK needs convKernel > 0")
    if not t["baseLr"] > 0:
        raise ConfigError("config.ttt.baseLr must be positive")
    a = c["attn"]
    if not isinstance(a["convKernel"], int) or isinstance(a["convKernel"], bool) or not 0 <= a["convKernel"] <= 16:
        raise ConfigError("config.attn.convKernel must be 0..16")
    if not isinstance(a["gate"], bool):
        raise ConfigError("config.attn.gate must be a boolean")
    return c


# ---------------------------------------------------------------------------------------------- building blocks


def rms_norm(x: torch.Tensor, g: torch.Tensor, eps: float) -> torch.Tensor:
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def layer_norm(x: torch.Tensor, w: torch.Tensor, c: torch.Tensor, eps: float) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + c


def gelu_tanh(a: torch.Tensor) -> torch.Tensor:
    return 0.5 * a * (1 + torch.tanh(GELU_C * (a + 0.044715 * a * a * a)))


def ternary_quantize(w: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """MATH.md: s_w = max(mean|W|, 1e-5), Wq = clamp(roundEven(W / s_w), -1, 1)."""
    s_w = w.abs().mean().clamp(min=1e-5)
    return torch.clamp(torch.round(w / s_w), -1, 1), s_w


class BitLinear(nn.Module):
    """Ternary weights, per-token int8 activations: y = (xq · Wqᵀ) · (s_w / s_x).

    The forward pass is the integer formula itself (sums of small integers are exact in f32); gradients use the
    straight-through estimator with detached scales, which gives exactly BitNet's STE gradients (dy/dx = s_w·Wq,
    dy/dW = xq/s_x). After `freeze(values, scale)` the layer uses exported ternary values instead of its latent
    weights (golden vectors are computed that way)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.normal_(self.weight, std=0.02)
        self.frozen: Optional[Tuple[torch.Tensor, torch.Tensor]] = None

    # xq·Wqᵀ of integer-valued tensors; train/fastpath.py swaps in an exact bf16 product on CUDA.
    integer_product = staticmethod(F.linear)

    def freeze(self, values: torch.Tensor, scale: float) -> None:
        self.frozen = (values.to(torch.float32), torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen is not None:
            wq, s_w = self.frozen[0].to(x.device), self.frozen[1].to(x.device)
        else:
            w = self.weight
            s_w = w.detach().abs().mean().clamp(min=1e-5)
            w_scaled = w / s_w
            wq = w_scaled + (torch.clamp(torch.round(w_scaled), -1, 1) - w_scaled).detach()
        s_x = 127.0 / x.detach().abs().amax(-1, keepdim=True).clamp(min=1e-5)
        xs = x * s_x
        xq = xs + (torch.clamp(torch.round(xs), -128, 127) - xs).detach()
        return self.integer_product(xq, wq) * (s_w / s_x)


def rope(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """x: [..., T, f]; rotates pairs (2i, 2i+1) by pos·theta^(-2i/f). Angles in f64 then f32, like the reference."""
    f = x.shape[-1]
    inv = theta ** (-torch.arange(0, f, 2, dtype=torch.float64, device=x.device) / f)
    ang = positions.to(torch.float64)[:, None] * inv[None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


# ---------------------------------------------------------------------------------------------- mixers


class AttentionMixer(nn.Module):
    """Causal multi-head attention with RoPE ("attn"), or sliding-window attention over the last `window`
    positions ("swa"). A "swa" layer can carry its last `window` keys/values (and conv histories) into the next
    segment. With config.attn: the TTT mixer's causal conv on q/k/v (identity-initialised) and its output gate."""

    def __init__(self, c: Dict[str, Any], kind: str):
        super().__init__()
        d = c["dModel"]
        self.kind, self.H, self.f, self.eps = kind, c["nHeads"], d // c["nHeads"], c["normEps"]
        self.window, self.theta = c["window"], c["ropeTheta"]
        self.d, self.K, self.use_gate = d, c["attn"]["convKernel"], c["attn"]["gate"]
        self.wq, self.wk, self.wv, self.wo = (BitLinear(d, d) for _ in range(4))
        if self.use_gate:
            self.wg = BitLinear(d, d)
        if self.K > 0:
            # Identity: the last tap (the current token) 1, earlier taps 0, so that training starts from plain
            # attention and learns what local mixing helps (the recall study of issue 8 needed this init).
            identity = torch.zeros(d, self.K)
            identity[:, -1] = 1.0
            self.conv_q = nn.Parameter(identity.clone())
            self.conv_k = nn.Parameter(identity.clone())
            self.conv_v = nn.Parameter(identity.clone())
        self.subnorm = nn.Parameter(torch.ones(d))

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.H, self.f).transpose(1, 2)

    def forward(self, xn: torch.Tensor, pos0: int, state: Optional[Dict[str, torch.Tensor]]):
        B, T, d = xn.shape
        pos = torch.arange(pos0, pos0 + T, device=xn.device)
        q, k, v = self.wq(xn), self.wk(xn), self.wv(xn)
        histories: Dict[str, torch.Tensor] = {}
        if self.K > 0:
            q, histories["hq"] = TTTMixer.causal_conv(q, self.conv_q, state["hq"] if state else None)
            k, histories["hk"] = TTTMixer.causal_conv(k, self.conv_k, state["hk"] if state else None)
            v, histories["hv"] = TTTMixer.causal_conv(v, self.conv_v, state["hv"] if state else None)
        q = rope(self.heads(q), pos, self.theta)
        k = rope(self.heads(k), pos, self.theta)
        v = self.heads(v)
        key_pos = pos
        if state is not None and state["pos"].numel() > 0:
            k = torch.cat((state["k"], k), dim=2)
            v = torch.cat((state["v"], v), dim=2)
            key_pos = torch.cat((state["pos"], pos))
        allowed = key_pos[None, :] <= pos[:, None]
        if self.kind == "swa":
            allowed = allowed & (key_pos[None, :] > pos[:, None] - self.window)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.f)
        scores = scores.masked_fill(~allowed, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v
        o = rms_norm(o.transpose(1, 2).reshape(B, T, d), self.subnorm, self.eps)
        if self.use_gate:
            o = o * gelu_tanh(self.wg(xn))
        out = self.wo(o)
        new_state = None
        if state is not None:
            keep = self.window
            new_state = {"k": k[:, :, -keep:].detach(), "v": v[:, :, -keep:].detach(), "pos": key_pos[-keep:],
                         **histories}
        return out, new_state

    def empty_state(self, B: int, device) -> Dict[str, torch.Tensor]:
        z = torch.zeros(B, self.H, 0, self.f, device=device)
        s = {"k": z, "v": z.clone(), "pos": torch.zeros(0, dtype=torch.long, device=device)}
        if self.K > 0:
            for key in ("hq", "hk", "hv"):
                s[key] = torch.zeros(B, self.K - 1, self.d, device=device)
        return s


def inner_ln_grad(Z: torch.Tensor, target: torch.Tensor, ln_w: torch.Tensor, ln_b: torch.Tensor, eps: float):
    """Gradient of ||LN(Z) - target||² w.r.t. Z in MATH.md's exact form (factor 2 dropped)."""
    f = Z.shape[-1]
    mu = Z.mean(-1, keepdim=True)
    sigma = torch.sqrt((Z - mu).pow(2).mean(-1, keepdim=True) + eps)
    xhat = (Z - mu) / sigma
    gy = ln_w * (ln_w * xhat + ln_b - target)
    return (f * gy - gy.sum(-1, keepdim=True) - xhat * (gy * xhat).sum(-1, keepdim=True)) / (f * sigma)


class TTTMixer(nn.Module):
    """TTT-Linear (MATH.md "TTT mixer"). Training runs the mini-batch dual form; `primal=True` runs the token-by-token
    form of MATH.md (used by tests and golden vectors)."""

    def __init__(self, c: Dict[str, Any]):
        super().__init__()
        d, t = c["dModel"], c["ttt"]
        self.d, self.H, self.f, self.eps = d, c["nHeads"], d // c["nHeads"], c["normEps"]
        self.b, self.K, self.base_lr = t["miniBatch"], t["convKernel"], t["baseLr"]
        self.share_qk, self.use_gate = t["shareQK"], t["gate"]
        H, f = self.H, self.f
        if self.share_qk:
            self.wqk = BitLinear(d, d)
        else:
            self.wq, self.wk = BitLinear(d, d), BitLinear(d, d)
        self.wv, self.wo = BitLinear(d, d), BitLinear(d, d)
        if self.use_gate:
            self.wg = BitLinear(d, d)
        if self.K > 0:
            bound = 1 / math.sqrt(self.K)  # nn.Conv1d's default init for a depthwise kernel
            self.conv_q = nn.Parameter(torch.empty(d, self.K).uniform_(-bound, bound))
            self.conv_k = nn.Parameter(torch.empty(d, self.K).uniform_(-bound, bound))
        self.lr_w = nn.Parameter(torch.randn(H, d) * 0.02)
        self.lr_b = nn.Parameter(torch.zeros(H))
        self.tok_offset = nn.Parameter(torch.zeros(self.b))
        self.ln_w = nn.Parameter(torch.ones(H, f))
        self.ln_b = nn.Parameter(torch.zeros(H, f))
        self.w_init = nn.Parameter(torch.randn(H, f, f) * 0.02)
        self.b_init = nn.Parameter(torch.zeros(H, f))
        self.post_norm_w = nn.Parameter(torch.ones(d))
        self.post_norm_b = nn.Parameter(torch.zeros(d))
        # Diagnostics only (docs/DIAGNOSTICS.md "memory off"): 0.0 multiplies the inner learning rate by 0, so the
        # state stays at w_init/b_init; 1.0 (the default) leaves the math untouched (the product is skipped).
        self.memory_scale = 1.0

    def empty_state(self, B: int, device) -> Dict[str, torch.Tensor]:
        s = {
            "W": self.w_init.detach()[None].expand(B, -1, -1, -1).clone().to(device),
            "b": self.b_init.detach()[None, :, None, :].expand(B, -1, -1, -1).clone().to(device),
        }
        if self.K > 0:
            s["hq"] = torch.zeros(B, self.K - 1, self.d, device=device)
            s["hk"] = torch.zeros(B, self.K - 1, self.d, device=device)
        return s

    @staticmethod
    def causal_conv(u: torch.Tensor, weight: torch.Tensor, history: Optional[torch.Tensor]):
        """q_t[c] = Σ_j w[c,j]·u_{t-(K-1)+j}[c]; `history` holds the K-1 inputs before this segment (zeros at a reset)."""
        B, T, d = u.shape
        K = weight.shape[1]
        if history is None:
            history = u.new_zeros(B, K - 1, d)
        full = torch.cat((history, u), dim=1)
        out = F.conv1d(full.transpose(1, 2), weight[:, None, :], groups=d).transpose(1, 2)
        return out, full[:, full.shape[1] - (K - 1):].detach()

    def tok_weights(self) -> torch.Tensor:
        idx = torch.arange(1, self.b + 1, device=self.tok_offset.device, dtype=torch.float32)
        return torch.clamp(1.0 / idx + self.tok_offset, min=0)

    def forward(self, xn: torch.Tensor, pos0: int, state: Optional[Dict[str, torch.Tensor]], primal: bool = False):
        B, T, d = xn.shape
        H, f, b = self.H, self.f, self.b
        if pos0 % b:
            raise ValueError(f"a TTT segment must start at a multiple of the mini-batch ({b}); got position {pos0}")
        if state is not None and T % b:
            raise ValueError(f"state carry needs segments that are whole mini-batches ({b}); got {T} tokens")
        uq = self.wqk(xn) if self.share_qk else self.wq(xn)
        uk = uq if self.share_qk else self.wk(xn)
        v = self.wv(xn)
        new_state: Dict[str, torch.Tensor] = {}
        if self.K > 0:
            q, new_state["hq"] = self.causal_conv(uq, self.conv_q, state["hq"] if state else None)
            k, new_state["hk"] = self.causal_conv(uk, self.conv_k, state["hk"] if state else None)
        else:
            q, k = uq, uk
        lr = self.base_lr * torch.sigmoid(xn @ self.lr_w.t() + self.lr_b) / f  # [B, T, H]
        if self.memory_scale != 1.0:
            lr = lr * self.memory_scale

        def heads(x):
            return x.reshape(B, T, H, f).transpose(1, 2)  # [B, H, T, f]

        q, k, v, lr = heads(q), heads(k), heads(v), lr.transpose(1, 2)  # lr: [B, H, T]
        if state is not None:
            W0, b0 = state["W"], state["b"]
        else:
            W0 = self.w_init[None].expand(B, -1, -1, -1)
            b0 = self.b_init[None, :, None, :].expand(B, -1, -1, -1)
        run = self.primal_scan if primal else self.dual_scan
        z, W0, b0 = run(q, k, v, lr, W0, b0, T)
        if state is not None:
            new_state["W"], new_state["b"] = W0.detach(), b0.detach()
        zc = layer_norm(z.transpose(1, 2).reshape(B, T, d), self.post_norm_w, self.post_norm_b, self.eps)
        if self.use_gate:
            zc = zc * gelu_tanh(self.wg(xn))
        return self.wo(zc), (new_state if state is not None else None)

    def dual_scan(self, q, k, v, lr, W0, b0, T):
        """One mini-batch at a time: Z̄ = XQ·W0 + b0 − (η ⊙ (XQ·XKᵀ) + η)·G, η[i,j] = tok_i·lr_j (lower triangle).

        Everything that does not depend on the running state (η, the Gram products, the inner targets) is computed for
        all mini-batches at once, and q and k of a mini-batch share one product with W0: on the CPU the loop's small
        ops, not its FLOPs, are the cost."""
        B, H, _, f = q.shape
        b = self.b
        pad = (-T) % b
        if pad:  # zero-padded tokens have lr = 0 and come after every real one: they change no real output
            q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
            lr = F.pad(lr, (0, pad))
        n = (T + pad) // b
        q, k, v = (x.reshape(B, H, n, b, f) for x in (q, k, v))
        lr = lr.reshape(B, H, n, b)
        tok = self.tok_weights()
        eta = torch.tril(tok[:, None] * lr[..., None, :])  # [B, H, n, b, b]
        mix = eta * (q @ k.transpose(-1, -2)) + eta  # tril via eta; the b̄ term's η folded in
        qk = torch.cat((q, k), dim=3)  # [B, H, n, 2b, f]: one product with W0 per mini-batch
        target = v - k
        commit = (tok[-1] * lr)[..., None]  # [B, H, n, b, 1]: the weights of the end-of-mini-batch update
        kT = k.transpose(-1, -2)
        ln_w, ln_b = self.ln_w[None, :, None, :], self.ln_b[None, :, None, :]
        outs = []
        # Mini-batch index first and contiguous, so each mini-batch's operands are dense blocks (element-wise ops
        # on strided views cost several times more here); unbind, not x[:, :, m]: the backward of an indexed slice
        # zero-fills a tensor of the whole size for each mini-batch (quadratic in T), unbind's is one stack.
        per_batch = zip(*(x.movedim(2, 0).contiguous().unbind(0) for x in (qk, target, mix, commit, kT)))
        for qk_m, target_m, mix_m, commit_m, kT_m in per_batch:
            P = qk_m @ W0 + b0
            G = inner_ln_grad(P[:, :, b:], target_m, ln_w, ln_b, self.eps)
            outs.append(P[:, :, :b] - mix_m @ G)
            cG = commit_m * G
            W0 = W0 - kT_m @ cG
            b0 = b0 - cG.sum(-2, keepdim=True)
        Zbar = torch.stack(outs, dim=2)
        z = (q + layer_norm(Zbar, ln_w[:, :, None], ln_b[:, :, None], self.eps)).reshape(B, H, n * b, f)[:, :, :T]
        return z, W0, b0

    def primal_scan(self, q, k, v, lr, W0, b0, T):
        """MATH.md token by token: accumulate GW, Gb; W̄ = W0 − tok_i·GW; commit at the end of each mini-batch."""
        tok = self.tok_weights()
        ln_w, ln_b = self.ln_w[None, :, None, :], self.ln_b[None, :, None, :]
        GW, Gb = torch.zeros_like(W0), torch.zeros_like(b0)
        outs = []
        for t in range(T):
            i = t % self.b
            if i == 0:
                GW, Gb = torch.zeros_like(W0), torch.zeros_like(b0)
            qt, kt, vt, lrt = q[:, :, t : t + 1], k[:, :, t : t + 1], v[:, :, t : t + 1], lr[:, :, t, None, None]
            G = inner_ln_grad(kt @ W0 + b0, vt - kt, ln_w, ln_b, self.eps)
            GW = GW + lrt * (kt.transpose(-1, -2) @ G)
            Gb = Gb + lrt * G
            Wbar, bbar = W0 - tok[i] * GW, b0 - tok[i] * Gb
            outs.append(qt + layer_norm(qt @ Wbar + bbar, ln_w, ln_b, self.eps))
            if i == self.b - 1:
                W0, b0 = Wbar, bbar
        return torch.cat(outs, dim=2), W0, b0


# ---------------------------------------------------------------------------------------------- the model


class Block(nn.Module):
    def __init__(self, c: Dict[str, Any], kind: str):
        super().__init__()
        d, Fh = c["dModel"], c["ffnHidden"]
        self.kind, self.eps = kind, c["normEps"]
        self.mixer_norm = nn.Parameter(torch.ones(d))
        if kind == "ttt":
            self.ttt = TTTMixer(c)
        else:
            self.attn = AttentionMixer(c, kind)
        self.ffn_norm = nn.Parameter(torch.ones(d))
        self.w1, self.w3, self.w2 = BitLinear(d, Fh), BitLinear(d, Fh), BitLinear(Fh, d)
        self.ffn_subnorm = nn.Parameter(torch.ones(Fh))

    @property
    def mixer(self):
        return self.ttt if self.kind == "ttt" else self.attn

    def forward(self, x, pos0, state, primal=False):
        xn = rms_norm(x, self.mixer_norm, self.eps)
        if self.kind == "ttt":
            m, new_state = self.ttt(xn, pos0, state, primal=primal)
        else:
            m, new_state = self.attn(xn, pos0, state)
        x = x + m
        hn = rms_norm(x, self.ffn_norm, self.eps)
        a, c = self.w1(hn), self.w3(hn)
        x = x + self.w2(rms_norm(F.silu(a) * c, self.ffn_subnorm, self.eps))
        return x, new_state


class BitTTTModel(nn.Module):
    def __init__(self, config: Dict[str, Any]):
        super().__init__()
        self.config = normalize_config(config)
        c = self.config
        self.eps = c["normEps"]
        self.tok_embed = nn.Parameter(torch.randn(c["vocabSize"], c["dModel"]) * 0.02)
        if not c["tieEmbeddings"]:
            self.lm_head = nn.Parameter(torch.randn(c["vocabSize"], c["dModel"]) * 0.02)
        self.layers = nn.ModuleList(Block(c, kind) for kind in c["mixers"])
        self.final_norm = nn.Parameter(torch.ones(c["dModel"]))

    def empty_state(self, B: int, device=None) -> List[Dict[str, torch.Tensor]]:
        if "attn" in self.config["mixers"]:
            raise ValueError('state carry is not supported with "attn" layers (their KV cache grows without bound)')
        device = device or self.tok_embed.device
        return [layer.mixer.empty_state(B, device) for layer in self.layers]

    def forward(self, tokens: torch.Tensor, state=None, pos0: int = 0, primal: bool = False):
        """tokens [B, T] → logits [B, T, V] (f32), new state (None when state is None)."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, time], got shape {tuple(tokens.shape)}")
        if "attn" in self.config["mixers"] and pos0 + tokens.shape[1] > self.config["maxContext"]:
            raise ValueError(f"an attn layer holds at most maxContext={self.config['maxContext']} positions")
        x = F.embedding(tokens, self.tok_embed)
        new_states = [] if state is not None else None
        for i, layer in enumerate(self.layers):
            x, s = layer(x, pos0, state[i] if state is not None else None, primal=primal)
            if new_states is not None:
                new_states.append(s)
        head = self.tok_embed if self.config["tieEmbeddings"] else self.lm_head
        return rms_norm(x, self.final_norm, self.eps) @ head.t(), new_states


# ---------------------------------------------------------------------------------------------- MATH.md names


def math_tensors(model: BitTTTModel) -> Dict[str, torch.Tensor]:
    """The model's parameters under their docs/MATH.md names (latent f32 weights for t158 tensors)."""
    out: Dict[str, torch.Tensor] = {}
    for key, p in model.named_parameters():
        name = key
        if name.startswith("layers."):
            _, i, rest = name.split(".", 2)
            rest = rest.replace("ffn_subnorm", "ffn.subnorm")
            rest = {"w1.weight": "ffn.w1", "w2.weight": "ffn.w2", "w3.weight": "ffn.w3"}.get(rest, rest)
            name = f"l{i}.{rest}"
        if name.endswith(".weight"):
            name = name[: -len(".weight")]
        out[name] = p
    return out


def bitlinear_modules(model: BitTTTModel) -> Dict[str, BitLinear]:
    names = {id(p): n for n, p in math_tensors(model).items()}
    return {names[id(m.weight)]: m for m in model.modules() if isinstance(m, BitLinear)}


def count_parameters(model: BitTTTModel) -> Dict[str, int]:
    ternary = sum(m.weight.numel() for m in model.modules() if isinstance(m, BitLinear))
    total = sum(p.numel() for p in model.parameters())
    embed = model.tok_embed.numel() + (model.lm_head.numel() if hasattr(model, "lm_head") else 0)
    return {"total": total, "ternary": ternary, "embedding": embed, "other": total - ternary - embed}


def decode_state_bytes(config: Dict[str, Any], tokens: int) -> int:
    """f32 decode state at `tokens` positions, per MATH.md: TTT H·(2f²+2f) + conv 2(K−1)d; swa 2·window·d; attn 2·T·d;
    attn/swa with attn.convKernel Ka > 0 also 3(Ka−1)d."""
    c = normalize_config(config)
    d, H = c["dModel"], c["nHeads"]
    f, K, Ka = d // H, c["ttt"]["convKernel"], c["attn"]["convKernel"]
    total = 0
    for m in c["mixers"]:
        if m == "ttt":
            total += H * (2 * f * f + 2 * f) + (2 * (K - 1) * d if K > 0 else 0)
            continue
        if m == "swa":
            total += 2 * min(tokens, c["window"]) * d
        else:
            total += 2 * tokens * d
        total += 3 * (Ka - 1) * d if Ka > 0 else 0
    return total * 4
