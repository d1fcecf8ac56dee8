"""Reading ``.mod`` files: decoding, import resolution, cycles and the prelude."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources

from modc.diagnostics import CompileError, Diagnostic, Severity, error
from modc.parser import MAX_SOURCE_CHARS, parse
from modc.source import SourceFile, Span
from modc.syntax import Module

PRELUDE_PATH = "<prelude>"
MAX_SOURCE_BYTES = 4 * MAX_SOURCE_CHARS


class InputError(Exception):
    """The file named on the command line cannot be read (an I/O error, exit code 2)."""


def read_source(path: str, display: str | None = None, span: Span | None = None) -> SourceFile:
    """Read and decode one file; undecodable bytes are a positioned diagnostic."""
    try:
        with open(path, "rb") as fh:
            # Bounded: "/dev/zero" or a huge file must not exhaust memory (4 bytes per
            # character is UTF-8's maximum, so every file the parser accepts fits).
            data = fh.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        if span is None:
            raise InputError(f"cannot read {display or path}: {exc.strerror}") from None
        raise error("E105", f"cannot import \"{display or path}\": {exc.strerror}", span) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise error("E904", f"{display or path} is larger than {MAX_SOURCE_BYTES:,} bytes", span)
    return decode(data, display or path)


def decode(data: bytes, path: str) -> SourceFile:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        source = SourceFile(path, data.decode("utf-8", errors="replace"))
        span = source.span(len(good), len(good) + 1)
        raise CompileError(Diagnostic(
            Severity.ERROR, "E104", f"byte 0x{data[exc.start]:02x} is not valid UTF-8", span,
            hint="save the file as UTF-8")) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile(path, text)


def prelude_source() -> SourceFile:
    text = resources.files("modc.grammar").joinpath("prelude.mod").read_text("utf-8")
    return SourceFile(PRELUDE_PATH, text)


@lru_cache(maxsize=1)
def prelude_module() -> Module:
    """The parsed prelude. Elaboration never mutates the AST, so one parse serves every
    compile in the process, and modc.cache keeps it on disk across processes (it is most
    of the cost of compiling a small file)."""
    from modc.cache import cached

    source = prelude_source()
    grammar = resources.files("modc.grammar").joinpath("modc.lark").read_text("utf-8")
    module = cached((source.text, grammar), lambda: parse(source))
    return module if isinstance(module, Module) else parse(source)


class Loader:
    """Parses each file once; detects import cycles."""

    def __init__(self) -> None:
        self.modules: dict[str, Module] = {}  # real path -> parsed module
        self.order: list[SourceFile] = []
        self._stack: list[str] = []

    def load_main(self, path: str) -> Module:
        source = read_source(path)
        return self._register(os.path.realpath(path), source)

    def load_prelude(self) -> Module:
        module = prelude_module()
        self.modules[PRELUDE_PATH] = module
        self.order.append(module.source)
        return module

    def load_text(self, text: str, path: str) -> Module:
        return self._register(os.path.realpath(path), SourceFile(path, text))

    def _register(self, real: str, source: SourceFile) -> Module:
        module = parse(source)
        self.modules[real] = module
        self.order.append(source)
        return module

    def resolve(self, importer: SourceFile, name: str) -> tuple[str, str]:
        """(real path, display path) of an import relative to the importing file."""
        if importer.path == PRELUDE_PATH:
            base = os.getcwd()
        else:
            base = os.path.dirname(importer.path)
        display = os.path.normpath(os.path.join(base, name)) if base else name
        return os.path.realpath(display), display

    def enter(self, real: str, span: Span, chain: list[str]) -> bool:
        """Start loading ``real``; returns False when it was loaded before."""
        if real in self._stack:
            cycle = " -> ".join(chain + [os.path.basename(real)])
            raise error("E106", f"import cycle: {cycle}", span,
                        hint="move the shared definitions into a third file")
        return real not in self.modules

    def load_import(self, real: str, display: str, span: Span) -> Module:
        if real in self.modules:
            return self.modules[real]
        if os.path.isdir(display):
            raise error("E105", f"cannot import \"{display}\": it is a directory", span)
        source = read_source(display, display, span)
        return self._register(real, source)

    def push(self, real: str) -> None:
        self._stack.append(real)

    def pop(self) -> None:
        self._stack.pop()
