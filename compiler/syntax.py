"""The abstract syntax tree of a ``.mod`` file, every node with its source span."""

from __future__ import annotations

from dataclasses import dataclass, field

from modc.source import SourceFile, Span


@dataclass(eq=False)
class Expr:
    span: Span


@dataclass(eq=False)
class Num(Expr):
    value: int | float


@dataclass(eq=False)
class Name(Expr):
    id: str


@dataclass(eq=False)
class Keyword:
    name: str
    value: Expr
    span: Span


@dataclass(eq=False)
class Call(Expr):
    func: str
    func_span: Span
    args: list[Expr]
    keywords: list[Keyword]


@dataclass(eq=False)
class BinOp(Expr):
    op: str  # one of + - * / // @ **
    left: Expr
    right: Expr
    op_span: Span


@dataclass(eq=False)
class UnaryOp(Expr):
    op: str  # "-" or "+"
    operand: Expr


@dataclass(eq=False)
class TupleExpr(Expr):
    items: list[Expr]


@dataclass(eq=False)
class ShapeExpr:
    is_int: bool
    dims: list[Expr]
    span: Span


@dataclass(eq=False)
class Stmt:
    span: Span


@dataclass(eq=False)
class Import(Stmt):
    path: str
    path_span: Span


@dataclass(eq=False)
class Param(Stmt):
    name: str
    name_span: Span
    value: Expr


@dataclass(eq=False)
class Let(Stmt):
    name: str
    name_span: Span
    value: Expr


@dataclass(eq=False)
class DefParam:
    name: str
    span: Span
    default: Expr | None = None


@dataclass(eq=False)
class Def(Stmt):
    name: str
    name_span: Span
    params: list[DefParam] | None  # None: written without parentheses
    body: Expr


@dataclass(eq=False)
class NetDecl(Stmt):
    name: str
    name_span: Span
    input_name: str
    shape: ShapeExpr | None
    body: Expr


@dataclass(eq=False)
class Module:
    """One parsed file."""

    source: SourceFile
    statements: list[Stmt] = field(default_factory=list)
