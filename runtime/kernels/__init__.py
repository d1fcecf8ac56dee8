"""Fused chains of element-wise and row-wise bonds: ``chain(x, spec)`` (docs/kernels.md).

The compiler's fuse_bonds pass finds runs of bonds such as ``Abs`` then ``MeanSubtract``;
the generated code calls :func:`chain` once per run with a spec, one tuple per bond::

    _CHAIN_0 = (("abs",), ("mean_subtract", (-1,)))
    h3 = _k.chain(h2, _CHAIN_0)

Two paths compute it. The Triton path (``triton_chain``) runs the whole run as one kernel
forward and one backward; the torch path (``torch_path``) calls the bond functions of
``modc.runtime.bonds`` one by one. The Triton path is taken when triton is importable and
either the tensor is on CUDA or ``TRITON_INTERPRET=1`` was set before the kernels were
first used (the interpreter runs them on CPU tensors). ``MODC_KERNELS`` overrides it:
``torch`` forces the torch path; ``triton`` forces the Triton path and raises when it
cannot run; ``auto`` (or unset) chooses as above.

Importing this package does not import triton; the first Triton dispatch does.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor

from . import torch_path

__all__ = ["ENV", "MAX_ROW", "ChainPlan", "chain", "last_path", "plan", "triton_unusable"]

ENV = "MODC_KERNELS"
# Longest row one program holds (elements): the row lives in registers, forward and
# backward; past this the chain takes the torch path. At 8192 (16 warps) ptxas reports
# no spills for sm_90 except ~100 bytes in the backward of 7-op chains; at 16384 even
# softmax spills (docs/kernels.md).
MAX_ROW = 8192
# Element-wise chains are cut into rows of this many elements, whatever the shape.
ELEMENTWISE_ROW = 1024

_NO_ARGS = frozenset({"relu", "gelu", "abs", "causal_mask"})
_REAL_ARG = frozenset({"mul", "softmax"})
_AXES_ARG = frozenset({"mean_subtract", "rms_divide", "layer_norm"})
_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# Which path the latest chain() call took, "triton" or "torch" (for tests and debugging).
last_path: str | None = None
_import_error: str | None = None


@dataclass(frozen=True)
class ChainPlan:
    """A validated chain spec.

    ``axes`` is the number k of trailing axes a row spans (the row-wise ops reduce over
    ``(-k, ..., -1)``), 0 when every op is element-wise; ``causal`` says whether the
    chain has a ``causal_mask``, whose rows are the last axis of ``[..., T, T]`` scores.
    """

    ops: tuple[tuple[object, ...], ...]
    axes: int
    causal: bool

    def row_length(self, x: Tensor) -> int:
        """Elements per kernel program for ``x``: its trailing ``axes`` axes, or a fixed
        block of an element-wise chain."""
        if self.axes == 0:
            return min(x.numel(), ELEMENTWISE_ROW)
        if x.dim() < self.axes or (self.causal and x.dim() < 2):
            raise ValueError(f"chain {self.ops} needs at least {max(self.axes, 2 * self.causal)} "
                             f"dimensions, got a tensor of shape {tuple(x.shape)}")
        return math.prod(x.shape[-self.axes:])


@functools.lru_cache(maxsize=256)
def plan(spec: tuple[tuple[object, ...], ...]) -> ChainPlan:
    """Validate a chain spec (see the module docstring) and summarize it; raises ValueError."""
    if not isinstance(spec, tuple) or not spec:
        raise ValueError(f"a chain spec is a non-empty tuple of ops, got {spec!r}")
    axes: tuple[int, ...] | None = None
    for op in spec:
        op_axes = _check_op(op)
        if op_axes is None:
            continue
        if axes is not None and op_axes != axes:
            raise ValueError(f"chain {spec!r} mixes rows over axes {axes} and {op_axes}")
        axes = op_axes
    causal = any(op[0] == "causal_mask" for op in spec)
    return ChainPlan(spec, len(axes or ()), causal)


def _check_op(op: object) -> tuple[int, ...] | None:
    """The row axes of one op of a spec (None for an element-wise op); raises ValueError."""
    if not isinstance(op, tuple) or not op or op[0] not in torch_path.FUNCTIONS:
        raise ValueError(f"unknown chain op {op!r}; known: {sorted(torch_path.FUNCTIONS)}")
    name, args = op[0], op[1:]
    if name in _NO_ARGS and not args:
        return (-1,) if name == "causal_mask" else None
    if name in _REAL_ARG and len(args) == 1 and _is_real(args[0]):
        return (-1,) if name == "softmax" else None
    if name in _AXES_ARG and len(args) == 1 and _trailing(args[0]):
        return tuple(args[0])
    raise ValueError(f"bad arguments for chain op {op!r}")


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _trailing(value: object) -> bool:
    """True for axes ``(-k, ..., -1)``: a row is then one contiguous block."""
    return isinstance(value, tuple) and bool(value) and value == tuple(range(-len(value), 0))


def chain(x: Tensor, spec: tuple[tuple[object, ...], ...]) -> Tensor:
    """Apply a chain of bonds to ``x``: one fused kernel where possible, else the bonds."""
    global last_path
    chosen = plan(spec)
    mode = os.environ.get(ENV, "auto") or "auto"
    if mode not in ("auto", "torch", "triton"):
        raise ValueError(f"{ENV}={mode!r}: expected auto, torch or triton")
    if mode != "torch" and x.numel() > 0:
        reason = triton_unusable(x, chosen)
        if reason is None:
            last_path = "triton"
            return _triton().chain(x, chosen)
        if mode == "triton":
            raise RuntimeError(f"{ENV}=triton, but the Triton path cannot run: {reason}")
    last_path = "torch"
    return torch_path.chain(x, chosen.ops)


def triton_unusable(x: Tensor, chosen: ChainPlan) -> str | None:
    """Why the Triton path cannot compute ``chosen`` on ``x``, or None when it can."""
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} is not one of {', '.join(map(str, _DTYPES))}"
    if chosen.row_length(x) > MAX_ROW:
        return f"rows of {chosen.row_length(x)} elements exceed {MAX_ROW}"
    interpret = os.environ.get("TRITON_INTERPRET") == "1"
    if not (x.is_cuda or interpret):
        return f"the tensor is on {x.device} and TRITON_INTERPRET=1 is not set"
    module = _triton_module()
    if isinstance(module, str):
        return module
    # triton.jit reads TRITON_INTERPRET when the kernel module is imported: a module
    # compiled for CUDA cannot run CPU tensors later.
    if not x.is_cuda and not module.INTERPRETED:
        return "the kernels were loaded for CUDA before TRITON_INTERPRET=1 was set"
    return None


def _triton_module() -> ModuleType | str:
    """The kernel module (imported on first use), or why it cannot be imported."""
    global _import_error
    if _import_error is not None:
        return _import_error  # Python does not cache failed imports; retrying costs time
    try:
        return importlib.import_module(".triton_chain", __name__)
    except ImportError as exc:
        _import_error = f"triton is not importable ({exc})"
        return _import_error


def _triton() -> ModuleType:
    module = _triton_module()
    assert not isinstance(module, str), module
    return module
