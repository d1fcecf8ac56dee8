"""Elaboration: names, params, definitions, imports and numbers, from AST to IR.

Numbers are evaluated here, at compile time. Module expressions become IR trees; a
name bound to a module is a template, so every use clones it (fresh weights). ``m ** n``
becomes one :class:`modc.ir.Repeat` node and is never unrolled.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

from modc import ir, limits
from modc import syntax as ast
from modc.calls import bind, builtin_spec, check_arg, make_builtin, sqrt
from modc.catalog import BUILTINS, FUNCTIONS, REQUIRED
from modc.diagnostics import CompileError, Diagnostic, Severity, error, suggest
from modc.loader import PRELUDE_PATH, Loader
from modc.source import Span
from modc.values import (
    BuiltinValue,
    DefValue,
    NodeBudget,
    TupleValue,
    Value,
    check_number,
    clone,
    is_number,
    kind_name,
    rescale_masses,
    to_module,
    total_mass,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Symbol:
    """A top-level name (param, let, def) or an import, and whether anything used it."""

    kind: str  # "param" | "let" | "def" | "import"
    name: str
    span: Span
    file: str
    used: bool = False


@dataclass
class TareRecord:
    """One ``tare(m, total)`` call, for the lint rules."""

    span: Span
    total: float
    mass_before: float


@dataclass(eq=False)
class _Binding:
    stmt: ast.Param | ast.Let | ast.Def
    scope: FileScope
    symbol: Symbol
    state: str = "new"  # "new" | "busy" | "done"
    value: Value | None = None


@dataclass(eq=False)
class FileScope:
    """The top-level names of one file, plus the names its imports provide."""

    module: ast.Module
    is_prelude: bool = False
    local: dict[str, _Binding] = field(default_factory=dict)
    imported: dict[str, tuple[_Binding, Symbol]] = field(default_factory=dict)


@dataclass(eq=False)
class _Env:
    """Evaluation context: a file scope, definition parameters, and the call chain."""

    scope: FileScope
    params: dict[str, Value]
    depth: int
    anchor: Span | None  # call site in user code while evaluating the prelude
    label: str | None


class Elaborator:
    def __init__(self, overrides: dict[str, int | float] | None = None) -> None:
        self.loader = Loader()
        self.overrides = dict(overrides or {})
        self.used_overrides: set[str] = set()
        self.budget = NodeBudget()
        self.symbols: list[Symbol] = []
        self.tares: list[TareRecord] = []
        self._active_defs: list[ast.Def] = []
        self._scopes: dict[str, FileScope] = {}  # real path -> scope, user files only
        self.prelude = self._scope(self.loader.load_prelude(), True)

    # files and scopes -------------------------------------------------------------

    def _scope(self, module: ast.Module, is_prelude: bool = False) -> FileScope:
        scope = FileScope(module, is_prelude)
        for stmt in module.statements:
            if isinstance(stmt, (ast.Param, ast.Let, ast.Def)):
                self._declare(scope, stmt)
        for stmt in module.statements:
            if isinstance(stmt, ast.Import):
                self._import(scope, stmt)
        return scope

    def _declare(self, scope: FileScope, stmt: ast.Param | ast.Let | ast.Def) -> None:
        if stmt.name in BUILTINS or stmt.name in FUNCTIONS:
            raise error("E200", f"'{stmt.name}' is a built-in and cannot be redefined",
                        stmt.name_span, hint="choose another name")
        if stmt.name in scope.local:
            first = scope.local[stmt.name].stmt
            raise error("E200", f"'{stmt.name}' is already defined on line "
                        f"{first.span.line}", stmt.name_span)
        if isinstance(stmt, ast.Def):
            seen: set[str] = set()
            for param in stmt.params or []:
                if param.name in seen:
                    raise error("E200", f"parameter '{param.name}' of '{stmt.name}' is "
                                f"repeated", param.span)
                seen.add(param.name)
        kind = type(stmt).__name__.lower()
        symbol = Symbol(kind, stmt.name, stmt.name_span, scope.module.source.path)
        if not scope.is_prelude:
            self.symbols.append(symbol)
        scope.local[stmt.name] = _Binding(stmt, scope, symbol)

    def _import(self, scope: FileScope, stmt: ast.Import) -> None:
        if "\0" in stmt.path:  # the OS rejects it with ValueError, not OSError
            raise error("E105", "cannot import a file name with a NUL character",
                        stmt.path_span)
        real, display = self.loader.resolve(scope.module.source, stmt.path)
        chain = [os.path.basename(s) for s in self.loader._stack]
        self.loader.enter(real, stmt.path_span, chain)
        symbol = Symbol("import", stmt.path, stmt.span, scope.module.source.path)
        self.symbols.append(symbol)
        if real not in self._scopes:
            module = self.loader.load_import(real, display, stmt.path_span)
            self.loader.push(real)
            try:
                self._scopes[real] = self._scope(module)
            finally:
                self.loader.pop()
        other = self._scopes[real]
        for name, binding in other.local.items():
            if name in scope.imported and scope.imported[name][0] is not binding:
                raise error("E200", f"'{name}' is defined by two imports", stmt.path_span)
            scope.imported[name] = (binding, symbol)

    def load(self, path: str, text: str | None = None) -> FileScope:
        """Load the main file (and, through it, its imports)."""
        if text is None:
            module = self.loader.load_main(path)
        else:
            module = self.loader.load_text(text, path)
        real = os.path.realpath(path)
        self.loader.push(real)
        try:
            scope = self._scope(module)
        finally:
            self.loader.pop()
        self._scopes[real] = scope
        return scope

    def evaluate_all(self) -> list[CompileError]:
        """Evaluate every param and let of every user file, so unused ones are checked too."""
        problems = []
        for scope in self._scopes.values():
            for binding in scope.local.values():
                if isinstance(binding.stmt, ast.Def):
                    continue
                try:
                    self._value_of(binding, binding.stmt.span)
                except CompileError as exc:
                    binding.state = "failed"
                    problems.append(exc)
                except RecursionError:
                    binding.state = "failed"
                    problems.append(_too_deep(binding.stmt.span))
        return problems

    # names ----------------------------------------------------------------------

    def lookup(self, name: str, span: Span, env: _Env) -> Value:
        if name in env.params:
            value = env.params[name]
            return self._fresh(value, span)
        binding = env.scope.local.get(name)
        if binding is None and name in env.scope.imported:
            binding, import_symbol = env.scope.imported[name]
            import_symbol.used = True
        if binding is None and not env.scope.is_prelude and name in self.prelude.local:
            binding = self.prelude.local[name]
        if binding is not None:
            binding.symbol.used = True
            return self._fresh(self._value_of(binding, span), span)
        if name in BUILTINS or name in FUNCTIONS:
            return BuiltinValue(name)
        raise error("E201", f"unknown name '{name}'", span, hint=suggest(name, self._names(env)))

    def _names(self, env: _Env) -> list[str]:
        names = set(env.params) | set(env.scope.local) | set(env.scope.imported)
        names |= set(self.prelude.local) | set(BUILTINS) | set(FUNCTIONS)
        return sorted(names)

    def _fresh(self, value: Value, span: Span) -> Value:
        """Templates are copied at every use, so each use has its own weights."""
        if isinstance(value, ir.Node):
            return clone(value, self.budget, span)
        if isinstance(value, TupleValue):
            return TupleValue(tuple(self._fresh(v, span) for v in value.items), value.span)
        return value

    def _value_of(self, binding: _Binding, span: Span) -> Value:
        if binding.state == "done":
            assert binding.value is not None  # set together with the state
            return binding.value
        stmt = binding.stmt
        if isinstance(stmt, ast.Def):
            binding.state, binding.value = "done", DefValue(stmt, binding.scope)
            return binding.value
        if binding.state == "failed":  # already reported by evaluate_all
            raise error("E204", f"'{stmt.name}' has an error (see above)", span)
        if binding.state == "busy":
            raise error("E205", f"'{stmt.name}' is defined in terms of itself", stmt.name_span)
        binding.state = "busy"
        env = _Env(binding.scope, {}, 0, None, None)
        try:
            value = self.eval(stmt.value, env)
            if isinstance(stmt, ast.Param):
                value = self._param_value(stmt, value)
        finally:
            binding.state = "new"
        binding.state, binding.value = "done", value
        return value

    def _param_value(self, stmt: ast.Param, value: Value) -> Value:
        if not is_number(value):
            raise error("E204", f"param '{stmt.name}' must be a number, got {kind_name(value)}",
                        stmt.value.span, hint="use 'let' to name a module or a tuple")
        if stmt.name in self.overrides:
            self.used_overrides.add(stmt.name)
            try:
                return check_number(self.overrides[stmt.name], stmt.name_span)
            except CompileError as exc:  # -D values bypass the checks of literals
                raise CompileError(Diagnostic(
                    Severity.ERROR, "E207", f"-D {stmt.name}: {exc.diagnostic.message}",
                    None)) from None
        return value

    # expressions ------------------------------------------------------------------

    def eval(self, expr: ast.Expr, env: _Env) -> Value:
        self.budget.step(expr.span)
        value = self._eval(expr, env)
        if isinstance(value, ir.Node):
            self.budget.check_height(value, expr.span)
        return value

    def _eval(self, expr: ast.Expr, env: _Env) -> Value:
        if isinstance(expr, ast.Num):
            return check_number(expr.value, expr.span)
        if isinstance(expr, ast.Name):
            return self._name_value(expr, env)
        if isinstance(expr, ast.TupleExpr):
            items = tuple(self.eval(item, env) for item in expr.items)
            return TupleValue(items, self._at(expr.span, env))
        if isinstance(expr, ast.UnaryOp):
            return self._unary(expr, env)
        if isinstance(expr, ast.BinOp):
            from modc.operators import binary

            left = self.eval(expr.left, env)
            right = self.eval(expr.right, env)
            return binary(self, expr, left, right, env)
        if isinstance(expr, ast.Call):
            return self._call(expr, env)
        raise TypeError(f"unknown expression {type(expr).__name__}")

    def _at(self, span: Span, env: _Env) -> Span:
        """Spans of nodes built inside the prelude point at the user's call instead."""
        return env.anchor if env.anchor is not None else span

    def _name_value(self, expr: ast.Name, env: _Env) -> Value:
        value = self.lookup(expr.id, expr.span, env)
        if isinstance(value, BuiltinValue):
            return self._call_builtin(expr.id, [], [], self._at(expr.span, env), env)
        if isinstance(value, DefValue):
            params = value.decl.params or []
            if any(p.default is None for p in params):
                names = ", ".join(p.name for p in params)
                raise error("E202", f"'{expr.id}' needs arguments ({names})", expr.span,
                            hint=f"call it: {expr.id}({names})")
            return self._call_def(value, [], [], expr.span, env)
        return value

    def _unary(self, expr: ast.UnaryOp, env: _Env) -> Value:
        value = self.eval(expr.operand, env)
        if is_number(value):
            return check_number(-value if expr.op == "-" else +value, expr.span)
        module = to_module(value, expr.span)
        if module is None:
            raise error("E204", f"cannot negate {kind_name(value)}", expr.span)
        if expr.op == "+":
            return module
        return self.compose(self.bond("Mul", {"s": -1.0}, expr.span, env), module, expr.span, env)

    # calls ------------------------------------------------------------------------

    def _call(self, expr: ast.Call, env: _Env) -> Value:
        callee = self.lookup(expr.func, expr.func_span, env)
        args = [(self.eval(a, env), a.span) for a in expr.args]
        keywords = [(k.name, self.eval(k.value, env), k.span) for k in expr.keywords]
        if isinstance(callee, BuiltinValue):
            return self._call_builtin(expr.func, args, keywords, self._at(expr.span, env), env)
        if isinstance(callee, DefValue):
            return self._call_def(callee, args, keywords, expr.span, env)
        raise error("E204", f"'{expr.func}' is {kind_name(callee)}, not something to call",
                    expr.func_span)

    def _call_builtin(self, name: str, args: list[tuple[Value, Span]],
                      keywords: list[tuple[str, Value, Span]], span: Span, env: _Env) -> Value:
        if name in FUNCTIONS:
            return self._call_function(name, args, keywords, span, env)
        spec = builtin_spec(name)
        assert spec is not None  # callers pass names of BUILTINS or FUNCTIONS only
        params = [p.name for p in spec.params]
        defaults = {p.name for p in spec.params if p.default is not REQUIRED}
        if not args and not keywords and len(defaults) < len(params):
            needed = ", ".join(p for p in params if p not in defaults)
            raise error("E202", f"{name} needs arguments ({needed})", span,
                        hint=f"the signature is {name}({', '.join(params)})")
        bound = bind(name, params, args, keywords, span, defaults)
        node = make_builtin(spec, bound, span)
        node.label = env.label
        self.budget.charge(1, span)
        return node

    def _call_function(self, name: str, args: list[tuple[Value, Span]],
                       keywords: list[tuple[str, Value, Span]], span: Span,
                       env: _Env) -> Value:
        if keywords:
            raise error("E203", f"{name} takes no keyword arguments", keywords[0][2])
        if name == "tare":
            bound = bind("tare", ["m", "total"], args, [], span, set())
            return self._tare(bound["m"], bound["total"], span, env)
        if not args:
            raise error("E202", f"{name} needs at least one argument", span)
        for value, vspan in args:
            if not is_number(value):
                raise error("E204", f"{name} takes numbers, got {kind_name(value)}", vspan)
        numbers = [v for v, _ in args if is_number(v)]  # all of them, checked above
        if name == "sqrt":
            if len(args) != 1:
                raise error("E202", f"sqrt takes 1 argument, got {len(args)}", span)
            return sqrt(numbers[0], span)
        return min(numbers) if name == "min" else max(numbers)

    def _tare(self, m: tuple[Value, Span], total: tuple[Value, Span], span: Span,
              env: _Env) -> ir.Node:
        module = to_module(m[0], m[1])
        if module is None:
            raise error("E204", f"tare rescales a module, got {kind_name(m[0])}", m[1])
        amount = check_arg("tare", "total", "positive", total[0], total[1])
        before = total_mass(module)
        if before <= 0:
            raise error("E406", "tare of a module without mass (it has no atoms)", m[1])
        # Modula's tare(absolute=...) multiplies every mass by absolute / mass.
        factor = amount / before
        if not (math.isfinite(before) and math.isfinite(factor) and factor > 0):
            raise error("E404", f"tare cannot rescale a mass of {before:g} to {amount:g}", span)
        rescale_masses(module, factor)
        if any(not 0 < a.atom_mass < math.inf for a in ir.atoms_in_order(module)):
            raise error("E404", f"tare to {amount:g} leaves an atom mass of 0 or infinity",
                        span, hint="the masses inside differ too much in size")
        if not env.scope.is_prelude:
            self.tares.append(TareRecord(span, amount, before))
        return module

    def _call_def(self, value: DefValue, args: list[tuple[Value, Span]],
                  keywords: list[tuple[str, Value, Span]], span: Span, env: _Env) -> Value:
        decl = value.decl
        if any(d is decl for d in self._active_defs):
            raise error("E205", f"'{decl.name}' calls itself", span,
                        hint="definitions cannot be recursive; use '** n' to repeat a module")
        if env.depth >= limits.MAX_CALL_DEPTH:
            raise error("E900", f"definitions nested deeper than {limits.MAX_CALL_DEPTH}", span)
        params = decl.params or []
        names = [p.name for p in params]
        if decl.params is None and (args or keywords):
            raise error("E202", f"'{decl.name}' takes no arguments", span)
        defaults = {p.name for p in params if p.default is not None}
        bound = bind(decl.name, names, args, keywords, span, defaults)
        inner = _Env(value.scope, {}, env.depth + 1, None, decl.name)
        if value.scope.is_prelude and env.anchor is None:
            inner.anchor = span
            try:
                return self._run_def(decl, params, bound, inner)
            except CompileError as exc:
                raise _reanchor(exc, decl.name, span) from None
        if value.scope.is_prelude:
            inner.anchor = env.anchor
        return self._run_def(decl, params, bound, inner)

    def _run_def(self, decl: ast.Def, params: list[ast.DefParam],
                 bound: dict[str, tuple[Value, Span]], inner: _Env) -> Value:
        for p in params:
            if p.name in bound:
                inner.params[p.name] = bound[p.name][0]
            else:
                default_env = _Env(inner.scope, dict(inner.params), inner.depth, inner.anchor,
                                   decl.name)
                assert p.default is not None  # bind() rejects missing params without one
                inner.params[p.name] = self.eval(p.default, default_env)
        self._active_defs.append(decl)
        try:
            return self.eval(decl.body, inner)
        finally:
            self._active_defs.pop()

    # IR construction ----------------------------------------------------------------

    def bond(self, op: str, args: dict[str, ir.Value], span: Span, env: _Env) -> ir.Bond:
        self.budget.charge(1, span)
        return ir.Bond(op, args, span=self._at(span, env), label=env.label)

    def compose(self, outer: ir.Node, inner: ir.Node, span: Span, env: _Env) -> ir.Node:
        self.budget.charge(1, span)
        node = ir.Composition(outer, inner, span=self._at(span, env), label=env.label)
        return self.budget.check_height(node, span)

    # nets ---------------------------------------------------------------------------

    def net(self, decl: ast.NetDecl, scope: FileScope) -> ir.Net:
        env = _Env(scope, {}, 0, None, None)
        try:
            value = self.eval(decl.body, env)
        except RecursionError:
            raise _too_deep(decl.span) from None
        body = to_module(value, decl.body.span)
        if body is None:
            raise error("E204", f"net '{decl.name}' must be a module, got {kind_name(value)}",
                        decl.body.span)
        shape = self._shape(decl.shape, env) if decl.shape is not None else None
        return ir.Net(decl.name, shape, body, decl.span, decl.input_name)

    def _shape(self, shape: ast.ShapeExpr, env: _Env) -> ir.TensorShape:
        if not shape.dims:
            raise error("E303", "an input shape needs at least one dimension", shape.span)
        if len(shape.dims) > limits.MAX_RANK:
            raise error("E303", f"input shapes have at most {limits.MAX_RANK} dimensions",
                        shape.span)
        dims: list[int] = []
        for d in shape.dims:
            value = self.eval(d, env)
            dims.append(check_arg("the input shape", "dimension", "dim", value, d.span))
        return ir.TensorShape(tuple(dims), "int" if shape.is_int else "float")


def _too_deep(span: Span) -> CompileError:
    # Python's recursion limit, reached through definitions calling definitions, each
    # with deep expressions (every single expression is bounded by the parser).
    return error("E900", "definitions and expressions nested too deeply to evaluate", span,
                 hint="name intermediate results with 'let', or repeat with '** n'")


def _reanchor(exc: CompileError, name: str, call: Span) -> CompileError:
    """An error inside the prelude is reported at the user's call, quoting the prelude."""
    d = exc.diagnostic
    if d.span is not None and d.span.path == PRELUDE_PATH:
        line = d.span.source.line_text(d.span.line).strip()
        d.notes.append(f"raised inside the prelude's {name}, at: {line}")
        d.span = call
    return exc


def check_overrides(elab: Elaborator) -> None:
    """Every ``-D NAME=VALUE`` must name a param declared in the loaded files."""
    params = {s.name for s in elab.symbols if s.kind == "param"}
    others = {s.name: s.kind for s in elab.symbols if s.kind in ("let", "def")}
    for name in sorted(set(elab.overrides) - params):
        if name in others:
            hint = f"'{name}' is a {others[name]}; only a param can be set with -D"
        else:
            hint = suggest(name, params) or (
                "params: " + ", ".join(sorted(params)) if params else "the file has no params")
        raise CompileError(Diagnostic(
            Severity.ERROR, "E207", f"-D {name}: no param named '{name}'", None, hint=hint))

