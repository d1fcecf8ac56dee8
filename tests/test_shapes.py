"""Tests of the infer_shapes pass on hand-built IR, and through the front end."""

from __future__ import annotations

import pytest

from modc import ir
from modc.diagnostics import CompileError
from modc.passes.shapes import infer_input, infer_shapes
from modc.pipeline import compile_source


def T(*dims, dtype: str = "float") -> ir.TensorShape:
    return ir.TensorShape(tuple(dims), dtype)


def P(*items) -> ir.TupleShape:
    return ir.TupleShape(tuple(items))


def lin(out: int, inp: int) -> ir.Atom:
    return ir.Atom("Linear", {"out": out, "in": inp})


def embed(dim: int, vocab: int) -> ir.Atom:
    return ir.Atom("Embed", {"dim": dim, "vocab": vocab})


def conv(out: int, inp: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> ir.Atom:
    args = {"out": out, "in": inp, "kernel": kernel, "stride": stride, "padding": padding}
    return ir.Atom("Conv2D", args)


def bond(op: str, **args) -> ir.Bond:
    return ir.Bond(op, args)


def at(*modules: ir.Node) -> ir.Node:
    """``at(a, b, c)`` is ``a @ b @ c``: c is applied first."""
    result = modules[-1]
    for m in reversed(modules[:-1]):
        result = ir.Composition(outer=m, inner=result)
    return result


def tup(*members: ir.Node) -> ir.Tuple:
    return ir.Tuple(tuple(members))


def out(body: ir.Node, shape: ir.Shape | None) -> ir.Shape:
    return infer_shapes(ir.Net("N", shape, body))


def fails(body: ir.Node, shape: ir.Shape | None) -> tuple[str, str]:
    with pytest.raises(CompileError) as info:
        out(body, shape)
    return info.value.diagnostic.code, info.value.diagnostic.message


# --- atoms ---------------------------------------------------------------------------------


def test_linear_maps_the_last_dimension() -> None:
    assert out(lin(4, 3), T(3)) == T(4)
    assert out(lin(4, 3), T(5, 3)) == T(5, 4)
    assert fails(lin(4, 3), T(5)) == (
        "E300", "shape mismatch: Linear(4, 3) expects [..., 3] but gets [5]")


def hint(body: ir.Node, shape: ir.Shape) -> str | None:
    with pytest.raises(CompileError) as info:
        out(body, shape)
    return info.value.diagnostic.hint


def test_linear_mismatch_hints() -> None:
    assert hint(lin(4, 3), T(5)) == "the input has 5 features: Linear(4, 5)"
    assert hint(lin(5, 12), T(3, 4)) == "Flatten first to feed a multi-dimensional input to Linear"
    assert hint(lin(5, 7), T(3, 4)) == "the input has 4 features: Linear(5, 4)"
    assert hint(lin(3, 7), T(None, 8)) == "the input has 8 features: Linear(3, 8)"


def test_free_dimensions_show_as_question_marks() -> None:
    assert fails(lin(3, 7), T(None, 8)) == (
        "E300", "shape mismatch: Linear(3, 7) expects [..., 7] but gets [?, 8]")


def test_embed_takes_token_ids() -> None:
    assert out(embed(8, 100), T(16, dtype="int")) == T(16, 8)
    assert out(embed(8, 100), T(2, 16, dtype="int")) == T(2, 16, 8)
    assert fails(embed(8, 100), T(16)) == (
        "E302", "Embed needs integer token ids but gets real features [16]")


@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (32, 3, 1, 1, 32),  # (32 + 2 - 3) // 1 + 1
    (32, 5, 2, 0, 14),  # (32 - 5) // 2 + 1
    (32, 4, 2, 1, 16),  # (32 + 2 - 4) // 2 + 1
    (7, 3, 2, 1, 4),    # (7 + 2 - 3) // 2 + 1
    (9, 3, 2, 1, 5),
    (5, 5, 1, 0, 1),
    (1, 3, 1, 1, 1),
    (8, 1, 3, 0, 3),    # (8 - 1) // 3 + 1
])
def test_conv2d_spatial_sizes(size, kernel, stride, padding, expected) -> None:
    got = out(conv(16, 3, kernel, stride, padding), T(3, size, size + 1))
    wide = (size + 1 + 2 * padding - kernel) // stride + 1
    assert got == T(16, expected, wide)


def test_conv2d_errors() -> None:
    assert fails(conv(16, 3, 5, 1, 0), T(3, 2, 2)) == (
        "E300", "Conv2D(16, 3, 5, 1, 0) leaves no output positions for an input of size 2 "
        "(kernel 5, padding 0)")
    assert fails(conv(16, 3), T(4, 8, 8)) == (
        "E300", "shape mismatch: Conv2D(16, 3, 3, 1, 1) expects [3, height, width] but gets "
        "[4, 8, 8]")
    assert fails(conv(16, 3), T(3, 8))[0] == "E300"
    assert fails(conv(3, 3, 3, 1, 10**8), T(3, 8, 8)) == (
        "E902", "Conv2D(3, 3, 3, 1, 100000000) gives a dimension of 200,000,006, above the "
        "limit of 100,000,000")
    assert fails(conv(16, 3), T(3, 8, 8, dtype="int"))[0] == "E302"


# --- bonds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op, args", [
    ("Identity", {}), ("ReLU", {}), ("GELU", {}), ("Abs", {}), ("Mul", {"s": -2.0}),
    ("Softmax", {"scale": 1.0}), ("MeanSubtract", {"dim": (-1,)}),
    ("RMSDivide", {"dim": (-1,)}), ("LayerNorm", {"dim": (-2, -1)}),
])
def test_elementwise_and_rowwise_bonds_keep_the_shape(op: str, args: dict) -> None:
    assert out(bond(op, **args), T(4, 5, 6)) == T(4, 5, 6)


@pytest.mark.parametrize("op, args", [
    ("ReLU", {}), ("Mul", {"s": 2.0}), ("Softmax", {"scale": 1.0}), ("Flatten", {}),
    ("MeanSubtract", {"dim": (-1,)}), ("SplitHeads", {"heads": 2}),
])
def test_bonds_reject_token_ids(op: str, args: dict) -> None:
    assert fails(bond(op, **args), T(4, 6, dtype="int"))[0] == "E302"


def test_axes_are_normalized_to_negative_and_checked() -> None:
    node = bond("MeanSubtract", dim=(2, 0))
    assert out(node, T(4, 5, 6)) == T(4, 5, 6)
    assert node.args["dim"] == (-3, -1)
    assert fails(bond("RMSDivide", dim=(3,)), T(4, 5, 6)) == (
        "E303", "RMSDivide axis 3 is out of range for [4, 5, 6] (per-example axes run from "
        "-3 to 2)")
    assert fails(bond("LayerNorm", dim=(-4,)), T(4, 5, 6))[0] == "E303"


@pytest.mark.parametrize("axes, expected", [
    ((0, -1), T(5)), ((1,), T(4, 6)), ((-1,), T(4, 5)), ((0, 1, 2), T()),
])
def test_mean_removes_its_axes(axes, expected) -> None:
    assert out(bond("Mean", dim=axes), T(4, 5, 6)) == expected


def test_flatten() -> None:
    assert out(bond("Flatten"), T(3, 32, 32)) == T(3072)
    assert out(bond("Flatten"), T(10, 16)) == T(160)
    assert out(bond("Flatten"), T(7)) == T(7)
    assert fails(bond("Flatten"), T(None, 16)) == (
        "E305", "Flatten needs every dimension known but gets [?, 16]")
    assert fails(bond("Flatten"), T(1000, 1000, 1000)) == (
        "E902", "Flatten gives 1,000,000,000 features, above the limit of 100,000,000")


def test_avg_pool() -> None:
    assert out(bond("AvgPool"), T(4, 5, 6)) == T(4, 1, 1)
    assert fails(bond("AvgPool"), T(5, 6))[0] == "E300"


def test_split_and_merge_heads() -> None:
    assert out(bond("SplitHeads", heads=4), T(10, 64)) == T(4, 10, 16)
    assert out(bond("SplitHeads", heads=4), T(2, 10, 64)) == T(2, 4, 10, 16)
    assert out(bond("SplitHeads", heads=4), T(None, 64)) == T(4, None, 16)
    assert out(bond("MergeHeads"), T(4, 10, 16)) == T(10, 64)
    assert out(at(bond("MergeHeads"), bond("SplitHeads", heads=8)), T(7, 64)) == T(7, 64)
    assert fails(bond("SplitHeads", heads=5), T(10, 64)) == (
        "E304", "SplitHeads(5): the feature dimension 64 is not a multiple of 5")
    assert fails(bond("SplitHeads", heads=2), T(64))[0] == "E300"
    assert fails(bond("MergeHeads"), T(10, 64))[0] == "E300"
    assert out(bond("MergeHeads"), T(10**4, 2, 10**4)) == T(2, 10**8)
    assert fails(bond("MergeHeads"), T(10**4, 2, 10**4 + 1))[0] == "E902"


def test_rope_acts_on_a_pair() -> None:
    pair = tup(bond("Identity"), bond("Identity"))
    assert out(at(bond("Rope", d_head=16, base=10000.0), pair), T(4, 10, 16)) == P(
        T(4, 10, 16), T(4, 10, 16))
    assert fails(at(bond("Rope", d_head=15, base=1.0), pair), T(10, 15)) == (
        "E304", "Rope needs an even head dimension, got 15")
    assert fails(at(bond("Rope", d_head=8, base=1.0), pair), T(10, 16)) == (
        "E300", "Rope(8) expects [..., T, 8] but gets [10, 16]")
    assert fails(bond("Rope", d_head=16, base=1.0), T(10, 16)) == (
        "E301", "Rope takes a pair (a, b) but gets [10, 16]")
    triple = tup(bond("Identity"), bond("Identity"), bond("Identity"))
    assert fails(at(bond("Rope", d_head=16, base=1.0), triple), T(10, 16))[0] == "E301"
    nested = tup(pair, bond("Identity"))
    assert fails(at(bond("Rope", d_head=16, base=1.0), nested), T(10, 16)) == (
        "E301", "Rope takes a pair of tensors but gets (([10, 16], [10, 16]), [10, 16])")


def test_attention_qk_causal_mask_and_softmax() -> None:
    pair = tup(bond("Identity"), bond("Identity"))
    scores = at(bond("Softmax", scale=1.0), bond("CausalMask"), bond("AttentionQK"), pair)
    assert out(scores, T(4, 10, 16)) == T(4, 10, 10)
    q_and_k = tup(lin(8, 16), lin(6, 16))
    assert fails(at(bond("AttentionQK"), q_and_k), T(10, 16)) == (
        "E300", "AttentionQK needs queries and keys of the same shape [..., T, d] but gets "
        "[10, 8] and [10, 6]")
    assert fails(bond("CausalMask"), T(4, 5)) == (
        "E300", "CausalMask expects square scores [..., T, T] but gets [4, 5]")
    assert out(bond("CausalMask"), T(2, 5, 5)) == T(2, 5, 5)


def test_apply_attention_scores() -> None:
    scores = at(bond("AttentionQK"), tup(bond("Identity"), bond("Identity")))
    values = lin(6, 16)
    assert out(at(bond("ApplyAttentionScores"), tup(values, scores)), T(10, 16)) == T(10, 6)
    swapped = tup(scores, lin(6, 16))
    assert fails(at(bond("ApplyAttentionScores"), swapped), T(10, 16)) == (
        "E300", "ApplyAttentionScores needs (values [..., T, d], scores [..., T, T]) but gets "
        "([10, 10], [10, 6])")


def test_enumerate_gives_integer_positions_of_the_same_shape() -> None:
    assert out(bond("Enumerate"), T(16)) == T(16, dtype="int")
    assert out(bond("Enumerate"), T(16, dtype="int")) == T(16, dtype="int")
    assert out(at(embed(8, 16), bond("Enumerate")), T(16, dtype="int")) == T(16, 8)
    assert fails(bond("Enumerate"), T())[0] == "E303"


def test_add_needs_members_of_one_shape() -> None:
    assert out(at(bond("Add"), tup(lin(4, 3), lin(4, 3), lin(4, 3))), T(3)) == T(4)
    assert fails(at(bond("Add"), tup(lin(4, 3), lin(5, 3))), T(3)) == (
        "E300", "shape mismatch in '+': [4] and [5]")
    assert fails(bond("Add"), T(3)) == (
        "E301", "Add takes a tuple of two or more tensors but gets [3]")
    assert fails(at(bond("Add"), tup(lin(4, 3))), T(3))[0] == "E301"
    pairs = tup(tup(lin(4, 3), lin(5, 3)), tup(lin(4, 3), lin(5, 3)))
    assert out(at(bond("Add"), pairs), T(3)) == P(T(4), T(5))


def test_one_input_bonds_reject_tuples() -> None:
    assert fails(at(bond("ReLU"), tup(lin(3, 3), lin(3, 3))), T(3)) == (
        "E301", "ReLU takes one tensor but gets a tuple ([3], [3])")
    assert fails(at(lin(3, 3), tup(lin(3, 3), lin(3, 3))), T(3))[0] == "E301"
    assert out(at(bond("Identity"), tup(lin(3, 3), lin(2, 3))), T(3)) == P(T(3), T(2))


# --- tuples, repeats and whole nets ------------------------------------------------------


def test_nested_tuples() -> None:
    body = tup(tup(lin(4, 3), lin(5, 3)), bond("ReLU"))
    assert out(body, T(3)) == P(P(T(4), T(5)), T(3))
    assert out(tup(lin(4, 3)), T(3)) == P(T(4))


def test_repeats_must_preserve_the_shape() -> None:
    assert out(ir.Repeat(at(bond("ReLU"), lin(8, 8)), 5), T(2, 8)) == T(2, 8)
    assert fails(ir.Repeat(lin(4, 3), 2), T(3)) == (
        "E300", "a repeated module must keep its shape, but it maps [3] to [4]")
    assert fails(ir.Repeat(tup(lin(3, 3), lin(3, 3)), 2), T(3))[0] == "E300"


def test_every_node_is_annotated() -> None:
    body = at(lin(2, 8), ir.Repeat(at(bond("Add"), tup(bond("Identity"), lin(8, 8))), 3),
              lin(8, 4))
    out(body, T(4))
    for node in ir.walk(body):
        assert node.in_shape is not None and node.out_shape is not None
    assert body.in_shape == T(4) and body.out_shape == T(2)
    assert body.inner.inner.out_shape == T(8)


@pytest.mark.parametrize("body, expected", [
    (lin(4, 3), T(3)),
    (embed(8, 100), T(None, dtype="int")),
    (conv(16, 3), T(3, None, None)),
    (at(bond("ReLU"), lin(4, 3)), T(3)),
    (ir.Repeat(at(bond("ReLU"), lin(5, 5)), 3), T(5)),
    (tup(lin(4, 7), bond("ReLU")), T(7)),
    (at(lin(2, 8), at(bond("GELU"), lin(8, 6))), T(6)),
])
def test_input_inferred_from_the_first_atom(body: ir.Node, expected: ir.Shape) -> None:
    net = ir.Net("N", None, body)
    assert infer_input(net) == expected
    infer_shapes(net)
    assert net.input_shape == expected


@pytest.mark.parametrize("body", [
    bond("ReLU"), at(lin(4, 3), bond("ReLU")), tup(bond("ReLU"), lin(4, 3)),
    at(lin(10, 3072), bond("Flatten")),
])
def test_input_not_inferred_when_a_bond_comes_first(body: ir.Node) -> None:
    assert fails(body, None)[0] == "E305"


def test_embedded_sequence_length_stays_free() -> None:
    body = at(lin(10, 8), bond("Mul", s=2.0), embed(8, 100))
    assert out(body, None) == T(None, 10)


# --- through the front end ---------------------------------------------------------------


def compiled(text: str) -> ir.Net:
    result = compile_source("t.mod", text=text)
    assert [d.render() for d in result.diagnostics] == []
    return result.program.nets[0]


def test_gpt_shapes() -> None:
    net = compiled("net G(x: int[32]) = GPT(65, 4, 128, 32, 32, 2)\n")
    assert net.body.out_shape == T(32, 65)
    blocks = [n for n in ir.walk(net.body) if isinstance(n, ir.Repeat)]
    assert [b.in_shape for b in blocks] == [T(32, 128)]
    heads = {n.out_shape for n in ir.walk(net.body) if isinstance(n, ir.Bond)
             and n.op == "SplitHeads"}
    assert heads == {T(4, 32, 32)}


def test_gpt_without_annotation_has_a_free_length() -> None:
    net = compiled("net G = GPT(65, 4, 128, 32, 32, 2)\n")
    assert (net.input_shape, net.body.out_shape) == (T(None, dtype="int"), T(None, 65))


def test_rescnn_and_resmlp_shapes() -> None:
    cnn = compiled("net C(x: [3, 32, 32]) = ResCNN(16, 2, 2, 3, 10)\n")
    assert cnn.body.out_shape == T(10)
    pools = [n for n in ir.walk(cnn.body) if isinstance(n, ir.Bond) and n.op == "AvgPool"]
    assert [p.out_shape for p in pools] == [T(16, 1, 1)]
    mlp = compiled("net M(x: [1, 28, 28]) = ResMLP(64, 3, 2, 784, 10)\n")
    assert mlp.body.out_shape == T(10)


def test_input_shape_from_params() -> None:
    net = compiled("param c = 3\nparam s = 2 * 16\nnet N(x: [c, s, s]) = Conv2D(8, c)\n")
    assert (net.input_shape, net.body.out_shape) == (T(3, 32, 32), T(8, 32, 32))


@pytest.mark.parametrize("shape, code", [
    ("[]", "E303"), ("[0]", "E303"), ("[2.5]", "E303"), ("[1, 2, 3, 4, 5, 6, 7, 8, 9]", "E303"),
    ("[10 ** 9]", "E902"), ("int[]", "E303"),
])
def test_bad_input_annotations(shape: str, code: str) -> None:
    result = compile_source("t.mod", text=f"net N(x: {shape}) = Identity\n")
    assert [d.code for d in result.diagnostics] == [code]
