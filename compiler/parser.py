"""Parse ``.mod`` text into the AST of :mod:`modc.syntax`, with friendly syntax errors.

The LALR tables are built once per process and cached on disk by lark (keyed by a
hash of the grammar), which keeps ``modc lint`` start-up near a bare ``import lark``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import cast

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from modc import syntax as ast
from modc.diagnostics import CompileError, error
from modc.source import SourceFile, Span

log = logging.getLogger(__name__)

MAX_BRACKET_DEPTH = 64
MAX_EXPR_DEPTH = 400
MAX_SOURCE_CHARS = 200_000

_OPEN = {"LPAR": "(", "LSQB": "["}
_CLOSE = {"RPAR": ")", "RSQB": "]"}
_MATCH = {"RPAR": "LPAR", "RSQB": "LSQB"}

_FRIENDLY = {
    "RPAR": "')'", "LPAR": "'('", "RSQB": "']'", "LSQB": "'['", "COMMA": "','",
    "EQUAL": "'='", "COLON": "':'", "NAME": "a name", "NUMBER": "a number",
    "STRING": "a quoted file name", "_NL": "end of line", "$END": "end of input",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "AT": "'@'",
    "POW": "'**'", "FLOORDIV": "'//'", "INT_TYPE": "'int'",
}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT", "POW", "FLOORDIV"}
_KEYWORDS = {"IMPORT": "import", "PARAM": "param", "LET": "let", "DEF": "def", "NET": "net"}
_RESERVED = frozenset(_KEYWORDS.values())
_NOT_EXPRESSIONS = frozenset({
    "start", "import_stmt", "param_stmt", "let_stmt", "def_stmt", "net_stmt", "def_params",
    "def_param", "net_input", "shape", "arguments",
})


class _Brackets:
    """Post-lexer: drops newlines inside brackets and checks that brackets balance."""

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.source: SourceFile | None = None
        self.stack: list[Token] = []  # open brackets, read by parse() on a syntax error

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.stack = stack = []
        for tok in stream:
            if tok.type in _OPEN:
                stack.append(tok)
                if len(stack) > MAX_BRACKET_DEPTH:
                    raise error("E900", f"brackets nested deeper than {MAX_BRACKET_DEPTH}",
                                _tok_span(self.source, tok))
            elif tok.type in _CLOSE:
                if not stack or stack[-1].type != _MATCH[tok.type]:
                    raise error("E102", f"unmatched '{_CLOSE[tok.type]}'",
                                _tok_span(self.source, tok),
                                hint=_unclosed_hint(stack))
                stack.pop()
            elif tok.type == "_NL" and stack:
                continue
            elif tok.type == "NAME" and str(tok) in _RESERVED:
                # The contextual lexer reads a keyword as a NAME where no keyword fits.
                if stack and _starts_line(self.source, tok):
                    raise _never_closed(self.source, stack[-1], tok)
                raise error("E100", f"'{tok}' is a keyword and cannot be used as a name",
                            _tok_span(self.source, tok), hint="choose another name")
            yield tok
        if stack:
            raise _never_closed(self.source, stack[-1], None)


def _starts_line(source: SourceFile | None, tok: Token) -> bool:
    if source is None or tok.start_pos is None:
        return False
    line_start = source.text.rfind("\n", 0, tok.start_pos) + 1
    return not source.text[line_start:tok.start_pos].strip()


def _never_closed(source: SourceFile | None, bracket: Token, keyword: Token | None):
    """A bracket left open; a keyword starting a line inside it begins the next statement."""
    hint = f"a new statement starts on line {keyword.line}" if keyword is not None else None
    return error("E102", f"'{_OPEN[bracket.type]}' is never closed",
                 _tok_span(source, bracket), hint=hint)


def _unclosed_hint(stack: list[Token]) -> str | None:
    if not stack:
        return "remove it, or add the opening bracket it closes"
    tok = stack[-1]
    return f"the innermost open bracket is '{_OPEN[tok.type]}' on line {tok.line}"


def _tok_span(source: SourceFile | None, tok: Token) -> Span | None:
    if source is None or tok.start_pos is None:
        return None
    end = tok.end_pos if tok.end_pos is not None else tok.start_pos + len(str(tok))
    return source.span(tok.start_pos, end)


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _Brackets]:
    grammar = resources.files("modc.grammar").joinpath("modc.lark").read_text("utf-8")
    post = _Brackets()
    try:
        lark = Lark(grammar, parser="lalr", propagate_positions=True, postlex=post,
                    maybe_placeholders=True, cache=True)
    except OSError:  # an unwritable temporary directory: build the tables in memory
        lark = Lark(grammar, parser="lalr", propagate_positions=True, postlex=post,
                    maybe_placeholders=True)
    return lark, post


def parse(source: SourceFile) -> ast.Module:
    """Parse one file; raises CompileError with a positioned diagnostic on bad syntax."""
    if len(source.text) > MAX_SOURCE_CHARS:
        raise error("E904", f"file is larger than {MAX_SOURCE_CHARS:,} characters",
                    source.span(0, 0))
    lark, post = _parser()
    post.source = source
    text = source.text if source.text.endswith("\n") else source.text + "\n"
    try:
        tree = lark.parse(text)
    except UnexpectedInput as exc:
        tok = getattr(exc, "token", None)
        if post.stack and tok is not None and tok.type in _KEYWORDS and _starts_line(source, tok):
            raise _never_closed(source, post.stack[-1], tok) from None
        raise _syntax_error(source, exc) from None
    _check_depth(source, tree)
    try:
        return _ToAst(source).transform(tree)
    except VisitError as exc:  # lark wraps what the transformer raises
        if isinstance(exc.orig_exc, CompileError):
            raise exc.orig_exc from None
        if isinstance(exc.orig_exc, RecursionError):
            raise error("E900", "expression nested too deeply", source.span(0, 0)) from None
        raise
    except RecursionError:
        raise error("E900", "expression nested too deeply", source.span(0, 0)) from None


def _check_depth(source: SourceFile, tree: Tree) -> None:
    """Bound expression nesting before any recursive walk (transformer, elaborator)."""
    stack: list[tuple[Tree, int, Tree]] = [(tree, 0, tree)]
    while stack:
        node, depth, outermost = stack.pop()
        if node.data not in _NOT_EXPRESSIONS:
            depth += 1
            outermost = node if depth == 1 else outermost
        if depth > MAX_EXPR_DEPTH:
            meta = outermost.meta
            raise error("E900", f"expression nested more than {MAX_EXPR_DEPTH} levels deep",
                        source.span(meta.start_pos, meta.end_pos),
                        hint="name parts of it with 'let' or 'def', or repeat with '** n'")
        stack.extend((c, depth, outermost) for c in node.children if isinstance(c, Tree))


def _syntax_error(source: SourceFile, exc: UnexpectedInput):
    """Turn lark's exception into a friendly diagnostic."""
    if isinstance(exc, UnexpectedCharacters):
        pos = cast(int, exc.pos_in_stream)  # lark declares it None on UnexpectedInput
        ch = source.text[pos] if pos < len(source.text) else ""
        span = source.span(pos, pos + 1)
        if ch == '"':
            return error("E100", "unterminated string", span,
                         hint="a file name is written \"name.mod\" on one line")
        if ch == "\\":
            return error("E103", "stray '\\'", span,
                         hint="inside brackets a statement may span lines without '\\'")
        shown = repr(ch) if ch.isprintable() else f"U+{ord(ch):04X}" if ch else "end"
        hint = "end lines with \\n or \\r\\n" if ch == "\r" else None
        return error("E103", f"invalid character {shown}", span, hint=hint)
    if isinstance(exc, UnexpectedEOF):
        end = len(source.text)
        return error("E101", "unexpected end of input", source.span(end, end))
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = set(exc.expected) | set(getattr(exc, "accepts", None) or ())
    if tok.type == "$END" or tok.start_pos is None:
        pos = len(source.text.rstrip("\n"))
        span = source.span(pos, pos)
    else:
        tok_span = _tok_span(source, tok)
        assert tok_span is not None  # the token has a position
        span = tok_span
    return error("E100", _describe_unexpected(tok, expected), span, hint=_hint(tok, expected))


def _describe_unexpected(tok: Token, expected: set[str]) -> str:
    got = _FRIENDLY.get(tok.type, f"'{tok}'")
    if tok.type in _KEYWORDS:
        got = f"keyword '{tok}'"
    elif tok.type == "NAME":
        got = f"name '{tok}'"
    elif tok.type == "NUMBER":
        got = f"number {tok}"
    elif tok.type == "STRING":
        got = f"string {tok}"
    operand = {"NAME", "NUMBER", "LPAR", "MINUS"}
    if tok.type in ("_NL", "$END") and operand & expected:
        return "expected an expression before the end of the line"
    if tok.type in ("_NL", "$END"):
        want = _want(expected)
        return f"unexpected end of line; expected {want}" if want else "unexpected end of line"
    binary = _OPERATORS - {"MINUS", "PLUS"}
    if tok.type in _OPERATORS and operand & expected and not binary & expected:
        return f"missing operand before {got}"
    if expected and "_NL" in expected and tok.type in ("NAME", "NUMBER", "LPAR"):
        return f"unexpected {got}: missing operator, or two statements on one line"
    want = _want(expected)
    return f"unexpected {got}; expected {want}" if want else f"unexpected {got}"


def _want(expected: set[str]) -> str:
    ends = {"_NL", "$END"}
    names = sorted({_FRIENDLY[e] for e in expected if e in _FRIENDLY and e not in ends})
    if not names:
        return "the end of the line" if ends & expected else ""
    if len(names) > 5:
        return "an operator or the end of the line" if "'+'" in names else "an expression"
    return " or ".join(names)


def _hint(tok: Token, expected: set[str]) -> str | None:
    if tok.type == "EQUAL" and "COMMA" in expected:
        return "keyword arguments are written name=value inside a call"
    if tok.type == "STAR" and "POW" not in expected and str(tok) == "*":
        return None
    if tok.type in _KEYWORDS:
        return "statements start at the beginning of a line"
    if tok.type == "STRING":
        return 'strings only name files: import "file.mod"'
    return None


@v_args(meta=True)
class _ToAst(Transformer):
    """Build :mod:`modc.syntax` nodes from the lark parse tree."""

    def __init__(self, source: SourceFile):
        super().__init__()
        self.src = source

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", False):
            return self.src.span(0, 0)
        return self.src.span(meta.start_pos, meta.end_pos)

    def _tspan(self, tok: Token) -> Span:
        assert tok.start_pos is not None and tok.end_pos is not None  # lexed tokens have them
        return self.src.span(tok.start_pos, tok.end_pos)

    # statements
    def start(self, meta, items):
        return ast.Module(self.src, [s for s in items if isinstance(s, ast.Stmt)])

    def import_stmt(self, meta, items):
        tok = items[0]
        return ast.Import(self._span(meta), str(tok)[1:-1], self._tspan(tok))

    def param_stmt(self, meta, items):
        name, value = items
        return ast.Param(self._span(meta), str(name), self._tspan(name), value)

    def let_stmt(self, meta, items):
        name, value = items
        return ast.Let(self._span(meta), str(name), self._tspan(name), value)

    def def_stmt(self, meta, items):
        name, params, body = (items[0], items[1], items[2]) if len(items) == 3 else (
            items[0], None, items[1])
        return ast.Def(self._span(meta), str(name), self._tspan(name), params, body)

    def def_params(self, meta, items):
        return [p for p in items if p is not None]

    def def_param(self, meta, items):
        name, default = items
        return ast.DefParam(str(name), self._tspan(name), default)

    def net_stmt(self, meta, items):
        name, net_input, body = items
        input_name, shape = net_input if net_input is not None else ("x", None)
        return ast.NetDecl(self._span(meta), str(name), self._tspan(name), input_name, shape, body)

    def net_input(self, meta, items):
        return (str(items[0]), items[1])

    def shape(self, meta, items):
        is_int = items[0] is not None
        return ast.ShapeExpr(is_int, [d for d in items[1:] if d is not None], self._span(meta))

    # expressions
    def name(self, meta, items):
        return ast.Name(self._span(meta), str(items[0]))

    def number(self, meta, items):
        text = str(items[0])
        span = self._span(meta)
        try:
            if any(c in text for c in ".eE"):
                return ast.Num(span, float(text))
            return ast.Num(span, int(text))
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            raise error("E403", f"number too large ({len(text):,} digits)", span) from None

    def call(self, meta, items):
        func, args = items[0], items[1] or []
        positional: list[ast.Expr] = []
        keywords: list[ast.Keyword] = []
        for a in args:
            if isinstance(a, ast.Keyword):
                keywords.append(a)
            elif keywords:
                raise error("E100", "positional argument after a keyword argument", a.span)
            else:
                positional.append(a)
        return ast.Call(self._span(meta), str(func), self._tspan(func), positional, keywords)

    def arguments(self, meta, items):
        return [a for a in items if a is not None]

    def keyword(self, meta, items):
        name, value = items
        return ast.Keyword(str(name), value, self.src.span(name.start_pos, value.span.end))

    def tuple(self, meta, items):
        return ast.TupleExpr(self._span(meta), [i for i in items if i is not None])

    def empty_tuple(self, meta, items):
        return ast.TupleExpr(self._span(meta), [])

    def _bin(self, op: str, meta, items, op_tok: Token | None = None):
        left, right = items[0], items[-1]
        if op_tok is not None:
            op_span = self._tspan(op_tok)
        else:
            op_span = self._find_op(op, left.span.end, right.span.start)
        return ast.BinOp(self._span(meta), op, left, right, op_span)

    def _find_op(self, op: str, start: int, end: int) -> Span:
        """The operator's own span: between the operands lie only it, brackets, blanks
        and comments (lark drops anonymous operator tokens from the tree)."""
        text = self.src.text
        i = start
        while i < end:
            if text[i] == "#":
                i = text.find("\n", i, end)
                if i < 0:
                    break
            elif text.startswith(op, i):
                return self.src.span(i, i + len(op))
            i += 1
        return self.src.span(start, end)

    def add(self, meta, items):
        return self._bin("+", meta, items)

    def sub(self, meta, items):
        return self._bin("-", meta, items)

    def mul(self, meta, items):
        return self._bin("*", meta, items)

    def div(self, meta, items):
        return self._bin("/", meta, items)

    def floordiv(self, meta, items):
        return self._bin("//", meta, items, items[1])

    def matmul(self, meta, items):
        return self._bin("@", meta, items)

    def pow(self, meta, items):
        return self._bin("**", meta, items, items[1])

    def neg(self, meta, items):
        return ast.UnaryOp(self._span(meta), "-", items[0])

    def pos(self, meta, items):
        return ast.UnaryOp(self._span(meta), "+", items[0])
