"""Source files and spans: every diagnostic and IR node points back into one."""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field


@dataclass(eq=False)
class SourceFile:
    """The text of one ``.mod`` file, with what diagnostics need to quote it."""

    path: str  # as the user named it (relative paths stay relative)
    text: str
    sha256: str = ""
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        self._line_starts = starts

    def line_text(self, line: int) -> str:
        """The 1-based line ``line`` without its newline."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a 0-based code-point offset."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def span(self, start: int, end: int) -> Span:
        line, col = self.position(start)
        end_line, end_col = self.position(max(start, end))
        return Span(self, start, max(start, end), line, col, end_line, end_col)


@dataclass(frozen=True, eq=False)
class Span:
    """A half-open range of code points in a source file; lines and columns are 1-based."""

    source: SourceFile
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def path(self) -> str:
        return self.source.path

    def text(self) -> str:
        return self.source.text[self.start : self.end]

    def __repr__(self) -> str:
        where = f"{self.line}:{self.column}-{self.end_line}:{self.end_column}"
        return f"Span({self.source.path}:{where})"
