"""The binary operators on compile-time values (DESIGN.md, The language).

On numbers they are Python's arithmetic. On modules: ``f @ g`` composes (g first);
``a + b`` is ``Add @ (a, b)``; ``a - b`` is ``a + (-1) * b``; ``s * m`` is ``Mul(s) @ m``;
``m * s`` is ``m @ Mul(s)``; ``m / s`` is ``m * (1/s)``; ``m ** n`` repeats n fresh copies.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from modc import ir, limits
from modc import syntax as ast
from modc.diagnostics import error
from modc.values import TupleValue, Value, check_number, is_number, kind_name, to_module

if TYPE_CHECKING:
    from modc.elaborate import Elaborator, _Env


def binary(elab: Elaborator, expr: ast.BinOp, left: Value, right: Value, env: _Env) -> Value:
    if is_number(left) and is_number(right):
        return check_number(_arith(expr, left, right), expr.span)
    if expr.op == "**":
        return _power(elab, expr, left, right, env)
    lmod = to_module(left, expr.left.span)
    rmod = to_module(right, expr.right.span)
    op = expr.op
    if op == "@" and lmod is not None and rmod is not None:
        return elab.compose(lmod, rmod, expr.op_span, env)
    if op in ("+", "-") and lmod is not None and rmod is not None:
        if op == "-":
            rmod = elab.compose(_scalar(elab, -1.0, expr, env), rmod, expr.op_span, env)
        return _add(elab, lmod, rmod, expr, env)
    if op == "*" and is_number(left) and rmod is not None:
        return elab.compose(_scalar(elab, left, expr, env), rmod, expr.op_span, env)
    if op == "*" and lmod is not None and is_number(right):
        return elab.compose(lmod, _scalar(elab, right, expr, env), expr.op_span, env)
    if op == "/" and lmod is not None and is_number(right):
        if right == 0:
            raise error("E402", "division by zero", expr.right.span)
        return elab.compose(lmod, _scalar(elab, 1 / right, expr, env), expr.op_span, env)
    raise error("E204", _mismatch(op, left, right), expr.op_span, hint=_hint(op, left, right))


def _arith(expr: ast.BinOp, a: int | float, b: int | float) -> int | float:
    op = expr.op
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op in ("/", "//"):
        if b == 0:
            raise error("E402", "division by zero", expr.right.span)
        return a / b if op == "/" else a // b
    if op == "**":
        return _pow_numbers(expr, a, b)
    raise error("E204", f"'{op}' does not apply to numbers", expr.op_span,
                hint="'@' composes modules; use '*' to multiply numbers")


def _pow_numbers(expr: ast.BinOp, a: int | float, b: int | float) -> int | float:
    if a == 0 and b < 0:
        raise error("E402", "division by zero (zero to a negative power)", expr.span)
    if a < 0 and not float(b).is_integer():
        raise error("E403", "a negative number to a fractional power is not real", expr.span)
    if a not in (0, 1, -1) and b * math.log2(abs(a)) > 1100:
        raise error("E403", "number too large", expr.span)
    try:
        return a**b
    except OverflowError:  # a float result above 1.8e308 (ints are checked by the caller)
        raise error("E403", "number too large", expr.span) from None


def _scalar(elab: Elaborator, s: int | float, expr: ast.BinOp, env: _Env) -> ir.Bond:
    if s == 0:
        raise error("E401", "a module multiplied by zero", expr.span,
                    hint="a zero scalar removes the module; leave it out instead")
    return elab.bond("Mul", {"s": float(s)}, expr.span, env)


def _add(elab: Elaborator, a: ir.Node, b: ir.Node, expr: ast.BinOp, env: _Env) -> ir.Node:
    elab.budget.charge(1, expr.span)
    pair = ir.Tuple((a, b), span=elab._at(expr.span, env), label=env.label)
    return elab.compose(elab.bond("Add", {}, expr.op_span, env), pair, expr.op_span, env)


def _power(elab: Elaborator, expr: ast.BinOp, left: Value, right: Value, env: _Env) -> Value:
    module = to_module(left, expr.left.span)
    if module is None:
        raise error("E204", _mismatch("**", left, right), expr.op_span)
    if not is_number(right):
        raise error("E400", f"the power of a module must be a number, got {kind_name(right)}",
                    expr.right.span)
    if isinstance(right, float) and not right.is_integer():
        raise error("E400", f"non-integer power {right:g}", expr.right.span,
                    hint="'m ** n' composes n copies of m; n must be a whole number")
    if right < 0:
        raise error("E400", f"negative power {right:g}", expr.right.span,
                    hint="'m ** n' composes n copies of m; n must be 0 or more")
    if right > limits.MAX_REPEAT:
        shown = f"{right:,}" if isinstance(right, int) else f"{right:g}"  # 1e+300, not 300 digits
        raise error("E901", f"repeat count {shown} is above the limit of "
                    f"{limits.MAX_REPEAT:,}", expr.right.span)
    right = int(right)
    if right == 0:
        return elab.bond("Identity", {}, expr.span, env)
    elab.budget.charge(1, expr.span)
    node = ir.Repeat(module, int(right), span=elab._at(expr.span, env), label=env.label)
    return elab.budget.check_height(node, expr.span)


def _mismatch(op: str, left: Value, right: Value) -> str:
    return f"'{op}' does not apply to {kind_name(left)} and {kind_name(right)}"


def _hint(op: str, left: Value, right: Value) -> str | None:
    if op == "@" and (is_number(left) or is_number(right)):
        return "to scale a module by a number use '*'"
    if op == "*" and isinstance(left, ir.Node) and isinstance(right, ir.Node):
        return "'@' composes two modules"
    if op in ("+", "-") and (is_number(left) or is_number(right)):
        return "a number cannot be added to a module; scale it with '*' instead"
    if isinstance(left, TupleValue) or isinstance(right, TupleValue):
        return "a tuple of numbers is only an argument (for example dim=(-2, -1))"
    return None
