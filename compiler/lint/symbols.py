"""Which top-level names (param, let, def, import) no net uses, over a whole lint run.

The elaborator marks a name used when evaluating a net looks it up (Program.symbols).
One compile only sees its own nets, so the run merges the marks of every compile, and:

- a file without a net is a library: its names are its interface, never reported;
- a file is checked only when it was linted itself and every compile that loaded it
  succeeded without ``--net`` (an error or a partial compile leaves uses unknown);
- a name of a linted file that other ``.mod`` files of the project import is used if
  any of them uses it. Importers that are not part of the run (pre-commit passes only
  the changed files) are found by a textual scan of the project's ``import`` lines and
  compiled quietly, so that their uses count too.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

from modc.lint.rules import SymbolUse
from modc.loader import PRELUDE_PATH, InputError
from modc.pipeline import Result, compile_source
from modc.syntax import NetDecl

log = logging.getLogger(__name__)

_IMPORT = re.compile(r'^[ \t]*import[ \t]+"([^"\n\\]*)"', re.MULTILINE)
_MAX_SCAN = 20_000  # .mod files read when looking for importers outside the run
_SKIP = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"})


@dataclass
class SymbolTable:
    """Uses of top-level names merged over the compiles of one run."""

    overrides: dict[str, int | float] = field(default_factory=dict)
    _uses: dict[tuple[str, str, str, int], SymbolUse] = field(default_factory=dict)
    _mains: set[str] = field(default_factory=set)  # linted files that declare a net
    _linted: set[str] = field(default_factory=set)
    _tainted: set[str] = field(default_factory=set)

    def record(self, path: str, result: Result, partial: bool, linted: bool = True) -> None:
        """Merge one compile; ``partial`` when only some nets were elaborated (--net)."""
        loader = result.elaborator.loader if result.elaborator else None
        files = [os.path.realpath(s.path) for s in (loader.order if loader else [])
                 if s.path != PRELUDE_PATH]
        main = os.path.realpath(path)
        if linted:
            self._linted.add(main)
        if not result.ok or partial or loader is None or result.program is None:
            self._tainted.update(files or [main])
            return
        module = loader.modules.get(main)
        if linted and module is not None and any(
                isinstance(s, NetDecl) for s in module.statements):
            self._mains.add(main)
        for s in result.program.symbols:
            key = (os.path.realpath(s.file), s.kind, s.name, s.span.start)
            known = self._uses.get(key)
            if known is None:
                self._uses[key] = SymbolUse(s.kind, s.name, s.span, s.used)
            else:
                known.used = known.used or s.used

    def checked(self) -> list[SymbolUse]:
        """The names whose use is fully known, after compiling importers outside the run."""
        self._compile_outside_importers()
        files = self._mains - self._tainted
        return [use for key, use in self._uses.items() if key[0] in files]

    def _compile_outside_importers(self) -> None:
        # Only files with an apparently unused name need their outside importers: when
        # everything is used already, no scan (and no extra compile) happens.
        wanted = {key[0] for key, use in self._uses.items()
                  if not use.used and key[0] in self._mains - self._tainted}
        if not wanted:
            return
        importers = _reverse_imports(wanted)
        todo = sorted({imp for f in wanted for imp in _closure(f, importers)} - self._linted)
        for path in todo:
            log.info("compiling %s for its uses of imported names", path)
            try:
                result = compile_source(path, overrides=self.overrides)
            except InputError:
                self._tainted.update(_closure_down(path, importers, wanted))
                continue
            self.record(path, result, partial=False, linted=False)


def _closure(target: str, importers: dict[str, set[str]]) -> set[str]:
    """Every file that imports ``target``, directly or through other files."""
    seen: set[str] = set()
    stack = [target]
    while stack:
        for imp in importers.get(stack.pop(), ()):
            if imp not in seen:
                seen.add(imp)
                stack.append(imp)
    return seen


def _closure_down(importer: str, importers: dict[str, set[str]], files: set[str]) -> set[str]:
    """The checked files that ``importer`` reaches (their uses are now unknown)."""
    return {f for f in files if importer in _closure(f, importers)}


def _reverse_imports(files: set[str]) -> dict[str, set[str]]:
    """imported real path -> real paths of the project's files that import it."""
    importers: dict[str, set[str]] = {}
    roots = {project_root(os.path.dirname(f)) for f in files}
    scanned = 0
    for root in sorted(roots):
        for path in _mod_files(root):
            scanned += 1
            if scanned > _MAX_SCAN:
                return importers
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            base = os.path.dirname(path)
            for name in _IMPORT.findall(text):
                target = os.path.realpath(os.path.join(base, name))
                importers.setdefault(target, set()).add(os.path.realpath(path))
    return importers


def project_root(start: str) -> str:
    """The git work tree around ``start``, else ``start`` itself."""
    folder = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return os.path.abspath(start)
        folder = parent


def _mod_files(root: str) -> list[str]:
    found: list[str] = []
    for top, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP)
        found.extend(os.path.join(top, n) for n in sorted(names) if n.endswith(".mod"))
    return found
