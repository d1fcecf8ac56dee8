"""Property tests of the front end: no input makes it raise or hang.

Random well-formed programs (from a small grammar) must compile, with every node's shape
and the masses checked; random mutations of valid programs (characters and bytes) must
give a Result with diagnostics, never an exception.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modc import ir
from modc.diagnostics import CODES
from modc.pipeline import Result, compile_source

SETTINGS = settings(max_examples=150, deadline=2000,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def warm_front_end() -> None:
    """Build the parser tables and raise the recursion limit (compile_source does both on
    first use) before hypothesis times examples and watches the recursion limit."""
    compile_source("warm.mod", text="net N = Linear(2, 2)\n")


def expanded_mass(node: ir.Node) -> float:
    if isinstance(node, ir.Atom):
        return node.atom_mass
    if isinstance(node, ir.Repeat):
        return node.count * expanded_mass(node.body)
    return sum(expanded_mass(c) for c in node.children())


def check_result(result: Result, text: str | None = None) -> None:
    """What every Result must satisfy, whatever the input."""
    assert isinstance(result, Result)
    for d in result.diagnostics:
        assert d.code in CODES, d.code
        assert isinstance(d.render(), str) and d.message
        if d.span is not None:
            assert 1 <= d.span.line <= d.span.end_line
            assert 1 <= d.span.column
            if text is not None and d.span.path == "net.mod":
                assert d.span.end <= len(text) + 1


# --- well-formed programs ------------------------------------------------------------------

SCALARS = st.sampled_from(["2", "0.5", "-1", "s", "1/3", "(1 - 1/8)", "sqrt(2)", "w / 4"])


def width_preserving(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Module expressions that map [w] to [w], built with every operator."""
    leaves = st.sampled_from([
        "Linear(w, w)", "Linear(w, w, mass=2)", "ReLU", "GELU", "Abs", "Identity", "LayerNorm",
        "MeanSubtract", "RMSDivide(dim=-1)", "Mul(0.5)", "Wide()", "Wide(n=w)", "Block(ReLU)",
        *names,
    ])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        pair = st.tuples(inner, inner)
        return st.one_of(
            pair.map(lambda p: f"({p[0]} @ {p[1]})"),
            pair.map(lambda p: f"({p[0]} + {p[1]})"),
            pair.map(lambda p: f"({p[0]} - {p[1]})"),
            st.tuples(SCALARS, inner).map(lambda p: f"({p[0]} * {p[1]})"),
            st.tuples(inner, SCALARS).map(lambda p: f"({p[0]} * {p[1]})"),
            st.tuples(inner, SCALARS).map(lambda p: f"({p[0]} / {p[1]})"),
            inner.map(lambda m: f"(-{m})"),
            st.tuples(inner, st.integers(0, 3)).map(lambda p: f"({p[0]}) ** {p[1]}"),
            st.tuples(inner, st.sampled_from(["1", "0.5", "7"])).map(
                lambda p: f"tare(Linear(w, w) @ {p[0]}, {p[1]})"),
            st.tuples(inner, st.integers(2, 9)).map(lambda p: f"Residual({p[1]}, {p[0]})"),
            inner.map(lambda m: f"Block({m})"),
            pair.map(lambda p: f"(Add @ ({p[0]}, {p[1]},))"),
        )

    return st.recursive(leaves, extend, max_leaves=10)


MODULES = width_preserving(("base",))
BASE = width_preserving(())


@st.composite
def well_formed_programs(draw) -> tuple[str, int]:
    width = draw(st.integers(1, 64))
    scale = draw(st.sampled_from(["0.5", "3", "-2", "1e-3"]))
    modules = MODULES
    text = (
        f"# generated\nparam w = {width}\nparam s = {scale}\n"
        f"let base = {draw(BASE)}\n"
        "def Block(m) = m @ Linear(w, w)\n"
        "def Wide(n=w) = Linear(n, n)\n"
        f"net N(x: [w]) = {draw(modules)}\n"
        f"net M = (\n    {draw(modules)}\n    @ Linear(w, w))\n"
    )
    return text, width


@SETTINGS
@given(well_formed_programs())
def test_well_formed_programs_compile(program: tuple[str, int]) -> None:
    text, width = program
    result = compile_source("net.mod", text=text)
    check_result(result, text)
    assert [d.render() for d in result.diagnostics] == []
    assert [n.name for n in result.program.nets] == ["N", "M"]
    for net in result.program.nets:
        assert net.input_shape == ir.TensorShape((width,))
        for node in ir.walk(net.body):
            if not isinstance(node, ir.Tuple):
                assert node.out_shape == ir.TensorShape((width,))
            if not (isinstance(node, ir.Bond) and node.op == "Add"):
                assert node.in_shape == ir.TensorShape((width,))
        assert net.body.mass == pytest.approx(expanded_mass(net.body))


ATOMS_AND_BONDS = st.sampled_from([
    "Linear({a}, {b})", "Embed({a}, {b})", "Conv2D({a}, {b})", "Conv2D({a}, {b}, {c}, 2, 0)",
    "ReLU", "GELU", "Abs", "Identity", "Flatten", "LayerNorm", "MeanSubtract(dim=(-2, -1))",
    "Mean(dim={i})", "AvgPool", "SplitHeads({c})", "MergeHeads", "Rope({a})", "AttentionQK",
    "CausalMask", "Softmax({a})", "ApplyAttentionScores", "Enumerate", "Add", "Mul({a})",
    "MLP({a}, {b}, 8, {c})", "F({a})", "L",
])


@st.composite
def any_module(draw, depth: int = 0) -> str:
    if depth > 3 or draw(st.booleans()):
        leaf = draw(ATOMS_AND_BONDS)
        return leaf.format(a=draw(st.integers(1, 12)), b=draw(st.integers(1, 12)),
                           c=draw(st.integers(1, 4)), i=draw(st.integers(-3, 2)))
    a, b = draw(any_module(depth + 1)), draw(any_module(depth + 1))
    form = draw(st.sampled_from(["({} @ {})", "({} + {})", "({}, {})", "({},)", "(2 * {})",
                                 "({}) ** 2", "tare({}, 3)", "({} - {})", "(-{})"]))
    return form.format(a, b)


@st.composite
def random_programs(draw) -> str:
    shape = draw(st.sampled_from(["", "(x: [8])", "(x: [3, 8, 8])", "(x: int[6])",
                                  "(x: [4, 6, 6])", "(x: [2, 4, 8])"]))
    return (f"param p = {draw(st.integers(1, 9))}\nlet L = {draw(any_module())}\n"
            f"def F(n) = {draw(any_module())}\n"
            f"net N{shape} = {draw(any_module())}\n")


@SETTINGS
@given(random_programs())
def test_random_compositions_give_diagnostics_not_exceptions(text: str) -> None:
    result = compile_source("net.mod", text=text)
    check_result(result, text)
    if result.ok:
        for net in result.program.nets:
            assert all(n.out_shape is not None for n in ir.walk(net.body))


# --- mutations of valid programs -----------------------------------------------------------

SEEDS = [
    "param width = 256\nparam depth = 4\nlet d = 2 * width\n"
    "def Block(n) = Linear(n, n) @ ReLU\n"
    "net MLP(x: [784]) = Linear(10, width) @ ReLU @ Block(width) ** (depth - 2) "
    "@ Linear(width, 784)\n",
    "net G(x: int[32]) = GPT(65, 4, 128, 32, 32, 2, blocks_mass=5)\n",
    'import "lib.mod"\nnet N(x: [q]) = Lib(q) ** 3 @ tare(Linear(q, q), 2)\n',
    "net C(x: [3, 16, 16]) = ResCNN(8, 2, 2, 3, 10)  # a comment\n",
    "let pair = (Linear(4, 3), ReLU @ Linear(4, 3),)\n"
    "net P(x: [3]) = MeanSubtract(dim=(-1,)) @ (Add @ pair) * 0.5 - Linear(4, 3)\n",
    "def R(a, b=2, c=a * 3) = (\n    Linear(c, b)\n    @ Linear(b, a)\n)\nnet Q = R(4)\n",
]

PIECES = st.sampled_from([
    "(", ")", "[", "]", ",", "=", "@", "**", "*", "/", "//", "+", "-", "#", "\n", "\\\n",
    '"', "'", " ", "\t", "\r", "0", "1.", "e", "_", "x", "net", "let", "def", "param",
    "import", "int", "9" * 30, "9" * 5000, "1e999", "1e-999", "-0.0", "10 ** 400",
    "é", "\u3000", "\x00", "\x1b", "\ufeff", "𝄞", "Linear(", "ReLU", "tare(", "** 100001",
])


@st.composite
def mutated_texts(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "duplicate"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(PIECES) + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(st.text(max_size=3)) + text[j:]
        elif kind == "truncate":
            text = text[:i]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


@st.composite
def mutated_bytes(draw) -> bytes:
    data = draw(mutated_texts()).encode("utf-8")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\x80",
                                     b"\xef\xbb\xbf", b"\x00", b"\xf4\x90\x80\x80"]))
        data = data[:i] + junk + data[i:]
    return data


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mutations")
    (root / "lib.mod").write_text("param q = 3\ndef Lib(n) = ReLU @ Linear(n, n)\n")
    return root


@SETTINGS
@given(mutated_texts())
def test_mutated_text_gives_diagnostics_not_exceptions(folder: Path, text: str) -> None:
    path = os.path.join(folder, "net.mod")
    result = compile_source(path, text=text)
    check_result(result)


@SETTINGS
@given(mutated_bytes())
def test_mutated_bytes_give_diagnostics_not_exceptions(folder: Path, data: bytes) -> None:
    path = folder / "bytes.mod"
    path.write_bytes(data)
    result = compile_source(str(path))
    check_result(result)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert [d.code for d in result.diagnostics] == ["E104"]


@settings(max_examples=60, deadline=4000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_texts(), st.sampled_from(SEEDS)))
def test_explain_never_prints_a_traceback(folder: Path, text: str) -> None:
    pytest.importorskip("modc.explain")
    from modc.cli import main

    path = folder / "explain.mod"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["explain", str(path)])
    assert code in (0, 1), err.getvalue()
    assert "Traceback" not in err.getvalue()
    if code == 0 and "net" in text:
        assert out.getvalue().startswith("net ")
