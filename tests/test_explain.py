"""Tests of ``modc explain`` (compiler/explain.py): the JSON schema and the text table."""

from __future__ import annotations

import json
import subprocess
import sys

from modc import explain, ir
from modc.passes import norms


def lin(out: int, inp: int, mass: float = 1.0) -> ir.Atom:
    return ir.Atom("Linear", {"out": out, "in": inp}, atom_mass=mass)


def at(*modules: ir.Node) -> ir.Node:
    result = modules[0]
    for m in modules[1:]:
        result = ir.Composition(outer=result, inner=m)
    return result


def small_net(blocks: int = 3) -> ir.Net:
    """``Linear(10, 32) @ (Mul(2) @ ReLU @ Linear(32, 32)) ** blocks @ Embed(32, 100)``."""
    body = at(ir.Bond("Mul", {"s": 2.0}), ir.Bond("ReLU"), lin(32, 32))
    embed = ir.Atom("Embed", {"dim": 32, "vocab": 100})
    tokens = ir.TensorShape((16,), "int")
    return ir.Net("Small", tokens, at(lin(10, 32), ir.Repeat(body, blocks), embed))


def program(*nets: ir.Net) -> ir.Program:
    return ir.Program(list(nets), [])


def test_json_schema_is_exact() -> None:
    doc = explain.explain_json(program(small_net()))
    assert list(doc) == ["nets"]
    (entry,) = doc["nets"]
    assert list(entry) == ["name", "mass", "sensitivity", "smooth", "atoms"]
    assert entry["name"] == "Small"
    assert type(entry["mass"]) is float and type(entry["sensitivity"]) is float
    assert entry["smooth"] is False
    assert len(entry["atoms"]) == 5
    for atom in entry["atoms"]:
        assert list(atom) == ["name", "kind", "shape", "mass", "target_norm", "dual_map"]
        assert type(atom["name"]) is str and type(atom["kind"]) is str
        assert type(atom["shape"]) is list and all(type(d) is int for d in atom["shape"])
        assert type(atom["mass"]) is float and type(atom["target_norm"]) is float
        assert type(atom["dual_map"]) is str
    assert [a["name"] for a in entry["atoms"]] == [
        "embed0", "repeat0.0.linear0", "repeat0.1.linear0", "repeat0.2.linear0", "linear0"
    ]
    assert entry["atoms"][0]["shape"] == [100, 32]
    assert entry["atoms"][0]["dual_map"] == "row_normalize"


def test_json_numbers_are_the_expanded_targets_at_full_precision() -> None:
    n = small_net()
    text = explain.dumps_json(program(n))
    doc = json.loads(text)
    rows = norms.expand_atoms(n)
    assert [a["target_norm"] for a in doc["nets"][0]["atoms"]] == [r.target_norm for r in rows]
    assert doc["nets"][0]["mass"] == n.body.mass
    assert doc["nets"][0]["sensitivity"] == n.body.sensitivity == 8.0


def test_dumps_json_layout() -> None:
    text = explain.dumps_json(program(small_net(), small_net(1)))
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.startswith('{\n  "nets": [\n    {\n      "name": "Small",\n')
    assert json.loads(text) == explain.explain_json(program(small_net(), small_net(1)))
    assert text == explain.dumps_json(program(small_net(), small_net(1)))


def test_json_runs_the_pass_only_when_needed() -> None:
    n = small_net()
    norms.compute_norms(n)
    n.body.outer.outer.target = 1.0  # already annotated: explain reads, does not recompute
    assert explain.explain_json(program(n))["nets"][0]["atoms"][-1]["target_norm"] == 1.0


SNAPSHOT = """\
net Small(x: int[16])
  atom                    kind    shape      params  copies  mass   target norm  dual map
  embed0                  Embed   [100, 32]   3,200             1         0.025  row_normalize
  repeat0.[0..2].linear0  Linear  [32, 32]    1,024      ×3     1  0.025 .. 0.1  orthogonalize
  linear0                 Linear  [10, 32]      320             1           0.2  orthogonalize
  mass               5
  input sensitivity  8 (Lipschitz bound)
  smooth             no
  parameters         6,592
  atoms              5
  target norm = the atom's learning-rate multiplier (update norm at lr 1)
"""

FULL_SNAPSHOT = """\
net Small(x: int[16])
  atom               kind    shape      params  mass  target norm  dual map
  embed0             Embed   [100, 32]   3,200     1        0.025  row_normalize
  repeat0.0.linear0  Linear  [32, 32]    1,024     1        0.025  orthogonalize
  repeat0.1.linear0  Linear  [32, 32]    1,024     1         0.05  orthogonalize
  repeat0.2.linear0  Linear  [32, 32]    1,024     1          0.1  orthogonalize
  linear0            Linear  [10, 32]      320     1          0.2  orthogonalize
  mass               5
  input sensitivity  8 (Lipschitz bound)
  smooth             no
  parameters         6,592
  atoms              5
  target norm = the atom's learning-rate multiplier (update norm at lr 1)
"""


def test_text_snapshot() -> None:
    # (Lout @ R) @ Embed with R = (Mul(2) @ ReLU @ L) ** 3: mass 5, ν = 2^3 = 8.
    # Embed gets 1/5 / ν(Lout @ R) = 1/40; R gets 4/5 * 3/4 = 3/5, Lout 4/5 * 1/4 = 1/5.
    # Copy k gets 3/5 / 3 / 2^(2-k) = 1/20, 1/10, 1/5, and the Linear under Mul(2) half
    # of that: 0.025 .. 0.1.
    assert explain.explain_text(program(small_net())) == SNAPSHOT


def test_full_lists_every_copy() -> None:
    assert explain.explain_text(program(small_net()), full=True) == FULL_SNAPSHOT


def test_long_repeat_prints_a_short_table() -> None:
    text = explain.explain_text(program(small_net(96)))
    lines = text.splitlines()
    assert len(lines) == 11
    assert "repeat0.[0..95].linear0" in text and "×96" in text
    assert f"parameters         {3200 + 96 * 1024 + 320:,}" in text
    assert "atoms              98" in text


def test_several_nets_are_separated_by_a_blank_line() -> None:
    first = ir.Net("A", ir.TensorShape((4,)), lin(2, 4))
    second = ir.Net("B", None, at(lin(2, 8), lin(8, 4)))
    text = explain.explain_text(program(first, second))
    assert text.startswith("net A(x: [4])\n")
    assert "\n\nnet B(x)\n" in text
    assert text.count("input sensitivity  1 (Lipschitz bound)") == 2
    assert "smooth             yes" in text


def test_front_end_does_not_import_torch() -> None:
    code = (
        "import sys, modc.explain, modc.graph, modc.passes.norms; "
        "bad = {'torch', 'triton'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
