"""Pass check_sizes: the parameter count of a net, repeats expanded, within the limit.

Requires: infer_shapes (atoms have valid arguments). Ensures: the net has at most
``limits.MAX_PARAMETERS`` weights, so that no accepted program asks for absurd memory.
"""

from __future__ import annotations

import math

from modc import ir, limits
from modc.diagnostics import error
from modc.passes import norms


def weight_shape(atom: ir.Atom) -> tuple[int, ...]:
    """The shape of an atom's weight tensor, as a tuple (the rule is norms.weight_shape)."""
    return tuple(norms.weight_shape(atom))


def parameter_count(node: ir.Node) -> int:
    """Weights below ``node``, repeat copies included, computed without unrolling."""
    if isinstance(node, ir.Atom):
        return math.prod(weight_shape(node))
    if isinstance(node, ir.Repeat):
        return node.count * parameter_count(node.body)
    return sum(parameter_count(c) for c in node.children())


def check_sizes(net: ir.Net) -> None:
    count = parameter_count(net.body)
    if count > limits.MAX_PARAMETERS:
        raise error("E903", f"net '{net.name}' has {count:,} parameters, above the limit of "
                    f"{limits.MAX_PARAMETERS:,}", net.span)
