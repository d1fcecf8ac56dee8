"""Tests of the fuse_bonds pass (compiler/passes/fuse.py).

Every expected chain below is derived by hand from the source: the bonds in application
order (``f @ g`` applies g first) and the row axes of the chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modc import ir, pipeline
from modc.passes.fuse import MAX_CHAIN, fuse_bonds
from modc.pipeline import compile_source

ROOT = Path(__file__).resolve().parent.parent

Chain = tuple[tuple[str, ...], tuple[int, ...]]


def compiled(compile_text, text: str) -> ir.Net:
    result = compile_text(text)
    assert result.ok, [d.render() for d in result.diagnostics]
    (net,) = result.program.nets
    return net


def chains(net: ir.Net) -> list[Chain]:
    """Each chain as (ops in application order, row axes)."""
    return [(tuple(b.op for b in c.bonds), c.axes) for c in net.chains]


@pytest.mark.parametrize(("body", "expected"), [
    # Between two atoms: ReLU first, then Abs.
    ("Linear(4, 8) @ Abs @ ReLU @ Linear(8, 8)", [(("ReLU", "Abs"), ())]),
    # A scalar is a bond: m * s applies Mul first, s * m applies it last.
    ("Linear(4, 8) @ (2 * GELU * 0.5) @ Linear(8, 8)", [(("Mul", "GELU", "Mul"), ())]),
    # Identity emits no code, so the chain runs through it.
    ("Linear(4, 8) @ ReLU @ Identity @ Abs", [(("Abs", "ReLU"), ())]),
    # LayerNorm is one bond; with GELU after it, a chain over the last axis.
    ("Linear(4, 8) @ GELU @ LayerNorm", [(("LayerNorm", "GELU"), (-1,))]),
    ("Softmax(2) @ MeanSubtract @ RMSDivide(dim=-1) @ ReLU",
     [(("ReLU", "RMSDivide", "MeanSubtract", "Softmax"), (-1,))]),
])
def test_chains_along_compositions(compile_text, body: str, expected: list[Chain]) -> None:
    assert chains(compiled(compile_text, f"net N(x: [8]) = {body}\n")) == expected


@pytest.mark.parametrize("body", [
    "Linear(4, 8) @ ReLU @ Linear(8, 8)",  # a single bond
    "Linear(4, 8) @ LayerNorm",  # a single bond, even if it is two ops at run time
    "GELU @ Linear(8, 8) @ ReLU",  # an atom between
    "Abs @ Add @ (ReLU, GELU)",  # Add is not fused; each member has one bond
    "ReLU @ Flatten @ Abs",  # Flatten is not fused
    "Linear(4, 8) @ Abs ** 3",  # copies of a repeat are never joined
    "ReLU @ (Linear(8, 8) @ Abs) ** 2 @ GELU",  # the chain would cross the repeat
])
def test_no_chain(compile_text, body: str) -> None:
    assert chains(compiled(compile_text, f"net N(x: [8]) = {body}\n")) == []


def test_tuple_members_are_sequences_of_their_own(compile_text) -> None:
    net = compiled(compile_text, "net N(x: [8]) = Abs @ Add @ (ReLU @ Abs, GELU) @ ReLU\n")
    assert chains(net) == [(("Abs", "ReLU"), ())]
    pair = next(n for n in ir.walk(net.body) if isinstance(n, ir.Tuple))
    member = pair.members[0]
    assert isinstance(member, ir.Composition)
    assert net.chains[0].bonds == (member.inner, member.outer)


def test_repeat_body_is_scanned_once(compile_text) -> None:
    net = compiled(compile_text, "net N(x: [8]) = (Linear(8, 8) @ ReLU @ Abs) ** 5\n")
    assert chains(net) == [(("Abs", "ReLU"), ())]


def test_row_axes(compile_text) -> None:
    # Per-example shape [4, 8]: dim=0 is (-2,), not a trailing block: never fused.
    net = compiled(compile_text, "net N(x: [4, 8]) = ReLU @ MeanSubtract(dim=0) @ Abs\n")
    assert chains(net) == []
    # dim=(0, 1) is (-2, -1): rows of 32 elements.
    net = compiled(compile_text, "net N(x: [4, 8]) = ReLU @ RMSDivide(dim=(0, 1)) @ Abs\n")
    assert chains(net) == [(("Abs", "RMSDivide", "ReLU"), (-2, -1))]
    # Rows over other axes start a new run; the lone RMSDivide is left alone.
    net = compiled(compile_text,
                   "net N(x: [4, 8]) = RMSDivide(dim=(0, 1)) @ MeanSubtract @ ReLU\n")
    assert chains(net) == [(("ReLU", "MeanSubtract"), (-1,))]
    net = compiled(compile_text, "net N(x: [4, 8]) = Abs @ MeanSubtract @ RMSDivide(dim=(0, 1))"
                                 " @ ReLU\n")
    assert chains(net) == [(("ReLU", "RMSDivide"), (-2, -1)), (("MeanSubtract", "Abs"), (-1,))]


def test_long_runs_are_split(compile_text) -> None:
    body = " @ ".join(["ReLU"] * (MAX_CHAIN + 2))
    net = compiled(compile_text, f"net N(x: [8]) = {body}\n")
    assert [len(ops) for ops, _ in chains(net)] == [MAX_CHAIN, 2]
    body = " @ ".join(["ReLU"] * (MAX_CHAIN + 1))
    net = compiled(compile_text, f"net N(x: [8]) = {body}\n")
    assert [len(ops) for ops, _ in chains(net)] == [MAX_CHAIN]  # the last one stays alone


@pytest.mark.parametrize(("example", "expected"), [
    ("gpt", [(("CausalMask", "Softmax"), (-1,))]),
    ("resmlp", [(("Abs", "MeanSubtract"), (-1,))]),
    ("rescnn", [(("Abs", "MeanSubtract"), (-3, -2, -1))]),
    ("mlp", []),
])
def test_examples(example: str, expected: list[Chain]) -> None:
    result = compile_source(str(ROOT / "examples" / f"{example}.mod"))
    assert result.ok and result.program is not None
    assert chains(result.program.nets[0]) == expected


def _annotations(net: ir.Net) -> list[tuple]:
    return [(type(n).__name__, n.in_shape, n.out_shape, n.mass, n.sensitivity, n.smooth,
             n.target, getattr(n, "copy_targets", None)) for n in ir.walk(net.body)]


@pytest.mark.parametrize("example", ["gpt", "resmlp", "rescnn"])
def test_shapes_and_norms_unchanged(example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(ROOT / "examples" / f"{example}.mod")
    fused = compile_source(path).program.nets[0]  # type: ignore[union-attr]
    monkeypatch.setattr(pipeline, "PASSES",
                        tuple(p for p in pipeline.PASSES if p[1] is not fuse_bonds))
    plain = compile_source(path).program.nets[0]  # type: ignore[union-attr]
    assert plain.chains == [] and fused.chains
    assert _annotations(fused) == _annotations(plain)
    # Running the pass again finds the same chains and changes nothing else.
    before = [c.bonds for c in fused.chains]
    assert [c.bonds for c in fuse_bonds(fused)] == before
    assert [c.bonds for c in fuse_bonds(plain)] != [] and _annotations(plain) == \
        _annotations(fused)


def test_requires_shapes() -> None:
    net = ir.Net("N", None, ir.Composition(ir.Bond("ReLU"), ir.Bond("Abs")))
    with pytest.raises(ValueError, match="infer_shapes"):
        fuse_bonds(net)
