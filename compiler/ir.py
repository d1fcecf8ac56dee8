"""The intermediate representation: a tree of modules in the vocabulary of the modular norm.

Node kinds are a closed set (:class:`NodeKind`): atoms carry weights, bonds do not,
a composition applies ``inner`` then ``outer`` (Modula's ``outer @ inner``), a tuple
feeds one input to every member, and a repeat composes ``count`` fresh copies of its
body without unrolling them. Scalars (``Mul``) and ``Add`` are bonds.

Elaboration builds a tree (every use of a template is a fresh subtree), so every node
has exactly one position in the network and passes may annotate nodes in place. The
annotation fields below are filled by the passes named beside them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from modc.source import Span

Value = int | float | tuple


class NodeKind(enum.Enum):
    ATOM = "atom"
    BOND = "bond"
    COMPOSITION = "composition"
    TUPLE = "tuple"
    REPEAT = "repeat"


@dataclass(frozen=True)
class TensorShape:
    """Per-example shape of one tensor (batch dimensions lead and are free)."""

    dims: tuple[int | None, ...]  # None: a free dimension (see modc.passes.shapes)
    dtype: str = "float"  # "float" for features, "int" for token ids

    def __str__(self) -> str:
        body = "[" + ", ".join(str(d) for d in self.dims) + "]"
        return body if self.dtype == "float" else "int" + body


@dataclass(frozen=True)
class TupleShape:
    """Shape of a tuple of values, as produced by a tuple module."""

    items: tuple[Shape, ...]

    def __str__(self) -> str:
        inner = ", ".join(str(s) for s in self.items)
        return f"({inner},)" if len(self.items) == 1 else f"({inner})"


Shape = TensorShape | TupleShape


@dataclass(eq=False)
class Node:
    """Common fields: the source span, and the analysis results of the passes."""

    span: Span | None = field(default=None, kw_only=True)
    # Name of the definition whose body produced this node (for readable names).
    label: str | None = field(default=None, kw_only=True)
    # infer_shapes
    in_shape: Shape | None = field(default=None, kw_only=True, repr=False)
    out_shape: Shape | None = field(default=None, kw_only=True, repr=False)
    # compute_norms: mass, sensitivity, smoothness, and the target norm this node
    # receives when its scope (the net, or the body of the nearest enclosing repeat)
    # is dualized with target norm 1.
    mass: float | None = field(default=None, kw_only=True, repr=False)
    sensitivity: float | None = field(default=None, kw_only=True, repr=False)
    smooth: bool | None = field(default=None, kw_only=True, repr=False)
    target: float | None = field(default=None, kw_only=True, repr=False)

    kind: NodeKind = field(init=False, repr=False)
    # Length of the longest path to a leaf; bounded by the elaborator (limits).
    height: int = field(default=1, init=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return ()

    def _set_height(self) -> None:
        self.height = 1 + max((c.height for c in self.children()), default=0)


@dataclass(eq=False)
class Atom(Node):
    """A module with one weight tensor: ``Linear``, ``Embed`` or ``Conv2D``."""

    op: str
    args: dict[str, Value]
    atom_mass: float = 1.0  # the mass it was given (``mass=``), rescaled by ``tare``

    def __post_init__(self) -> None:
        self.kind = NodeKind.ATOM


@dataclass(eq=False)
class Bond(Node):
    """A module without weights; ``args`` holds its compile-time arguments."""

    op: str
    args: dict[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = NodeKind.BOND


@dataclass(eq=False)
class Composition(Node):
    """``outer @ inner``: ``inner`` is applied first."""

    outer: Node
    inner: Node

    def __post_init__(self) -> None:
        self.kind = NodeKind.COMPOSITION
        self._set_height()

    def children(self) -> tuple[Node, ...]:
        return (self.inner, self.outer)  # application order


@dataclass(eq=False)
class Tuple(Node):
    """Every member sees the same input; the output is the tuple of their outputs."""

    members: tuple[Node, ...]

    def __post_init__(self) -> None:
        self.kind = NodeKind.TUPLE
        self._set_height()

    def children(self) -> tuple[Node, ...]:
        return self.members


@dataclass(eq=False)
class Repeat(Node):
    """``body ** count``: ``count`` fresh copies applied in sequence, kept as one loop.

    ``copy_targets[k]`` is the target norm copy ``k`` (first applied first) receives
    when this node's scope is dualized with target norm 1 (set by compute_norms).
    """

    body: Node
    count: int
    copy_targets: tuple[float, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.kind = NodeKind.REPEAT
        self._set_height()

    def children(self) -> tuple[Node, ...]:
        return (self.body,)


@dataclass(frozen=True, eq=False)
class FusedChain:
    """Bonds applied one after another that the generated code runs as one fused kernel.

    Found by ``modc.passes.fuse.fuse_bonds``. ``bonds`` are consecutive in application
    order (first applied first) along one sequence of compositions; ``axes`` are the
    trailing per-example axes that the row-wise bonds among them reduce over, or ``()``
    when every bond is element-wise.
    """

    bonds: tuple[Bond, ...]
    axes: tuple[int, ...] = ()


@dataclass(eq=False)
class Net:
    """An exported network: ``net NAME(x: SHAPE) = body``."""

    name: str
    input_shape: Shape | None
    body: Node
    span: Span | None = None
    input_name: str = "x"
    # fuse_bonds: the fused chains of every scope, in the order the pass finds them.
    chains: list[FusedChain] = field(default_factory=list)


@dataclass(eq=False)
class Program:
    """What elaboration hands to the passes."""

    nets: list[Net]
    sources: list  # SourceFile objects, main file first, then imports in load order
    overrides: dict[str, float | int] = field(default_factory=dict)
    # What the lint rules need from elaboration (modc.elaborate.Symbol, TareRecord).
    symbols: list = field(default_factory=list)
    tares: list = field(default_factory=list)


def walk(node: Node) -> Iterator[Node]:
    """Pre-order walk in application (weight) order; repeat bodies are visited once."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children()))


def atoms_in_order(node: Node) -> Iterator[Atom]:
    """Atoms in weight order, repeat bodies once (not unrolled)."""
    for n in walk(node):
        if isinstance(n, Atom):
            yield n


def describe(node: Node) -> str:
    """A short human description of a node for messages, e.g. ``Linear(10, 256)``."""
    if isinstance(node, (Atom, Bond)):
        if node.op == "Mul":
            return f"Mul({node.args['s']:g})"
        shown = [v for k, v in node.args.items() if k != "mass"]
        inner = ", ".join(_fmt(v) for v in shown)
        return f"{node.op}({inner})" if shown else node.op
    if isinstance(node, Composition):
        return "composition"
    if isinstance(node, Tuple):
        return f"tuple of {len(node.members)}"
    if isinstance(node, Repeat):
        return f"repeat ×{node.count}"
    return type(node).__name__


def _fmt(v: Value) -> str:
    if isinstance(v, tuple) and len(v) == 1:  # one axis: dim=(-1,) reads as -1
        return _fmt(v[0])
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
