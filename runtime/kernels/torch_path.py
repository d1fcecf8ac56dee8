"""The plain path of a fused chain: the bond functions of modc.runtime.bonds, one by one.

This is exactly what the generated code would run without fusion, so a chain on this path
gives the unfused network's numbers bit for bit (``mul`` is ``x * s``, as the generated
code writes a scalar).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .. import bonds

# Op name of a chain spec -> the bond function it names (docs/kernels.md).
FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "relu": bonds.relu,
    "gelu": bonds.gelu,
    "abs": bonds.abs,
    "mul": bonds.mul,
    "mean_subtract": bonds.mean_subtract,
    "rms_divide": bonds.rms_divide,
    "layer_norm": bonds.layer_norm,
    "causal_mask": bonds.causal_mask,
    "softmax": bonds.softmax,
}


def chain(x: Tensor, ops: tuple[tuple[object, ...], ...]) -> Tensor:
    """Apply the ops of a validated chain spec to ``x`` in order."""
    for name, *args in ops:
        x = FUNCTIONS[str(name)](x, *args)
    return x
