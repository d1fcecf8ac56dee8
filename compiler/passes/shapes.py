"""Pass infer_shapes: per-example shapes along the network, checked at every node.

Requires: an elaborated net. Ensures: ``in_shape`` and ``out_shape`` on every node, or
a positioned shape diagnostic naming both shapes. A dimension of ``None`` is one the
program leaves free (the sequence length of a net whose input is inferred from Embed).
"""

from __future__ import annotations

import math
from typing import cast

from modc import ir, limits
from modc.catalog import BUILTINS
from modc.diagnostics import error
from modc.ir import Shape, TensorShape, TupleShape

Dim = "int | None"


def infer_shapes(net: ir.Net) -> ir.Shape:
    """Annotate every node of ``net`` with shapes; returns the output shape."""
    shape = net.input_shape if net.input_shape is not None else infer_input(net)
    net.input_shape = shape
    return _infer(net.body, shape)


def infer_input(net: ir.Net) -> Shape:
    """The input shape implied by the first applied atom, for nets written without one."""
    node = net.body
    while True:
        if isinstance(node, ir.Composition):
            node = node.inner
        elif isinstance(node, ir.Repeat):
            node = node.body
        elif isinstance(node, ir.Tuple):
            node = node.members[0]
        elif isinstance(node, ir.Atom):
            return _atom_input(node)
        else:
            raise error("E305", f"cannot infer the input shape of net '{net.name}': it does "
                        f"not start with an atom", net.span,
                        hint=f"annotate it: net {net.name}(x: [...]) = ...")


def _int_args(node: ir.Atom | ir.Bond) -> dict[str, int]:
    """The arguments of a node whose shape rule reads integers (kinds checked by modc.calls)."""
    return cast("dict[str, int]", node.args)


def _atom_input(node: ir.Atom) -> Shape:
    a = _int_args(node)
    if node.op == "Linear":
        return TensorShape((a["in"],))
    if node.op == "Embed":
        return TensorShape((None,), "int")
    return TensorShape((a["in"], None, None))


def _infer(node: ir.Node, shape: Shape) -> Shape:
    node.in_shape = shape
    if isinstance(node, ir.Composition):
        out = _infer(node.outer, _infer(node.inner, shape))
    elif isinstance(node, ir.Tuple):
        out = TupleShape(tuple(_infer(m, shape) for m in node.members))
    elif isinstance(node, ir.Repeat):
        out = _infer_repeat(node, shape)
    elif isinstance(node, ir.Atom):
        out = _atom(node, _tensor(node, shape))
    else:
        assert isinstance(node, ir.Bond)  # node kinds are a closed set
        out = _bond(node, shape)
    node.out_shape = out
    return out


def _infer_repeat(node: ir.Repeat, shape: Shape) -> Shape:
    out = _infer(node.body, shape)
    if out != shape:
        raise error("E300", f"a repeated module must keep its shape, but it maps {_show(shape)} to "
                    f"{_show(out)}", node.span, hint="only shape-preserving blocks can be repeated")
    return out


def _tensor(node: ir.Node, shape: Shape) -> TensorShape:
    if isinstance(shape, TupleShape):
        name = ir.describe(node)
        raise error("E301", f"{name} takes one tensor but gets a tuple {_show(shape)}", node.span,
                    hint="combine the tuple first, for example with '+' or Add")
    return shape


def _float(node: ir.Node, shape: TensorShape) -> TensorShape:
    if shape.dtype != "float":
        hint = "Embed maps token ids to vectors" if isinstance(node, ir.Atom) else None
        raise error("E302", f"{ir.describe(node)} needs real-valued features but gets token "
                    f"ids {_show(shape)}", node.span, hint=hint)
    return shape


def _fmt(d: int | None) -> str:
    return "?" if d is None else str(d)


def _show(shape: Shape) -> str:
    """A shape as messages show it: a free dimension (None) is '?'."""
    if isinstance(shape, TupleShape):
        inner = ", ".join(_show(s) for s in shape.items)
        return f"({inner},)" if len(shape.items) == 1 else f"({inner})"
    body = "[" + ", ".join(_fmt(d) for d in shape.dims) + "]"
    return body if shape.dtype == "float" else "int" + body


def _same(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a == b


def _atom(node: ir.Atom, shape: TensorShape) -> TensorShape:
    a = _int_args(node)
    if node.op == "Embed":
        if shape.dtype != "int":
            raise error("E302", f"Embed needs integer token ids but gets real features "
                        f"{_show(shape)}", node.span,
                        hint="annotate the input as int[...] for token ids")
        return TensorShape(shape.dims + (a["dim"],))
    _float(node, shape)
    if node.op == "Linear":
        if not shape.dims or not _same(shape.dims[-1], a["in"]):
            raise error("E300", f"shape mismatch: {ir.describe(node)} expects [..., {a['in']}] "
                        f"but gets {_show(shape)}", node.span, hint=_linear_hint(node, shape))
        return TensorShape(shape.dims[:-1] + (a["out"],))
    return _conv(node, shape)


def _linear_hint(node: ir.Atom, shape: TensorShape) -> str | None:
    # Linear acts on the last axis (a sequence [T, d] keeps T); Flatten only helps when
    # the whole example has exactly `in` numbers.
    dims = shape.dims
    if (len(dims) > 1 and None not in dims
            and math.prod(d for d in dims if d is not None) == node.args["in"]):
        return "Flatten first to feed a multi-dimensional input to Linear"
    if dims and dims[-1] is not None:
        return f"the input has {shape.dims[-1]} features: Linear({node.args['out']}, " \
               f"{shape.dims[-1]})"
    return None


def _conv(node: ir.Atom, shape: TensorShape) -> TensorShape:
    a = _int_args(node)
    if len(shape.dims) != 3 or not _same(shape.dims[0], a["in"]):
        raise error("E300", f"shape mismatch: {ir.describe(node)} expects "
                    f"[{a['in']}, height, width] but gets {_show(shape)}", node.span)
    k, s, p = a["kernel"], a["stride"], a["padding"]
    spatial: list[int | None] = []
    for d in shape.dims[1:]:
        if d is None:
            spatial.append(None)
            continue
        size = (d + 2 * p - k) // s + 1
        if size < 1:
            raise error("E300", f"{ir.describe(node)} leaves no output positions for an input "
                        f"of size {d} (kernel {k}, padding {p})", node.span)
        _check_dim(node, size)
        spatial.append(size)
    return TensorShape((a["out"], *spatial))


def _pair(node: ir.Bond, shape: Shape) -> tuple[TensorShape, TensorShape]:
    if not isinstance(shape, TupleShape) or len(shape.items) != 2:
        raise error("E301", f"{node.op} takes a pair (a, b) but gets {_show(shape)}", node.span)
    first, second = shape.items
    if isinstance(first, TupleShape) or isinstance(second, TupleShape):
        raise error("E301", f"{node.op} takes a pair of tensors but gets {_show(shape)}", node.span)
    return first, second


def _axes(node: ir.Bond, shape: TensorShape) -> tuple[int, ...]:
    """Normalize ``dim`` to negative per-example axes, checking them against the rank."""
    rank = len(shape.dims)
    axes = []
    for ax in cast("tuple[int, ...]", node.args["dim"]):  # kind "axes" (modc.calls)
        if not -rank <= ax < rank:
            raise error("E303", f"{node.op} axis {ax} is out of range for {_show(shape)} "
                        f"(per-example axes run from {-rank} to {rank - 1})", node.span)
        axes.append(ax - rank if ax >= 0 else ax)
    normalized = tuple(sorted(axes))
    node.args["dim"] = normalized
    return normalized


def _bond(node: ir.Bond, shape: Shape) -> Shape:
    op = node.op
    arity = BUILTINS[op].arity
    if op == "Identity":
        return shape
    if arity == "pair":
        return _pair_bond(node, *_pair(node, shape))
    if op == "Add":
        return _add(node, shape)
    t = _tensor(node, shape)
    if op == "Enumerate":
        if not t.dims:
            raise error("E303", "Enumerate needs at least one dimension", node.span)
        return TensorShape(t.dims, "int")
    _float(node, t)
    if op in ("ReLU", "GELU", "Abs", "Mul", "Softmax"):
        return t
    if op in ("MeanSubtract", "RMSDivide", "LayerNorm"):
        _axes(node, t)
        return t
    if op == "Mean":
        axes = _axes(node, t)
        rank = len(t.dims)
        return TensorShape(tuple(d for i, d in enumerate(t.dims) if i - rank not in axes))
    if op == "Flatten":
        return _flatten(node, t)
    if op == "AvgPool":
        if len(t.dims) != 3:
            raise error("E300", f"AvgPool expects [channels, height, width] but gets {_show(t)}",
                        node.span)
        return TensorShape((t.dims[0], 1, 1))
    if op == "CausalMask":
        if len(t.dims) < 2 or not _same(t.dims[-1], t.dims[-2]):
            raise error("E300", f"CausalMask expects square scores [..., T, T] but gets {_show(t)}",
                        node.span)
        return t
    if op == "SplitHeads":
        return _split_heads(node, t)
    if op == "MergeHeads":
        if len(t.dims) < 3:
            raise error("E300", f"MergeHeads expects [heads, T, d_head] but gets {_show(t)}",
                        node.span)
        h, tt, dh = t.dims[-3:]
        merged = None if h is None or dh is None else _check_dim(node, h * dh)
        return TensorShape(t.dims[:-3] + (tt, merged))
    raise error("E999", f"no shape rule for bond {op}", node.span)


def _check_dim(node: ir.Node, size: int) -> int:
    """Computed dimensions obey the same limit as written ones (limits.MAX_DIM)."""
    if size > limits.MAX_DIM:
        raise error("E902", f"{ir.describe(node)} gives a dimension of {size:,}, above the "
                    f"limit of {limits.MAX_DIM:,}", node.span)
    return size


def _flatten(node: ir.Bond, t: TensorShape) -> TensorShape:
    if any(d is None for d in t.dims):
        raise error("E305", f"Flatten needs every dimension known but gets {_show(t)}", node.span,
                    hint="annotate the net's input shape")
    size = math.prod(d for d in t.dims if d is not None)  # all of them, checked above
    if size > limits.MAX_DIM:
        raise error("E902", f"Flatten gives {size:,} features, above the limit of "
                    f"{limits.MAX_DIM:,}", node.span)
    return TensorShape((size,))


def _split_heads(node: ir.Bond, t: TensorShape) -> TensorShape:
    heads = _int_args(node)["heads"]
    if len(t.dims) < 2:
        raise error("E300", f"SplitHeads expects [T, d] but gets {_show(t)}", node.span)
    d = t.dims[-1]
    if d is not None and d % heads:
        raise error("E304", f"SplitHeads({heads}): the feature dimension {d} is not a "
                    f"multiple of {heads}", node.span)
    return TensorShape(t.dims[:-2] + (heads, t.dims[-2], None if d is None else d // heads))


def _add(node: ir.Bond, shape: Shape) -> Shape:
    if not isinstance(shape, TupleShape) or len(shape.items) < 2:
        raise error("E301", f"Add takes a tuple of two or more tensors but gets {_show(shape)}",
                    node.span)
    first = shape.items[0]
    for other in shape.items[1:]:
        if not _compatible(first, other):
            raise error("E300", f"shape mismatch in '+': {_show(first)} and {_show(other)}",
                        node.span, hint="both sides of '+' must have the same shape")
    return first


def _compatible(a: Shape, b: Shape) -> bool:
    if isinstance(a, TupleShape) or isinstance(b, TupleShape):
        return a == b
    return (a.dtype == b.dtype and len(a.dims) == len(b.dims)
            and all(_same(x, y) for x, y in zip(a.dims, b.dims)))


def _pair_bond(node: ir.Bond, first: TensorShape, second: TensorShape) -> Shape:
    op = node.op
    for t in (first, second):
        _float(node, t)
    if op == "Rope":
        d = _int_args(node)["d_head"]
        for t in (first, second):
            if len(t.dims) < 2 or not _same(t.dims[-1], d):
                raise error("E300", f"Rope({d}) expects [..., T, {d}] but gets {_show(t)}",
                            node.span)
        if d % 2:
            raise error("E304", f"Rope needs an even head dimension, got {d}", node.span)
        return TupleShape((first, second))
    if op == "AttentionQK":
        if len(first.dims) < 2 or not _compatible(first, second):
            raise error("E300", f"AttentionQK needs queries and keys of the same shape "
                        f"[..., T, d] but gets {_show(first)} and {_show(second)}", node.span)
        return TensorShape(first.dims[:-1] + (first.dims[-2],))
    # ApplyAttentionScores: (v, scores) -> scores @ v
    v, scores = first, second
    if (len(v.dims) < 2 or len(scores.dims) != len(v.dims)
            or not _same(scores.dims[-1], v.dims[-2])
            or not all(_same(x, y) for x, y in zip(scores.dims[:-2], v.dims[:-2]))):
        raise error("E300", f"ApplyAttentionScores needs (values [..., T, d], scores "
                    f"[..., T, T]) but gets ({_show(v)}, {_show(scores)})", node.span)
    return TensorShape(scores.dims[:-1] + v.dims[-1:])
