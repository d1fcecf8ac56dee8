"""Tests of the Graphviz output (compiler/graph.py): determinism, well-formedness, files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from modc import graph, ir

QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
NODE = re.compile(r"^\s*(n\d+) \[(.*)\];$")
EDGE = re.compile(r"^\s*(n\d+) -> (n\d+)(?: \[(.*)\])?;$")


def lin(out: int, inp: int, mass: float = 1.0) -> ir.Atom:
    return ir.Atom("Linear", {"out": out, "in": inp}, atom_mass=mass)


def at(*modules: ir.Node) -> ir.Node:
    result = modules[0]
    for m in modules[1:]:
        result = ir.Composition(outer=result, inner=m)
    return result


def add(a: ir.Node, b: ir.Node) -> ir.Node:
    return at(ir.Bond("Add"), ir.Tuple((a, b)))


def residual_net(blocks: int = 4, name: str = "Res") -> ir.Net:
    """``Linear(10, 64) @ (Identity + 0.5 * Linear @ ReLU @ Linear) ** blocks @ Linear``."""
    branch = at(ir.Bond("Mul", {"s": 0.5}), lin(64, 64), ir.Bond("ReLU"), lin(64, 64))
    body = add(ir.Bond("Identity"), branch)
    return ir.Net(name, ir.TensorShape((784,)), at(lin(10, 64), ir.Repeat(body, blocks),
                                                   lin(64, 784)))


def check_dot(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A small structural DOT checker: returns declared nodes (id -> attrs) and edges."""
    assert text.startswith("digraph modc {\n") and text.endswith("}\n")
    bare = QUOTED.sub('""', text)
    assert '"' not in bare.replace('""', ""), "an unterminated or unescaped quote"
    depth = 0
    for ch in bare:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    assert len(bare.splitlines()) == len(text.splitlines())  # no raw newline in a string
    for line, original in zip(bare.splitlines(), text.splitlines(), strict=True):
        if m := NODE.match(line):
            assert m.group(1) not in nodes, f"{m.group(1)} declared twice"
            full = NODE.match(original)
            assert full is not None
            nodes[m.group(1)] = full.group(2)
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        else:
            stripped = line.strip()
            assert (
                stripped in ("{", "}", "")
                or stripped.startswith(("digraph ", "subgraph cluster_", "label=", "style=",
                                        "rankdir=", "node [", "edge ["))
            ), f"unexpected line {line!r}"
    for tail, head in edges:
        assert tail in nodes and head in nodes, (tail, head)
    return nodes, edges


def labels(text: str) -> list[str]:
    return re.findall(r'label="((?:[^"\\]|\\.)*)"', text)


def test_deterministic_across_fresh_builds() -> None:
    first = graph.to_dot(residual_net())
    second = graph.to_dot(residual_net())  # new objects, new id()s
    assert first == second
    assert first == graph.to_dot(residual_net())


def test_well_formed_and_connected() -> None:
    text = graph.to_dot(residual_net())
    nodes, edges = check_dot(text)
    # x, Linear, repeat entry, split, Identity, Linear, ReLU, Linear, Mul, tuple, Add,
    # Linear, output.
    assert len(nodes) == 13
    # Every node but the output has an outgoing edge, every node but the input an incoming.
    tails, heads = {t for t, _ in edges}, {h for _, h in edges}
    assert set(nodes) - tails == {"n12"}
    assert set(nodes) - heads == {"n0"}


def test_repeat_is_drawn_once_as_a_cluster() -> None:
    small, big = graph.to_dot(residual_net(2)), graph.to_dot(residual_net(96))
    assert len(small.splitlines()) == len(big.splitlines())
    assert "repeat0 × 96\\ncopy targets" in big
    assert big.count('fillcolor="lightblue"') == 4  # atoms
    assert "next copy" in big


def test_labels_show_op_shape_mass_target_and_scalars() -> None:
    text = graph.to_dot(residual_net(1))
    found = labels(text)
    # (Lout @ R) @ Lin, masses 1 + 2 + 1, ν(R) = 1 + 0.5. Lin gets 1/4 / 1.5 = 1/6;
    # R gets 3/4 * 2/3 = 1/2, Lout 3/4 * 1/3 = 1/4. In the body the tuple gets 1, the
    # branch 1, the chain under Mul(0.5) 2, each of its Linears 1: absolute 1/2.
    assert "linear0: Linear(64, 784)\\nweight [64, 784]\\nmass 1, target 0.166667" in found
    assert "linear1: Linear(64, 64)\\nweight [64, 64]\\nmass 1, target 0.5" in found
    assert "linear1: Linear(10, 64)\\nweight [10, 64]\\nmass 1, target 0.25" in found
    assert "repeat0 × 1\\ncopy targets 0.5" in found
    assert "Mul(0.5)" in found and "ReLU" in found and "Identity" in found
    assert "x: [784]" in found and "net Res" in found and "tuple" in found
    assert '[label="0"]' in text and '[label="1"]' in text


def test_tuple_is_split_then_merged_in_member_order() -> None:
    text = graph.to_dot(ir.Net("T", None, add(lin(4, 4), lin(4, 4, mass=3.0))))
    nodes, edges = check_dot(text)
    split = [n for n, attrs in nodes.items() if attrs.startswith("shape=point")]
    assert len(split) == 1
    fanned = [h for t, h in edges if t == split[0]]
    assert len(fanned) == 2
    # Members in order: Linear (mass 1) gets 1/4, Linear (mass 3) gets 3/4.
    assert "target 0.25" in nodes[fanned[0]] and "target 0.75" in nodes[fanned[1]]
    merge = [h for t, h in edges if t in fanned]
    assert len(set(merge)) == 1 and 'label="tuple"' in nodes[merge[0]]


def test_labels_are_escaped() -> None:
    hostile = 'evil"name\\with}{braces\nand newline'
    n = ir.Net(hostile, ir.TensorShape((4,)), lin(2, 4), input_name='in"put\\')
    text = graph.to_dot(n)
    check_dot(text)
    assert 'label="net evil\\"name\\\\with}{braces\\nand newline"' in text
    assert 'label="in\\"put\\\\: [4]"' in text


def test_program_draws_every_net_in_its_own_cluster() -> None:
    program = ir.Program([residual_net(2, "A"), residual_net(3, "B")], [])
    text = graph.to_dot(program)
    nodes, _ = check_dot(text)
    assert len(nodes) == 26
    assert text.count("subgraph cluster_") == 4  # two nets, one repeat each
    assert text.index("net A") < text.index("net B")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_accepts_the_output(tmp_path: Path) -> None:
    hostile = ir.Net('q"\\', None, at(lin(2, 4), ir.Repeat(lin(4, 4), 3)))
    for source in (residual_net(), hostile, ir.Program([residual_net(), hostile], [])):
        proc = subprocess.run(["dot", "-Tsvg"], input=graph.to_dot(source).encode(),
                              capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stderr == b""
    out = tmp_path / "net.svg"
    graph.render(graph.to_dot(residual_net()), out)
    assert out.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))


def test_render_dot_writes_text(tmp_path: Path) -> None:
    out = tmp_path / "net.dot"
    text = graph.to_dot(residual_net())
    graph.render(text, out)
    assert out.read_text(encoding="utf-8") == text
    assert list(tmp_path.iterdir()) == [out]


def test_render_without_graphviz_explains_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    out = tmp_path / "net.svg"
    with pytest.raises(graph.GraphvizMissing) as info:
        graph.render("digraph modc {\n}\n", out)
    message = str(info.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "-o file.dot" in message
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_failed_render_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "net.png"
    out.write_bytes(b"old")

    def fail(*args: object, **kwargs: object) -> bytes:
        raise graph.GraphvizFailed("dot -Tpng failed")

    monkeypatch.setattr(graph, "_run_dot", fail)
    with pytest.raises(graph.GraphvizFailed):
        graph.render("digraph modc {\n}\n", out)
    assert out.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [out]


def test_render_rejects_unknown_extensions(tmp_path: Path) -> None:
    with pytest.raises(graph.GraphError, match=r"\.dot"):
        graph.render("digraph modc {\n}\n", tmp_path / "net.txt")


def test_long_chain_does_not_recurse_per_layer() -> None:
    body: ir.Node = lin(8, 8)
    for _ in range(3000):
        body = ir.Composition(outer=lin(8, 8), inner=ir.Composition(outer=ir.Bond("ReLU"),
                                                                    inner=body))
    nodes, edges = check_dot(graph.to_dot(ir.Net("Deep", None, body)))
    assert len(nodes) == 2 + 6001 and len(edges) == 6002
