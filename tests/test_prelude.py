"""The prelude's compounds, atom by atom, against Modula 2's (MLP, Attention, GPT) and
Modula 1's (ResMLP, ResCNN) structure: kinds, weight shapes, order, masses and scalars.

Expected lists are written out by hand from modula/compound.py: "first" means first applied,
which is weight order (DESIGN.md); repeats are expanded copy by copy here.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from modc import ir
from modc.passes.sizes import weight_shape
from modc.pipeline import compile_source


def compiled(text: str) -> ir.Net:
    result = compile_source("t.mod", text=text + "\n")
    assert [d.render() for d in result.diagnostics] == []
    (net,) = result.program.nets
    return net


def expanded(node: ir.Node) -> list[ir.Node]:
    """Leaves in application order, repeat copies written out."""
    if isinstance(node, ir.Repeat):
        return expanded(node.body) * node.count
    if isinstance(node, (ir.Atom, ir.Bond)):
        return [node]
    return [leaf for child in node.children() for leaf in expanded(child)]


def atom_rows(node: ir.Node) -> list[tuple[str, tuple[int, ...], float]]:
    return [(a.op, weight_shape(a), a.atom_mass) for a in expanded(node) if isinstance(a, ir.Atom)]


def leaf_names(node: ir.Node) -> list[str]:
    return [ir.describe(n) for n in expanded(node)]


def scalars(node: ir.Node) -> list[float]:
    return [n.args["s"] for n in expanded(node) if isinstance(n, ir.Bond) and n.op == "Mul"]


# --- MLP ---------------------------------------------------------------------------------


def test_mlp_atoms() -> None:
    # Modula: Linear(d_out, width) @ ReLU, then depth - 2 times @ Linear(width, width) @ ReLU,
    # then @ Linear(width, d_in): so Linear(width, d_in) is applied first.
    net = compiled("net M = MLP(10, 784, 64, 4)")
    assert atom_rows(net.body) == [
        ("Linear", (64, 784), 1.0),
        ("Linear", (64, 64), 1.0),
        ("Linear", (64, 64), 1.0),
        ("Linear", (10, 64), 1.0),
    ]
    assert leaf_names(net.body) == [
        "Linear(64, 784)", "ReLU", "Linear(64, 64)", "ReLU", "Linear(64, 64)", "ReLU",
        "Linear(10, 64)",
    ]
    assert net.body.mass == 4.0 and net.body.sensitivity == pytest.approx(1.0)


@pytest.mark.parametrize("depth", [1, 2])
def test_shallow_mlp_has_two_layers(depth: int) -> None:
    # range(depth - 2) is empty in Modula for depth 1 and 2.
    net = compiled(f"net M = MLP(10, 784, 64, {depth})")
    assert atom_rows(net.body) == [("Linear", (64, 784), 1.0), ("Linear", (10, 64), 1.0)]


def test_mlp_hidden_layers_are_one_repeat() -> None:
    net = compiled("net M = MLP(10, 784, 64, 50)")
    repeats = [n for n in ir.walk(net.body) if isinstance(n, ir.Repeat)]
    assert [r.count for r in repeats] == [48]
    assert len(list(ir.atoms_in_order(net.body))) == 3


# --- Attention -----------------------------------------------------------------------------


def test_attention_atoms_and_bonds() -> None:
    net = compiled("net A(x: [16, 64]) = Attention(4, 64, 8, 12, 0.5)")
    # V, Q, K, W: V = Linear(h * d_value, d_embed); Q, K = Linear(h * d_query, d_embed);
    # W = Linear(d_embed, h * d_value).
    assert atom_rows(net.body) == [
        ("Linear", (48, 64), 1.0),
        ("Linear", (32, 64), 1.0),
        ("Linear", (32, 64), 1.0),
        ("Linear", (64, 48), 1.0),
    ]
    # W @ (1/3 * ApplyAttentionScores) @ (V, Softmax @ CausalMask @ AttentionQK @ Rope @ (Q, K))
    assert leaf_names(net.body) == [
        "Linear(48, 64)", "SplitHeads(4)",
        "Linear(32, 64)", "SplitHeads(4)",
        "Linear(32, 64)", "SplitHeads(4)",
        "Rope(8, 10000)", "AttentionQK", "CausalMask", "Softmax(0.5)",
        "ApplyAttentionScores", "Mul(0.333333)", "MergeHeads", "Linear(64, 48)",
    ]
    assert scalars(net.body) == [1 / 3]
    assert net.body.out_shape == ir.TensorShape((16, 64))
    # The tuple (V, scores) has sensitivity 1 + 2 = 3, which the 1/3 cancels.
    assert net.body.sensitivity == pytest.approx(0.5 * 2 / 3 + 1 / 3)


# --- GPT -------------------------------------------------------------------------------------


def gpt_block_rows(mass: float) -> list[tuple[str, tuple[int, ...], float]]:
    return [
        ("Linear", (128, 128), mass),  # V: 4 heads x 32
        ("Linear", (128, 128), mass),  # Q
        ("Linear", (128, 128), mass),  # K
        ("Linear", (128, 128), mass),  # W
        ("Linear", (512, 128), mass),  # Linear(4d, d), applied first in the MLP
        ("Linear", (128, 512), mass),  # Linear(d, 4d)
    ]


def test_gpt_atoms_order_and_masses() -> None:
    net = compiled("net G = GPT(65, 4, 128, 32, 32, 4)")
    rows = atom_rows(net.body)
    assert rows[0] == ("Embed", (65, 128), 1.0)
    assert rows[1:-1] == gpt_block_rows(5 / 24) * 4  # blocks tared to 5 over 24 atoms
    assert rows[-1] == ("Linear", (65, 128), 1.0)
    assert sum(mass for _, _, mass in rows) == pytest.approx(7.0)
    assert net.body.mass == pytest.approx(7.0)


def test_gpt_scalars_and_bonds() -> None:
    net = compiled("net G = GPT(65, 4, 128, 32, 32, 4)")
    (blocks,) = [n for n in ir.walk(net.body) if isinstance(n, ir.Repeat)]
    assert blocks.count == 4
    # (1 - 1/(2L)) * Identity + 1/(2L) * branch with L = 4: attention block first.
    assert scalars(blocks.body) == [0.875, 1 / 3, 0.125, 0.875, 0.125]
    names = leaf_names(blocks.body)
    assert names[:2] == ["Identity", "Mul(0.875)"]
    assert names[-8:] == ["Add", "Identity", "Mul(0.875)", "Linear(512, 128)", "GELU",
                          "Linear(128, 512)", "Mul(0.125)", "Add"]
    assert "Softmax(1)" in names and "LayerNorm" not in names
    assert leaf_names(net.body)[-2:] == ["Linear(65, 128)", "Mul(1)"]  # final_scale
    assert net.body.sensitivity == pytest.approx(1.0)


def test_gpt_keyword_arguments() -> None:
    net = compiled("net G = GPT(65, 4, 128, 32, 32, 2, blocks_mass=10, attention_scale=2, "
                   "final_scale=0.5)")
    rows = atom_rows(net.body)
    assert rows[1:-1] == gpt_block_rows(10 / 12) * 2
    names = leaf_names(net.body)
    assert "Softmax(2)" in names and names[-1] == "Mul(0.5)"
    (blocks,) = [n for n in ir.walk(net.body) if isinstance(n, ir.Repeat)]
    assert scalars(blocks.body) == [0.75, 1 / 3, 0.25, 0.75, 0.25]


# --- ResMLP and ResCNN (Modula 1) ------------------------------------------------------------


def test_resmlp() -> None:
    net = compiled("net R(x: [1, 28, 28]) = ResMLP(64, 3, 2, 784, 10)")
    rows = atom_rows(net.body)
    assert rows == [("Linear", (64, 784), 1.0)] + [("Linear", (64, 64), 1 / 6)] * 6 + [
        ("Linear", (10, 64), 1.0)]
    names = leaf_names(net.body)
    assert names[:2] == ["Flatten", "Linear(64, 784)"]
    # residue = MeanSubtract @ Abs @ Linear @ RMSDivide, so RMSDivide is applied first.
    assert names[2:9] == ["Identity", "Mul(0.666667)", "RMSDivide(-1)", "Linear(64, 64)",
                          "Abs", "MeanSubtract(-1)", "RMSDivide(-1)"]
    (outer, inner) = [n for n in ir.walk(net.body) if isinstance(n, ir.Repeat)]
    assert (outer.count, inner.count) == (3, 2)
    assert scalars(outer.body) == [1 - 1 / 3, 1 / 3]  # as Modula computes them
    assert net.body.mass == pytest.approx(3.0)


def test_rescnn() -> None:
    net = compiled("net C(x: [3, 32, 32]) = ResCNN(16, 2, 2, 3, 10)")
    rows = atom_rows(net.body)
    assert rows == [("Conv2D", (16, 3, 3, 3), 1.0)] + [("Conv2D", (16, 16, 3, 3), 5.0)] * 4 + [
        ("Linear", (10, 16), 1.0)]
    names = leaf_names(net.body)
    assert names[0] == "Conv2D(16, 3, 3, 1, 1)"
    assert names[-3:] == ["AvgPool", "Flatten", "Linear(10, 16)"]
    assert "RMSDivide((-3, -2, -1))" in names and "MeanSubtract((-3, -2, -1))" in names
    assert net.body.mass == pytest.approx(22.0)


def test_rescnn_blocks_mass() -> None:
    net = compiled("net C(x: [3, 8, 8]) = ResCNN(4, 3, 1, 3, 10, blocks_mass=6)")
    assert [m for _, _, m in atom_rows(net.body)] == [1.0, 2.0, 2.0, 2.0, 1.0]


def test_the_reference_shows_the_prelude_as_it_is() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "language.md").read_text("utf-8")
    section = doc[doc.index("## The prelude"):]
    shown = section[section.index("```\n") + 4:section.index("\n```", section.index("```\n"))]
    prelude = resources.files("modc.grammar").joinpath("prelude.mod").read_text("utf-8")
    code = "\n".join(line for line in prelude.splitlines() if not line.startswith("#"))

    def squash(text: str) -> str:
        return re.sub(r"\s+", " ", text).strip()

    shown_defs = re.split(r"\n(?=def )", shown.strip())
    assert [d.split("(")[0] for d in shown_defs] == [
        "def MLP", "def Attention", "def Residual", "def GPT", "def ResMLP", "def ResCNN"]
    assert squash(" ".join(shown_defs)) == squash(code)
