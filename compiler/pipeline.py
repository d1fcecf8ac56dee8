"""The front end in order: load, elaborate, then the passes, each timed at debug level.

``compile_source`` is what every command (compile, lint, explain, graph) runs first.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field

from modc import ir
from modc.diagnostics import CompileError, Diagnostic, Severity, error
from modc.elaborate import Elaborator, check_overrides
from modc.passes.finite import check_finite
from modc.passes.fuse import fuse_bonds
from modc.passes.norms import compute_norms
from modc.passes.shapes import infer_shapes
from modc.passes.sizes import check_sizes
from modc.syntax import NetDecl

log = logging.getLogger(__name__)

# (readable name, pass): every pass takes an ir.Net and annotates or checks it.
PASSES = (
    ("infer shapes", infer_shapes),
    ("check sizes", check_sizes),
    ("compute norms", compute_norms),
    ("check finite", check_finite),
    ("fuse bond chains", fuse_bonds),
)

# Python recursion over deep IR trees: nesting is bounded by modc.limits.MAX_HEIGHT.
_RECURSION_LIMIT = 20_000


@dataclass
class Result:
    """A compiled program (nets that elaborated cleanly) and every diagnostic found."""

    program: ir.Program | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    elaborator: Elaborator | None = None

    @property
    def ok(self) -> bool:
        return self.program is not None and not any(
            d.severity.value == "error" for d in self.diagnostics)


def compile_source(path: str, text: str | None = None,
                   overrides: dict[str, int | float] | None = None,
                   net: str | None = None) -> Result:
    """Parse, elaborate and analyse ``path`` (or ``text`` shown as ``path``).

    Raises modc.loader.InputError when the main file cannot be read.
    """
    if sys.getrecursionlimit() < _RECURSION_LIMIT:
        sys.setrecursionlimit(_RECURSION_LIMIT)
    elab = Elaborator(overrides)
    result = Result(None, [], elab)
    try:
        scope = _timed("load and parse", elab.load, path, text)
        check_overrides(elab)
    except CompileError as exc:
        result.diagnostics.append(exc.diagnostic)
        return result
    result.diagnostics.extend(e.diagnostic for e in _timed("evaluate names", elab.evaluate_all))
    decls = [s for s in scope.module.statements if isinstance(s, NetDecl)]
    nets = _elaborate_nets(elab, scope, decls, net, result)
    result.program = ir.Program(nets, elab.loader.order[1:], dict(elab.overrides),
                                elab.symbols, elab.tares)
    return result


def _elaborate_nets(elab, scope, decls, wanted, result: Result) -> list[ir.Net]:
    seen: dict[str, NetDecl] = {}
    for d in decls:
        if d.name in seen:
            result.diagnostics.append(error(
                "E200", f"net '{d.name}' is already defined on line {seen[d.name].span.line}",
                d.name_span).diagnostic)
        seen.setdefault(d.name, d)
    if wanted is not None:
        if wanted not in seen:
            hint = "nets in this file: " + ", ".join(seen) if seen else "the file has no net"
            result.diagnostics.append(Diagnostic(
                Severity.ERROR, "E206", f"--net {wanted}: no net of that name", None, hint))
            return []
        decls = [seen[wanted]]
    nets = []
    for decl in decls:
        try:
            net = _timed(f"elaborate {decl.name}", elab.net, decl, scope)
            for name, run in PASSES:
                _timed(f"{name} ({decl.name})", run, net)
            nets.append(net)
            if log.isEnabledFor(logging.INFO):
                _log_summary(net)
        except CompileError as exc:
            result.diagnostics.append(exc.diagnostic)
    return nets


def _log_summary(net: ir.Net) -> None:
    """At info level: the per-layer table of masses and target norms (modc explain)."""
    from modc.explain import explain_text

    program = ir.Program([net], [])
    log.info("%s", explain_text(program).rstrip("\n"))


def _timed(name: str, fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    log.debug("%-28s %7.2f ms", name, (time.perf_counter() - start) * 1e3)
    return value
