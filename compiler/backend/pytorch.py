"""The PyTorch backend: an annotated program becomes one Python module (DESIGN.md).

Python prepares a context of plain records (classes, PLAN rows, forward statements) and
``templates/module.py.j2`` turns it into text. Each net becomes a ``modc.runtime.Network``
subclass and each repeat body a ``modc.runtime.Block`` subclass used through a
``torch.nn.ModuleList``, so a repeat is one loop however many copies it has. The PLAN
tables follow docs/internals.md; attribute names come from
:func:`modc.passes.norms.scope_names`, so they match ``modc explain --json``. Each chain
that :func:`modc.passes.fuse.fuse_bonds` found becomes one call of
``modc.runtime.kernels.chain`` with a module-level spec constant (docs/kernels.md).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import jinja2

from modc import VERSION_TUPLE, __version__, ir
from modc.backend import names as nm
from modc.backend.names import Literal, Names
from modc.passes.norms import scope_names, scope_walk, spec_of, weight_shape

__all__ = ["build_context", "generate"]

# A generated line should fit in 100 columns (the project's ruff setting).
LINE_WIDTH = 100
_PLAN_INDENT = 8  # PLAN rows sit inside ``PLAN = (`` in a class body
_COPY_INDENT = 12  # rows of a long copy-target tuple

# Bond -> function of modc.runtime.bonds, and the IR arguments it takes after the input.
_BOND_FUNCTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ReLU": ("relu", ()),
    "GELU": ("gelu", ()),
    "Abs": ("abs", ()),
    "Flatten": ("flatten", ()),  # plus the input's rank, see _bond_consts
    "MeanSubtract": ("mean_subtract", ("dim",)),
    "RMSDivide": ("rms_divide", ("dim",)),
    "LayerNorm": ("layer_norm", ("dim",)),
    "Mean": ("mean", ("dim",)),
    "AvgPool": ("avg_pool", ()),
    "SplitHeads": ("split_heads", ("heads",)),
    "MergeHeads": ("merge_heads", ()),
    "Rope": ("rope", ("d_head", "base")),
    "AttentionQK": ("attention_qk", ()),
    "CausalMask": ("causal_mask", ()),
    "Softmax": ("softmax", ("scale",)),
    "ApplyAttentionScores": ("apply_attention_scores", ()),
    "Enumerate": ("enumerate", ()),
}
# Arguments that are real numbers however the source wrote them.
_REAL_ARGS = frozenset({"scale", "s"})
# Stem of the module-level constants that hold the spec of a fused chain.
_CHAIN_STEM = "_CHAIN_"


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class AtomMember:
    """An atom attribute of a generated class: its constructor and its PLAN row."""

    attr: str
    kind: str
    args: tuple[int, ...]  # positional constructor arguments
    kwargs: tuple[tuple[str, int], ...]  # keyword constructor arguments
    row: tuple[Literal, ...]  # ("atom", attr, kind, shape, mass, target, dual_map)
    wrap: bool  # the PLAN row does not fit on one line: dual map on the next
    is_atom: bool = True


@dataclass(frozen=True)
class RepeatMember:
    """A ``torch.nn.ModuleList`` of body copies and its PLAN row."""

    attr: str
    body: str  # class name of the body
    count: int
    copy_targets: tuple[float, ...]
    wrap: bool  # the PLAN row does not fit on one line: copy targets on the next lines
    rows: tuple[tuple[float, ...], ...]  # copy_targets in lines of at most LINE_WIDTH
    is_atom: bool = False


Member: TypeAlias = "AtomMember | RepeatMember"


@dataclass(frozen=True)
class Stmt:
    """One statement of a generated ``forward``.

    ``op`` is ``atom`` (``out = self.fn(arg)``), ``bond`` (``out = _b.fn(arg, *consts)``),
    ``mul`` (``out = arg * consts[0]``), ``add`` (``out = terms[0] + terms[1] ...``),
    ``unpack`` (``out = arg`` with ``out`` a tuple of names), ``chain`` (``out =
    _k.chain(arg, fn)``, ``fn`` the name of a chain spec constant) or ``repeat`` (``out =
    arg``, then ``out = block(out)`` for each copy in ``self.fn``).
    """

    op: str
    out: Names
    arg: Names = ()
    fn: str = ""
    consts: tuple[Literal, ...] = ()
    terms: tuple[str, ...] = ()


@dataclass
class ClassContext:
    """One generated class: a net (``_rt.Network``) or a repeat body (``_rt.Block``)."""

    name: str
    doc: str
    net_name: str | None  # the net's name as written; None for a repeat body
    members: list[Member]
    stmts: list[Stmt]
    result: Names


@dataclass(frozen=True)
class ChainConst:
    """A module-level constant holding the spec of a fused chain (one op tuple per bond)."""

    name: str
    ops: tuple[tuple[Literal, ...], ...]
    wrap: bool  # the assignment does not fit on one line: one op per line


@dataclass
class ModuleContext:
    """Everything the template needs for one generated file."""

    version: str
    gen: tuple[int, int, int]
    main: str  # file name of the main source file
    source: str  # display path of the main source file, for the runtime check
    sources: list[tuple[str, str]]  # (display path, sha256), main file first
    overrides: list[tuple[str, Literal]]  # sorted by name
    classes: list[ClassContext] = field(default_factory=list)
    nets: list[tuple[str, str]] = field(default_factory=list)  # (net name, class name)
    chains: list[ChainConst] = field(default_factory=list)  # in order of first use

    @property
    def uses_torch(self) -> bool:
        return any(not m.is_atom for c in self.classes for m in c.members)

    @property
    def uses_bonds(self) -> bool:
        return any(s.op == "bond" for c in self.classes for s in c.stmts)

    def chain_const(self, ops: tuple[tuple[Literal, ...], ...], taken: set[str]) -> str:
        """The name of the constant holding ``ops``, made on first use; equal specs share."""
        for const in self.chains:
            if const.ops == ops:
                return const.name
        name = f"{_CHAIN_STEM}{len(self.chains)}"
        while name in taken:
            name += "_"
        taken.add(name)
        line = f"{name} = {nm.pylit(ops)}"
        self.chains.append(ChainConst(name, ops, len(line) > LINE_WIDTH))
        return name


def build_context(program: ir.Program) -> ModuleContext:
    """The template context of ``program``: one class per net and per repeat body."""
    main = program.sources[0].path if program.sources else ""
    ctx = ModuleContext(
        version=__version__,
        gen=VERSION_TUPLE,
        main=os.path.basename(main),
        source=_display(main),
        sources=[(_display(s.path), s.sha256) for s in program.sources],
        overrides=sorted(program.overrides.items()),
    )
    wanted = [net.name for net in program.nets]
    taken = set(nm.MODULE_NAMES)
    for net, cls_name in zip(program.nets, nm.class_names(wanted), strict=True):
        taken.add(cls_name)
        ctx.nets.append((net.name, cls_name))
    for net, (_, cls_name) in zip(program.nets, ctx.nets, strict=True):
        doc = f"{net.name}: {_shape(net.input_shape)} -> {_shape(net.body.out_shape)} per " \
              f"example; {_norms(net.body)}."
        fused = {id(bond): chain for chain in net.chains for bond in chain.bonds}
        _add_scope(ctx, net.body, (cls_name, net.name), doc, net.name, _Names(taken, fused))
    return ctx


def _display(path: str) -> str:
    """A source path as the header shows it: as given, or its basename when absolute."""
    return os.path.basename(path) if os.path.isabs(path) else path


@dataclass(frozen=True)
class _Names:
    """What naming a net's classes and constants needs: the module-level names in use
    (class names and chain constants) and the net's fused chains by ``id`` of each bond."""

    taken: set[str]
    fused: dict[int, ir.FusedChain]


def _add_scope(ctx: ModuleContext, root: ir.Node, names: tuple[str, str], doc: str,
               net_name: str | None, module: _Names) -> None:
    """Append the classes of one scope to ``ctx``: the bodies of its repeats, then itself.

    ``names`` is the scope's class name and its module path (``GPT.repeat0``).
    """
    cls_name, scope_path = names
    attrs = scope_names(root)
    bodies: dict[int, str] = {}
    for node in scope_walk(root):
        if isinstance(node, ir.Repeat):
            attr = attrs[id(node)]
            body = _body_class(cls_name, attr, module.taken)
            bodies[id(node)] = body
            path = f"{scope_path}.{attr}"
            body_doc = f"{path}[k] (k < {node.count}): {_shape(node.in_shape)} -> " \
                       f"{_shape(node.out_shape)}; {_norms(node.body)}."
            _add_scope(ctx, node.body, (body, path), body_doc, None, module)
    members = [_member(node, attrs, bodies) for node in scope_walk(root)
               if isinstance(node, (ir.Atom, ir.Repeat))]
    forward = _Forward(attrs, module.fused,
                       lambda ops: ctx.chain_const(ops, module.taken))
    result = forward.emit(root, "x")
    ctx.classes.append(ClassContext(cls_name, doc, net_name, members, forward.stmts, result))


def _body_class(owner: str, attr: str, taken: set[str]) -> str:
    """A private class name for a repeat body, e.g. ``_GPT_Repeat0``; never one in use."""
    # One leading underscore only: a name starting with two would be mangled inside the
    # class body that refers to it.
    candidate = f"_{owner.lstrip('_')}_{attr[:1].upper()}{attr[1:]}"
    while candidate in taken:
        candidate += "_"
    taken.add(candidate)
    return candidate


def _member(node: ir.Node, attrs: dict[int, str], bodies: dict[int, str]) -> Member:
    attr = attrs[id(node)]
    if isinstance(node, ir.Repeat):
        body = bodies[id(node)]
        targets = tuple(_num(t) for t in node.copy_targets or ())
        pieces = [nm.pylit("repeat"), nm.pylit(attr), nm.ident(body), nm.pylit(targets)]
        wrap = _width(pieces) > LINE_WIDTH
        return RepeatMember(attr, body, node.count, targets, wrap, _copy_rows(targets))
    assert isinstance(node, ir.Atom)
    args, kwargs = _constructor(node)
    row: tuple[Literal, ...] = ("atom", attr, node.op, tuple(weight_shape(node)),
                                _num(node.mass), _num(node.target), spec_of(node.op).dual_map)
    wrap = _width([nm.pylit(v) for v in row]) > LINE_WIDTH
    return AtomMember(attr, node.op, args, kwargs, row, wrap)


def _constructor(node: ir.Atom) -> tuple[tuple[int, ...], tuple[tuple[str, int], ...]]:
    """Arguments of the runtime atom class, as docs/internals.md lists them."""
    a = {key: _int(value) for key, value in node.args.items() if key != "mass"}
    if node.op == "Linear":
        return (a["out"], a["in"]), ()
    if node.op == "Embed":
        return (a["dim"], a["vocab"]), ()
    if node.op == "Conv2D":
        return (a["out"], a["in"]), tuple((k, a[k]) for k in ("kernel", "stride", "padding"))
    raise ValueError(f"internal compiler error: no constructor rule for atom {node.op!r}")


def _copy_rows(targets: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
    """``targets`` split into lines of at most LINE_WIDTH columns."""
    rows: list[list[float]] = [[]]
    used = _COPY_INDENT
    for t in targets:
        size = len(nm.pylit(t)) + 2  # the number, then ", " or ","
        if rows[-1] and used + size > LINE_WIDTH:
            rows.append([])
            used = _COPY_INDENT
        rows[-1].append(t)
        used += size
    return tuple(tuple(r) for r in rows)


def _width(pieces: Sequence[str]) -> int:
    """Columns a PLAN row of rendered ``pieces`` takes on one line, indent and comma included."""
    return _PLAN_INDENT + len(", ".join(pieces)) + 3  # the parentheses and the comma


def _num(value: float | None) -> float:
    if value is None:
        raise ValueError("internal compiler error: a node reached the backend unannotated")
    return float(value)


def _int(value: ir.Value) -> int:
    if not isinstance(value, int):
        raise ValueError(f"internal compiler error: expected an integer argument, got {value!r}")
    return value


def _real(value: ir.Value) -> float:
    if not isinstance(value, (int, float)):
        raise ValueError(f"internal compiler error: expected a number argument, got {value!r}")
    return float(value)


def _shape(shape: ir.Shape | None) -> str:
    """A shape for a docstring: ``[64, 128]``, ``int[?]``, ``([4], [4])``."""
    if isinstance(shape, ir.TupleShape):
        return "(" + ", ".join(_shape(s) for s in shape.items) + ")"
    if shape is None:
        return "?"
    dims = ", ".join("?" if d is None else str(d) for d in shape.dims)
    return ("int" if shape.dtype == "int" else "") + f"[{dims}]"


def _norms(node: ir.Node) -> str:
    return f"mass {_num(node.mass):.6g}, sensitivity {_num(node.sensitivity):.6g}"


# --------------------------------------------------------------------------- forward


class _Forward:
    """Straight-line code of one scope: one statement per atom, bond, fused chain and repeat.

    ``fused`` maps ``id`` of a bond to its chain; ``chain_const`` names a chain's spec.
    """

    def __init__(self, attrs: dict[int, str], fused: dict[int, ir.FusedChain],
                 chain_const: Callable[[tuple[tuple[Literal, ...], ...]], str]) -> None:
        self.attrs = attrs
        self.fused = fused
        self.chain_const = chain_const
        self.stmts: list[Stmt] = []
        self._count = 0
        self._unpacked: dict[str, tuple[str, ...]] = {}  # variables are assigned once
        self._chain_out: dict[int, Names] = {}  # id of a chain -> the variable it assigned

    def fresh(self) -> str:
        self._count += 1
        return f"h{self._count}"

    def emit(self, node: ir.Node, value: Names) -> Names:
        """Append the statements of ``node`` applied to ``value``; return its output."""
        if isinstance(node, ir.Composition):
            return self.emit(node.outer, self.emit(node.inner, value))
        if isinstance(node, ir.Tuple):
            return tuple(self.emit(member, value) for member in node.members)
        if isinstance(node, (ir.Atom, ir.Repeat)):
            op = "atom" if isinstance(node, ir.Atom) else "repeat"
            return self._stmt(Stmt(op, self.fresh(), value, fn=self.attrs[id(node)]))
        assert isinstance(node, ir.Bond)
        return self._bond(node, value)

    def _stmt(self, stmt: Stmt) -> Names:
        self.stmts.append(stmt)
        return stmt.out

    def _bond(self, node: ir.Bond, value: Names) -> Names:
        if node.op == "Identity":
            return value
        chain = self.fused.get(id(node))
        if chain is not None:
            return self._chain(chain, node, value)
        if node.op == "Add":
            shape = node.in_shape
            assert isinstance(shape, ir.TupleShape)
            return self._add(self._items(value, shape), shape.items)
        if node.op == "Mul":
            return self._stmt(Stmt("mul", self.fresh(), value, consts=(_real(node.args["s"]),)))
        fn, _ = _BOND_FUNCTIONS[node.op]
        return self._stmt(Stmt("bond", self.fresh(), value, fn=fn, consts=_bond_consts(node)))

    def _chain(self, chain: ir.FusedChain, node: ir.Bond, value: Names) -> Names:
        """One call for the whole chain at its first bond; its other bonds emit nothing."""
        if node is chain.bonds[0]:
            name = self.chain_const(tuple(_chain_op(b) for b in chain.bonds))
            out = self._stmt(Stmt("chain", self.fresh(), value, fn=name))
            self._chain_out[id(chain)] = out
            return out
        # fuse_bonds only joins bonds that follow one another with nothing but Identity
        # between them, so the value reaching a later bond is the chain's output.
        if self._chain_out.get(id(chain)) != value:
            raise ValueError(f"internal compiler error: {node.op} of a fused chain is not "
                             f"applied right after the chain's previous bond")
        return value

    def _items(self, value: Names, shape: ir.TupleShape) -> tuple[Names, ...]:
        """The members of a tuple value, unpacking a variable that holds a whole tuple."""
        if isinstance(value, tuple):
            return value
        if value not in self._unpacked:
            names = tuple(self.fresh() for _ in shape.items)
            self.stmts.append(Stmt("unpack", names, value))
            self._unpacked[value] = names
        return self._unpacked[value]

    def _add(self, terms: tuple[Names, ...], shapes: tuple[ir.Shape, ...]) -> Names:
        """Sum of ``terms``; tuples are added member by member, as infer_shapes types them."""
        first = shapes[0]
        if isinstance(first, ir.TupleShape):
            # infer_shapes only adds tuples of equal shapes, so every term is a tuple here.
            tuples = [s for s in shapes if isinstance(s, ir.TupleShape)]
            parts = [self._items(t, s) for t, s in zip(terms, tuples, strict=True)]
            return tuple(self._add(tuple(p[i] for p in parts), tuple(s.items[i] for s in tuples))
                         for i in range(len(first.items)))
        names = tuple(t for t in terms if isinstance(t, str))
        assert len(names) == len(terms), "a tensor-shaped value is always one variable"
        return self._stmt(Stmt("add", self.fresh(), terms=names))


def _chain_op(node: ir.Bond) -> tuple[Literal, ...]:
    """One op of a chain spec: the name of the bond's function in modc.runtime.bonds, then
    the arguments the generated code would pass it (``Mul(s)`` is ``("mul", s)``)."""
    if node.op == "Mul":
        return ("mul", _real(node.args["s"]))
    fn, _ = _BOND_FUNCTIONS[node.op]
    return (fn, *_bond_consts(node))


def _bond_consts(node: ir.Bond) -> tuple[Literal, ...]:
    """Compile-time arguments of a bond call, after its input."""
    if node.op == "Flatten":
        shape = node.in_shape
        assert isinstance(shape, ir.TensorShape)
        return (len(shape.dims),)
    _, keys = _BOND_FUNCTIONS[node.op]
    return tuple(_real(node.args[k]) if k in _REAL_ARGS else node.args[k] for k in keys)


# --------------------------------------------------------------------------- rendering


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment of the generated code, with the injection guard."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("modc.templates", ""),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,
        finalize=nm.guard,
    )
    env.filters.update(nm.filters())
    return env


def generate(program: ir.Program, output_name: str = "<stdout>") -> str:
    """The text of the generated module for every net of ``program``.

    ``output_name`` is the name of the file being written. The text does not depend on
    it, so a generated file can be moved or renamed without going stale.
    """
    del output_name
    return environment().get_template("module.py.j2").render(m=build_context(program))
