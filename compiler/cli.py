"""The ``modc`` command line (DESIGN.md, Command line).

Exit codes: 0 success; 1 errors in the source (or a stale file with ``--check``, or
findings with ``lint``); 2 usage or I/O errors; 3 an internal compiler error.
Diagnostics go to stderr; requested output (code, tables, JSON) goes to stdout.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import traceback
from typing import NoReturn

from modc import __version__
from modc.diagnostics import Diagnostic, Severity
from modc.fileio import write_atomic
from modc.loader import InputError
from modc.pipeline import Result, compile_source

EXIT_OK, EXIT_SOURCE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
COMMANDS = ("lint", "explain", "graph")
log = logging.getLogger("modc")


class UsageError(Exception):
    """A bad command line (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit; we return exit code 2 instead
        raise UsageError(f"{self.prog}: {message}")


def parse_define(text: str) -> tuple[str, int | float]:
    """``NAME=VALUE`` of ``-D``; the value must be a finite number."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name.isidentifier():
        raise UsageError(f"modc: -D {text}: expected NAME=VALUE, for example -D width=1024")
    try:
        number: int | float = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"modc: -D {text}: '{value}' is not a number") from None
    if isinstance(number, float) and number != number or number in (float("inf"), -float("inf")):
        raise UsageError(f"modc: -D {text}: the value must be finite")
    return name, number


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE",
                   help="override a param (repeatable)")
    p.add_argument("--net", help="only this net")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log progress (-v) or every pass with its time (-vv) to stderr")


def _compile_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="modc", description="Compile a .mod network into a PyTorch module. "
                f"Other commands: {', '.join(COMMANDS)} (modc COMMAND --help).")
    p.add_argument("file", metavar="FILE.mod")
    p.add_argument("-o", "--output", required=True, metavar="OUT.py",
                   help="output file, or - for stdout")
    p.add_argument("--check", action="store_true",
                   help="exit 1 with a diff if OUT.py is not what this modc would write")
    p.add_argument("--version", action="version", version=f"modc {__version__}")
    _common(p)
    return p


def _explain_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="modc explain", description="Per-atom masses, target norms, dual maps.")
    p.add_argument("file", metavar="FILE.mod")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--full", action="store_true", help="one row per atom, repeats expanded")
    _common(p)
    return p


def _graph_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="modc graph", description="Draw the architecture (DOT, SVG or PNG).")
    p.add_argument("file", metavar="FILE.mod")
    p.add_argument("-o", "--output", required=True, metavar="OUT.dot|OUT.svg|OUT.png")
    _common(p)
    return p


def _lint_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="modc lint", description="Check .mod files for errors and badly "
                "scaled architectures.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".mod files or folders")
    p.add_argument("--format", default="text", choices=("text", "json", "github", "sarif"))
    p.add_argument("--strict", action="store_true", help="warnings also fail (exit 1)")
    p.add_argument("--select", default=None, metavar="CODES",
                   help="comma-separated codes or prefixes to report (default: all)")
    p.add_argument("--ignore", default=None, metavar="CODES",
                   help="comma-separated codes or prefixes to leave out")
    p.add_argument("--config", default=None, metavar="pyproject.toml",
                   help="read [tool.modc] from this file (default: the nearest one)")
    _common(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception:  # an internal fault: keep the traceback, say whose fault it is
        traceback.print_exc()
        print(f"modc {__version__}: internal compiler error. This is a bug in modc, not in "
              "your file; please report it with the input that caused it.", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        _reset_logging()


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "--version":
        print(f"modc {__version__}")
        return EXIT_OK
    if argv and argv[0] in COMMANDS:
        command, rest = argv[0], argv[1:]
        parser = {"lint": _lint_parser, "explain": _explain_parser,
                  "graph": _graph_parser}[command]()
        args = parser.parse_args(rest)
        _logging(args.verbose)
        args.overrides = dict(parse_define(d) for d in args.defines)
        return {"lint": _lint, "explain": _explain, "graph": _graph}[command](args)
    if not argv:
        _compile_parser().print_usage(sys.stderr)
        return EXIT_USAGE
    args = _compile_parser().parse_args(argv)
    _logging(args.verbose)
    args.overrides = dict(parse_define(d) for d in args.defines)
    return _compile(args)


def _logging(verbosity: int) -> None:
    """Send modc's own log records to stderr for this command (see _reset_logging)."""
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("modc: %(message)s"))
    _handlers.append((handler, log.level, log.propagate))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def _reset_logging() -> None:
    """Undo _logging, so that calling main() in-process leaves the host's logging as it was."""
    while _handlers:
        handler, level, propagate = _handlers.pop()
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


_handlers: list[tuple[logging.Handler, int, bool]] = []


def report(diagnostics: list[Diagnostic]) -> None:
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        print(d.render(), file=sys.stderr)


def front_end(args: argparse.Namespace) -> Result:
    """Run the front end for one file; I/O problems become UsageError (exit 2)."""
    try:
        return compile_source(args.file, overrides=args.overrides, net=args.net)
    except InputError as exc:
        raise UsageError(f"modc: {exc}") from None


def _failed(result: Result) -> bool:
    report(result.diagnostics)
    return not result.ok


def _compile(args: argparse.Namespace) -> int:
    from modc.backend.pytorch import generate

    result = front_end(args)
    if _failed(result):
        return EXIT_SOURCE
    assert result.program is not None  # a program is ok only when it exists
    if not result.program.nets:
        report([Diagnostic(Severity.ERROR, "E206", f"{args.file} defines no net", None,
                           "add a line: net NAME(x: [features]) = ...")])
        return EXIT_SOURCE
    code = generate(result.program, output_name=_module_name(args.output))
    if args.check:
        return _check(args.output, code, args.file)
    if args.output == "-":
        sys.stdout.write(code)
        return EXIT_OK
    try:
        write_atomic(args.output, code)
    except OSError as exc:
        raise UsageError(f"modc: cannot write {args.output}: {exc.strerror}") from None
    log.info("wrote %s (%d nets)", args.output, len(result.program.nets))
    return EXIT_OK


def _module_name(output: str) -> str:
    return "<stdout>" if output == "-" else os.path.basename(output)


def _check(path: str, code: str, source: str) -> int:
    if path == "-":
        raise UsageError("modc: --check needs a file, not -o -")
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            current = fh.read()
    except FileNotFoundError:
        print(f"modc: {path} is missing; generate it with: modc {source} -o {path}",
              file=sys.stderr)
        return EXIT_SOURCE
    except OSError as exc:
        raise UsageError(f"modc: cannot read {path}: {exc.strerror}") from None
    if current == code:
        return EXIT_OK
    diff = difflib.unified_diff(current.splitlines(True), code.splitlines(True),
                                fromfile=f"{path} (checked in)", tofile=f"{path} (expected)")
    sys.stdout.writelines(diff)
    print(f"modc: {path} is stale; regenerate it with: modc {source} -o {path}",
          file=sys.stderr)
    return EXIT_SOURCE


def _explain(args: argparse.Namespace) -> int:
    from modc.explain import dumps_json, explain_text

    result = front_end(args)
    if _failed(result):
        return EXIT_SOURCE
    assert result.program is not None  # a program is ok only when it exists
    if args.json:
        sys.stdout.write(dumps_json(result.program))
    else:
        sys.stdout.write(explain_text(result.program, full=args.full))
    return EXIT_OK


def _graph(args: argparse.Namespace) -> int:
    from modc.graph import GraphError, render, to_dot

    result = front_end(args)
    if _failed(result):
        return EXIT_SOURCE
    assert result.program is not None  # a program is ok only when it exists
    try:
        render(to_dot(result.program), args.output)
    except GraphError as exc:
        print(f"modc: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        raise UsageError(f"modc: cannot write {args.output}: {exc}") from None
    return EXIT_OK


def _lint(args: argparse.Namespace) -> int:
    from modc.lint.engine import run_lint

    return run_lint(args)
