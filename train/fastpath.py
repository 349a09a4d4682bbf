"""CUDA-only speed-ups of the trainer that leave its numbers unchanged.

**bf16 BitLinear products.** A BitLinear forward is `(xq · Wqᵀ) · (s_w / s_x)` with xq integers in [−128, 127] and
Wq in {−1, 0, 1}. Both are exact in bf16 (8 significant bits hold every integer up to 256), and every partial sum of
their products is an integer of magnitude ≤ 128 · in_features < 2²⁴, so an f32 accumulator adds them exactly in any
order: the bf16 product with f32 accumulation and f32 output equals the f32 product bit for bit. `enable_bf16`
swaps it in (`BitLinear.integer_product`) after checking that on the device. The backward pass keeps the f32
products autograd would use (dx = g·Wq, dW = gᵀ·xq), so training is unchanged, only the forward products get
cheaper. The CPU and the tests keep the f32 path (PyTorch 1.13 on the CPU has no bf16 matmul with f32 output).

**torch.compile** (`train.py --compile`, PyTorch 2 only): fuses the quantisation and norm element-wise ops. Not
claimed bit-exact (fused reductions may sum in another order); golden vectors never use it (export.py builds an
eager model), and `train.py` falls back to eager mode if compiling fails at the first step.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

from model import BitLinear

EXACT_SUM_LIMIT = 2 ** 24  # f32 integers are exact below this


def cuda_mm_f32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """bf16 × bf16 → f32 with f32 accumulation (torch.mm's out_dtype, CUDA, PyTorch ≥ 2.8)."""
    return torch.mm(a, b, out_dtype=torch.float32)


def bf16_integer_product(xq: torch.Tensor, wq: torch.Tensor,
                         mm: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cuda_mm_f32) -> torch.Tensor:
    """xq [..., k] · wq [n, k]ᵀ with both operands in bf16 and an f32 result; exact for BitLinear's integers."""
    x2 = xq.reshape(-1, xq.shape[-1]).to(torch.bfloat16)
    y = mm(x2, wq.to(torch.bfloat16).t())
    return y.reshape(*xq.shape[:-1], wq.shape[0])


class _Bf16IntegerLinear(torch.autograd.Function):
    mm: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = staticmethod(cuda_mm_f32)

    @staticmethod
    def forward(ctx, xq: torch.Tensor, wq: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(xq, wq)
        return bf16_integer_product(xq, wq, _Bf16IntegerLinear.mm)

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        xq, wq = ctx.saved_tensors
        gx = g @ wq if ctx.needs_input_grad[0] else None
        gw = (g.reshape(-1, g.shape[-1]).t() @ xq.reshape(-1, xq.shape[-1])) if ctx.needs_input_grad[1] else None
        return gx, gw


def bf16_linear(xq: torch.Tensor, wq: torch.Tensor) -> torch.Tensor:
    return _Bf16IntegerLinear.apply(xq, wq)


def max_in_features(model: torch.nn.Module) -> int:
    return max((m.weight.shape[1] for m in model.modules() if isinstance(m, BitLinear)), default=0)


def enable_bf16(model: torch.nn.Module, device: torch.device,
                mm: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None) -> Tuple[bool, str]:
    """Swap in the bf16 BitLinear product if it is exact here; (enabled, why). `mm` is for tests on the CPU."""
    if mm is None and device.type != "cuda":
        return False, "not a CUDA device: the f32 path stays"
    k = max_in_features(model)
    if 128 * k >= EXACT_SUM_LIMIT:
        return False, f"in_features {k}: integer sums could reach 2^24, the f32 path stays"
    mm = mm or cuda_mm_f32
    try:  # the device's own answer: integer inputs of the model's widest layer, against the f32 product
        g = torch.Generator(device="cpu").manual_seed(0)
        xq = torch.randint(-128, 128, (64, k), generator=g).float().to(device)
        xq[0] = 127.0  # the extreme row: the largest sums
        wq = torch.randint(-1, 2, (256, k), generator=g).float().to(device)
        wq[0] = 1.0
        got = bf16_integer_product(xq, wq, mm)
        want = F.linear(xq.double(), wq.double()).float()
        if not torch.equal(got, want):
            return False, f"bf16 product differs from the exact one by {float((got - want).abs().max())}"
    except Exception as err:  # e.g. a PyTorch without torch.mm(..., out_dtype)
        return False, f"bf16 product unavailable ({type(err).__name__}: {err}); the f32 path stays"
    _Bf16IntegerLinear.mm = staticmethod(mm)
    BitLinear.integer_product = staticmethod(bf16_linear)
    return True, "bf16 BitLinear products (exact: integer operands, f32 accumulation)"


def disable_bf16() -> None:
    BitLinear.integer_product = staticmethod(F.linear)
    _Bf16IntegerLinear.mm = staticmethod(cuda_mm_f32)
