"""Compile-time values of the language: numbers, tuples, module templates, definitions."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, TypeGuard

from modc import ir, limits
from modc.diagnostics import error
from modc.source import Span
from modc.syntax import Def

if TYPE_CHECKING:
    from modc.elaborate import FileScope


@dataclass(eq=False)
class TupleValue:
    """A tuple written in the source; a module when its items are modules."""

    items: tuple[Value, ...]
    span: Span


@dataclass(eq=False)
class DefValue:
    """A parametric definition together with the file scope it was written in."""

    decl: Def
    scope: FileScope


@dataclass(eq=False)
class BuiltinValue:
    """An atom, bond or compile-time function named without being called."""

    name: str


Value = int | float | TupleValue | ir.Node | DefValue | BuiltinValue


def kind_name(value: Value) -> str:
    """The kind of a value, as diagnostics name it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, TupleValue):
        return "a tuple"
    if isinstance(value, ir.Node):
        return "a module"
    if isinstance(value, DefValue):
        return f"the definition '{value.decl.name}'"
    return f"the built-in '{value.name}'"


def is_number(value: Value) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_number(value: int | float, span: Span) -> int | float:
    """Reject non-finite floats and integers beyond the compile-time range."""
    if isinstance(value, float) and not math.isfinite(value):
        raise error("E403", f"non-finite number ({value})", span)
    if isinstance(value, int) and abs(value) > limits.MAX_INT:
        raise error("E403", f"number too large (limit is ±{limits.MAX_INT:.0e})", span)
    return value


def to_module(value: Value, span: Span) -> ir.Node | None:
    """A module value, or a tuple of module values, as one IR node; else None."""
    if isinstance(value, ir.Node):
        return value
    if isinstance(value, TupleValue) and value.items:
        members = [to_module(v, span) for v in value.items]
        modules = [m for m in members if m is not None]
        if len(modules) == len(members):
            return ir.Tuple(tuple(modules), span=value.span)
    return None


class NodeBudget:
    """Counts IR nodes built by one compile, so that no input exhausts memory."""

    def __init__(self) -> None:
        self.count = 0
        self.steps = 0

    def step(self, span: Span | None) -> None:
        """Count one evaluated expression: definitions calling definitions can multiply
        the work without building any node (numbers), so work is bounded separately."""
        self.steps += 1
        if self.steps > limits.MAX_STEPS:
            raise error("E904", f"program too large: more than {limits.MAX_STEPS:,} "
                        f"evaluation steps", span,
                        hint="a def is evaluated again at every use; compute a shared "
                        "value once with 'let'")

    def charge(self, n: int, span: Span | None) -> None:
        self.count += n
        if self.count > limits.MAX_NODES:
            raise error("E904", f"program too large: more than {limits.MAX_NODES:,} modules",
                        span, hint="use '** n' to repeat a block instead of writing it out")

    def check_height(self, node: ir.Node, span: Span | None) -> ir.Node:
        if node.height > limits.MAX_HEIGHT:
            raise error("E900", f"modules nested deeper than {limits.MAX_HEIGHT}", span,
                        hint="use '** n' to repeat a block instead of nesting it")
        return node


_ANALYSIS = {f.name for f in fields(ir.Node)} - {"span", "label"}


def clone(node: ir.Node, budget: NodeBudget, span: Span | None) -> ir.Node:
    """A fresh copy of a module template: every use of a template gets its own weights."""
    budget.charge(size(node), span)
    return _clone(node)


def _clone(node: ir.Node) -> ir.Node:
    if isinstance(node, ir.Atom):
        return replace(node, args=dict(node.args))
    if isinstance(node, ir.Bond):
        return replace(node, args=dict(node.args))
    if isinstance(node, ir.Composition):
        return replace(node, outer=_clone(node.outer), inner=_clone(node.inner))
    if isinstance(node, ir.Tuple):
        return replace(node, members=tuple(_clone(m) for m in node.members))
    if isinstance(node, ir.Repeat):
        return replace(node, body=_clone(node.body))
    raise TypeError(f"unknown IR node {type(node).__name__}")


def size(node: ir.Node) -> int:
    """Number of IR nodes in a tree (repeat bodies once)."""
    return sum(1 for _ in ir.walk(node))


def total_mass(node: ir.Node) -> float:
    """Mass of a module before the norms pass runs (used by ``tare``)."""
    if isinstance(node, ir.Atom):
        return node.atom_mass
    if isinstance(node, ir.Repeat):
        return node.count * total_mass(node.body)
    return sum(total_mass(c) for c in node.children())


def rescale_masses(node: ir.Node, factor: float) -> None:
    """Multiply every atom mass below ``node`` by ``factor`` (Modula's tare)."""
    for n in ir.walk(node):
        if isinstance(n, ir.Atom):
            n.atom_mass = n.atom_mass * factor
