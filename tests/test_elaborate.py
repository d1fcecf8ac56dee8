"""Elaboration tests: numbers, params and -D, templates, defs, imports, tare and operators."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import modc.loader
from modc import ir
from modc.elaborate import Elaborator
from modc.pipeline import Result, compile_source
from modc.values import DefValue


def values(text: str, overrides: dict | None = None) -> dict:
    """The value of every top-level param, let and def of ``text``."""
    elab = Elaborator(overrides)
    scope = elab.load("t.mod", text)
    problems = elab.evaluate_all()
    assert [p.diagnostic.message for p in problems] == []
    return {name: elab._value_of(b, b.stmt.span) for name, b in scope.local.items()}


def net(text: str, **kwargs) -> ir.Net:
    result = compile_source("t.mod", text=text, **kwargs)
    assert [d.render() for d in result.diagnostics] == []
    (only,) = result.program.nets
    return only


def codes(result: Result) -> list[str]:
    return [d.code for d in result.diagnostics]


def atoms(node: ir.Node) -> list[ir.Atom]:
    return list(ir.atoms_in_order(node))


def signature(node: ir.Node) -> str:
    """A compact structural rendering of an IR tree."""
    if isinstance(node, ir.Atom):
        return f"{node.op}{tuple(node.args.values())}"
    if isinstance(node, ir.Bond):
        args = tuple(v for v in node.args.values())
        return node.op + (str(args) if args else "")
    if isinstance(node, ir.Composition):
        return f"({signature(node.outer)} @ {signature(node.inner)})"
    if isinstance(node, ir.Tuple):
        return "<" + ", ".join(signature(m) for m in node.members) + ">"
    assert isinstance(node, ir.Repeat)
    return f"{signature(node.body)}**{node.count}"


# --- numbers at compile time -------------------------------------------------------------

NUMERIC = [
    "7 // 2", "-7 // 2", "7.0 // 2", "7 / 2", "2 ** 10", "2 ** -1", "-2 ** 2", "2 ** 3 ** 2",
    "(-2) ** 3", "- - 3", "+3", "1 - 2 - 3", "2 * 3 + 4 * 5", "10 / 4 * 2", "1_000 * 3",
    "0.1 + 0.2", "2 ** 0.5", "1e3 // 7", "min(3, 1, 2)", "max(1.5, 2)", "min(4, 4.0)",
    "sqrt(16)", "sqrt(2) ** 2", "max(min(5, 9), 2) // 2", "3 * -2 ** 2", "(1 + 2) * 3",
]


@pytest.mark.parametrize("expr", NUMERIC)
def test_numbers_are_python_arithmetic(expr: str) -> None:
    expected = eval(expr, {"sqrt": math.sqrt, "min": min, "max": max})
    got = values(f"let v = {expr}\n")["v"]
    assert got == expected and type(got) is type(expected)


def test_numbers_use_params_and_lets() -> None:
    got = values("param w = 256\nlet d = 2 * w\nlet h = d // 3\nlet r = sqrt(d / 2)\n")
    assert (got["w"], got["d"], got["h"], got["r"]) == (256, 512, 170, 16.0)


def test_order_of_definitions_does_not_matter() -> None:
    assert values("let a = b + 1\nlet b = 2\n")["a"] == 3


# --- params and -D -------------------------------------------------------------------------


def test_override_changes_the_net() -> None:
    text = "param width = 8\nnet N(x: [4]) = Linear(width, 4) @ Linear(4, 4)\n"
    assert atoms(net(text).body)[1].args == {"out": 8, "in": 4}
    assert atoms(net(text, overrides={"width": 32}).body)[1].args == {"out": 32, "in": 4}


def test_float_override_of_a_scalar() -> None:
    text = "param s = 0.5\nnet N(x: [3]) = s * Linear(3, 3)\n"
    assert net(text).body.outer.args == {"s": 0.5}
    assert net(text, overrides={"s": 2}).body.outer.args == {"s": 2.0}
    assert net(text, overrides={"s": -0.25}).body.outer.args == {"s": -0.25}


def test_override_keeps_its_type() -> None:
    assert values("param p = 1.5\n", {"p": 3})["p"] == 3
    assert type(values("param p = 1.5\n", {"p": 3})["p"]) is int
    assert type(values("param p = 1\n", {"p": 3.0})["p"]) is float


def test_override_reaches_lets_and_default_arguments() -> None:
    text = ("param width = 8\nlet d = 2 * width\ndef F(n=width) = Linear(n, 4)\n"
            "net N(x: [4]) = Linear(d, width) @ F()\n")
    linear_f, linear_d = atoms(net(text, overrides={"width": 5}).body)
    assert (linear_f.args["out"], linear_d.args["out"]) == (5, 10)


def test_overrides_are_recorded_in_the_program() -> None:
    result = compile_source("t.mod", text="param w = 3\nparam v = 1\n", overrides={"w": 7})
    assert result.program.overrides == {"w": 7}


def test_override_of_a_float_into_a_dimension_is_an_error() -> None:
    text = "param w = 3\nnet N(x: [3]) = Linear(w, 3)\n"
    result = compile_source("t.mod", text=text, overrides={"w": 4.0})
    assert codes(result) == ["E303"]
    assert result.diagnostics[0].message == "argument 'out' of Linear must be an integer, got 4.0"


# --- templates and fresh weights -----------------------------------------------------------


def test_two_uses_of_a_let_are_two_atoms() -> None:
    body = net("let L = Linear(3, 3)\nnet N = L @ L\n").body
    first, second = atoms(body)
    assert first is not second and first.args is not second.args
    assert signature(body) == "(Linear(3, 3) @ Linear(3, 3))"


def test_a_tuple_template_is_cloned_member_by_member() -> None:
    body = net("let T = (Linear(3, 3), Linear(3, 3))\nnet N = (Add @ T) @ (Add @ T)\n").body
    assert len({id(a) for a in atoms(body)}) == 4


def test_tare_of_one_use_leaves_the_other_use_alone() -> None:
    body = net("let L = Linear(3, 3)\nnet N = tare(L, 5) @ L\n").body
    assert [a.atom_mass for a in atoms(body)] == [1.0, 5.0]


def test_def_with_module_arguments() -> None:
    text = "def Twice(m) = m @ m\nnet N = Twice(ReLU @ Linear(3, 3))\n"
    body = net(text).body
    assert signature(body) == "((ReLU @ Linear(3, 3)) @ (ReLU @ Linear(3, 3)))"
    first, second = atoms(body)
    assert first is not second


def test_keyword_arguments_and_defaults() -> None:
    text = "def F(a, b=2, c=a * 10) = Linear(c, b)\n"
    assert atoms(net(text + "net N = F(1)\n").body)[0].args == {"out": 10, "in": 2}
    assert atoms(net(text + "net N = F(1, c=5)\n").body)[0].args == {"out": 5, "in": 2}
    assert atoms(net(text + "net N = F(b=3, a=2)\n").body)[0].args == {"out": 20, "in": 3}


def test_parameter_without_default_after_one_with_default() -> None:
    text = "def F(a=1, b) = Linear(a, b)\n"
    assert atoms(net(text + "net N = F(b=3)\n").body)[0].args == {"out": 1, "in": 3}
    result = compile_source("t.mod", text=text + "net N = F(2)\n")
    assert [d.message for d in result.diagnostics] == ["F is missing argument 'b'"]


def test_defs_without_arguments() -> None:
    text = "def B = Linear(3, 3)\ndef C(n=3) = Linear(n, n)\nnet N = B @ B() @ C @ C(3)\n"
    assert len(atoms(net(text).body)) == 4


def test_definition_values_are_not_modules() -> None:
    assert isinstance(values("def F(n) = Linear(n, n)\n")["F"], DefValue)
    result = compile_source("t.mod", text="def F(n) = Linear(n, n)\nnet N = F\n")
    assert codes(result) == ["E202"]


def test_nodes_carry_the_label_of_their_definition() -> None:
    body = net("def Block(n) = ReLU @ Linear(n, n)\nnet N = Block(4) @ Linear(4, 4)\n").body
    assert body.inner.label is None
    assert body.outer.label == "Block"
    assert atoms(body)[1].label == "Block"


def test_prelude_nodes_point_at_the_users_call() -> None:
    body = net("param w = 8\n\nnet M = MLP(10, 784, w, 3)\n").body
    for node in ir.walk(body):
        assert (node.span.path, node.span.line, node.span.column) == ("t.mod", 3, 9)


# --- imports -------------------------------------------------------------------------------


def test_imports_are_relative_to_the_importing_file(write_files, tmp_path, monkeypatch) -> None:
    root = write_files({
        "main.mod": 'import "lib/a.mod"\nnet N = A\n',
        "lib/a.mod": 'import "b.mod"\nlet A = Linear(2, 3) @ B\n',  # lib/b.mod, not ./b.mod
        "lib/b.mod": "def B = Linear(3, 4)\n",
        "b.mod": "def B = Linear(9, 9)\n",
    })
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    result = compile_source(str(root / "main.mod"))
    assert result.ok
    assert signature(result.program.nets[0].body) == "(Linear(2, 3) @ Linear(3, 4))"


def test_each_file_is_parsed_once(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({
        "top.mod": 'import "left.mod"\nimport "right.mod"\nnet N = L @ R\n',
        "left.mod": 'import "base.mod"\ndef L = Base\n',
        "right.mod": 'import "base.mod"\ndef R = Base\n',
        "base.mod": "def Base = Linear(3, 3)\n",
    }))
    parsed: list[str] = []
    real_parse = modc.loader.parse

    def counting_parse(source):
        parsed.append(source.path)
        return real_parse(source)

    monkeypatch.setattr(modc.loader, "parse", counting_parse)
    result = compile_source("top.mod")
    assert result.ok
    assert sorted(parsed) == ["base.mod", "left.mod", "right.mod", "top.mod"]
    assert [s.path for s in result.program.sources] == [
        "top.mod", "left.mod", "base.mod", "right.mod"]


def test_names_from_imports(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({
        "main.mod": 'import "lib.mod"\nnet N(x: [d]) = Block(d) ** depth\n',
        "lib.mod": "param d = 4\nparam depth = 3\ndef Block(n) = ReLU @ Linear(n, n)\n",
    }))
    result = compile_source("main.mod", overrides={"depth": 5})
    assert result.ok
    body = result.program.nets[0].body
    assert isinstance(body, ir.Repeat) and body.count == 5
    assert result.program.nets[0].input_shape == ir.TensorShape((4,))


def test_imports_are_not_transitive(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({
        "main.mod": 'import "mid.mod"\nnet N = Base\n',
        "mid.mod": 'import "base.mod"\n',
        "base.mod": "def Base = Linear(3, 3)\n",
    }))
    result = compile_source("main.mod")
    assert codes(result) == ["E201"]


def test_one_name_from_two_imports_is_an_error(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({
        "main.mod": 'import "a.mod"\nimport "b.mod"\n',
        "a.mod": "let X = 1\n",
        "b.mod": "let X = 2\n",
    }))
    result = compile_source("main.mod")
    assert codes(result) == ["E200"]
    assert result.diagnostics[0].message == "'X' is defined by two imports"
    assert result.diagnostics[0].span.line == 2


# --- the prelude and built-in names --------------------------------------------------------


def test_user_definitions_shadow_the_prelude() -> None:
    body = net("def MLP(a) = Linear(a, a)\nnet N = MLP(3)\n").body
    assert signature(body) == "Linear(3, 3)"


def test_imported_definitions_shadow_the_prelude(write_files, monkeypatch) -> None:
    monkeypatch.chdir(write_files({
        "main.mod": 'import "mine.mod"\nnet N = GPT(3)\n',
        "mine.mod": "def GPT(n) = Linear(n, n)\n",
    }))
    result = compile_source("main.mod")
    assert result.ok and signature(result.program.nets[0].body) == "Linear(3, 3)"


def test_prelude_residual_is_available() -> None:
    body = net("net N(x: [3]) = Residual(4, Linear(3, 3))\n").body
    assert signature(body) == "(Add @ <(Mul(0.75,) @ Identity), (Mul(0.25,) @ Linear(3, 3))>)"


@pytest.mark.parametrize("stmt", [
    "let ReLU = 3", "def Linear(a) = a", "param sqrt = 2", "def tare = ReLU", "let Add = 1",
])
def test_builtin_names_cannot_be_redefined(stmt: str) -> None:
    result = compile_source("t.mod", text=stmt + "\n")
    assert codes(result) == ["E200"]
    assert result.diagnostics[0].message.endswith("is a built-in and cannot be redefined")


# --- tare ------------------------------------------------------------------------------------


def test_tare_rescales_every_mass_to_the_total() -> None:
    n = net("net N = tare(Linear(3, 3, mass=2) @ Linear(3, 3), 6)\n")
    assert [a.atom_mass for a in atoms(n.body)] == [2.0, 4.0]
    assert n.body.mass == 6.0


def test_tare_of_a_repeat_divides_among_the_copies() -> None:
    n = net("net N = tare(Linear(3, 3) ** 4, 2)\n")
    assert [a.atom_mass for a in atoms(n.body)] == [0.5]
    assert n.body.mass == 2.0


def test_nested_tare() -> None:
    n = net("net N = tare(tare(Linear(3, 3), 3) @ Linear(3, 3), 2)\n")
    assert [a.atom_mass for a in atoms(n.body)] == [0.5, 1.5]


def test_tare_only_touches_its_part() -> None:
    n = net("net N = Linear(3, 3) @ tare(Linear(3, 3) @ Linear(3, 3), 10)\n")
    assert [a.atom_mass for a in atoms(n.body)] == [5.0, 5.0, 1.0]
    assert n.body.mass == 11.0


def test_tare_example_of_the_reference() -> None:
    n = net("net T(x: [32]) = Linear(10, 32) @ tare(((ReLU @ Linear(32, 32)) ** 2) ** 4, 5) "
            "@ Linear(32, 32)\n")
    assert [a.atom_mass for a in atoms(n.body)] == [1.0, 5 / 8, 1.0]
    assert n.body.mass == pytest.approx(7.0)


def test_tare_is_recorded_for_lint() -> None:
    result = compile_source("t.mod", text="net N = tare(Linear(3, 3) ** 2, 6)\n")
    (record,) = result.program.tares
    assert (record.total, record.mass_before, record.span.column) == (6.0, 2.0, 9)


@pytest.mark.parametrize("text, code", [
    ("net N = tare(Linear(3, 3, mass=1e-300), 1e300)", "E404"),
    ("net N = tare(Linear(3, 3, mass=1e-300) @ Linear(3, 3), 1e-300)", "E404"),
    ("net N = tare(Linear(3, 3), 0)", "E303"),
    ("net N = tare(3, 1)", "E204"),
    ("net N = tare(Linear(3, 3), total=1)", "E203"),
])
def test_tare_rejects_what_it_cannot_rescale(text: str, code: str) -> None:
    assert codes(compile_source("t.mod", text=text + "\n")) == [code]


# --- operators on modules --------------------------------------------------------------------


@pytest.mark.parametrize("expr, expected", [
    ("Linear(3, 3) @ ReLU", "(Linear(3, 3) @ ReLU)"),
    ("ReLU + Abs", "(Add @ <ReLU, Abs>)"),
    ("ReLU - Abs", "(Add @ <ReLU, (Mul(-1.0,) @ Abs)>)"),
    ("2 * ReLU", "(Mul(2.0,) @ ReLU)"),
    ("ReLU * 2", "(ReLU @ Mul(2.0,))"),
    ("ReLU / 4", "(ReLU @ Mul(0.25,))"),
    ("-ReLU", "(Mul(-1.0,) @ ReLU)"),
    ("+ReLU", "ReLU"),
    ("2 * 3 * ReLU", "(Mul(6.0,) @ ReLU)"),
    ("2 * ReLU * 3", "((Mul(2.0,) @ ReLU) @ Mul(3.0,))"),
    ("ReLU ** 0", "Identity"),
    ("ReLU ** 1", "ReLU**1"),
    ("ReLU ** 3.0", "ReLU**3"),
    ("(ReLU + Abs) ** 2", "(Add @ <ReLU, Abs>)**2"),
    ("ReLU + Abs + GELU", "(Add @ <(Add @ <ReLU, Abs>), GELU>)"),
    ("Add @ (ReLU, Abs, GELU)", "(Add @ <ReLU, Abs, GELU>)"),
])
def test_module_operators(expr: str, expected: str) -> None:
    assert signature(net(f"net N(x: [3]) = {expr}\n").body) == expected


def test_repeat_is_never_unrolled() -> None:
    n = net("net N = (ReLU @ Linear(64, 64)) ** 10000\n")
    assert isinstance(n.body, ir.Repeat) and n.body.count == 10000
    assert len(list(ir.walk(n.body))) == 4  # the repeat, one composition, two leaves
    assert len(atoms(n.body)) == 1


def test_nested_repeats_stay_loops() -> None:
    n = net("net N = (Linear(8, 8) ** 1000) ** 100\n")
    assert signature(n.body) == "Linear(8, 8)**1000**100"


def test_the_largest_repeat_of_a_gpt_block_is_still_one_node() -> None:
    result = compile_source("t.mod", text="net G = GPT(65, 4, 128, 32, 32, 100000)\n")
    assert result.ok
    repeats = [n for n in ir.walk(result.program.nets[0].body) if isinstance(n, ir.Repeat)]
    assert [r.count for r in repeats] == [100000]
    assert result.elaborator.budget.count < 1000


# --- what is evaluated, and nets ---------------------------------------------------------


def test_unused_lets_and_params_are_evaluated() -> None:
    text = ("param p = 1 / 0\nlet unused = Linear(0, 3)\ndef never(n) = Linear(0, n)\n"
            "net N = Linear(3, 3)\n")
    result = compile_source("t.mod", text=text)
    assert codes(result) == ["E402", "E303"]
    assert [n.name for n in result.program.nets] == ["N"]


def test_a_failing_net_does_not_hide_the_others() -> None:
    text = "net A = Linear(3, 4) @ Linear(5, 6)\nnet B = Linear(3, 3)\nnet C = Relu\n"
    result = compile_source("t.mod", text=text)
    assert codes(result) == ["E300", "E201"]
    assert [n.name for n in result.program.nets] == ["B"]


def test_net_selection() -> None:
    text = "net A = Linear(3, 4)\nnet B = Linear(5, 6)\n"
    result = compile_source("t.mod", text=text, net="B")
    assert [n.name for n in result.program.nets] == ["B"]


def test_a_net_that_is_a_tuple_of_modules() -> None:
    n = net("let pair = (Linear(4, 3), ReLU)\nnet N(x: [3]) = pair\n")
    assert isinstance(n.body, ir.Tuple) and signature(n.body) == "<Linear(4, 3), ReLU>"
    assert n.body.out_shape == ir.TupleShape((ir.TensorShape((4,)), ir.TensorShape((3,))))


@pytest.mark.parametrize("text, code", [
    ("net N = (1, Linear(3, 3))", "E204"),
    ("net N = 3", "E204"),
    ("net N = ()", "E204"),
    ("let L = Linear(3, 3)\nnet N = L(2)", "E204"),
    ("net N = Linear(3, 3) * Linear(3, 3)", "E204"),
    ("net N = 2 ** Linear(3, 3)", "E204"),
    ("net N = Linear(3, 3) ** Linear(3, 3)", "E400"),
    ("net N = sqrt(-1) * Linear(3, 3)", "E403"),
    ("net N = min(Linear(3, 3))", "E204"),
    ("net N = Linear(3, 3) ** 100001", "E901"),
])
def test_values_of_the_wrong_kind(text: str, code: str) -> None:
    assert codes(compile_source("t.mod", text=text + "\n")) == [code]


# --- the examples of docs/language.md --------------------------------------------------------

LANGUAGE_DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"


def doc_examples() -> list:
    """Each ``mod`` block of the reference, with the ``text`` block right after it, if any."""
    blocks = re.findall(r"```(\w*)\n(.*?)```", LANGUAGE_DOC.read_text("utf-8"), re.S)
    examples = []
    for k, (lang, body) in enumerate(blocks):
        if lang == "mod":
            after = blocks[k + 1] if k + 1 < len(blocks) else ("", "")
            expected = after[1] if after[0] == "text" else None
            examples.append(pytest.param(body, expected, id=f"block{k}"))
    return examples


@pytest.mark.parametrize("source, expected", doc_examples())
def test_language_doc_examples(write_files, monkeypatch, source, expected) -> None:
    imports = re.findall(r'^import "(.*)"', source, re.M)
    monkeypatch.chdir(write_files({name: "" for name in imports}))
    result = compile_source("net.mod", text=source)
    rendered = "".join(d.render() + "\n" for d in result.diagnostics)
    assert rendered == (expected or "")
