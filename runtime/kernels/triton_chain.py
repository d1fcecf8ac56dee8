"""Triton kernels of a fused chain of bonds: one program per row, forward and backward.

A chain is a static sequence of ops, passed as the constexpr tuples ``OPS`` (op codes) and
``ARGS`` (one float per op), so each chain compiles its own kernel with the ops unrolled.
A row is the block of trailing axes the row-wise ops reduce over (for element-wise chains,
a fixed block of the flattened tensor); ``BLOCK`` is the next power of two of its length
and lanes past the end are masked. Loads and stores use the tensor's dtype; the math runs
in fp32 (fp64 for fp64 tensors).

The backward kernel reads the chain's input and the output gradient; for each op, last to
first, it recomputes that op's input from the chain's input, then back-propagates through
it. Recomputing costs O(n²) op applications for n ops, all in registers, while saving
every intermediate row would cost memory traffic, which is what bounds these kernels.

Import this module only after choosing the mode: ``triton.jit`` reads TRITON_INTERPRET when
the kernels below are defined (``INTERPRETED`` records which mode they got).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from .. import bonds
from . import ChainPlan

__all__ = ["INTERPRETED", "FusedChain", "chain", "chain_backward", "chain_forward"]

# Op codes of the OPS tuple; layer_norm runs as mean_subtract then rms_divide, exactly
# as bonds.layer_norm composes them.
_RELU = tl.constexpr(1)
_GELU = tl.constexpr(2)
_ABS = tl.constexpr(3)
_MUL = tl.constexpr(4)
_MEAN_SUBTRACT = tl.constexpr(5)
_RMS_DIVIDE = tl.constexpr(6)
_CAUSAL_MASK = tl.constexpr(7)
_SOFTMAX = tl.constexpr(8)
_CODES: dict[str, tuple[int, ...]] = {
    "relu": (_RELU.value,),
    "gelu": (_GELU.value,),
    "abs": (_ABS.value,),
    "mul": (_MUL.value,),
    "mean_subtract": (_MEAN_SUBTRACT.value,),
    "rms_divide": (_RMS_DIVIDE.value,),
    "layer_norm": (_MEAN_SUBTRACT.value, _RMS_DIVIDE.value),
    "causal_mask": (_CAUSAL_MASK.value,),
    "softmax": (_SOFTMAX.value,),
}
# Ops whose one argument is the scale ARG; the others ignore ARG.
_SCALED = frozenset({"mul", "softmax"})

# The tanh-approximated GELU of torch (approximate="tanh"): x/2 · (1 + tanh(u)) with
# u = √(2/π) (x + 0.044715 x³). The interpreter has no tanh, and 1 + tanh(u) = 2σ(2u),
# so it is x · σ(2u); bonds.gelu then divides by its max slope.
_SQRT_2_OVER_PI = tl.constexpr(0.7978845608028654)
_GELU_CUBIC = tl.constexpr(0.044715)
_GELU_MAX_SLOPE = tl.constexpr(bonds.GELU_MAX_SLOPE)


# The helpers below use triton builtins only, not the library's own jit functions (tl.sum,
# tl.max, tl.sigmoid): those are compiled or interpreted according to TRITON_INTERPRET when
# triton itself was imported, so a test session that imported triton first could not
# interpret them. The generated code is the same.


@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def _maximum(a, b):
    return tl.maximum(a, b)


@triton.jit
def _row_sum(v, mask):
    """Sum of the row's real lanes."""
    return tl.reduce(tl.where(mask, v, 0.0), 0, _add)


@triton.jit
def _sigmoid(v):
    return 1.0 / (1.0 + tl.exp(-v))


@triton.jit
def _to_compute(v, F64: tl.constexpr):
    """A loaded row in the dtype the math runs in."""
    if F64:
        out = v.to(tl.float64)
    else:
        out = v.to(tl.float32)
    return out


@triton.jit
def _rms(v, mask, n_cols):
    """The divisor of bonds.rms_divide: √mean(v²), or 1 for a row of zeros."""
    ms = _row_sum(v * v, mask) / n_cols
    ms = tl.where(ms > 0, ms, 1.0)
    # Correctly rounded, as torch.sqrt is (sqrt_rn exists for fp32 only).
    if v.dtype == tl.float64:
        r = tl.sqrt(ms)
    else:
        r = tl.sqrt_rn(ms)
    return r


@triton.jit
def _gelu_gate(v):
    """σ(2u) with u = √(2/π) (v + 0.044715 v³): GELU(v) = v · σ(2u) (tanh approximation)."""
    u = _SQRT_2_OVER_PI * (v + _GELU_CUBIC * v * v * v)
    return _sigmoid(2.0 * u)


@triton.jit
def _op_forward(v, cols, mask, t, n_cols, OP: tl.constexpr, ARG: tl.constexpr):
    """One op of the chain on a row ``v``; ``t`` is the row's query position (causal_mask)."""
    if OP == _RELU:
        # where, not maximum: NaN stays NaN, as in torch.relu.
        v = tl.where(v < 0, 0.0, v)
    elif OP == _GELU:
        v = v * _gelu_gate(v) / _GELU_MAX_SLOPE
    elif OP == _ABS:
        v = tl.abs(v)
    elif OP == _MUL:
        v = v * ARG
    elif OP == _MEAN_SUBTRACT:
        v = v - _row_sum(v, mask) / n_cols
    elif OP == _RMS_DIVIDE:
        v = v / _rms(v, mask, n_cols)
    elif OP == _CAUSAL_MASK:
        # Only real lanes: an infinity in a masked lane would turn into NaN later.
        v = tl.where(mask & (cols > t), float("-inf"), v)
    elif OP == _SOFTMAX:
        z = tl.where(mask, v * ARG, float("-inf"))
        e = tl.exp(z - tl.reduce(z, 0, _maximum))
        v = e / _row_sum(e, mask)
    return v


@triton.jit
def _op_backward(v, g, cols, mask, t, n_cols, OP: tl.constexpr, ARG: tl.constexpr):
    """The gradient of one op's input, given its input ``v`` and its output's gradient ``g``.

    At the kinks of relu and abs the gradient is torch's: 0 for relu at 0, and abs'
    sign(0) = 0.
    """
    if OP == _RELU:
        g = tl.where(v > 0, g, 0.0)
    elif OP == _GELU:
        s = _gelu_gate(v)
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * v * v)
        # d/dx [x σ(2u)] = σ(2u) + 2x σ(2u)(1 - σ(2u)) u'
        g = g / _GELU_MAX_SLOPE * (s + 2.0 * v * s * (1.0 - s) * du)
    elif OP == _ABS:
        g = tl.where(v > 0, g, tl.where(v < 0, -g, 0.0))
    elif OP == _MUL:
        g = g * ARG
    elif OP == _MEAN_SUBTRACT:
        g = g - _row_sum(g, mask) / n_cols
    elif OP == _RMS_DIVIDE:
        # y = v / r with r = √mean(v²): dv = (g - y · mean(g · y)) / r. For a row of zeros
        # r is the constant 1 and y = 0, so dv = g, as torch's where() gives.
        r = _rms(v, mask, n_cols)
        y = v / r
        g = (g - y * (_row_sum(g * y, mask) / n_cols)) / r
    elif OP == _CAUSAL_MASK:
        g = tl.where(cols > t, 0.0, g)
    elif OP == _SOFTMAX:
        y = _op_forward(v, cols, mask, t, n_cols, _SOFTMAX, ARG)
        g = ARG * y * (g - _row_sum(g * y, mask))
    return g


@functools.lru_cache(maxsize=256)
def _encode(ops: tuple[tuple[object, ...], ...]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The OPS and ARGS constexprs of a validated spec."""
    codes: list[int] = []
    args: list[float] = []
    for name, *rest in ops:
        scale = float(rest[0]) if name in _SCALED else 0.0  # type: ignore[arg-type]
        for code in _CODES[str(name)]:
            codes.append(code)
            args.append(scale)
    return tuple(codes), tuple(args)


def _launch_config(x: Tensor, chosen: ChainPlan) -> dict[str, Any]:
    """Grid and the arguments shared by both kernels."""
    n_cols = chosen.row_length(x)
    block = triton.next_power_of_2(n_cols)
    codes, args = _encode(chosen.ops)
    return {
        "grid": (triton.cdiv(x.numel(), n_cols),),
        "n_cols": n_cols,
        "numel": x.numel(),
        # causal_mask: rows of [..., T, T] scores; row r is query position r mod T.
        "t_rows": x.shape[-2] if chosen.causal else 1,
        "OPS": codes,
        "ARGS": args,
        "BLOCK": block,
        "F64": x.dtype == torch.float64,
        # More warps for longer rows: at most 16 elements per thread above 2048.
        "num_warps": 4 if block <= 2048 else 8 if block <= 4096 else 16,
    }


def _on_device(x: Tensor) -> contextlib.AbstractContextManager[object]:
    """Launch on the tensor's GPU, not the current one."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


@triton.jit
def _chain_forward_kernel(x_ptr, y_ptr, n_cols, numel, t_rows, OPS: tl.constexpr,
                          ARGS: tl.constexpr, BLOCK: tl.constexpr, F64: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    offs = row * n_cols + cols
    mask = (cols < n_cols) & (offs < numel)
    t = row % t_rows
    # Load the row; lanes past its end (or past the tensor's end) read 0.
    v = _to_compute(tl.load(x_ptr + offs, mask=mask, other=0.0), F64)
    for i in tl.static_range(len(OPS)):
        v = _op_forward(v, cols, mask, t, n_cols, OPS[i], ARGS[i])
    # Store the row in the output's dtype.
    tl.store(y_ptr + offs, v.to(y_ptr.dtype.element_ty), mask=mask)


def chain_forward(x: Tensor, chosen: ChainPlan) -> Tensor:
    """Host launcher of the forward kernel: the chain applied to a contiguous ``x``."""
    y = torch.empty_like(x)
    config = _launch_config(x, chosen)
    grid = config.pop("grid")
    with _on_device(x):
        _chain_forward_kernel[grid](x, y, **config)
    return y


@triton.jit
def _chain_backward_kernel(x_ptr, dy_ptr, dx_ptr, n_cols, numel, t_rows, OPS: tl.constexpr,
                           ARGS: tl.constexpr, BLOCK: tl.constexpr, F64: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    offs = row * n_cols + cols
    mask = (cols < n_cols) & (offs < numel)
    t = row % t_rows
    # Load the chain's input row, which the forward saved.
    x = _to_compute(tl.load(x_ptr + offs, mask=mask, other=0.0), F64)
    # Load the gradient of the chain's output row; 0 past the row's end.
    g = _to_compute(tl.load(dy_ptr + offs, mask=mask, other=0.0), F64)
    for k in tl.static_range(len(OPS)):
        # Recompute the input of op n-1-k from x, then step back through that op.
        v = x
        for j in tl.static_range(len(OPS) - 1 - k):
            v = _op_forward(v, cols, mask, t, n_cols, OPS[j], ARGS[j])
        g = _op_backward(v, g, cols, mask, t, n_cols, OPS[len(OPS) - 1 - k],
                         ARGS[len(OPS) - 1 - k])
    # Store the gradient of the chain's input in the input's dtype.
    tl.store(dx_ptr + offs, g.to(dx_ptr.dtype.element_ty), mask=mask)


def chain_backward(x: Tensor, dy: Tensor, chosen: ChainPlan) -> Tensor:
    """Host launcher of the backward kernel: the gradient of ``x`` for contiguous x, dy."""
    dx = torch.empty_like(x)
    config = _launch_config(x, chosen)
    grid = config.pop("grid")
    with _on_device(x):
        _chain_backward_kernel[grid](x, dy, dx, **config)
    return dx


# The interpreter's stand-in for triton.jit is not a JITFunction.
INTERPRETED = not isinstance(_chain_forward_kernel, triton.runtime.jit.JITFunction)


class FusedChain(torch.autograd.Function):
    """One fused kernel forward; backward from the saved input alone."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, chosen: ChainPlan) -> Tensor:
        x = x.contiguous()
        ctx.chosen = chosen
        ctx.save_for_backward(x)
        return chain_forward(x, chosen)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dy: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return chain_backward(x, dy.contiguous(), ctx.chosen), None


def chain(x: Tensor, chosen: ChainPlan) -> Tensor:
    """The Triton path of modc.runtime.kernels.chain."""
    out = FusedChain.apply(x, chosen)
    assert isinstance(out, Tensor)
    return out
