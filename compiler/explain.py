"""``modc explain``: per-atom mass, target norm and dual map, as JSON or as a table.

Both forms read the annotations of :mod:`modc.passes.norms` (running the pass when a
net is not annotated yet) and list atoms in weight order. The JSON form is the contract
of DESIGN.md (``modc explain --json``) and carries the same numbers as the generated
``ATOMS`` table; the text form folds repeats into one row per body atom so that a
96-block network prints a short table.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from modc import ir
from modc.passes import norms

__all__ = ["dumps_json", "explain_json", "explain_text"]


def _annotated(net: ir.Net) -> ir.Net:
    if net.body.target is None:
        norms.compute_norms(net)
    return net


# --------------------------------------------------------------------------- JSON


def explain_json(program: ir.Program) -> dict[str, Any]:
    """The DESIGN.md schema: ``{"nets": [{"name", "mass", "sensitivity", "smooth", "atoms"}]}``.

    Each atom is ``{"name", "kind", "shape", "mass", "target_norm", "dual_map"}``, in
    weight order, with floats at full precision.
    """
    return {"nets": [_net_json(_annotated(net)) for net in program.nets]}


def _net_json(net: ir.Net) -> dict[str, Any]:
    body = net.body
    return {
        "name": net.name,
        "mass": float(_value(body.mass)),
        "sensitivity": float(_value(body.sensitivity)),
        "smooth": bool(body.smooth),
        "atoms": [
            {
                "name": row.name,
                "kind": row.kind,
                "shape": list(row.shape),
                "mass": float(row.mass),
                "target_norm": float(row.target_norm),
                "dual_map": row.dual_map,
            }
            for row in norms.expand_atoms(net)
        ],
    }


def dumps_json(program: ir.Program) -> str:
    """:func:`explain_json` as text: indent 2, keys in schema order, trailing newline."""
    return json.dumps(explain_json(program), indent=2, allow_nan=False) + "\n"


def _value(value: float | None) -> float:
    """A value set by compute_norms (internal error if the pass did not run)."""
    if value is None:
        raise ValueError("internal compiler error: explain read a node before compute_norms")
    return value


# --------------------------------------------------------------------------- text


@dataclass
class _Row:
    """One table row: an atom, or one body atom standing for all copies of its repeats."""

    name: str
    kind: str
    shape: list[int]
    params: int  # per copy
    copies: int
    mass: float
    targets: list[float]  # absolute target of every copy, weight order
    dual_map: str


_HEADER = ("atom", "kind", "shape", "params", "copies", "mass", "target norm", "dual map")
_RIGHT = {3, 4, 5, 6}  # numeric columns are right-aligned
_COPIES = 4


def explain_text(program: ir.Program, full: bool = False) -> str:
    """A readable table per net; ``full`` lists every copy instead of folding repeats."""
    sections = [_net_text(_annotated(net), full) for net in program.nets]
    return "\n".join(sections)


def _net_text(net: ir.Net, full: bool) -> str:
    rows = _expanded_rows(net) if full else _folded_rows(net)
    body = net.body
    shape = f": {net.input_shape}" if net.input_shape is not None else ""
    lines = [f"net {net.name}({net.input_name}{shape})"]
    lines += _table(rows)
    params = sum(r.params * r.copies for r in rows)
    atoms = sum(r.copies for r in rows)
    totals = [
        ("mass", _fmt(_value(body.mass))),
        ("input sensitivity", f"{_fmt(_value(body.sensitivity))} (Lipschitz bound)"),
        ("smooth", "yes" if body.smooth else "no"),
        ("parameters", f"{params:,}"),
        ("atoms", f"{atoms:,}"),
    ]
    width = max(len(key) for key, _ in totals)
    lines += [f"  {key.ljust(width)}  {value}" for key, value in totals]
    lines.append("  target norm = the atom's learning-rate multiplier (update norm at lr 1)")
    return "\n".join(lines) + "\n"


def _expanded_rows(net: ir.Net) -> list[_Row]:
    return [
        _Row(r.name, r.kind, r.shape, r.params, 1, r.mass, [r.target_norm], r.dual_map)
        for r in norms.expand_atoms(net)
    ]


def _folded_rows(net: ir.Net) -> list[_Row]:
    rows: list[_Row] = []
    _fold(net.body, "", [1.0], rows)
    return rows


def _fold(root: ir.Node, prefix: str, scales: list[float], rows: list[_Row]) -> None:
    """Rows of one scope; ``scales`` holds the scale of every copy of this scope."""
    names = norms.scope_names(root)
    for node in norms.scope_walk(root):
        if isinstance(node, ir.Repeat):
            n = node.count
            copies = "0" if n == 1 else f"[0..{n - 1}]"
            inner = f"{prefix}{names[id(node)]}.{copies}."
            _fold(node.body, inner, norms.copy_scales(scales, node), rows)
        elif isinstance(node, ir.Atom):
            shape = norms.weight_shape(node)
            # Same products as expand_atoms, so ranges show the exact per-copy floats.
            targets = [scale * _value(node.target) for scale in scales]
            rows.append(
                _Row(
                    name=prefix + names[id(node)],
                    kind=node.op,
                    shape=shape,
                    params=math.prod(shape),
                    copies=len(scales),
                    mass=_value(node.mass),
                    targets=targets,
                    dual_map=norms.spec_of(node.op).dual_map,
                )
            )


def _table(rows: list[_Row]) -> list[str]:
    cells = [list(_HEADER)]
    for r in rows:
        cells.append(
            [
                r.name,
                r.kind,
                "[" + ", ".join(str(d) for d in r.shape) + "]",
                f"{r.params:,}",
                f"×{r.copies:,}" if r.copies > 1 else "",
                _fmt(r.mass),
                _range(r.targets),
                r.dual_map,
            ]
        )
    # The copies column only appears when some row stands for several copies.
    columns = [i for i in range(len(_HEADER)) if i != _COPIES or any(r.copies > 1 for r in rows)]
    widths = {i: max(len(row[i]) for row in cells) for i in columns}
    lines = []
    for row in cells:
        parts = [
            row[i].rjust(widths[i]) if i in _RIGHT else row[i].ljust(widths[i]) for i in columns
        ]
        lines.append(("  " + "  ".join(parts)).rstrip())
    return lines


def _range(values: list[float]) -> str:
    low, high = _fmt(min(values)), _fmt(max(values))
    return low if low == high else f"{low} .. {high}"


def _fmt(value: float) -> str:
    return f"{value:.6g}"
