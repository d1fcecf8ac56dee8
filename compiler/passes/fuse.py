"""Pass fuse_bonds: find the chains of bonds that the generated code runs as one kernel.

A chain is a run of at least two consecutive bonds, in application order, along one
sequence of compositions, each of them either

- element-wise: ``ReLU``, ``GELU``, ``Abs``, ``Mul(s)``; or
- row-wise over trailing axes: ``MeanSubtract``, ``RMSDivide`` and ``LayerNorm`` whose
  ``dim`` is ``(-k, ..., -1)`` for some k, and ``Softmax(scale)`` and ``CausalMask``,
  which act on the last axis.

A *row* is the block of trailing axes a row-wise bond reduces over, so one kernel program
can hold it; every row-wise bond of a chain must use the same axes. ``Identity`` emits no
code, so a chain runs through it. A chain never crosses an atom, a tuple (its members are
sequences of their own), a repeat (its body is one, scanned once) or any other bond, and
it holds at most :data:`MAX_CHAIN` bonds so that the kernel's backward, which recomputes
the forward of each op it differentiates, stays small.

Requires: infer_shapes (``in_shape`` on every node, ``dim`` normalized to sorted negative
axes). Ensures: ``net.chains`` lists every chain (replacing what an earlier run left), no
bond is in two chains, and nothing else of the net changes: shapes, masses,
sensitivities and targets are those of the unfused network, since fusion only changes how
the generated code computes the same function.
"""

from __future__ import annotations

import logging

from modc import ir

logger = logging.getLogger(__name__)

__all__ = ["ELEMENTWISE", "MAX_CHAIN", "ROWWISE", "fuse_bonds", "row_axes"]

ELEMENTWISE = frozenset({"ReLU", "GELU", "Abs", "Mul"})
ROWWISE = frozenset({"MeanSubtract", "RMSDivide", "LayerNorm", "Softmax", "CausalMask"})
# The backward kernel recomputes the inputs of op i from the chain's input for every i,
# so its work grows as the square of the length; runs longer than this are split.
MAX_CHAIN = 8

_LAST_AXIS = (-1,)


def row_axes(bond: ir.Bond) -> tuple[int, ...] | None:
    """``()`` for an element-wise bond, the row axes of a fusable row-wise bond, else None."""
    if not isinstance(bond.in_shape, ir.TensorShape) or bond.in_shape.dtype != "float":
        return None
    if bond.op in ELEMENTWISE:
        return ()
    if bond.op in ("Softmax", "CausalMask"):
        return _LAST_AXIS
    if bond.op not in ROWWISE:
        return None
    dims = bond.args["dim"]
    # Only trailing axes make each row one contiguous block of a contiguous tensor.
    if isinstance(dims, tuple) and dims and dims == tuple(range(-len(dims), 0)):
        return dims
    return None


def fuse_bonds(net: ir.Net) -> list[ir.FusedChain]:
    """Record the fusable chains of ``net`` in ``net.chains``; returns them.

    An empty list means the pass changed nothing. Every scope is scanned once, however
    many copies its repeat makes.
    """
    if net.body.in_shape is None:
        raise ValueError("internal compiler error: fuse_bonds needs infer_shapes first")
    chains: list[ir.FusedChain] = []
    _scan(net.body, chains)
    net.chains = chains
    logger.debug("fuse_bonds: net %s, %d chains", net.name, len(chains))
    return chains


def _sequence(node: ir.Node) -> list[ir.Node]:
    """The nodes of a tree of compositions that are not compositions, first applied first."""
    out: list[ir.Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ir.Composition):
            stack.append(current.outer)
            stack.append(current.inner)  # popped first: applied first
        else:
            out.append(current)
    return out


def _scan(node: ir.Node, chains: list[ir.FusedChain]) -> None:
    """Append the chains of the sequence rooted at ``node`` and of everything nested in it."""
    run = _Run(chains)
    for unit in _sequence(node):
        if isinstance(unit, ir.Bond) and unit.op == "Identity":
            continue  # no code is emitted for it, so the run goes on
        axes = row_axes(unit) if isinstance(unit, ir.Bond) else None
        if axes is None:
            run.close()
            if isinstance(unit, ir.Tuple):
                for member in unit.members:
                    _scan(member, chains)
            elif isinstance(unit, ir.Repeat):
                _scan(unit.body, chains)
            continue
        assert isinstance(unit, ir.Bond)
        run.add(unit, axes)
    run.close()


class _Run:
    """The chain being grown along one sequence."""

    def __init__(self, chains: list[ir.FusedChain]) -> None:
        self.chains = chains
        self.bonds: list[ir.Bond] = []
        self.axes: tuple[int, ...] = ()

    def add(self, bond: ir.Bond, axes: tuple[int, ...]) -> None:
        # A row-wise bond over other axes than the run's starts a new run: one kernel
        # program holds one kind of row.
        if (axes and self.axes and axes != self.axes) or len(self.bonds) == MAX_CHAIN:
            self.close()
        self.bonds.append(bond)
        self.axes = self.axes or axes

    def close(self) -> None:
        if len(self.bonds) >= 2:
            self.chains.append(ir.FusedChain(tuple(self.bonds), self.axes))
        self.bonds = []
        self.axes = ()
