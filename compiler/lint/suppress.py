"""Comment directives: ``# modc: ignore[CODE,...]`` silences findings on its line, and
``# modc: smooth`` on a net's line asks for a smooth network (rule I301).

The directive must be in the comment of the line where the finding starts (the line of
the caret). A bare ``# modc: ignore`` silences every lint finding on the line; codes may
be prefixes (``ignore[W1]``). Front-end errors (E codes) are never silenced: a file that
does not compile cannot be linted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modc.diagnostics import Severity
from modc.source import SourceFile

_DIRECTIVE = re.compile(r"modc:\s*(ignore|smooth)\b(?:\[([^\]]*)\])?", re.IGNORECASE)


@dataclass(frozen=True)
class Directives:
    """What the comment of one line asks for."""

    ignore_all: bool = False
    ignore: tuple[str, ...] = ()  # codes or prefixes, upper-case
    smooth: bool = False

    def silences(self, code: str) -> bool:
        return self.ignore_all or any(code.startswith(c) for c in self.ignore)


NONE = Directives()


def comment_of(line: str) -> str | None:
    """The comment of a source line (after the first ``#`` outside a quoted import path)."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[i + 1 :]
    return None


def parse_line(line: str) -> Directives:
    """The directives in the comment of ``line`` (several may share one comment)."""
    comment = comment_of(line)
    if comment is None or "modc" not in comment.lower():
        return NONE
    ignore_all, smooth = False, False
    codes: list[str] = []
    for match in _DIRECTIVE.finditer(comment):
        kind, listed = match.group(1).lower(), match.group(2)
        if kind == "smooth":
            smooth = True
        elif listed is None or not listed.strip():
            ignore_all = True
        else:
            codes.extend(c.strip().upper() for c in listed.split(",") if c.strip())
    return Directives(ignore_all, tuple(codes), smooth)


class DirectiveCache:
    """Directives per (file, line), parsed on first use."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], Directives] = {}

    def at(self, source: SourceFile, line: int) -> Directives:
        key = (id(source), line)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = parse_line(source.line_text(line))
        return found

    def suppressed(self, source: SourceFile | None, line: int, code: str,
                   severity: Severity) -> bool:
        """Whether a finding of ``code`` starting on ``line`` of ``source`` is silenced."""
        if source is None or severity is Severity.ERROR:
            return False
        return self.at(source, line).silences(code)
