"""Bonds: the weightless modules, one torch function each.

Shapes in the docstrings are per example; any number of batch dimensions may lead. Reduction
axes (`dims`) are negative so that they mean the same thing whatever the batch rank is; the
compiler always passes them that way. The generated code calls these functions directly, and
its fused Triton kernels must agree with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# Max slope of the tanh-approximated GELU, as Modula 2 rounds it (its GeLU bond divides
# jax.nn.gelu, tanh approximation by default, by 1.1289). The exact maxima are 1.128993 (tanh)
# and 1.128904 (erf), so the scaled slope peaks at 1 + 8e-5: close enough for a sensitivity
# bound, and kept for parity with Modula.
GELU_MAX_SLOPE = 1.1289


def identity(x: Tensor) -> Tensor:
    """x unchanged."""
    return x


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return F.relu(x)


def gelu(x: Tensor) -> Tensor:
    """Tanh-approximated GELU divided by its max slope, so it is 1-Lipschitz (Modula 2)."""
    return F.gelu(x, approximate="tanh") / GELU_MAX_SLOPE


def abs(x: Tensor) -> Tensor:  # noqa: A001 - the bond's name in the language
    """|x|."""
    return torch.abs(x)


def flatten(x: Tensor, ndim: int) -> Tensor:
    """Merge the last `ndim` dimensions into one."""
    return x.flatten(start_dim=-ndim) if ndim > 1 else x


def mean_subtract(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """x minus its mean over `dims`."""
    return x - x.mean(dim=dims, keepdim=True)


def rms_divide(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """x / sqrt(mean(x², dims)); a slice whose mean square is 0 is divided by 1 instead."""
    # The guard is a select on the mean square, not an eps: nonzero slices are normalized
    # exactly (RMS 1, as Modula 1's RMSDivide), an all-zero slice maps to zeros, and the
    # gradient stays finite there (sqrt is never differentiated at 0).
    ms = x.square().mean(dim=dims, keepdim=True)
    ms = torch.where(ms > 0, ms, torch.ones_like(ms))
    return x / torch.sqrt(ms)


def layer_norm(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """rms_divide(mean_subtract(x)): layer norm without affine weights or eps."""
    return rms_divide(mean_subtract(x, dims), dims)


def mean(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Mean over `dims`, which are removed."""
    return x.mean(dim=dims)


def avg_pool(x: Tensor) -> Tensor:
    """Global average pool: [C, H, W] -> [C, 1, 1]."""
    return x.mean(dim=(-2, -1), keepdim=True)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """[T, D] -> [heads, T, D/heads], as nanoGPT splits q, k and v."""
    return x.reshape(*x.shape[:-1], heads, x.shape[-1] // heads).transpose(-3, -2)


def merge_heads(x: Tensor) -> Tensor:
    """[heads, T, d] -> [T, heads·d], the inverse of split_heads."""
    return x.transpose(-3, -2).flatten(start_dim=-2)


def _rope_rotate(x: Tensor, cos: Tensor, sin: Tensor, rope_dim: int) -> Tensor:
    """Rotate the pairs (x[i + rope_dim], x[i]) by the per-position angles."""
    x1 = x[..., rope_dim:]
    x2 = x[..., :rope_dim]
    y1 = cos * x1 + sin * x2
    y2 = -sin * x1 + cos * x2
    return torch.cat([y1, y2], dim=-1)


def rope(pair: Sequence[Tensor], d_head: int, base: float = 10000) -> tuple[Tensor, Tensor]:
    """Rotary position embedding of a (q, k) pair, each [T, d_head], as Modula 2's Rope."""
    q, k = pair
    if d_head % 2 or q.shape[-1] != d_head or k.shape[-1] != d_head:
        raise ValueError(f"rope needs q, k of even last size {d_head}, got {q.shape}, {k.shape}")
    rope_dim = d_head // 2
    # Angles in at least fp32 whatever the activation dtype: position · base^(-i/rope_dim)
    # loses every digit in bf16 at long contexts.
    angle_dtype = torch.promote_types(q.dtype, torch.float32)
    steps = torch.arange(rope_dim, dtype=angle_dtype, device=q.device)
    inv_freq = 1.0 / base ** (steps / rope_dim)
    positions = torch.arange(q.shape[-2], dtype=angle_dtype, device=q.device)
    freqs = torch.outer(positions, inv_freq)  # [T, rope_dim]
    # Modula 2's Rope.get_cached returns (sin, cos) and Rope.rotate unpacks it as
    # (cos, sin), so the rotation Modula computes uses sin where its formula reads cos and
    # vice versa. modc agrees with Modula number for number, so it does the same: still a
    # rotation by a per-position angle (pi/2 - theta), hence still relative in position.
    cos, sin = freqs.sin().to(q.dtype), freqs.cos().to(q.dtype)
    return _rope_rotate(q, cos, sin, rope_dim), _rope_rotate(k, cos, sin, rope_dim)


def attention_qk(pair: Sequence[Tensor]) -> Tensor:
    """q kᵀ / d for q [T, d], k [S, d]: the 1/d (not 1/√d) scaling of the golden rules."""
    # 1/d keeps the scores O(1) when q and k are correlated, as they become in training
    # (Modula's "golden rules"; also μP's attention scaling).
    q, k = pair
    return torch.matmul(q, k.transpose(-2, -1)) / q.shape[-1]


def causal_mask(s: Tensor) -> Tensor:
    """Scores [T, S] with the entries above the diagonal set to -inf."""
    t, u = s.shape[-2], s.shape[-1]
    above = torch.ones(t, u, dtype=torch.bool, device=s.device).triu(diagonal=1)
    return s.masked_fill(above, -math.inf)


def softmax(x: Tensor, scale: float) -> Tensor:
    """softmax(scale · x) over the last dimension."""
    return torch.softmax(scale * x, dim=-1)


def apply_attention_scores(pair: Sequence[Tensor]) -> Tensor:
    """scores @ v for the pair (v [S, d], scores [T, S])."""
    v, scores = pair
    return torch.matmul(scores, v)


def enumerate(x: Tensor) -> Tensor:  # noqa: A001 - the bond's name in the language
    """Positions 0..n-1 of the last dimension (int64), broadcast to x's shape."""
    positions = torch.arange(x.shape[-1], dtype=torch.int64, device=x.device)
    return positions.expand(x.shape)


def add(xs: Sequence[Tensor]) -> Tensor:
    """Sum of the members of a tuple."""
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def mul(x: Tensor, s: float) -> Tensor:
    """s · x."""
    return x * s


__all__ = [
    "abs",
    "add",
    "apply_attention_scores",
    "attention_qk",
    "avg_pool",
    "causal_mask",
    "enumerate",
    "flatten",
    "gelu",
    "identity",
    "layer_norm",
    "mean",
    "mean_subtract",
    "merge_heads",
    "mul",
    "relu",
    "rms_divide",
    "rope",
    "softmax",
    "split_heads",
]
