"""The lint rules: one small function per rule, and the registry that names them.

Codes are stable: W1xx scaling (the modular norm and the golden rules of scaling), W2xx
structure (unused names), I3xx informational. Every rule has a section in docs/lint.md
whose anchor is ``{code}-{name}`` (lower case); SARIF and the JSON output link to it.

The theory cited below:

- [MN] Large, Liu, Huh, Bahng, Isola & Bernstein, "Scalable optimization in the modular
  norm" (NeurIPS 2024): mass, sensitivity and well-normed modules (section 3); a composition
  ``m1 @ m0`` has sensitivity ``ν0 ν1``, so a block repeated n times has ``ν^n``.
- [MD] Bernstein & Newhouse, "Modular duality in deep learning" (2024): the target norm
  an atom receives is its learning-rate multiplier.
- [GR] the golden rules of scaling (Modula docs, "Golden rules for scaling"): residual
  branches weighted 1/L for depth L, attention logits scaled 1/d, layers sized so their
  spectral scale √(fan_out/fan_in) stays O(1) relative to their neighbours.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard

from modc import ir
from modc.diagnostics import Diagnostic, Severity
from modc.lint.config import LintConfig, Thresholds
from modc.lint.suppress import DirectiveCache
from modc.passes.norms import scope_names, scope_walk, spec_of
from modc.source import Span

if TYPE_CHECKING:
    from modc.elaborate import TareRecord

# Where each rule is documented, relative to the modc source tree (modc has no published
# documentation site, so no absolute URL is invented for SARIF's helpUri).
DOCS_URL = "docs/lint.md"
# Relative slack on "greater than 1": (1 - 1/L) + 1/L is not exactly 1 in floating point.
_REL_TOL = 1e-9
# Above this many expanded copies W105 reports the smallest target instead of counting.
_MAX_EXPANDED = 100_000


# --------------------------------------------------------------------------- registry


Check = Callable[..., Iterator[Diagnostic]]


@dataclass(frozen=True)
class Rule:
    """One lint rule: stable code, kebab-case name, default severity and documentation."""

    code: str
    name: str
    severity: Severity
    summary: str  # one line: SARIF shortDescription, docs table
    rationale: str  # SARIF fullDescription; the docs expand on it
    scope: str  # "net": run per elaborated net; "program": per compile; "run": once
    check: Check

    @property
    def anchor(self) -> str:
        return f"{self.code.lower()}-{self.name}"

    @property
    def help_uri(self) -> str:
        return f"{DOCS_URL}#{self.anchor}"


RULES: dict[str, Rule] = {}


def rule(code: str, name: str, severity: Severity, summary: str, rationale: str,
         scope: str = "net") -> Callable[[Check], Check]:
    """Register the decorated check function under ``code``."""

    def register(check: Check) -> Check:
        RULES[code] = Rule(code, name, severity, summary, rationale, scope, check)
        return check

    return register


def finding(code: str, message: str, span: Span | None, hint: str | None = None) -> Diagnostic:
    """A diagnostic of rule ``code`` at its default severity."""
    return Diagnostic(RULES[code].severity, code, message, span, hint)


# --------------------------------------------------------------------------- contexts


@dataclass
class NetContext:
    """One elaborated net with lazily built helpers shared by the net rules."""

    net: ir.Net
    config: LintConfig
    name_span: Span | None
    directives: DirectiveCache
    _parents: dict[int, ir.Node] | None = field(default=None, repr=False)

    @property
    def limits(self) -> Thresholds:
        return self.config.thresholds

    @property
    def span(self) -> Span | None:
        return self.name_span or self.net.span

    def parent(self, node: ir.Node) -> ir.Node | None:
        if self._parents is None:
            self._parents = {id(c): n for n in ir.walk(self.net.body) for c in n.children()}
        return self._parents.get(id(node))

    def before(self, node: ir.Node) -> ir.Node | None:
        """The node applied just before ``node`` in its chain of compositions, if any."""
        current = node
        while isinstance(parent := self.parent(current), ir.Composition):
            if parent.outer is current:
                return last_applied(parent.inner)
            current = parent
        return None

    def after(self, node: ir.Node) -> ir.Node | None:
        """The node applied just after ``node`` in its chain of compositions, if any."""
        current = node
        while isinstance(parent := self.parent(current), ir.Composition):
            if parent.inner is current:
                return first_applied(parent.outer)
            current = parent
        return None


@dataclass
class ProgramContext:
    """One compiled file: its program (nets that elaborated) and the run's settings."""

    program: ir.Program
    config: LintConfig


@dataclass
class SymbolUse:
    """A top-level name aggregated over every compile of the run."""

    kind: str
    name: str
    span: Span
    used: bool


@dataclass
class RunContext:
    """What the run-level rules see: the symbols of files whose use is fully known."""

    symbols: list[SymbolUse]
    config: LintConfig


def first_applied(node: ir.Node) -> ir.Node:
    """The node of a composition chain that sees the chain's input."""
    while isinstance(node, ir.Composition):
        node = node.inner
    return node


def last_applied(node: ir.Node) -> ir.Node:
    """The node of a composition chain that produces the chain's output."""
    while isinstance(node, ir.Composition):
        node = node.outer
    return node


def snippet(span: Span | None, limit: int = 48) -> str:
    """The source text of ``span`` on one line, shortened, for messages."""
    if span is None:
        return "?"
    text = " ".join(span.text().split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(node: ir.Node) -> str:
    """`` in `source` `` naming where a node was written, unless that adds nothing."""
    text = snippet(node.span)
    return "" if text in (ir.describe(node), getattr(node, "op", "")) else f" in `{text}`"


def _is_bond(node: ir.Node | None, *ops: str) -> TypeGuard[ir.Bond]:
    return isinstance(node, ir.Bond) and node.op in ops


def _arg(node: ir.Node, name: str) -> float:
    """A numeric compile-time argument of an atom or bond."""
    value = getattr(node, "args", {}).get(name)
    if not isinstance(value, (int, float)):
        raise TypeError(f"internal compiler error: {ir.describe(node)} argument {name!r} "
                        f"is {value!r}")
    return float(value)


def _g(x: float) -> str:
    return f"{x:.4g}"


def _power_text(base: float, n: int) -> str:
    """``base ** n`` for messages, without overflowing."""
    log10 = n * math.log10(base)
    if not math.isfinite(log10):
        return "inf"
    if log10 < 15:
        return _g(base**n)
    return f"≈1e{log10:.0f}"


# --------------------------------------------------------------------------- W1xx scaling


@rule("W101", "unscaled-residual", Severity.WARNING,
      "a repeated block has sensitivity above 1, so the network's sensitivity grows as ν^n",
      "A composition multiplies sensitivities [MN §3], so n copies of a block of sensitivity "
      "ν > 1 give ν^n: the output reacts exponentially in depth to input and weight "
      "perturbations, and the per-copy learning rates shrink by ν per block. The golden "
      "rules weight residual branches by 1/L: (1 - 1/L) * Identity + 1/L * branch has "
      "sensitivity 1 for every L (the prelude's Residual(L, branch)).")
def unscaled_residual(ctx: NetContext) -> Iterator[Diagnostic]:
    for node in ir.walk(ctx.net.body):
        if not isinstance(node, ir.Repeat):
            continue
        nu = node.body.sensitivity or 0.0
        if nu <= ctx.limits.max_block_sensitivity * (1 + _REL_TOL):
            continue
        n = node.count
        message = (f"`{snippet(node.span)}` composes {n} copies of a block of sensitivity "
                   f"{_g(nu)}: the network's input sensitivity grows as {_g(nu)}^{n} = "
                   f"{_power_text(nu, n)}")
        if _is_residual(node.body):
            hint = (f"scale the residual for depth: (1 - 1/L) * Identity + 1/L * branch "
                    f"with L = {n}, which is the prelude's Residual({n}, branch)")
        else:
            hint = ("scale the block so its sensitivity is at most "
                    f"{_g(ctx.limits.max_block_sensitivity)}; for a residual block use "
                    f"Residual({n}, branch)")
        yield finding("W101", message, node.span, hint)


def _is_residual(body: ir.Node) -> bool:
    """``Add @ (..., Identity, ...)`` where one summand is a (scaled) identity."""
    if not (isinstance(body, ir.Composition) and _is_bond(body.outer, "Add")
            and isinstance(body.inner, ir.Tuple)):
        return False
    return any(all(_is_bond(n, "Identity", "Mul") for n in _chain(m))
               for m in body.inner.members)


def _chain(node: ir.Node) -> list[ir.Node]:
    """The leaves of a composition chain in application order."""
    if isinstance(node, ir.Composition):
        return _chain(node.inner) + _chain(node.outer)
    return [node]


@rule("W102", "net-sensitivity", Severity.WARNING,
      "the network's input sensitivity is above max-sensitivity",
      "Sensitivity bounds how much the output moves when the input moves [MN §3]. The "
      "modular norm's guarantees (and learning-rate transfer) assume well-normed nets of "
      "sensitivity near 1; a net that amplifies input perturbations many times over "
      "trains unstably and its learning rate does not transfer across width or depth.")
def net_sensitivity(ctx: NetContext) -> Iterator[Diagnostic]:
    nu = ctx.net.body.sensitivity or 0.0
    limit = ctx.limits.max_sensitivity
    if nu > limit * (1 + _REL_TOL):
        if math.isfinite(nu):
            effect = f"sensitivity {_g(nu)}, above max-sensitivity {_g(limit)}: it " \
                     f"amplifies input perturbations {_g(nu)}-fold"
        else:
            effect = "a sensitivity that overflows float64: it amplifies input " \
                     "perturbations without bound"
        yield finding("W102", f"net `{ctx.net.name}` has {effect}", ctx.span,
                      "look for unscaled residuals (W101) and large scalars (W103)")


@rule("W103", "extreme-scalar", Severity.WARNING,
      "a scalar multiplier is outside [min-scalar, max-scalar]",
      "A scalar Mul(s) multiplies the sensitivity of everything after it by |s| and "
      "divides the target norm handed to everything before it by |s| [MN §3, MD]: a huge "
      "scalar amplifies perturbations and starves the earlier layers of updates, a tiny "
      "one all but removes the module it scales.")
def extreme_scalar(ctx: NetContext) -> Iterator[Diagnostic]:
    low, high = ctx.limits.min_scalar, ctx.limits.max_scalar
    for node in ir.walk(ctx.net.body):
        if not _is_bond(node, "Mul"):
            continue
        s = abs(_arg(node, "s"))
        if s > high:
            bound = f"above max-scalar {_g(high)}"
        elif s < low:
            bound = f"below min-scalar {_g(low)}"
        else:
            continue
        yield finding("W103", f"scalar {_g(_arg(node, 's'))}{_where(node)} is {bound}",
                      node.span,
                      "keep scalars O(1); scale with the architecture's depth or width "
                      "only as the golden rules do (1/L on residual branches)")


@rule("W104", "no-trainable-atoms", Severity.WARNING,
      "the net has no atoms, so nothing is trained",
      "Only atoms carry weights; a net built from bonds alone has mass 0 and the "
      "optimizer's dualization hands every part a target norm of 0 [MD]: there is "
      "nothing to train.")
def no_trainable_atoms(ctx: NetContext) -> Iterator[Diagnostic]:
    if not any(isinstance(n, ir.Atom) for n in ir.walk(ctx.net.body)):
        yield finding("W104", f"net `{ctx.net.name}` has no trainable atoms (mass 0): the "
                      "optimizer has nothing to update", ctx.span,
                      "add a Linear, Embed or Conv2D, or remove the net")


@rule("W105", "frozen-atom", Severity.WARNING,
      "an atom's target norm (learning-rate multiplier) is 0 or below min-target-norm",
      "The target norm an atom receives is its learning-rate multiplier [MD]. It shrinks "
      "by the sensitivity of every module after it and by its share of the mass; when it "
      "underflows to 0, or falls below fp32's unit roundoff (1.2e-7) relative to weights "
      "of norm 1, the atom's updates are lost and its weights never change.")
def frozen_atom(ctx: NetContext) -> Iterator[Diagnostic]:
    floor = ctx.limits.min_target_norm
    for atom, path, targets, exact in _atom_targets(ctx.net):
        frozen = [t for t in targets if t <= 0 or t < floor]
        if not frozen:
            continue
        smallest = min(frozen)
        if not exact:
            where = " in some of its copies"
        elif len(targets) > 1:
            where = f" in {len(frozen):,} of {len(targets):,} copies"
        else:
            where = ""
        zeros = sum(1 for t in frozen if t == 0)
        if len(targets) == 1 or zeros == len(frozen):
            value = "is 0" if smallest == 0 else f"is {smallest:.3g}, below min-target-norm " \
                                                  f"{floor:g}"
        else:
            value = f"is below min-target-norm {floor:g}" + (f" (0 in {zeros:,})" if zeros else "")
        yield finding("W105", f"{ir.describe(atom)} ({path}) is never updated{where}: its "
                      f"target norm {value}", atom.span,
                      "reduce the sensitivity after it (W101, W103) or raise its mass")


def _atom_targets(net: ir.Net) -> Iterator[tuple[ir.Atom, str, list[float], bool]]:
    """Per IR atom: its module path, its absolute targets over all copies, whether exact.

    The rule of docs/internals.md: entering copy k of a repeat multiplies the scale by
    ``copy_targets[k]``; an atom's absolute target is ``scale * atom.target``.
    """
    stack: list[tuple[ir.Node, str, list[float], bool]] = [(net.body, "", [1.0], True)]
    while stack:
        root, prefix, scales, exact = stack.pop()
        names = scope_names(root)
        for node in scope_walk(root):
            if isinstance(node, ir.Atom):
                target = node.target or 0.0
                yield node, prefix + names[id(node)], [s * target for s in scales], exact
            elif isinstance(node, ir.Repeat):
                copies = node.copy_targets or (0.0,)
                if exact and len(scales) * len(copies) <= _MAX_EXPANDED:
                    inner, inner_exact = [s * c for s in scales for c in copies], True
                else:  # too many copies to list: keep the smallest, since targets are >= 0
                    inner, inner_exact = [min(scales) * min(copies)], False
                stack.append((node.body, f"{prefix}{names[id(node)]}.k.", inner, inner_exact))


@rule("W106", "mass-imbalance", Severity.WARNING,
      "one part (atom or repeat copy) holds more than max-mass-share of its scope's mass",
      "Mass sets the share of every update a module receives: dualization hands part i "
      "the target μi/μ [MN §3, MD]. When one part holds nearly all the mass, the others "
      "are all but frozen. Modula tares the residual blocks (GPT: blocks_mass = 5) so the "
      "embedding and read-out keep a useful share.")
def mass_imbalance(ctx: NetContext) -> Iterator[Diagnostic]:
    scopes: list[tuple[ir.Node, str]] = [(ctx.net.body, f"net `{ctx.net.name}`")]
    while scopes:
        root, label = scopes.pop()
        members = [n for n in scope_walk(root) if isinstance(n, (ir.Atom, ir.Repeat))]
        scopes.extend((r.body, f"the repeated block `{snippet(r.span)}`")
                      for r in members if isinstance(r, ir.Repeat))
        # The parts are the atoms and every copy of a repeat: n equal copies are n parts.
        parts = [(n, (n.body.mass if isinstance(n, ir.Repeat) else n.mass) or 0.0,
                  n.count if isinstance(n, ir.Repeat) else 1) for n in members]
        total = sum(mass * copies for _, mass, copies in parts)
        if sum(copies for _, mass, copies in parts if mass > 0) < 2 or not total > 0:
            continue
        big, mass, _ = max(parts, key=lambda p: p[1])
        share = mass / total
        if share > ctx.limits.max_mass_share:
            # Two or more copies each hold at most half, so ``big`` is an atom or a ** 1.
            yield finding(
                "W106", f"`{snippet(big.span)}` holds {share:.1%} of the mass of {label} "
                f"({_g(mass)} of {_g(total)}): the rest gets {1 - share:.2%} of every update",
                big.span,
                "tare the heavy part to a smaller total (tare(m, 5) as GPT does) or give "
                "the others more mass=")


@rule("W107", "unusual-tare", Severity.WARNING,
      "a tare total is outside [min-tare, max-tare] (in masses of an untared atom)",
      "tare(m, total) sets m's mass, hence m's share of every update relative to the "
      "untared atoms of mass 1 around it [MN §3]. Modula tares to small totals (GPT "
      "blocks_mass = 5, ResCNN 20); a total orders of magnitude away from 1 starves "
      "either m or everything else.", scope="program")
def unusual_tare(ctx: ProgramContext) -> Iterator[Diagnostic]:
    low, high = ctx.config.thresholds.min_tare, ctx.config.thresholds.max_tare
    for tare in ctx.program.tares:
        if low <= tare.total <= high or _covers_a_net(ctx.program, tare):
            continue
        side = f"below min-tare {_g(low)}" if tare.total < low else f"above max-tare {_g(high)}"
        yield finding("W107", f"`{snippet(tare.span)}` sets a mass of {_g(tare.total)} (it "
                      f"was {_g(tare.mass_before)}), {side}", tare.span,
                      "masses are relative: an untared atom has mass 1")


def _covers_a_net(program: ir.Program, tare: TareRecord) -> bool:
    """A tare of a whole net changes nothing relative: every share stays the same."""
    for net in program.nets:
        mass = net.body.mass or 0.0
        inside = net.span is not None and net.span.source is tare.span.source and (
            net.span.start <= tare.span.start < net.span.end)
        if inside and math.isclose(mass, tare.total, rel_tol=1e-9):
            return True
    return False


@rule("W108", "fan-ratio", Severity.WARNING,
      "a Linear or Conv2D has a fan-out/fan-in ratio above max-fan-ratio",
      "An atom's init and dual map carry the spectral scale √(fan_out/fan_in) [MD; GR]. "
      "An extreme ratio makes that scale extreme, and the layer is a rank bottleneck of "
      "min(fan_out, fan_in) whose output is nearly all in the span of few directions.")
def fan_ratio(ctx: NetContext) -> Iterator[Diagnostic]:
    for node in ir.walk(ctx.net.body):
        if not isinstance(node, ir.Atom) or node.op not in ("Linear", "Conv2D"):
            continue
        out, inp = int(_arg(node, "out")), int(_arg(node, "in"))
        ratio = max(out / inp, inp / out)
        if ratio > ctx.limits.max_fan_ratio:
            kind = "fan-out/fan-in" if out > inp else "fan-in/fan-out"
            yield finding("W108", f"{ir.describe(node)}{_where(node)} has {kind} ratio "
                          f"{_g(ratio)}, above max-fan-ratio {_g(ctx.limits.max_fan_ratio)}",
                          node.span,
                          "change the width gradually, over several layers")


@rule("W109", "heads-divisibility", Severity.WARNING,
      "the model width feeding SplitHeads(h) is not a multiple of h",
      "Multi-head attention splits the model width into h heads of width d_head; the "
      "golden rules scale heads by keeping d_head fixed and width = h · d_head. A width "
      "that is not a multiple of h means the query, key and value projections change "
      "the width, so the attention block's widths no longer scale together.")
def heads_divisibility(ctx: NetContext) -> Iterator[Diagnostic]:
    for node in ir.walk(ctx.net.body):
        if not _is_bond(node, "SplitHeads"):
            continue
        heads = int(_arg(node, "heads"))
        feeder = ctx.before(node)
        if not (isinstance(feeder, ir.Atom) and feeder.op == "Linear"):
            continue
        width = int(_arg(feeder, "in"))
        if width % heads:
            yield finding("W109", f"the model width {width} fed to {ir.describe(feeder)} @ "
                          f"SplitHeads({heads}){_where(node)} is not a multiple of {heads} "
                          "heads", node.span,
                          f"pick a width that is a multiple of {heads}, or another head count")


@rule("W110", "attention-scaling", Severity.WARNING,
      "attention scores are scaled up after AttentionQK, undoing its 1/d scaling",
      "AttentionQK computes q·kᵀ/d, the 1/d scaling of the golden rules: with aligned "
      "queries and keys q·kᵀ grows like d, so only 1/d keeps logits O(1) as heads widen. "
      "A scalar on the scores, on q or k, or Softmax(scale) that reaches √d_head turns it "
      "back into the usual 1/√d, and the learning rate stops transferring across width.")
def attention_scaling(ctx: NetContext) -> Iterator[Diagnostic]:
    exponent = ctx.limits.attention_scale_exponent
    for node in ir.walk(ctx.net.body):
        if not _is_bond(node, "AttentionQK"):
            continue
        d_head = _head_width(node)
        found = _score_multiplier(ctx, node)
        if d_head is None or found is None:
            continue
        factor, culprit = found
        if factor <= 1 or factor < d_head**exponent * (1 - _REL_TOL):
            continue
        yield finding("W110", f"attention scores in `{snippet(culprit.span)}` are multiplied "
                      f"by {_g(factor)} (d_head = {d_head}) after AttentionQK's 1/d, so "
                      f"the logits scale as {_effective(factor, d_head)}", culprit.span,
                      "keep score multipliers O(1) (GPT's attention_scale=1): AttentionQK "
                      "already divides by d")


def _effective(factor: float, d_head: int) -> str:
    """``factor / d`` written as a power of d: 8/d with d = 64 is 1/d^0.5 = 1/√d."""
    if d_head <= 1:
        return f"{_g(factor)}/d"
    power = 1 - math.log(factor) / math.log(d_head)
    if math.isclose(power, 0.5, abs_tol=1e-3):
        return "1/√d instead of 1/d"
    if abs(power) < 1e-3:
        return "1 (the 1/d is cancelled)"
    return f"1/d^{power:.2g} instead of 1/d"


def _head_width(qk: ir.Node) -> int | None:
    shape = qk.in_shape
    if isinstance(shape, ir.TupleShape) and isinstance(shape.items[0], ir.TensorShape):
        dims = shape.items[0].dims
        return dims[-1] if dims and dims[-1] else None
    return None


def _score_multiplier(ctx: NetContext, qk: ir.Node) -> tuple[float, ir.Node] | None:
    """Product of the scalars on q, on k and between AttentionQK and Softmax (its scale
    included), with the node most to blame; None when no Softmax follows."""
    factor, culprit = 1.0, qk
    node = ctx.after(qk)
    while node is not None and not _is_bond(node, "Softmax"):
        if not _is_bond(node, "Mul", "CausalMask", "Identity"):
            return None
        if _is_bond(node, "Mul"):
            factor, culprit = factor * abs(_arg(node, "s")), node
        node = ctx.after(node)
    if node is None:
        return None
    scale = abs(_arg(node, "scale"))
    if scale > 1:
        culprit = node
    factor *= scale
    source: ir.Node | None = ctx.before(qk)
    while _is_bond(source, "Rope", "Identity"):
        source = ctx.before(source)
    if isinstance(source, ir.Tuple) and len(source.members) == 2:
        for member in source.members:
            step: ir.Node | None = last_applied(member)
            while step is not None and _is_bond(step, "Mul", "SplitHeads", "Identity"):
                if _is_bond(step, "Mul"):
                    factor, culprit = factor * abs(_arg(step, "s")), step
                step = ctx.before(step)
    return factor, culprit


# --------------------------------------------------------------------------- W2xx structure


def _unused(kind: str, code: str) -> Callable[[RunContext], Iterator[Diagnostic]]:
    def check(ctx: RunContext) -> Iterator[Diagnostic]:
        for s in ctx.symbols:
            if s.kind == kind and not s.used:
                what = f'import "{s.name}"' if kind == "import" else f"{kind} `{s.name}`"
                yield finding(code, f"{what} is never used", s.span, _UNUSED_HINTS[kind])

    check.__name__ = f"unused_{kind}"
    check.__doc__ = f"W2xx: a top-level {kind} that no net of the run uses."
    return check


_UNUSED_HINTS = {
    "param": "remove it; -D cannot change a net through it",
    "let": "remove it, or use it in a net",
    "def": "remove it, or use it in a net",
    "import": "remove the import: no name of that file is used",
}
_UNUSED_WHY = ("Names no net depends on are dead code: a reader assumes a param changes "
               "the network, and -D silently does nothing. Names of an imported file "
               "count as used when any file of the run uses them; files without a net "
               "are libraries and are not checked.")
for _kind, _code in (("param", "W201"), ("let", "W202"), ("def", "W203"), ("import", "W204")):
    rule(_code, f"unused-{_kind}", Severity.WARNING, f"a top-level {_kind} is never used",
         _UNUSED_WHY, scope="run")(_unused(_kind, _code))


# --------------------------------------------------------------------------- I3xx information


@rule("I301", "non-smooth", Severity.INFO,
      "a non-smooth bond (ReLU, GELU, Abs) in a net that asked for smoothness",
      "The modular norm's sharpness bounds hold for well-normed and smooth modules "
      "[MN §3]: ReLU, GELU and Abs have kinks, so a net built with them has no smoothness "
      "guarantee. A net asks for smoothness with a `# modc: smooth` comment on its net "
      "line, or with require-smooth in [tool.modc].")
def non_smooth(ctx: NetContext) -> Iterator[Diagnostic]:
    why = _smooth_request(ctx)
    if why is None:
        return
    for node in ir.walk(ctx.net.body):
        if isinstance(node, ir.Bond) and not spec_of(node.op).smooth:
            yield finding("I301", f"{node.op}{_where(node)} is not smooth, but "
                          f"net `{ctx.net.name}` asks for smoothness ({why})", node.span,
                          "use a smooth nonlinearity, or drop the request")


def _smooth_request(ctx: NetContext) -> str | None:
    """Why this net must be smooth: its ``# modc: smooth`` marker or the config, or None."""
    span = ctx.net.span
    if span is not None and ctx.directives.at(span.source, span.line).smooth:
        return "# modc: smooth"
    wanted = ctx.config.require_smooth
    if wanted is True or (isinstance(wanted, list) and ctx.net.name in wanted):
        where = os.path.basename(ctx.config.path or "pyproject.toml")
        return f"require-smooth in {where}"
    return None


# --------------------------------------------------------------------------- selection


def known_code(token: str) -> bool:
    """Whether ``token`` is a rule code, an E code, or a prefix of one."""
    from modc.diagnostics import CODES

    return any(code.startswith(token) for code in (*RULES, *CODES))


def enabled(code: str, select: list[str] | None, ignore: list[str]) -> bool:
    """ruff's precedence: the longest matching prefix wins; on a tie, ignore wins."""
    chosen = max((len(s) for s in (select if select is not None else [""])
                  if code.startswith(s)), default=-1)
    dropped = max((len(s) for s in ignore if code.startswith(s)), default=-1)
    return chosen >= 0 and chosen > dropped
