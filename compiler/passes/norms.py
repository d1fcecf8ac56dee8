"""Compute mass, sensitivity, smoothness and target norms: the modular-norm pass.

The rules are those of Modula 2 (``modula/abstract.py``), which implement Large et al.,
"Scalable optimization in the modular norm" (NeurIPS 2024), section 3, and the
dualization of Bernstein & Newhouse, "Modular duality in deep learning" (2024):

- atom: mass ``atom_mass``, sensitivity 1, smooth;
- bond: mass 0, sensitivity and smoothness from :mod:`modc.catalog`;
- composition ``m1 @ m0``: mass ``μ0 + μ1``, sensitivity ``ν0 · ν1``;
- tuple: mass ``Σ μi``, sensitivity ``Σ νi``;
- dualizing with target ``T``: ``m0`` gets ``T · μ0 / μ / ν1`` and ``m1`` gets
  ``T · μ1 / μ``; tuple member ``i`` gets ``T · μi / μ``; below a node of mass 0 every
  target is 0.

A :class:`~modc.ir.Repeat` is Modula's ``m ** n`` (``copy @ m ** (n-1)``, ending in
``copy @ Identity``) but is never unrolled: its body is annotated once, in its own scope,
and the per-copy targets come from running Modula's recursion on numbers.
Floating-point operations are evaluated in Modula's order, so targets match Modula's to
the last bit wherever the tree is the same (tare aside; see docs/semantics.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

from modc import catalog, ir

logger = logging.getLogger(__name__)

__all__ = [
    "AtomRow",
    "compute_norms",
    "compute_program",
    "copy_scales",
    "expand_atoms",
    "norm_coefficients",
    "repeat_levels",
    "scope_names",
    "scope_walk",
    "spec_of",
    "weight_shape",
]


@dataclass(frozen=True)
class AtomRow:
    """One atom of the fully expanded network, in weight order."""

    name: str  # module path, e.g. ``repeat0.3.linear1``
    kind: str  # the atom's op: ``Linear``, ``Embed`` or ``Conv2D``
    shape: list[int]  # weight shape
    mass: float
    target_norm: float  # absolute target norm at T = 1 (the learning-rate multiplier)
    dual_map: str
    params: int  # number of weight elements
    node: ir.Atom  # the IR node (shared by every copy of a repeat body)


# --------------------------------------------------------------------------- catalog


def spec_of(op: str) -> catalog.Spec:
    """The catalog entry of a built-in, by name or alias."""
    spec = catalog.BUILTINS.get(op)
    if spec is not None:
        return spec
    for candidate in catalog.BUILTINS.values():
        if op in candidate.aliases:
            return candidate
    raise ValueError(f"internal compiler error: no catalog entry for op {op!r}")


def weight_shape(atom: ir.Atom) -> list[int]:
    """The weight shape of an atom (DESIGN.md, atom table)."""
    spec = spec_of(atom.op)
    defaults = {p.name: p.default for p in spec.params if p.default is not catalog.REQUIRED}

    def arg(name: str) -> int:
        value = atom.args.get(name, defaults.get(name))
        if not isinstance(value, (int, float)):
            raise ValueError(f"internal compiler error: {atom.op} argument {name!r} is {value!r}")
        return int(value)

    if spec.name == "Linear":
        return [arg("out"), arg("in")]
    if spec.name == "Embed":
        return [arg("vocab"), arg("dim")]
    if spec.name == "Conv2D":
        k = arg("kernel")
        return [arg("out"), arg("in"), k, k]
    raise ValueError(f"internal compiler error: no weight shape rule for {atom.op!r}")


# --------------------------------------------------------------------------- scopes


def scope_walk(root: ir.Node) -> Iterator[ir.Node]:
    """Pre-order walk of one scope in weight order; repeat bodies are not entered."""
    stack = [root]
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, ir.Repeat):
            stack.extend(reversed(current.children()))


def scope_names(root: ir.Node) -> dict[int, str]:
    """Attribute names of the atoms and repeats of one scope, keyed by ``id(node)``.

    Atoms are ``{op.lower()}{i}`` numbered per op in weight order (``linear0``,
    ``embed0``, ``conv2d0``), repeats ``repeat{i}``. The code generator uses the same
    names for the attributes of the generated block classes.
    """
    counts: dict[str, int] = {}
    names: dict[int, str] = {}
    for node in scope_walk(root):
        if isinstance(node, ir.Atom):
            stem = node.op.lower()
        elif isinstance(node, ir.Repeat):
            stem = "repeat"
        else:
            continue
        index = counts.get(stem, 0)
        counts[stem] = index + 1
        names[id(node)] = f"{stem}{index}"
    return names


# --------------------------------------------------------------------------- the pass


def compute_norms(net: ir.Net) -> None:
    """Annotate every node of ``net`` in place with mass, sensitivity, smooth and target.

    Also fills ``copy_targets`` on every repeat. Repeat bodies are visited once, so the
    cost does not grow with repeat counts (beyond one number per copy).
    """
    visited = _annotate(net.body)
    logger.debug("compute_norms: net %s, %d node visits", net.name, visited)


def compute_program(program: ir.Program) -> None:
    """Run :func:`compute_norms` on every net of the program."""
    for net in program.nets:
        compute_norms(net)


def _annotate(root: ir.Node) -> int:
    """Both sweeps over the tree rooted at ``root``; returns the number of node visits."""
    return _sweep_up(root) + _sweep_down(root)


def _sweep_up(root: ir.Node) -> int:
    """Mass, sensitivity and smoothness, children before parents (iteratively)."""
    visits = 0
    stack: list[tuple[ir.Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if not ready:
            stack.append((node, True))
            stack.extend((child, False) for child in node.children())
            continue
        visits += 1
        _combine(node)
    return visits


def _combine(node: ir.Node) -> None:
    """Set one node's mass, sensitivity and smoothness from its (annotated) children."""
    if isinstance(node, ir.Atom):
        # modula/atom.py: every atom has sensitivity 1 and is smooth.
        node.mass, node.sensitivity, node.smooth = float(node.atom_mass), 1.0, True
    elif isinstance(node, ir.Bond):
        spec = spec_of(node.op)
        node.mass, node.sensitivity, node.smooth = 0.0, spec.sensitivity(node.args), spec.smooth
    elif isinstance(node, ir.Composition):
        # modula/abstract.py, CompositeModule: children = (m0, m1) = (inner, outer).
        m0, m1 = node.inner, node.outer
        node.mass = _num(m0.mass) + _num(m1.mass)
        node.sensitivity = _num(m0.sensitivity) * _num(m1.sensitivity)
        node.smooth = bool(m0.smooth and m1.smooth)
    elif isinstance(node, ir.Tuple):
        # modula/abstract.py, TupleModule: Python's sum, members left to right.
        node.mass = sum(_num(m.mass) for m in node.members)
        node.sensitivity = sum(_num(m.sensitivity) for m in node.members)
        node.smooth = all(m.smooth for m in node.members)
    elif isinstance(node, ir.Repeat):
        masses, sensitivities = repeat_levels(node)
        node.mass, node.sensitivity = masses[-1], sensitivities[-1]
        # copy @ (... @ (copy @ Identity)); Identity is smooth.
        node.smooth = bool(node.body.smooth)
    else:
        raise TypeError(f"internal compiler error: unknown IR node {type(node).__name__}")


def repeat_levels(repeat: ir.Repeat) -> tuple[list[float], list[float]]:
    """Masses and sensitivities of the levels of Modula's ``body ** n``.

    Level 0 is ``Identity`` (mass 0, sensitivity 1); level ``j`` is ``copy_j @ level
    j-1``, so its mass is ``M[j-1] + μ`` and its sensitivity ``S[j-1] · ν``: repeated
    addition and multiplication, exactly as Modula builds ``m ** n``.
    """
    if repeat.count < 1:
        raise ValueError("internal compiler error: a repeat count below 1 reached the pass")
    mu, nu = _num(repeat.body.mass), _num(repeat.body.sensitivity)
    masses, sensitivities = [0.0], [1.0]
    for _ in range(repeat.count):
        masses.append(masses[-1] + mu)
        sensitivities.append(sensitivities[-1] * nu)
    return masses, sensitivities


def _sweep_down(root: ir.Node) -> int:
    """Targets, parents before children; each repeat body starts a scope with T = 1."""
    visits = 0
    root.target = 1.0
    stack = [root]
    while stack:
        node = stack.pop()
        visits += 1
        target = _num(node.target)
        if isinstance(node, ir.Repeat):
            node.copy_targets = _copy_targets(node, target)
            node.body.target = 1.0
            stack.append(node.body)
            continue
        children = node.children()
        if not children:
            continue
        for child, share in zip(children, _shares(node, target), strict=True):
            child.target = share
        stack.extend(reversed(children))
    return visits


def _shares(node: ir.Node, target: float) -> list[float]:
    """The targets a composition or tuple hands its children (in ``children()`` order)."""
    mass = _num(node.mass)
    if not mass > 0:
        # Modula: a module of mass 0 dualizes to zeros; nothing below is updated.
        return [0.0] * len(node.children())
    if isinstance(node, ir.Composition):
        m0, m1 = node.inner, node.outer
        # modula/abstract.py, CompositeModule.dualize, same evaluation order.
        return [
            target * _num(m0.mass) / mass / _num(m1.sensitivity),
            target * _num(m1.mass) / mass,
        ]
    if isinstance(node, ir.Tuple):
        return [target * _num(m.mass) / mass for m in node.members]
    raise TypeError(f"internal compiler error: {type(node).__name__} has no shares")


def _copy_targets(repeat: ir.Repeat, target: float) -> tuple[float, ...]:
    """Per-copy targets (first applied first) of ``repeat`` dualized with ``target``.

    Modula's recursion on ``copy_j @ level_{j-1}`` run on numbers: level ``j`` with
    target ``T_j`` hands ``T_j · μ / M_j`` to its copy and ``T_j · M_{j-1} / M_j / ν``
    to the level below; level 0 (Identity) has no weights.
    """
    masses, _ = repeat_levels(repeat)
    mu, nu = _num(repeat.body.mass), _num(repeat.body.sensitivity)
    n = repeat.count
    shares = [0.0] * n
    level_target = target
    for j in range(n, 0, -1):
        if not masses[j] > 0:
            break  # mass 0 at this level: every copy below keeps target 0
        shares[j - 1] = level_target * mu / masses[j]
        level_target = level_target * masses[j - 1] / masses[j] / nu
    return tuple(shares)


def _num(value: float | None) -> float:
    if value is None:
        raise ValueError("internal compiler error: node read before compute_norms set it")
    return value


# --------------------------------------------------------------------------- expansion


def copy_scales(scales: list[float], repeat: ir.Repeat) -> list[float]:
    """Scales of every copy of ``repeat`` entered from every scale in ``scales``.

    The absolute-target rule of docs/internals.md: entering copy ``k`` multiplies the
    scale by ``copy_targets[k]``. Order: outer scale major, copy minor (weight order).
    """
    copies = repeat.copy_targets
    if copies is None:
        raise ValueError("internal compiler error: repeat read before compute_norms set it")
    return [scale * factor for scale in scales for factor in copies]


def expand_atoms(net: ir.Net) -> list[AtomRow]:
    """Every atom of the fully expanded network in weight order, with absolute targets.

    Runs :func:`compute_norms` first if the net is not annotated. Cost is linear in the
    number of expanded atoms; each scope is named once.
    """
    if net.body.target is None:
        compute_norms(net)
    rows: list[AtomRow] = []
    _expand(net.body, "", 1.0, rows, {})
    return rows


@dataclass
class _ScopeInfo:
    """What expansion needs of one scope, computed once however many copies it has."""

    names: dict[int, str]
    members: list[ir.Atom | ir.Repeat]  # weight order
    atoms: dict[int, tuple[list[int], int, str]]  # id -> (shape, params, dual map)


def _scope_info(root: ir.Node, cache: dict[int, _ScopeInfo]) -> _ScopeInfo:
    info = cache.get(id(root))
    if info is None:
        members = [n for n in scope_walk(root) if isinstance(n, (ir.Atom, ir.Repeat))]
        atoms = {}
        for node in members:
            if isinstance(node, ir.Atom):
                shape = weight_shape(node)
                atoms[id(node)] = (shape, math.prod(shape), spec_of(node.op).dual_map)
        info = cache[id(root)] = _ScopeInfo(scope_names(root), members, atoms)
    return info


def _expand(
    root: ir.Node, prefix: str, scale: float, rows: list[AtomRow], cache: dict[int, _ScopeInfo]
) -> None:
    info = _scope_info(root, cache)
    for node in info.members:
        name = info.names[id(node)]
        if isinstance(node, ir.Repeat):
            for k, factor in enumerate(node.copy_targets or ()):
                _expand(node.body, f"{prefix}{name}.{k}.", scale * factor, rows, cache)
            continue
        shape, params, dual_map = info.atoms[id(node)]
        rows.append(
            AtomRow(
                name=prefix + name,
                kind=node.op,
                shape=list(shape),
                mass=_num(node.mass),
                target_norm=scale * _num(node.target),
                dual_map=dual_map,
                params=params,
                node=node,
            )
        )


def norm_coefficients(net: ir.Net) -> list[float]:
    """Per expanded atom, the factor of its atom norm in the modular norm.

    The recursive max of DESIGN.md unfolds to ``max_i ‖w_i‖ / t_i`` with ``t_i`` the
    atom's target norm at T = 1, so the factor is ``1 / t_i``. Atoms with target 0 (in a
    subtree of mass 0) are never updated and are left out of the max: factor 0.0.
    """
    return [1.0 / row.target_norm if row.target_norm > 0 else 0.0 for row in expand_atoms(net)]
