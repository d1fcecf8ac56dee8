"""Draw the architecture as a Graphviz DOT digraph, and render it to a file.

Atoms are boxes (op, weight shape, mass, target norm), bonds are ellipses, a tuple is an
explicit split point and merge point, a composition is an edge in application order,
and a repeat is drawn once as a cluster labelled ``× n`` with the range of its copies'
target norms. Node ids are counters, so the same IR always gives the same text.
Rendering to SVG or PNG needs Graphviz's ``dot``; writing ``.dot`` needs nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modc import ir
from modc.passes import norms

__all__ = ["GraphError", "GraphvizFailed", "GraphvizMissing", "render", "to_dot"]

_RENDERED = ("svg", "png", "pdf")
_TEXT = ("dot", "gv")


class GraphError(Exception):
    """The graph could not be written (the CLI reports it as a usage or I/O error)."""


class GraphvizMissing(GraphError):
    """Rendering needs Graphviz's ``dot`` program, which is not installed."""


class GraphvizFailed(GraphError):
    """``dot`` ran and failed."""


# --------------------------------------------------------------------------- DOT text


def to_dot(source: ir.Program | ir.Net) -> str:
    """A DOT digraph of every net of a program (one cluster per net), or of one net."""
    nets = source.nets if isinstance(source, ir.Program) else [source]
    writer = _DotWriter()
    for net in nets:
        if net.body.target is None:
            norms.compute_norms(net)
        writer.net(net)
    return writer.text()


def _quote(text: str) -> str:
    """A DOT double-quoted string; newlines become DOT's centred line break ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + escaped.replace("\n", "\\n") + '"'


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _span(values: list[float]) -> str:
    low, high = _fmt(min(values)), _fmt(max(values))
    return low if low == high else f"{low} .. {high}"


@dataclass(frozen=True)
class _Scope:
    """Attribute names of the current scope, and the absolute scale of each of its copies.

    Atom labels show ``scale * target`` over all copies (a range when copies differ).
    """

    names: dict[int, str]
    scales: list[float]


class _DotWriter:
    """Accumulates node declarations (inside their clusters) and edges (at top level).

    Edges are written outside every cluster: in DOT, an edge statement inside a
    subgraph would pull an outside endpoint into that subgraph.
    """

    def __init__(self) -> None:
        self.nodes = 0
        self.clusters = 0
        self.edges: list[str] = []
        self.body: list[str] = []
        self.depth = 1

    def text(self) -> str:
        head = [
            "digraph modc {",
            "  rankdir=TB;",
            '  node [fontname="Helvetica", fontsize=10];',
            '  edge [fontname="Helvetica", fontsize=9];',
        ]
        return "\n".join(head + self.body + ["  " + e for e in self.edges] + ["}"]) + "\n"

    def line(self, text: str) -> None:
        self.body.append("  " * self.depth + text)

    def node(self, label: str, attrs: str) -> str:
        name = f"n{self.nodes}"
        self.nodes += 1
        self.line(f"{name} [{attrs}, label={_quote(label)}];")
        return name

    def edge(self, tail: str, head: str, attrs: str = "") -> None:
        self.edges.append(f"{tail} -> {head}" + (f" [{attrs}]" if attrs else "") + ";")

    def open_cluster(self, label: str, style: str) -> None:
        self.line(f"subgraph cluster_{self.clusters} {{")
        self.clusters += 1
        self.depth += 1
        self.line(f"label={_quote(label)};")
        self.line(style)

    def close_cluster(self) -> None:
        self.depth -= 1
        self.line("}")

    # ----------------------------------------------------------------------- nets

    def net(self, net: ir.Net) -> None:
        self.open_cluster(f"net {net.name}", 'style="rounded"; color="gray40";')
        shape = f": {net.input_shape}" if net.input_shape is not None else ""
        source = self.node(
            f"{net.input_name}{shape}", 'shape=invhouse, style="filled", fillcolor="gray92"'
        )
        tail = self.module(net.body, source, _Scope(norms.scope_names(net.body), [1.0]))
        out_shape = net.body.out_shape
        label = f"output: {out_shape}" if out_shape is not None else "output"
        sink = self.node(label, 'shape=house, style="filled", fillcolor="gray92"')
        self.edge(tail, sink)
        self.close_cluster()

    def module(self, node: ir.Node, source: str, scope: _Scope) -> str:
        """Draw ``node`` fed by ``source``; returns the id of the node holding its output."""
        if isinstance(node, ir.Atom):
            return self.atom(node, source, scope)
        if isinstance(node, ir.Bond):
            name = self.node(ir.describe(node), "shape=ellipse")
            self.edge(source, name)
            return name
        if isinstance(node, ir.Composition):
            for part in _chain(node):
                source = self.module(part, source, scope)
            return source
        if isinstance(node, ir.Tuple):
            return self.fan(node, source, scope)
        if isinstance(node, ir.Repeat):
            return self.repeat(node, source, scope)
        raise TypeError(f"internal compiler error: unknown IR node {type(node).__name__}")

    def atom(self, node: ir.Atom, source: str, scope: _Scope) -> str:
        shape = "[" + ", ".join(str(d) for d in norms.weight_shape(node)) + "]"
        target = _span([scale * _value(node.target) for scale in scope.scales])
        mass = _fmt(_value(node.mass))
        title = f"{scope.names[id(node)]}: {ir.describe(node)}"
        label = f"{title}\nweight {shape}\nmass {mass}, target {target}"
        name = self.node(label, 'shape=box, style="filled", fillcolor="lightblue"')
        self.edge(source, name)
        return name

    def fan(self, node: ir.Tuple, source: str, scope: _Scope) -> str:
        split = self.node("", "shape=point, width=0.08")
        self.edge(source, split)
        outputs = [self.module(member, split, scope) for member in node.members]
        merge = self.node("tuple", 'shape=box, style="rounded", fontsize=8, height=0.2')
        for index, output in enumerate(outputs):
            self.edge(output, merge, f"label={_quote(str(index))}")
        return merge

    def repeat(self, node: ir.Repeat, source: str, scope: _Scope) -> str:
        copies = norms.copy_scales(scope.scales, node)
        label = f"{scope.names[id(node)]} × {node.count}\ncopy targets {_span(copies)}"
        self.open_cluster(label, 'style="dashed"; color="gray30";')
        entry = self.node("", "shape=point, width=0.08")
        self.edge(source, entry)
        # Atoms inside are labelled by the scale of each copy times their body target.
        tail = self.module(node.body, entry, _Scope(norms.scope_names(node.body), copies))
        self.close_cluster()
        if node.count > 1:
            self.edge(tail, entry, 'style="dashed", constraint=false, label="next copy"')
        return tail


def _chain(node: ir.Composition) -> list[ir.Node]:
    """The non-composition parts of a composition, in application order.

    Iterative, so long chains (``L @ L @ ... @ L``) do not deepen the recursion.
    """
    parts: list[ir.Node] = []
    stack: list[ir.Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ir.Composition):
            stack.extend((current.outer, current.inner))  # inner is popped first
        else:
            parts.append(current)
    return parts


def _value(value: float | None) -> float:
    """A value set by compute_norms (internal error if the pass did not run)."""
    if value is None:
        raise ValueError("internal compiler error: graph read a node before compute_norms")
    return value


# --------------------------------------------------------------------------- files


def render(dot_text: str, out_path: str | os.PathLike[str]) -> None:
    """Write ``dot_text`` to ``out_path``: ``.dot``/``.gv`` as text, ``.svg``/``.png``/
    ``.pdf`` through Graphviz's ``dot``. The file is replaced atomically.

    Raises:
        GraphvizMissing: a rendered format was asked for and ``dot`` is not installed.
        GraphvizFailed: ``dot`` rejected the input.
        GraphError: the extension is not one of the above.
    """
    path = Path(out_path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt in _TEXT:
        data = dot_text.encode("utf-8")
    elif fmt in _RENDERED:
        data = _run_dot(dot_text, fmt, path)
    else:
        known = ", ".join("." + f for f in _TEXT + _RENDERED)
        raise GraphError(f"cannot write a graph as {path.name!r}: use one of {known}")
    _write_atomic(path, data)


def _run_dot(dot_text: str, fmt: str, path: Path) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            f"writing {path.name} needs Graphviz's 'dot' program, which was not found; "
            "install it with 'apt-get install graphviz' (Debian, Ubuntu) or "
            "'brew install graphviz' (macOS), or write DOT text with '-o file.dot', "
            "which works without Graphviz"
        )
    proc = subprocess.run(
        [exe, f"-T{fmt}"],
        input=dot_text.encode("utf-8"),
        capture_output=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise GraphvizFailed(f"dot -T{fmt} failed (exit {proc.returncode}): {message}")
    return proc.stdout


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a temporary file next to ``path``, then rename it over ``path``."""
    directory = path.parent if str(path.parent) else Path(".")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
