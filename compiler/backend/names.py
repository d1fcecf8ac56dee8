"""What may appear in generated code: validated identifiers and compiler-rendered literals.

DESIGN.md (Safety) promises that a generated file carries no text from its source other
than validated identifiers and numbers. The template enforces it: every ``{{ }}`` goes
through one of three filters defined here, each returning :class:`Code`, and the
environment's ``finalize`` hook (:func:`guard`) refuses any other value.

- ``ident``: an ASCII identifier that is not a Python keyword or soft keyword and does
  not start with two underscores (dunders, and names that class bodies would mangle);
  a nested tuple of such names renders as a Python tuple expression.
- ``pylit``: a Python literal of an int, float, str or tuple, rendered by ``repr`` /
  ``ascii`` (so the file stays ASCII; NaN and infinities become ``float('nan')``...).
- ``word``: text for comments: bare when it is a plain path-like word, else as ``pylit``.
"""

from __future__ import annotations

import functools
import keyword
import math
import re
from collections.abc import Callable
from typing import Any, TypeAlias

from jinja2 import Undefined

# Hard keywords, plus the soft keywords of every Python modc supports: a fixed set, so
# that the output does not depend on which Python runs modc.
PY_KEYWORDS = frozenset(keyword.kwlist) | {"_", "case", "match", "type"}

# Names the generated module binds or reads at module level, and the builtins it calls:
# a net class of one of these names would shadow them.
MODULE_NAMES = frozenset({"ATOMS", "_b", "_k", "_rt", "float", "range", "super", "torch"})

_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*")

Names: TypeAlias = "str | tuple[Names, ...]"
Literal: TypeAlias = "int | float | str | tuple[Literal, ...]"


class UnsafeName(ValueError):
    """A value that is not allowed into generated code reached the template."""


class Code(str):
    """Text that a filter validated or rendered; the only kind of value the guard lets out."""

    __slots__ = ()


def is_ident(name: object) -> bool:
    """True for an ASCII identifier that is no keyword and does not start with ``__``."""
    return (
        isinstance(name, str)
        and name.isascii()
        and name.isidentifier()
        and name not in PY_KEYWORDS
        and not name.startswith("__")
    )


def ident(value: Names) -> Code:
    """Render a validated identifier, or a nested tuple of them as a tuple expression."""
    if isinstance(value, tuple):
        items = [ident(item) for item in value]
        inner = items[0] + "," if len(items) == 1 else ", ".join(items)
        return Code(f"({inner})")
    if not is_ident(value):
        raise UnsafeName(f"not a safe Python identifier: {value!r}")
    return Code(value)


def pylit(value: Literal) -> Code:
    """Render a Python literal: int, finite or non-finite float, str, or tuple of them."""
    if isinstance(value, bool) or value is None:
        raise UnsafeName(f"no literal rule for {value!r}")
    if isinstance(value, int):
        return Code(repr(value))
    if isinstance(value, float):
        return Code(_float(value))
    if isinstance(value, str):
        return Code(_string(value))
    if isinstance(value, tuple):
        items = [pylit(item) for item in value]
        inner = items[0] + "," if len(items) == 1 else ", ".join(items)
        return Code(f"({inner})")
    raise UnsafeName(f"no literal rule for a value of type {type(value).__name__}")


def word(value: str) -> Code:
    """Comment text: a path-like word as it is, anything else quoted as a literal."""
    if not isinstance(value, str):
        raise UnsafeName(f"not text: {value!r}")
    if _WORD.fullmatch(value):
        return Code(value)
    return pylit(value)


def filters() -> dict[str, Callable[[Any], object]]:
    """The template filters; an Undefined argument passes through so that it raises."""

    def lenient(render: Callable[[Any], Code]) -> Callable[[Any], object]:
        @functools.wraps(render)
        def apply(value: Any) -> object:
            # StrictUndefined raises UndefinedError (naming the variable) once rendered.
            return value if isinstance(value, Undefined) else render(value)

        return apply

    return {"ident": lenient(ident), "pylit": lenient(pylit), "word": lenient(word)}


def guard(value: object) -> object:
    """The environment's ``finalize``: only filtered values (and Undefined) get through."""
    # StrictUndefined raises when it is rendered, after finalize; let it reach that point.
    if isinstance(value, (Code, Undefined)):
        return value
    raise UnsafeName(
        f"template value {value!r} was not passed through |ident, |pylit or |word")


def _float(value: float) -> str:
    """``repr`` round-trips every finite float; the others need a call."""
    if math.isnan(value):
        return "float('nan')"
    if math.isinf(value):
        return "float('inf')" if value > 0 else "-float('inf')"
    return repr(value)


def _string(value: str) -> str:
    """``ascii()`` of the string, in double quotes when no quote needs escaping."""
    text = ascii(value)
    if text.startswith("'") and "'" not in value and '"' not in value:
        text = '"' + text[1:-1] + '"'
    return text


def class_names(wanted: list[str], reserved: frozenset[str] = MODULE_NAMES) -> list[str]:
    """Distinct, safe class names for ``wanted``, keeping each name when it is safe.

    A name that is a Python keyword, a name in ``reserved`` or an earlier result gets
    trailing underscores (``class`` -> ``class_``, as PEP 8 suggests); a name that starts
    with two underscores, or is all underscores, gets the prefix ``net`` first
    (``__init__`` -> ``net__init__``).
    """
    taken = set(reserved)
    result = []
    for name in wanted:
        if not (name.isascii() and name.isidentifier()):
            raise UnsafeName(f"cannot make a class name from {name!r}")
        candidate = "net" + name if name.startswith("__") or not name.strip("_") else name
        while not is_ident(candidate) or candidate in taken:
            candidate += "_"
        taken.add(candidate)
        result.append(candidate)
    return result
