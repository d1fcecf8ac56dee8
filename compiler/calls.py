"""Binding the arguments of built-in atoms, bonds and functions, with their checks."""

from __future__ import annotations

import math
from typing import Literal, cast, overload

from modc import ir, limits
from modc.catalog import BUILTINS, REQUIRED, Spec
from modc.diagnostics import error, suggest
from modc.source import Span
from modc.values import TupleValue, Value, check_number, is_number, kind_name


def bind(name: str, params: list[str], args: list[tuple[Value, Span]],
         keywords: list[tuple[str, Value, Span]], span: Span,
         defaults: set[str]) -> dict[str, tuple[Value, Span]]:
    """Match positional and keyword arguments to parameter names (Python's rules)."""
    if len(args) > len(params):
        extra = args[len(params)][1]
        raise error("E202", f"{name} takes {_count(len(params))}, got {len(args)}",
                    _join(extra, args[-1][1]), hint=_signature_hint(name, params))
    bound = {p: a for p, a in zip(params, args)}
    for key, value, kspan in keywords:
        if key not in params:
            raise error("E203", f"{name} has no argument '{key}'", kspan,
                        hint=suggest(key, params) or _signature_hint(name, params))
        if key in bound:
            raise error("E203", f"argument '{key}' of {name} given twice", kspan)
        bound[key] = (value, kspan)
    missing = [p for p in params if p not in bound and p not in defaults]
    if missing:
        raise error("E202", f"{name} is missing {_names(missing)}", span,
                    hint=_signature_hint(name, params))
    return bound


def make_builtin(spec: Spec, bound: dict[str, tuple[Value, Span]], span: Span) -> ir.Node:
    """An Atom or Bond node from checked arguments."""
    values: dict[str, ir.Value] = {}
    for param in spec.params:
        if param.name in bound:
            value, vspan = bound[param.name]
            values[param.name] = check_arg(spec.name, param.name, param.kind, value, vspan)
        else:
            assert param.default is not REQUIRED
            # catalog defaults are typed object only because of the REQUIRED sentinel
            values[param.name] = cast(ir.Value, normalize_default(param.kind, param.default))
    if spec.is_atom:
        mass_value = values.pop("mass")
        assert isinstance(mass_value, (int, float))  # kind "positive": check_arg gives a float
        mass = float(mass_value)
        return ir.Atom(spec.name, values, mass, span=span)
    return ir.Bond(spec.name, values, span=span)


def normalize_default(kind: str, value: object) -> object:
    return (value,) if kind == "axes" and isinstance(value, int) else value


@overload
def check_arg(callee: str, pname: str, kind: Literal["dim", "int"], value: Value,
              span: Span) -> int: ...
@overload
def check_arg(callee: str, pname: str, kind: Literal["number", "nonzero", "positive"],
              value: Value, span: Span) -> float: ...
@overload
def check_arg(callee: str, pname: str, kind: str, value: Value, span: Span) -> ir.Value: ...
def check_arg(callee: str, pname: str, kind: str, value: Value, span: Span) -> ir.Value:
    """Validate one argument of a built-in by its kind (see modc.catalog)."""
    what = f"argument '{pname}' of {callee}"
    if kind == "axes":
        items = value.items if isinstance(value, TupleValue) else (value,)
        if not items or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise error("E303", f"{what} must be an integer axis or a tuple of them, "
                        f"got {_show(value)}", span)
        if len(set(items)) != len(items):
            raise error("E303", f"{what} repeats an axis", span)
        return tuple(items)
    if not is_number(value):
        raise error("E204", f"{what} must be a number, got {kind_name(value)}", span)
    check_number(value, span)
    if kind in ("dim", "int"):
        if isinstance(value, float):
            if not value.is_integer():
                raise error("E303", f"{what} must be an integer, got {value:g}", span)
            raise error("E303", f"{what} must be an integer, got {value!r}", span,
                        hint="'/' always gives a real number; use '//' for integer division")
        if kind == "dim" and value < 1:
            raise error("E303", f"{what} must be at least 1, got {value}", span)
        if kind == "int" and value < 0:
            raise error("E303", f"{what} must not be negative, got {value}", span)
        if value > limits.MAX_DIM:
            raise error("E902", f"{what} is {value:,}, above the limit of "
                        f"{limits.MAX_DIM:,}", span)
        return int(value)
    if kind == "nonzero" and value == 0:
        raise error("E401", f"{what} is zero", span,
                    hint="a zero scalar removes the module; leave it out instead")
    if kind == "positive" and not value > 0:
        code = "E404" if pname == "mass" else "E303"
        raise error(code, f"{what} must be positive, got {value:g}", span)
    return float(value)


def builtin_spec(name: str) -> Spec | None:
    return BUILTINS.get(name)


def _show(value: Value) -> str:
    if isinstance(value, TupleValue):
        if not value.items:
            return "an empty tuple"
        return "a tuple of " + ", ".join(kind_name(v) for v in value.items)
    if is_number(value):
        if isinstance(value, float):
            return repr(value) if value.is_integer() else f"{value:g}"  # 1.0, not 1
        return str(value)
    return kind_name(value)


def _count(n: int) -> str:
    return {0: "no arguments", 1: "1 argument"}.get(n, f"{n} arguments")


def _names(missing: list[str]) -> str:
    quoted = [f"'{m}'" for m in missing]
    noun = "argument" if len(missing) == 1 else "arguments"
    return f"{noun} " + ", ".join(quoted)


def _signature_hint(name: str, params: list[str]) -> str:
    return f"the signature is {name}({', '.join(params)})"


def _join(a: Span, b: Span) -> Span:
    return a.source.span(a.start, max(a.end, b.end))


def sqrt(value: float, span: Span) -> float:
    if value < 0:
        raise error("E403", f"sqrt of a negative number ({value:g})", span)
    return math.sqrt(value)
