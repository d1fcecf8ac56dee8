"""Tests of the modular-norm pass (compiler/passes/norms.py) on hand-built IR.

Expected numbers are derived by hand in comments, and cross-checked against ``Ref``, a
tiny independent re-implementation of Modula 2's ``modula/abstract.py`` recursion on
nested Python tuples, which unrolls ``m ** n`` exactly as Modula's ``__pow__`` does.
"""

from __future__ import annotations

import logging
import re

import pytest

from modc import ir
from modc.passes import norms

REL = 1e-12


# --------------------------------------------------------------------------- IR builders


def lin(out: int, inp: int, mass: float = 1.0) -> ir.Atom:
    return ir.Atom("Linear", {"out": out, "in": inp}, atom_mass=mass)


def bond(op: str, **args: float) -> ir.Bond:
    return ir.Bond(op, dict(args))


def at(*modules: ir.Node) -> ir.Node:
    """``m_0 @ m_1 @ ... @ m_k`` with Python's left associativity."""
    result = modules[0]
    for m in modules[1:]:
        result = ir.Composition(outer=result, inner=m)
    return result


def tup(*members: ir.Node) -> ir.Tuple:
    return ir.Tuple(tuple(members))


def add(a: ir.Node, b: ir.Node) -> ir.Node:
    """``a + b`` is ``Add @ (a, b)``."""
    return at(bond("Add"), tup(a, b))


def smul(s: float, m: ir.Node) -> ir.Node:
    """``s * m`` is ``Mul(s) @ m``."""
    return at(bond("Mul", s=s), m)


def muls(m: ir.Node, s: float) -> ir.Node:
    """``m * s`` is ``m @ Mul(s)``."""
    return at(m, bond("Mul", s=s))


def net(body: ir.Node, name: str = "N") -> ir.Net:
    return ir.Net(name, None, body)


def tare(node: ir.Node, total: float) -> ir.Node:
    """Rescale every atom mass in ``node`` so that its mass is ``total`` (as elaboration does)."""
    probe = net(node)
    norms.compute_norms(probe)
    assert node.mass is not None
    relative = total / node.mass
    for atom in ir.atoms_in_order(node):
        atom.atom_mass = atom.atom_mass * relative
    return node


def targets(n: ir.Net) -> list[float]:
    norms.compute_norms(n)
    return [row.target_norm for row in norms.expand_atoms(n)]


# --------------------------------------------------------------------------- reference
# Modula's modules as tuples: ("atom", mass, sens), ("bond", mass, sens),
# ("comp", mass, sens, m1, m0), ("tuple", mass, sens, members). Masses and sensitivities
# are computed in the constructors as Modula's __init__ methods do (ints where Modula
# uses ints); tare multiplies every stored mass, as Module.tare does.

Ref = tuple


def r_atom(mass: float = 1) -> Ref:
    return ("atom", mass, 1)


def r_bond(sensitivity: float = 1) -> Ref:
    return ("bond", 0, sensitivity)


def r_comp(m1: Ref, m0: Ref) -> Ref:
    return ("comp", m0[1] + m1[1], m0[2] * m1[2], m1, m0)


def r_tuple(*members: Ref) -> Ref:
    return ("tuple", sum(m[1] for m in members), sum(m[2] for m in members), members)


def r_pow(m: Ref, n: int) -> Ref:
    return r_comp(m, r_pow(m, n - 1)) if n > 0 else r_bond()  # m ** 0 is Identity


def r_add(a: Ref, b: Ref) -> Ref:
    return r_comp(r_bond(), r_tuple(a, b))


def r_tare(m: Ref, absolute: float) -> Ref:
    return _r_scale(m, absolute / m[1])


def _r_scale(m: Ref, relative: float) -> Ref:
    kind, mass, sens = m[0], m[1] * relative, m[2]
    if kind == "comp":
        return (kind, mass, sens, _r_scale(m[3], relative), _r_scale(m[4], relative))
    if kind == "tuple":
        return (kind, mass, sens, tuple(_r_scale(c, relative) for c in m[3]))
    return (kind, mass, sens)


def r_count(m: Ref) -> int:
    if m[0] == "atom":
        return 1
    if m[0] == "comp":
        return r_count(m[3]) + r_count(m[4])
    if m[0] == "tuple":
        return sum(r_count(c) for c in m[3])
    return 0


def r_dualize(m: Ref, target: float = 1.0) -> list[float]:
    """Target norm of every atom in weight order (modula/abstract.py dualize)."""
    kind, mass = m[0], m[1]
    if kind == "atom":
        return [target]
    if kind == "bond":
        return []
    if not mass > 0:
        return [0.0] * r_count(m)
    if kind == "comp":
        m1, m0 = m[3], m[4]
        return r_dualize(m0, target * m0[1] / mass / m1[2]) + r_dualize(m1, target * m1[1] / mass)
    out: list[float] = []
    for c in m[3]:
        out += r_dualize(c, target * c[1] / mass)
    return out


def to_ref(node: ir.Node) -> Ref:
    """Convert IR to the reference, unrolling repeats as Modula's ``__pow__`` does."""
    if isinstance(node, ir.Atom):
        return r_atom(node.atom_mass)
    if isinstance(node, ir.Bond):
        if node.op == "Mul":
            return r_bond(abs(node.args["s"]))
        if node.op == "Softmax":
            return r_bond(node.args["scale"])
        return r_bond()
    if isinstance(node, ir.Composition):
        return r_comp(to_ref(node.outer), to_ref(node.inner))
    if isinstance(node, ir.Tuple):
        return r_tuple(*(to_ref(m) for m in node.members))
    assert isinstance(node, ir.Repeat)
    return r_pow(to_ref(node.body), node.count)


def assert_matches_reference(n: ir.Net) -> None:
    got = targets(n)
    ref = to_ref(n.body)
    assert got == pytest.approx(r_dualize(ref), rel=REL, abs=0.0)
    assert n.body.mass == pytest.approx(ref[1], rel=REL, abs=0.0)
    assert n.body.sensitivity == pytest.approx(ref[2], rel=REL, abs=0.0)
    if not any(isinstance(node, ir.Repeat) for node in ir.walk(n.body)):
        # Same tree, same evaluation order: the same floats, bit for bit.
        assert got == r_dualize(ref)
        assert (n.body.mass, n.body.sensitivity) == (ref[1], ref[2])


# --------------------------------------------------------------------------- GPT


def gpt_ir(
    vocab: int = 65,
    heads: int = 4,
    d_embed: int = 128,
    d_query: int = 32,
    d_value: int = 32,
    blocks: int = 4,
    blocks_mass: float = 5,
    attention_scale: float = 1.0,
    final_scale: float = 1.0,
) -> ir.Net:
    """Modula 2's ``compound.GPT``, node for node, as IR (repeat kept as one node)."""
    embed = ir.Atom("Embed", {"dim": d_embed, "vocab": vocab})  # embed.tare(): mass 1

    q = at(bond("SplitHeads", heads=heads), lin(heads * d_query, d_embed))
    k = at(bond("SplitHeads", heads=heads), lin(heads * d_query, d_embed))
    v = at(bond("SplitHeads", heads=heads), lin(heads * d_value, d_embed))
    w = at(lin(d_embed, heads * d_value), bond("MergeHeads"))
    scores = at(
        bond("Softmax", scale=attention_scale),
        bond("CausalMask"),
        bond("AttentionQK"),
        bond("Rope", d_head=d_query),
        tup(q, k),
    )
    att = at(w, smul(1 / 3, bond("ApplyAttentionScores")), tup(v, scores))
    mlp = at(lin(d_embed, 4 * d_embed), bond("GELU"), lin(4 * d_embed, d_embed))

    a, b = 1 - 1 / (2 * blocks), 1 / (2 * blocks)
    att_block = add(smul(a, bond("Identity")), smul(b, att))
    mlp_block = add(smul(a, bond("Identity")), smul(b, mlp))
    body = tare(ir.Repeat(at(mlp_block, att_block), blocks), blocks_mass)

    out = smul(final_scale, lin(vocab, d_embed))
    return net(at(out, body, embed), "GPT")


def gpt_ref(blocks: int, blocks_mass: float, attention_scale: float, final_scale: float) -> Ref:
    """Modula 2's ``compound.GPT`` written directly against the reference."""
    embed = r_tare(r_atom(), 1.0)
    q, k, v = (r_comp(r_bond(), r_atom()) for _ in range(3))  # SplitIntoHeads @ Linear
    w = r_comp(r_atom(), r_bond())  # Linear @ MergeHeads
    qk = r_comp(r_bond(), r_tuple(q, k))  # Rope @ (Q, K)
    attn = r_comp(r_bond(), r_comp(r_bond(), qk))  # CausalMask @ AttentionQK @ ...
    scores = r_comp(r_bond(attention_scale), attn)  # Softmax(scale) @ ...
    att = r_comp(r_comp(w, r_comp(r_bond(1 / 3), r_bond())), r_tuple(v, scores))
    mlp = r_comp(r_comp(r_atom(), r_bond()), r_atom())

    a, b = 1 - 1 / (2 * blocks), 1 / (2 * blocks)
    att_block = r_add(r_comp(r_bond(a), r_bond()), r_comp(r_bond(b), att))
    mlp_block = r_add(r_comp(r_bond(a), r_bond()), r_comp(r_bond(b), mlp))
    body = r_tare(r_pow(r_comp(mlp_block, att_block), blocks), blocks_mass)

    out = r_comp(r_bond(final_scale), r_atom())
    return r_comp(r_comp(out, body), embed)


def test_gpt_hand_derived() -> None:
    # mass: Embed 1 + blocks 5 (tared) + output 1 = 7. Sensitivity: attention is
    # (1/3) * (ν_V + ν_scores) = (1/3) * (1 + 1 * (1 + 1)) = 1, so every residual block
    # is (1 - 1/8) + 1/8 = 1 and the network is 1.
    # Targets: Embed 1/7 / ν(out @ blocks) = 1/7; out @ blocks gets 6/7: blocks 6/7 * 5/6
    # = 5/7, output Linear 6/7 * 1/6 = 1/7. Each copy gets 5/7 / 4 = 5/28 (ν = 1).
    # Per block (masses 5/24 each): att_block gets 5/28 * (20/24) / (30/24) = 5/42,
    # att = (5/42) / (1/8) = 20/21, (V, scores) gets 20/21 * (15/20) / (1/3) = 15/7:
    # V 15/7 * 1/3 = 5/7; (Q, K) 15/7 * 2/3 = 10/7, Q and K 5/7 each; W 20/21 * 5/20 =
    # 5/21. mlp_block 5/28 * 10/30 = 5/84, mlp 5/84 * 8 = 10/21, each Linear 5/21.
    n = gpt_ir()
    norms.compute_norms(n)
    assert n.body.mass == pytest.approx(7, rel=REL)
    assert n.body.sensitivity == pytest.approx(1, rel=REL)
    assert n.body.smooth is False  # GELU
    rows = norms.expand_atoms(n)
    block = [5 / 7, 5 / 7, 5 / 7, 5 / 21, 5 / 21, 5 / 21]
    assert [r.target_norm for r in rows] == pytest.approx([1 / 7, *block * 4, 1 / 7], rel=REL)
    assert [r.kind for r in rows] == ["Embed", *["Linear"] * 25]
    assert rows[0].shape == [65, 128] and rows[-1].shape == [65, 128]
    assert [r.shape for r in rows[1:7]] == [
        [128, 128], [128, 128], [128, 128], [128, 128], [512, 128], [128, 512]
    ]
    assert rows[0].mass == 1.0
    assert rows[1].mass == pytest.approx(5 / 24, rel=REL)
    assert [r.name for r in rows[:8]] == [
        "embed0",
        "repeat0.0.linear0", "repeat0.0.linear1", "repeat0.0.linear2",
        "repeat0.0.linear3", "repeat0.0.linear4", "repeat0.0.linear5",
        "repeat0.1.linear0",
    ]
    assert rows[-1].name == "linear0"
    assert {r.dual_map for r in rows} == {"row_normalize", "orthogonalize"}


@pytest.mark.parametrize(
    ("blocks", "blocks_mass", "attention_scale", "final_scale"),
    [
        (4, 5, 1.0, 1.0),
        (1, 5, 2.5, 1.0),
        (3, 5, 1.0, 0.3),
        (8, 5, 0.7, 3.0),
        (3, 2.5, 1.7, 0.5),
    ],
)
def test_gpt_matches_modula(
    blocks: int, blocks_mass: float, attention_scale: float, final_scale: float
) -> None:
    n = gpt_ir(
        blocks=blocks,
        blocks_mass=blocks_mass,
        attention_scale=attention_scale,
        final_scale=final_scale,
    )
    ref = gpt_ref(blocks, blocks_mass, attention_scale, final_scale)
    got = targets(n)
    assert len(got) == 6 * blocks + 2
    assert got == pytest.approx(r_dualize(ref), rel=REL, abs=0.0)
    assert n.body.mass == pytest.approx(ref[1], rel=REL)
    assert n.body.sensitivity == pytest.approx(ref[2], rel=REL)
    # The IR itself also agrees with the generic unrolling reference.
    assert_matches_reference(n)


@pytest.mark.parametrize(
    ("blocks", "attention_scale", "final_scale"),
    [(4, 1, 1), (1, 2.5, 1), (3, 1, 0.3), (8, 0.7, 3)],
)
def test_prelude_gpt_matches_modula(
    blocks: int, attention_scale: float, final_scale: float
) -> None:
    # End to end through the front end: the prelude's GPT must be Modula's compound.
    pipeline = pytest.importorskip("modc.pipeline")
    text = (
        f"net G(x: int[16]) = GPT(65, 4, 128, 32, 32, {blocks}, "
        f"attention_scale={attention_scale}, final_scale={final_scale})\n"
    )
    result = pipeline.compile_source("gpt.mod", text)
    assert result.ok, [d.render() for d in result.diagnostics]
    (n,) = result.program.nets
    ref = gpt_ref(blocks, 5, attention_scale, final_scale)
    got = [row.target_norm for row in norms.expand_atoms(n)]
    assert got == pytest.approx(r_dualize(ref), rel=REL, abs=0.0)
    assert (n.body.mass, n.body.sensitivity) == pytest.approx((ref[1], ref[2]), rel=REL)
    assert [row.shape for row in norms.expand_atoms(n)][:7] == [
        [65, 128], [128, 128], [128, 128], [128, 128], [128, 128], [512, 128], [128, 512]
    ]


# --------------------------------------------------------------------------- hand cases


def residual_example() -> ir.Net:
    """``Linear(8,16) @ (Linear(16,16) + 0.25 * (Linear(16,16) @ ReLU @ Linear(16,16)))``."""
    branch = at(lin(16, 16), bond("ReLU"), lin(16, 16))
    return net(at(lin(8, 16), add(lin(16, 16), smul(0.25, branch))))


def test_residual_example() -> None:
    # Branch b = Mul(0.25) @ (L2 @ ReLU @ L1): mass 2, ν 0.25. Member a = L: mass 1, ν 1.
    # Tuple (a, b): mass 3, ν 1.25; Add keeps both. Top: L_out @ sum: mass 4, ν 1.25.
    # Dualize T = 1: sum (inner) gets 1 * 3/4 / ν(L_out) = 3/4, L_out gets 1 * 1/4.
    # Tuple: a gets 3/4 * 1/3 = 1/4, b gets 3/4 * 2/3 = 1/2. Mul(0.25) is the outer
    # factor, so the chain gets 1/2 * 2/2 / 0.25 = 2; L1 (inner) 2 * 1/2 / 1 = 1,
    # L2 @ ReLU gets 1, and L2 (outer, ReLU has mass 0) gets 1 * 1/1 = 1.
    n = residual_example()
    norms.compute_norms(n)
    assert n.body.mass == 4.0
    assert n.body.sensitivity == 1.25
    assert n.body.smooth is False
    assert targets(n) == pytest.approx([0.25, 1, 1, 0.25], rel=REL)
    assert [r.name for r in norms.expand_atoms(n)] == ["linear0", "linear1", "linear2", "linear3"]
    assert [r.shape for r in norms.expand_atoms(n)][-1] == [8, 16]
    assert_matches_reference(n)


def test_scalars_on_both_sides() -> None:
    # L2 @ (2 * L1 * 3) = L2 @ ((Mul(2) @ L1) @ Mul(3)): mass 2, ν 3 * 1 * 2 * 1 = 6.
    # The inner part gets 1 * 1/2 / 1 = 1/2 and L2 gets 1/2. Inside, Mul(3) (input side,
    # mass 0) gets 0 and Mul(2) @ L1 gets 1/2 * 1/1; L1 sits under Mul(2): 1/2 / 2 = 1/4.
    n = net(at(lin(4, 4), muls(smul(2.0, lin(4, 4)), 3.0)))
    assert targets(n) == pytest.approx([0.25, 0.5], rel=REL)
    assert n.body.sensitivity == 6.0
    assert_matches_reference(n)


def test_negative_scalar_uses_absolute_value() -> None:
    # DESIGN.md: Mul(s) has sensitivity |s| (Modula stores s itself).
    n = net(at(lin(4, 4), smul(-2.0, lin(4, 4))))
    norms.compute_norms(n)
    assert n.body.sensitivity == 2.0
    assert targets(n) == pytest.approx([0.25, 0.5], rel=REL)


def test_nested_tuples_and_mass_keyword() -> None:
    # Add @ (La[mass 2], Add @ (Lb, Lc @ Ld)). Inner tuple: mass 1 + 2 = 3, ν 2.
    # Outer tuple: mass 5, ν 3. La gets 2/5; the inner branch 3/5, then Lb 3/5 * 1/3 =
    # 1/5 and Lc @ Ld 3/5 * 2/3 = 2/5, split evenly: Ld 1/5, Lc 1/5.
    n = net(add(lin(4, 4, mass=2.0), add(lin(4, 4), at(lin(4, 4), lin(4, 4)))))
    assert targets(n) == pytest.approx([0.4, 0.2, 0.2, 0.2], rel=REL)
    assert n.body.mass == 5.0
    assert n.body.sensitivity == 3.0
    assert [r.mass for r in norms.expand_atoms(n)] == [2.0, 1.0, 1.0, 1.0]
    assert_matches_reference(n)


def test_three_member_tuple_shares() -> None:
    n = net(at(bond("Add"), tup(lin(4, 4), lin(4, 4, mass=3.0), lin(4, 4, mass=0.5))))
    assert targets(n) == pytest.approx([1 / 4.5, 3 / 4.5, 0.5 / 4.5], rel=REL)
    assert_matches_reference(n)


def test_repeat_with_sensitivity_not_one() -> None:
    # Body Mul(2) @ L: mass 1, ν 2; L inside gets 1 / 2 = 1/2 (relative to the body).
    # (body ** 3) at T = 1: copy k gets 1/3 / 2^(2-k) = [1/12, 1/6, 1/3].
    body = at(bond("Mul", s=2.0), lin(4, 4))
    rep = ir.Repeat(body, 3)
    n = net(rep)
    norms.compute_norms(n)
    assert rep.mass == 3.0 and rep.sensitivity == 8.0
    assert rep.copy_targets == pytest.approx([1 / 12, 1 / 6, 1 / 3], rel=REL)
    body_atom = next(ir.atoms_in_order(body))
    assert body_atom.target == 0.5
    assert targets(n) == pytest.approx([1 / 24, 1 / 12, 1 / 6], rel=REL)
    assert_matches_reference(n)


def test_copy_targets_formula_below_the_top() -> None:
    # copy k gets R.target / n / ν^(n-1-k) (docs/internals.md), here with ν = 1.5.
    rep = ir.Repeat(at(bond("Mul", s=1.5), lin(4, 4)), 5)
    n = net(at(lin(4, 4), rep, lin(4, 4, mass=2.0)))
    norms.compute_norms(n)
    expected = [rep.target / 5 / 1.5 ** (5 - 1 - k) for k in range(5)]
    assert rep.copy_targets == pytest.approx(expected, rel=REL)
    assert len(rep.copy_targets) == 5
    assert_matches_reference(n)


def test_tare_inside_repeat() -> None:
    # Body L1 @ ReLU @ L2[mass 3] tared to 1: masses 1/4 and 3/4. Net Lout @ body**2 @ Lin:
    # mass 1 + 2 + 1 = 4. Lin gets 1/4; Lout @ R gets 3/4: R 3/4 * 2/3 = 1/2, Lout 1/4.
    # Each copy gets 1/4 (ν = 1); inside, L2 gets 3/4 and L1 1/4 (relative).
    body = tare(at(lin(4, 4), bond("ReLU"), lin(4, 4, mass=3.0)), 1.0)
    rep = ir.Repeat(body, 2)
    n = net(at(lin(4, 4), rep, lin(4, 4)))
    got = targets(n)
    assert got == pytest.approx([0.25, 3 / 16, 1 / 16, 3 / 16, 1 / 16, 0.25], rel=REL)
    assert rep.mass == pytest.approx(2.0, rel=REL)
    assert rep.copy_targets == pytest.approx([0.25, 0.25], rel=REL)
    assert_matches_reference(n)


def test_nested_repeats() -> None:
    inner = ir.Repeat(at(bond("Mul", s=0.5), lin(4, 4)), 3)
    outer = ir.Repeat(at(lin(4, 4), inner), 2)
    n = net(at(lin(4, 4), outer, ir.Atom("Embed", {"dim": 4, "vocab": 10})))
    rows = norms.expand_atoms(n)
    assert [r.name for r in rows] == [
        "embed0",
        "repeat0.0.repeat0.0.linear0", "repeat0.0.repeat0.1.linear0",
        "repeat0.0.repeat0.2.linear0", "repeat0.0.linear0",
        "repeat0.1.repeat0.0.linear0", "repeat0.1.repeat0.1.linear0",
        "repeat0.1.repeat0.2.linear0", "repeat0.1.linear0",
        "linear0",
    ]
    assert rows[0].shape == [10, 4]
    assert_matches_reference(n)


def test_absolute_target_rule_is_the_documented_product() -> None:
    # docs/internals.md: scale starts at 1.0, copy k multiplies scale * copy_targets[k],
    # an atom gets scale * atom.target; expand_atoms must give exactly these floats.
    inner = ir.Repeat(at(bond("Mul", s=0.7), lin(4, 4)), 3)
    outer = ir.Repeat(at(lin(4, 4), inner), 2)
    n = net(at(lin(4, 4), outer))
    rows = norms.expand_atoms(n)
    expected = []
    for a in outer.copy_targets or ():
        for b in inner.copy_targets or ():
            expected.append((1.0 * a * b) * inner.body.inner.target)
        expected.append((1.0 * a) * outer.body.outer.target)
    expected.append(1.0 * n.body.outer.target)
    assert [r.target_norm for r in rows] == expected


# --------------------------------------------------------------------------- zero mass


def test_all_bond_branch_has_mass_zero() -> None:
    branch = add(bond("ReLU"), bond("Identity"))
    n = net(at(lin(4, 4), branch))
    norms.compute_norms(n)
    assert branch.mass == 0.0 and branch.target == 0.0
    assert all(node.target == 0.0 for node in ir.walk(branch))
    assert targets(n) == [1.0]


def test_tuple_member_of_mass_zero_gets_zero() -> None:
    ident = bond("Identity")
    n = net(add(ident, lin(4, 4)))
    norms.compute_norms(n)
    assert ident.target == 0.0
    assert n.body.sensitivity == 2.0
    assert targets(n) == [1.0]


def test_atom_of_mass_zero_gets_target_zero() -> None:
    n = net(at(lin(4, 4), lin(4, 4, mass=0.0)))
    assert targets(n) == [0.0, 1.0]
    assert norms.norm_coefficients(n) == [0.0, 1.0]
    assert_matches_reference(n)


def test_everything_below_a_mass_zero_node_gets_zero() -> None:
    # Modula dualizes a module of mass 0 to zeros without descending into it.
    zero = at(bond("Mul", s=2.0), tup(lin(4, 4, mass=0.0), bond("ReLU")))
    n = net(at(lin(4, 4), zero))
    norms.compute_norms(n)
    assert zero.mass == 0.0
    assert all(node.target == 0.0 for node in ir.walk(zero))
    assert_matches_reference(n)


def test_repeat_of_mass_zero() -> None:
    rep = ir.Repeat(at(bond("ReLU"), bond("Mul", s=3.0)), 4)
    n = net(at(lin(4, 4), rep))
    norms.compute_norms(n)
    assert rep.mass == 0.0 and rep.sensitivity == 81.0
    assert rep.copy_targets == (0.0, 0.0, 0.0, 0.0)
    assert targets(n) == [1.0]


def test_net_of_bonds_only() -> None:
    n = net(at(bond("ReLU"), bond("Identity")))
    norms.compute_norms(n)
    assert n.body.mass == 0.0 and n.body.target == 1.0
    assert n.body.inner.target == 0.0 and n.body.outer.target == 0.0
    assert norms.expand_atoms(n) == []


# --------------------------------------------------------------------------- smoothness


@pytest.mark.parametrize(
    ("body", "smooth"),
    [
        (lambda: at(lin(4, 4), lin(4, 4)), True),
        (lambda: at(lin(4, 4), bond("ReLU"), lin(4, 4)), False),
        (lambda: add(lin(4, 4), at(bond("GELU"), lin(4, 4))), False),
        (lambda: at(bond("Softmax", scale=2.0), bond("Abs")), False),
        (lambda: at(bond("Softmax", scale=2.0), lin(4, 4)), True),
        (lambda: ir.Repeat(at(bond("ReLU"), lin(4, 4)), 3), False),
        (lambda: ir.Repeat(at(bond("LayerNorm"), lin(4, 4)), 3), True),
    ],
)
def test_smoothness(body, smooth: bool) -> None:
    n = net(body())
    norms.compute_norms(n)
    assert n.body.smooth is smooth


def test_softmax_sensitivity_is_its_scale() -> None:
    n = net(at(bond("Softmax", scale=4.0), lin(4, 4)))
    norms.compute_norms(n)
    assert n.body.sensitivity == 4.0


# --------------------------------------------------------------------------- no unrolling


def _visits(n: ir.Net, caplog: pytest.LogCaptureFixture) -> int:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="modc.passes.norms"):
        norms.compute_norms(n)
    match = re.search(r"(\d+) node visits", caplog.text)
    assert match is not None
    return int(match.group(1))


def test_repeat_is_not_unrolled(caplog: pytest.LogCaptureFixture) -> None:
    small, big = gpt_ir(blocks=2), gpt_ir(blocks=96)
    assert _visits(small, caplog) == _visits(big, caplog)
    # The tree holds the body once; only the per-copy table grows.
    assert sum(1 for _ in ir.walk(small.body)) == sum(1 for _ in ir.walk(big.body))
    rep = big.body.outer.inner
    assert isinstance(rep, ir.Repeat) and len(rep.copy_targets or ()) == 96
    rows = norms.expand_atoms(big)
    assert len(rows) == 6 * 96 + 2
    assert rows[-2].name == "repeat0.95.linear5"
    assert [r.target_norm for r in rows[1:7]] == pytest.approx(
        [5 / 7, 5 / 7, 5 / 7, 5 / 21, 5 / 21, 5 / 21], rel=1e-11
    )


def test_large_count_is_cheap() -> None:
    rep = ir.Repeat(at(bond("ReLU"), lin(4, 4)), 100_000)
    n = net(rep)
    norms.compute_norms(n)
    assert rep.mass == 100_000.0
    assert rep.copy_targets is not None and len(rep.copy_targets) == 100_000
    assert rep.copy_targets[0] == pytest.approx(1e-5, rel=1e-9)


# --------------------------------------------------------------------------- helpers


def test_scope_names_number_per_op_and_skip_repeat_bodies() -> None:
    conv = ir.Atom("Conv2D", {"out": 8, "in": 3})
    rep = ir.Repeat(at(lin(4, 4), lin(4, 4)), 2)
    root = at(lin(2, 4), rep, lin(4, 4), conv)
    names = norms.scope_names(root)
    atoms = [n for n in norms.scope_walk(root) if isinstance(n, (ir.Atom, ir.Repeat))]
    assert [names[id(a)] for a in atoms] == ["conv2d0", "linear0", "repeat0", "linear1"]
    assert len(names) == 4  # the body's atoms belong to the body's scope
    assert norms.weight_shape(conv) == [8, 3, 3, 3]


def test_params_and_weight_shapes() -> None:
    n = net(at(lin(10, 784), ir.Atom("Embed", {"dim": 784, "vocab": 50})))
    rows = norms.expand_atoms(n)
    assert [(r.kind, r.shape, r.params) for r in rows] == [
        ("Embed", [50, 784], 39200),
        ("Linear", [10, 784], 7840),
    ]
    assert [r.dual_map for r in rows] == ["row_normalize", "orthogonalize"]


def test_norm_coefficients_are_reciprocal_targets() -> None:
    n = residual_example()
    assert norms.norm_coefficients(n) == pytest.approx([4.0, 1.0, 1.0, 4.0], rel=REL)


def test_pass_is_idempotent_and_program_level() -> None:
    a, b = residual_example(), gpt_ir(blocks=2)
    program = ir.Program([a, b], [])
    norms.compute_program(program)
    first = [norms.expand_atoms(a), norms.expand_atoms(b)]
    norms.compute_program(program)
    assert [norms.expand_atoms(a), norms.expand_atoms(b)] == first
    assert all(node.target is not None for node in ir.walk(b.body))
    assert all(node.mass is not None for node in ir.walk(b.body))


def test_unknown_op_is_an_internal_error() -> None:
    with pytest.raises(ValueError, match="internal compiler error"):
        norms.compute_norms(net(bond("Frobnicate")))
