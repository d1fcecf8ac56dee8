"""``modc lint``: expand paths, compile each file, run the rules, filter, suppress, format.

Findings go to stdout in the chosen format; the summary and usage errors go to stderr.
Exit codes (DESIGN.md, Command line): 0 clean; 1 errors, or warnings with ``--strict``;
2 usage (bad flags or config, unknown codes, unreadable paths). Info never fails.

Every file is compiled in this process with the cached parser (modc.parser), so linting
many files costs one grammar load; nothing here imports torch, triton or jinja2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass, field

from modc import ir
from modc.diagnostics import CODES, Severity
from modc.lint import formats
from modc.lint.config import ConfigError, LintConfig, load_config, split_codes
from modc.lint.formats import Finding, RuleInfo
from modc.lint.rules import (
    DOCS_URL,
    RULES,
    NetContext,
    ProgramContext,
    Rule,
    RunContext,
    enabled,
    known_code,
)
from modc.lint.suppress import DirectiveCache
from modc.lint.symbols import SymbolTable, project_root
from modc.loader import InputError
from modc.pipeline import Result, compile_source
from modc.source import Span
from modc.syntax import NetDecl

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
log = logging.getLogger(__name__)


class LintUsageError(Exception):
    """A bad path or code on the command line (exit code 2)."""


def run_lint(args: argparse.Namespace) -> int:
    """Entry point of ``modc lint`` (args as parsed by modc.cli); returns the exit code."""
    try:
        config = load_config(args.config, args.paths[0] if args.paths else None)
        select = split_codes(args.select) if args.select is not None else config.select
        ignore = split_codes(args.ignore) if args.ignore is not None else config.ignore
        check_codes(select, ignore)
        files = expand_paths(args.paths)
    except (ConfigError, LintUsageError) as exc:
        _stderr(f"modc lint: {exc}")
        return EXIT_USAGE
    for note in config.notes:
        _stderr(f"modc lint: note: {note}")
    run = LintRun(config, select, ignore, dict(args.overrides or {}), args.net)
    for path in files:
        run.lint_file(path)
    findings = run.finish()
    _write(render(args.format, findings))
    _stderr(summary(findings, len(files), run.suppressed, run.io_errors))
    return exit_code(findings, args.strict, bool(run.io_errors))


# --------------------------------------------------------------------------- arguments


def check_codes(select: list[str] | None, ignore: list[str]) -> None:
    """Every select/ignore entry must name a known code or prefix; E codes stay on."""
    for flag, codes in (("--select", select or []), ("--ignore", ignore)):
        for code in codes:
            if not known_code(code):
                raise LintUsageError(f"{flag}: unknown code '{code}' (see docs/lint.md for "
                                     f"the rules: {', '.join(RULES)})")
    for code in ignore:
        if code.startswith("E") or code == "":
            raise LintUsageError(f"--ignore {code}: front-end errors (E codes) cannot be "
                                 "ignored; a file that does not compile cannot be linted")


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; folders expand to their ``*.mod`` files, recursively and sorted.

    Hidden folders (``.git``, ``.venv``) are skipped; a file named twice is linted once.
    """
    files: list[str] = []
    seen: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            found = _mod_files(path)
            if not found:
                _stderr(f"modc lint: note: no .mod files under {path}")
        elif os.path.exists(path):
            found = [path]
        else:
            raise LintUsageError(f"{path}: no such file or directory")
        for f in found:
            real = os.path.realpath(f)
            if real not in seen:
                seen.add(real)
                files.append(f)
    return files


def _mod_files(folder: str) -> list[str]:
    def fail(exc: OSError) -> None:
        raise LintUsageError(f"cannot read {exc.filename}: {exc.strerror}")

    found: list[str] = []
    for top, dirs, names in os.walk(folder, onerror=fail):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        found.extend(os.path.normpath(os.path.join(top, n)) for n in names if n.endswith(".mod"))
    return sorted(found)


# --------------------------------------------------------------------------- the run


@dataclass
class LintRun:
    """State of one ``modc lint`` call across its files."""

    config: LintConfig
    select: list[str] | None
    ignore: list[str]
    overrides: dict[str, int | float]
    net: str | None = None
    directives: DirectiveCache = field(default_factory=DirectiveCache)
    findings: list[Finding] = field(default_factory=list)
    io_errors: list[str] = field(default_factory=list)
    suppressed: int = 0
    symbols: SymbolTable = field(default_factory=SymbolTable)

    def rules(self, scope: str) -> list[Rule]:
        return [r for r in RULES.values()
                if r.scope == scope and enabled(r.code, self.select, self.ignore)]

    def lint_file(self, path: str) -> None:
        """Compile ``path`` and run the net and program rules on what elaborated."""
        start = time.perf_counter()
        try:
            result = compile_source(path, overrides=self.overrides, net=self.net)
        except InputError as exc:
            self.io_errors.append(str(exc))
            _stderr(f"modc lint: {exc}")
            return
        found = list(result.diagnostics)
        if result.program is not None:
            spans = _net_name_spans(result)
            for net in result.program.nets:
                ctx = NetContext(net, self.config, spans.get(net.name), self.directives)
                for r in self.rules("net"):
                    found.extend(r.check(ctx))
            program_ctx = ProgramContext(result.program, self.config)
            for r in self.rules("program"):
                found.extend(r.check(program_ctx))
        self.symbols.record(path, result, partial=self.net is not None)
        self.findings.extend(Finding(d, d.span.path if d.span else path) for d in found)
        log.info("linted %s in %.1f ms: %d findings", path,
                 (time.perf_counter() - start) * 1e3, len(found))

    def finish(self) -> list[Finding]:
        """Run the run-level rules, then dedupe, filter, suppress and sort everything."""
        run_rules = self.rules("run")
        if run_rules:
            self.symbols.overrides = self.overrides
            ctx = RunContext(self.symbols.checked(), self.config)
            for r in run_rules:
                self.findings.extend(Finding(d, d.span.path if d.span else "")
                                     for d in r.check(ctx))
        seen: set[tuple] = set()
        kept: list[Finding] = []
        for f in self.findings:
            key = (f.code, f.file, f.region, f.message)
            if key not in seen:
                seen.add(key)
                if self._wanted(f):
                    kept.append(f)
        return sorted(kept, key=Finding.sort_key)

    def _wanted(self, f: Finding) -> bool:
        d = f.diagnostic
        if d.severity is Severity.ERROR:
            return True  # front-end errors are always reported
        if not enabled(d.code, self.select, self.ignore):
            return False
        span = d.span
        if span is not None and self.directives.suppressed(span.source, span.line, d.code,
                                                           d.severity):
            self.suppressed += 1
            return False
        return True


def _net_name_spans(result: Result) -> dict[str, Span]:
    """The span of each net's name in the main file (findings about a whole net)."""
    loader = result.elaborator.loader if result.elaborator else None
    spans: dict[str, Span] = {}
    nets: list[ir.Net] = result.program.nets if result.program else []
    for net in nets:
        if loader is None or net.span is None:
            continue
        module = loader.modules.get(os.path.realpath(net.span.path))
        for stmt in module.statements if module else []:
            if isinstance(stmt, NetDecl) and stmt.name == net.name:
                spans.setdefault(net.name, stmt.name_span)
    return spans


# --------------------------------------------------------------------------- output


def render(fmt: str, findings: list[Finding]) -> str:
    """The whole output of one run in format ``fmt``."""
    if fmt == "json":
        return formats.to_json(findings)
    if fmt == "github":
        return formats.github(findings, {code: r.name for code, r in RULES.items()})
    if fmt == "sarif":
        return formats.sarif(findings, sarif_rules(findings), formats.repository_uri(
            project_root(os.getcwd())))
    return formats.text(findings)


def sarif_rules(findings: list[Finding]) -> list[RuleInfo]:
    """Every lint rule, then the E codes (and any other codes) that occurred."""
    infos = [RuleInfo(r.code, _pascal(r.name), r.summary, r.rationale, r.help_uri, r.severity)
             for r in RULES.values()]
    for code in sorted({f.code for f in findings} - set(RULES)):
        if code in CODES or code.startswith("E"):
            infos.append(formats.error_rule(code, f"{DOCS_URL}#front-end-errors"))
        else:  # a front-end warning without a lint rule
            severity = next(f.severity for f in findings if f.code == code)
            infos.append(RuleInfo(code, code, code, "modc front-end diagnostic",
                                  f"{DOCS_URL}#front-end-errors", severity))
    return infos


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def summary(findings: list[Finding], files: int, suppressed: int, io_errors: list[str]) -> str:
    """One line for stderr: counts per severity."""
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    parts = [f"{counts[Severity.ERROR]} error{'s' if counts[Severity.ERROR] != 1 else ''}",
             f"{counts[Severity.WARNING]} warning"
             f"{'s' if counts[Severity.WARNING] != 1 else ''}",
             f"{counts[Severity.INFO]} info"]
    extra = f", {suppressed} suppressed" if suppressed else ""
    extra += f", {len(io_errors)} unreadable" if io_errors else ""
    noun = "file" if files == 1 else "files"
    if not findings:
        return f"modc lint: {files} {noun} checked, no problems{extra}"
    return f"modc lint: {files} {noun} checked: {', '.join(parts)}{extra}"


def exit_code(findings: list[Finding], strict: bool, io_error: bool) -> int:
    """2 when a file could not be read, 1 for errors (or warnings with --strict), else 0."""
    if io_error:
        return EXIT_USAGE
    failing = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
    return EXIT_FINDINGS if any(f.severity in failing for f in findings) else EXIT_OK


def _write(text: str) -> None:
    """The one place lint output reaches stdout."""
    sys.stdout.write(text)
    sys.stdout.flush()


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")


__all__ = ["LintRun", "check_codes", "expand_paths", "render", "run_lint"]
