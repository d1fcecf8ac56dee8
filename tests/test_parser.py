"""Parser tests: every construct, Python's precedence, positions, and the grammar itself."""

from __future__ import annotations

import ast as pyast
from importlib import resources

import pytest
from lark import Lark

from modc import syntax as ast
from modc.diagnostics import CompileError
from modc.parser import MAX_BRACKET_DEPTH, MAX_EXPR_DEPTH, parse
from modc.source import SourceFile


def parse_text(text: str) -> ast.Module:
    return parse(SourceFile("t.mod", text))


def expr_of(text: str) -> ast.Expr:
    (stmt,) = parse_text(f"let v = {text}\n").statements
    return stmt.value


def show(e: ast.Expr) -> str:
    """A fully parenthesized rendering of a modc expression."""
    if isinstance(e, ast.Num):
        return repr(e.value)
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.UnaryOp):
        return f"({e.op}{show(e.operand)})"
    if isinstance(e, ast.BinOp):
        return f"({show(e.left)} {e.op} {show(e.right)})"
    if isinstance(e, ast.TupleExpr):
        return "(" + "".join(show(i) + ", " for i in e.items) + ")"
    assert isinstance(e, ast.Call)
    args = [show(a) for a in e.args] + [f"{k.name}={show(k.value)}" for k in e.keywords]
    return f"{e.func}[{', '.join(args)}]"


_PY_OPS = {pyast.Add: "+", pyast.Sub: "-", pyast.Mult: "*", pyast.Div: "/",
           pyast.FloorDiv: "//", pyast.MatMult: "@", pyast.Pow: "**",
           pyast.USub: "-", pyast.UAdd: "+"}


def show_python(e: pyast.expr) -> str:
    """The same rendering of the expression as Python parses it: the precedence oracle."""
    if isinstance(e, pyast.Constant):
        return repr(e.value)
    if isinstance(e, pyast.Name):
        return e.id
    if isinstance(e, pyast.UnaryOp):
        return f"({_PY_OPS[type(e.op)]}{show_python(e.operand)})"
    if isinstance(e, pyast.BinOp):
        return f"({show_python(e.left)} {_PY_OPS[type(e.op)]} {show_python(e.right)})"
    if isinstance(e, pyast.Tuple):
        return "(" + "".join(show_python(i) + ", " for i in e.elts) + ")"
    assert isinstance(e, pyast.Call)
    args = [show_python(a) for a in e.args]
    args += [f"{k.arg}={show_python(k.value)}" for k in e.keywords]
    return f"{e.func.id}[{', '.join(args)}]"


# --- statements --------------------------------------------------------------------------


def test_param_and_let() -> None:
    param, let = parse_text("param width = 256\nlet d = 2 * width\n").statements
    assert isinstance(param, ast.Param) and param.name == "width"
    assert isinstance(param.value, ast.Num) and param.value.value == 256
    assert isinstance(let, ast.Let) and let.name == "d"
    assert show(let.value) == "(2 * width)"


def test_def_with_positional_keyword_and_default_params() -> None:
    (d,) = parse_text("def Block(n, m=2, k=n + 1) = Linear(n, m, mass=k)\n").statements
    assert isinstance(d, ast.Def) and d.name == "Block"
    assert [p.name for p in d.params] == ["n", "m", "k"]
    assert d.params[0].default is None
    assert show(d.params[1].default) == "2"
    assert show(d.params[2].default) == "(n + 1)"
    assert show(d.body) == "Linear[n, m, mass=k]"


def test_def_without_parentheses_has_no_parameter_list() -> None:
    bare, empty = parse_text("def B = ReLU\ndef C() = ReLU\n").statements
    assert bare.params is None
    assert empty.params == []
    assert show(bare.body) == "ReLU"


def test_net_with_input_annotation() -> None:
    (net,) = parse_text("net CNN(img: [3, 32, 32]) = Flatten\n").statements
    assert isinstance(net, ast.NetDecl) and net.name == "CNN"
    assert net.input_name == "img"
    assert not net.shape.is_int
    assert [show(d) for d in net.shape.dims] == ["3", "32", "32"]


def test_net_without_input_annotation() -> None:
    bare, named = parse_text("net A = Linear(3, 4)\nnet B(tokens) = Embed(8, 10)\n").statements
    assert (bare.input_name, bare.shape) == ("x", None)
    assert (named.input_name, named.shape) == ("tokens", None)


def test_int_input_annotation_with_a_name_as_dimension() -> None:
    (net,) = parse_text("net G(x: int[ctx]) = Embed(8, 10)\n").statements
    assert net.shape.is_int
    assert [show(d) for d in net.shape.dims] == ["ctx"]


def test_int_is_a_keyword_only_before_a_shape() -> None:
    let, net = parse_text("let int = 3\nnet N(x: int[int]) = Linear(3, int)\n").statements
    assert let.name == "int"
    assert net.shape.is_int and show(net.shape.dims[0]) == "int"


def test_import() -> None:
    (imp,) = parse_text('import "lib/blocks.mod"\n').statements
    assert isinstance(imp, ast.Import) and imp.path == "lib/blocks.mod"


def test_comments_blank_lines_and_missing_final_newline() -> None:
    text = "# header\n\n\nparam a = 1  # trailing\n   # indented comment\n\nlet b = a"
    param, let = parse_text(text).statements
    assert (param.name, let.name) == ("a", "b")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment", "# one\n# two\n"])
def test_files_without_statements(text: str) -> None:
    assert parse_text(text).statements == []


def test_crlf_line_endings() -> None:
    stmts = parse_text("param a = 1\r\nlet b = (a,\r\n  a)\r\n").statements
    assert [s.name for s in stmts] == ["a", "b"]
    assert show(stmts[1].value) == "(a, a, )"


def test_statements_span_lines_inside_brackets() -> None:
    text = (
        "def F(\n  a,\n  b = 2,\n) = Linear(\n  a,   # out\n  b,   # in\n)\n"
        "net N(x: [\n  3,\n  4\n]) = (F(3, 4),\n  F(3, 4))\n"
        "let t = 1\n"
    )
    d, net, let = parse_text(text).statements
    assert [p.name for p in d.params] == ["a", "b"]
    assert show(d.body) == "Linear[a, b]"
    assert [show(x) for x in net.shape.dims] == ["3", "4"]
    assert show(net.body) == "(F[3, 4], F[3, 4], )"
    assert let.span.line == 13


def test_backslash_continues_a_line() -> None:
    (let,) = parse_text("let a = 1 + \\\n    2\n").statements
    assert show(let.value) == "(1 + 2)"


def test_trailing_commas() -> None:
    d, net = parse_text(
        "def F(a, b,) = Linear(a, b, mass=1,)\nnet N(x: [3, 4,]) = (F(3, 4,), ReLU,)\n"
    ).statements
    assert [p.name for p in d.params] == ["a", "b"]
    assert show(d.body) == "Linear[a, b, mass=1]"
    assert [show(x) for x in net.shape.dims] == ["3", "4"]
    assert show(net.body) == "(F[3, 4], ReLU, )"


def test_tuples() -> None:
    one = expr_of("(a,)")
    assert isinstance(one, ast.TupleExpr) and show(one) == "(a, )"
    assert isinstance(expr_of("(a)"), ast.Name)  # parentheses alone make no tuple
    empty = expr_of("()")
    assert isinstance(empty, ast.TupleExpr) and empty.items == []
    assert show(expr_of("((a, b), (c,), d)")) == "((a, b, ), (c, ), d, )"


def test_calls_with_keywords() -> None:
    call = expr_of("Conv2D(16, 3, kernel=5, padding=0)")
    assert isinstance(call, ast.Call) and call.func == "Conv2D"
    assert [show(a) for a in call.args] == ["16", "3"]
    assert [(k.name, show(k.value)) for k in call.keywords] == [("kernel", "5"), ("padding", "0")]
    assert show(expr_of("MeanSubtract(dim=(-2, -1))")) == "MeanSubtract[dim=((-2), (-1), )]"


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("1_000", 1000), ("0.5", 0.5), (".5", 0.5), ("2.", 2.0), ("1e3", 1000.0),
    ("1E-3", 0.001), ("2.5e+2", 250.0), ("1_0.2_5", 10.25), ("08", 8),
])
def test_number_literals(text: str, value: float) -> None:
    num = expr_of(text)
    assert isinstance(num, ast.Num)
    assert num.value == value and type(num.value) is type(value)


# --- precedence and associativity (Python's) ---------------------------------------------

PRECEDENCE_CASES = [
    "-2 ** 2", "2 ** -1", "2 ** 3 ** 2", "-a ** -b ** c", "a ** -b", "--a", "-+a",
    "a @ b @ c", "s * m @ n", "m @ n * s", "a / b / c", "a // b * c", "a - b - c",
    "a + b * c", "a * b + c", "a - -b", "-a @ b", "a @ -b", "2 * -3 ** 2",
    "a @ b + c @ d", "(a + b) * c", "a * (b + c)", "s * (m @ n)", "(a @ b) ** n",
    "a @ b ** n", "-m ** 2 * s", "F(a + b, k=c * d) @ G(e) ** 2", "(a, b @ c)",
    "a @ (b, c) @ d", "x // y // z", "a ** b @ c ** d",
]


@pytest.mark.parametrize("text", PRECEDENCE_CASES)
def test_precedence_matches_python(text: str) -> None:
    expected = show_python(pyast.parse(text, mode="eval").body)
    assert show(expr_of(text)) == expected


def test_power_binds_tighter_than_unary_minus_by_structure() -> None:
    e = expr_of("-2 ** 2")
    assert isinstance(e, ast.UnaryOp) and e.op == "-"
    assert isinstance(e.operand, ast.BinOp) and e.operand.op == "**"
    e = expr_of("a @ b @ c")
    assert isinstance(e.left, ast.BinOp) and show(e.left) == "(a @ b)"


# --- positions ----------------------------------------------------------------------------


def test_positions_are_one_based_lines_and_columns() -> None:
    module = parse_text("param w = 256\nnet N(x: [8]) = Linear(4, w) @ ReLU\n")
    param, net = module.statements
    assert (param.span.line, param.span.column) == (1, 1)
    assert (param.name_span.line, param.name_span.column) == (1, 7)
    assert (param.value.span.column, param.value.span.end_column) == (11, 14)
    assert (net.name_span.line, net.name_span.column) == (2, 5)
    assert net.shape.span.column == 10 and net.shape.span.text() == "[8]"
    body = net.body
    assert body.span.text() == "Linear(4, w) @ ReLU"
    assert (body.op_span.line, body.op_span.column, body.op_span.text()) == (2, 30, "@")
    call = body.left
    assert call.func_span.text() == "Linear" and call.func_span.column == 17
    assert call.args[1].span.column == 27


def test_operator_spans_skip_brackets_and_comments() -> None:
    text = "let v = ((a) # a @ comment\n  @ (b)) + c ** 2 // d\n"
    (let,) = parse_text(text).statements
    add = let.value
    assert add.op == "+" and (add.op_span.line, add.op_span.column) == (2, 10)
    inner = add.left
    assert inner.op == "@" and (inner.op_span.line, inner.op_span.column) == (2, 3)
    floordiv = add.right
    assert floordiv.op == "//" and floordiv.op_span.text() == "//"
    assert floordiv.left.op_span.text() == "**"


def test_keyword_span_covers_name_and_value() -> None:
    call = expr_of("Linear(3, 4, mass=0.5)")
    (kw,) = call.keywords
    assert kw.span.text() == "mass=0.5"


def test_multi_line_statement_span() -> None:
    (let,) = parse_text("let t = (a,\n  b,\n  c)\n").statements
    assert (let.span.line, let.span.end_line, let.span.end_column) == (1, 3, 5)


def test_columns_count_code_points() -> None:
    (imp, let) = parse_text('import "é€𝄞.mod"\nlet a = 1\n').statements
    assert imp.path == "é€𝄞.mod"
    assert imp.path_span.end_column == 8 + len('"é€𝄞.mod"')
    assert let.value.span.start == len('import "é€𝄞.mod"\nlet a = ')
    assert (let.value.span.line, let.value.span.column) == (2, 9)


def test_def_param_and_import_spans() -> None:
    imp, d = parse_text('import "x.mod"\ndef F(a, bb=1) = a\n').statements
    assert imp.path_span.text() == '"x.mod"'
    assert [p.span.column for p in d.params] == [7, 10]


# --- limits and errors raised by the parser ----------------------------------------------


def parse_error(text: str) -> tuple[str, str]:
    with pytest.raises(CompileError) as info:
        parse_text(text)
    return info.value.diagnostic.code, info.value.diagnostic.message


@pytest.mark.parametrize("keyword", ["import", "param", "let", "def", "net"])
def test_keywords_are_reserved(keyword: str) -> None:
    assert parse_error(f"let {keyword} = 3\n") == (
        "E100", f"'{keyword}' is a keyword and cannot be used as a name")
    assert parse_error(f"def F({keyword}) = 3\n")[0] == "E100"
    assert parse_error(f"let a = {keyword}\n")[0] == "E100"


def test_bracket_depth_limit() -> None:
    deep = "(" * MAX_BRACKET_DEPTH + "1" + ")" * MAX_BRACKET_DEPTH
    assert show(expr_of(deep)) == "1"
    too_deep = "(" * (MAX_BRACKET_DEPTH + 1) + "1" + ")" * (MAX_BRACKET_DEPTH + 1)
    assert parse_error(f"let v = {too_deep}\n")[0] == "E900"


@pytest.mark.parametrize("op", [" + ", " @ ", " ** "])
def test_expression_depth_limit(op: str) -> None:
    # n operands joined by one operator nest n - 1 operations above the leaves.
    fits = op.join(["a"] * MAX_EXPR_DEPTH)
    assert isinstance(expr_of(fits), ast.BinOp)
    code, message = parse_error("let v = " + op.join(["a"] * (MAX_EXPR_DEPTH + 1)) + "\n")
    assert (code, message) == ("E900", f"expression nested more than {MAX_EXPR_DEPTH} levels deep")


def test_unary_chain_depth_limit() -> None:
    assert show(expr_of("-" * (MAX_EXPR_DEPTH - 1) + "a")).endswith("a" + ")" * 399)
    assert parse_error("let v = " + "-" * MAX_EXPR_DEPTH + "a\n")[0] == "E900"


def test_positional_argument_after_keyword_is_a_syntax_error() -> None:
    assert parse_error("let v = F(a=1, 2)\n") == (
        "E100", "positional argument after a keyword argument")


def test_integer_literal_with_too_many_digits() -> None:
    assert parse_error("let v = " + "9" * 5000 + "\n") == (
        "E403", "number too large (5,000 digits)")


# --- the grammar itself -------------------------------------------------------------------


def test_grammar_is_conflict_free_in_strict_mode() -> None:
    """lark's strict mode rejects shift/reduce conflicts and colliding terminals."""
    pytest.importorskip("interegular")
    grammar = resources.files("modc.grammar").joinpath("modc.lark").read_text("utf-8")
    parser = Lark(grammar, parser="lalr", strict=True)
    assert parser.parse("let a = 1\n").data == "start"
