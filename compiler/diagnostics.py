"""Diagnostics: positioned errors and warnings, their codes, and their text rendering.

Format (DESIGN.md, Diagnostics)::

    net.mod:3:34: error: unknown name 'Relu' [E201]
        3 | net MLP(x: [8]) = Linear(4, 8) @ Relu
          |                                  ^^^^
         = hint: did you mean 'ReLU'?
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from modc.source import Span


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


# Stable codes. E1xx syntax and files, E2xx names and calls, E3xx shapes and types,
# E4xx numbers, E9xx limits. Lint rules (W and I codes) live in modc.lint.rules.
CODES: dict[str, str] = {
    "E100": "syntax error",
    "E101": "unexpected end of input",
    "E102": "unbalanced bracket",
    "E103": "invalid character",
    "E104": "undecodable bytes: the file is not UTF-8",
    "E105": "file not found or unreadable",
    "E106": "import cycle",
    "E200": "duplicate definition",
    "E201": "unknown name",
    "E202": "wrong number of arguments",
    "E203": "unknown or repeated keyword argument",
    "E204": "value of the wrong kind (number, module or tuple)",
    "E205": "recursive definition",
    "E206": "no net to compile",
    "E207": "unknown or invalid -D override",
    "E300": "shape mismatch",
    "E301": "a tuple fed to a one-input bond, or a single tensor to a pair bond",
    "E302": "wrong input type (float features versus integer token ids)",
    "E303": "invalid dimension argument",
    "E304": "dimension not divisible",
    "E305": "input shape cannot be inferred",
    "E400": "non-integer or negative power",
    "E401": "zero scalar",
    "E402": "division by zero",
    "E403": "non-finite number",
    "E404": "invalid mass",
    "E405": "invalid size or count",
    "E406": "tare of a module without mass",
    "E900": "nesting too deep",
    "E901": "repeat count too large",
    "E902": "dimension too large",
    "E903": "too many parameters",
    "E904": "program too large",
    "E999": "internal compiler error",
}


@dataclass
class Diagnostic:
    """One finding with its position; ``span`` is None only for whole-command problems."""

    severity: Severity
    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.span.path if self.span else "<command line>"

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, self.code)
        return (self.span.path, self.span.line, self.span.column, self.code)

    def render(self, context: bool = True) -> str:
        """GNU-style text, with the source line and a caret under the span."""
        head = f"{self.severity.value}: {self.message} [{self.code}]"
        if self.span is None:
            lines = [f"modc: {head}"]
        else:
            lines = [f"{self.span.path}:{self.span.line}:{self.span.column}: {head}"]
            if context:
                lines.extend(_quote(self.span))
        pad = " " * (len(str(self.span.line)) + 4) if self.span else "  "
        if self.hint:
            lines.append(f"{pad}= hint: {self.hint}")
        lines.extend(f"{pad}= note: {note}" for note in self.notes)
        return "\n".join(_printable(line) for line in lines)


def _printable(text: str) -> str:
    """Control characters from a hostile file (ESC, CR, NUL) never reach the terminal;
    each becomes one U+FFFD, so the caret stays under the same code point."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def _quote(span: Span) -> list[str]:
    text = span.source.line_text(span.line).removesuffix("\r").replace("\t", " ")
    width = len(str(span.line))
    if span.end_line == span.line:
        length = max(1, span.end_column - span.column)
    else:
        length = max(1, len(text) - span.column + 1)
    caret = " " * (span.column - 1) + "^" * length
    gutter = " " * width
    return [f"    {span.line} | {text}", f"    {gutter} | {caret}"]


class CompileError(Exception):
    """A user error: carries the diagnostic that explains it."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def error(code: str, message: str, span: Span | None, hint: str | None = None) -> CompileError:
    """Build a CompileError for an error diagnostic (raise the result)."""
    return CompileError(Diagnostic(Severity.ERROR, code, message, span, hint))


def suggest(name: str, candidates) -> str | None:
    """A 'did you mean' hint for a misspelled name, or None."""
    import difflib

    pool = sorted(set(candidates))
    lower = {c.lower(): c for c in pool}
    if name.lower() in lower:
        return f"did you mean '{lower[name.lower()]}'?"
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
