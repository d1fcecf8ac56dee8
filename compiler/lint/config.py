"""``[tool.modc]`` in ``pyproject.toml``: lint thresholds, rule selection, generated files.

The file is the one named by ``--config``, or else the nearest ``pyproject.toml`` that
has a ``[tool.modc]`` table, searched upwards from the first linted path and then from
the working directory (ruff's rule: a ``pyproject.toml`` without the tool's table does
not stop the search, so a sub-project without modc settings inherits the parent's).

Every key is optional::

    [tool.modc]
    select = ["W", "I"]            # codes or prefixes; default: every rule
    ignore = ["W108"]
    require-smooth = true          # or a list of net names (rule I301)
    max-sensitivity = 10.0         # thresholds: see THRESHOLDS and docs/lint.md
    generated = { "net.py" = "net.mod" }   # pairs checked by modc.lint.check_generated
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields

from modc.diagnostics import suggest


class ConfigError(Exception):
    """An unreadable or invalid ``[tool.modc]`` table (a usage error, exit code 2)."""


@dataclass
class Thresholds:
    """The numeric limits of the lint rules; the TOML key is the name with dashes."""

    max_block_sensitivity: float = 1.0  # W101: a repeated block above this grows as ν^n
    max_sensitivity: float = 10.0  # W102: the net's input sensitivity
    max_scalar: float = 100.0  # W103: |s| of a scalar Mul(s)
    min_scalar: float = 1e-4  # W103
    min_target_norm: float = 1e-7  # W105: below fp32's unit roundoff an update is lost
    max_mass_share: float = 0.99  # W106: the largest part's share of its scope's mass
    min_tare: float = 0.01  # W107: tare totals outside [min, max], in atom masses
    max_tare: float = 100.0  # W107
    max_fan_ratio: float = 1000.0  # W108: max(out/in, in/out) of Linear and Conv2D
    attention_scale_exponent: float = 0.5  # W110: flag score multipliers >= d_head ** this


THRESHOLD_KEYS: dict[str, str] = {f.name.replace("_", "-"): f.name for f in fields(Thresholds)}
OTHER_KEYS = ("select", "ignore", "require-smooth", "generated")


@dataclass
class Generated:
    """One generated file the project checks in: ``output`` is ``modc source -o output``."""

    output: str
    source: str
    defines: dict[str, int | float] = field(default_factory=dict)
    net: str | None = None


@dataclass
class LintConfig:
    """Settings of one lint run (defaults when no ``[tool.modc]`` table is found)."""

    path: str | None = None  # the pyproject.toml it came from
    thresholds: Thresholds = field(default_factory=Thresholds)
    select: list[str] | None = None  # None: every rule
    ignore: list[str] = field(default_factory=list)
    require_smooth: bool | list[str] = False
    generated: list[Generated] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. unknown keys, shown on stderr

    @property
    def root(self) -> str:
        """The folder of the config file (paths in ``generated`` are relative to it)."""
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()


def find_config(start: str) -> str | None:
    """The nearest ``pyproject.toml`` with a ``[tool.modc]`` table at or above ``start``."""
    folder = os.path.abspath(start)
    if not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate) and _has_modc_table(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _has_modc_table(path: str) -> bool:
    try:
        return "modc" in _read(path).get("tool", {})
    except ConfigError:
        return True  # report the broken file rather than silently skipping it


def load_config(explicit: str | None, first_path: str | None) -> LintConfig:
    """The settings for a run: ``explicit`` (``--config``) or the nearest table."""
    path = explicit
    if path is None:
        starts = ([first_path] if first_path else []) + [os.getcwd()]
        path = next((p for p in map(find_config, starts) if p is not None), None)
    if path is None:
        return LintConfig()
    if not os.path.isfile(path):
        raise ConfigError(f"--config {path}: no such file")
    table = _read(path).get("tool", {}).get("modc", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.modc] must be a table")
    return parse_table(table, path)


def _read(path: str) -> dict:
    import tomllib  # only when a pyproject.toml exists: most of lint's start-up is imports

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def parse_table(table: dict, path: str = "pyproject.toml") -> LintConfig:
    """Validate a ``[tool.modc]`` table; unknown keys become notes, bad values errors."""
    config = LintConfig(path=path)
    known = set(THRESHOLD_KEYS) | set(OTHER_KEYS)
    for key, value in table.items():
        if key in THRESHOLD_KEYS:
            setattr(config.thresholds, THRESHOLD_KEYS[key], _number(path, key, value))
        elif key in ("select", "ignore"):
            codes = _codes(path, key, value)
            if key == "select":
                config.select = codes
            else:
                config.ignore = codes
        elif key == "require-smooth":
            config.require_smooth = _smooth(path, value)
        elif key == "generated":
            config.generated = _generated(path, value)
        elif key not in known:
            hint = suggest(key, known)
            config.notes.append(f"{path}: unknown key '{key}' in [tool.modc] (ignored)"
                                + (f"; {hint}" if hint else ""))
    _check_pairs(path, config.thresholds)
    return config


def _number(path: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: [tool.modc] {key} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{path}: [tool.modc] {key} must be a finite number >= 0")
    return float(value)


def _check_pairs(path: str, t: Thresholds) -> None:
    for low, high in (("min_scalar", "max_scalar"), ("min_tare", "max_tare")):
        if getattr(t, low) > getattr(t, high):
            raise ConfigError(f"{path}: [tool.modc] {low.replace('_', '-')} is above "
                              f"{high.replace('_', '-')}")
    if t.max_mass_share > 1:
        raise ConfigError(f"{path}: [tool.modc] max-mass-share is a fraction (at most 1)")


def _codes(path: str, key: str, value: object) -> list[str]:
    """``["W1", "I301"]`` or ``"W1,I301"``; validated later against the registry."""
    if isinstance(value, str):
        return split_codes(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [c.strip().upper() for c in value if c.strip()]
    raise ConfigError(f"{path}: [tool.modc] {key} must be a list of codes, got {value!r}")


def split_codes(text: str) -> list[str]:
    """Comma-separated codes or prefixes, upper-cased, blanks dropped."""
    return [c.strip().upper() for c in text.split(",") if c.strip()]


def _smooth(path: str, value: object) -> bool | list[str]:
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{path}: [tool.modc] require-smooth must be true, false or a list "
                      f"of net names, got {value!r}")


def _generated(path: str, value: object) -> list[Generated]:
    """``{"net.py" = "net.mod"}``, or a table per output with source, defines and net."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [tool.modc] generated must be a table of "
                          f'"OUT.py" = "SOURCE.mod" pairs')
    pairs = []
    for output, spec in value.items():
        if isinstance(spec, str):
            pairs.append(Generated(output, spec))
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("source"), str):
            raise ConfigError(f'{path}: [tool.modc.generated] "{output}" must be a source '
                              f'path or a table with source = "...mod"')
        defines = spec.get("defines", {})
        net = spec.get("net")
        bad = set(spec) - {"source", "defines", "net"}
        if bad or not isinstance(defines, dict) or not (net is None or isinstance(net, str)):
            raise ConfigError(f'{path}: [tool.modc.generated] "{output}": expected keys '
                              f"source, defines (a table of numbers) and net (a name)")
        numbers = {k: _define(path, output, k, v) for k, v in defines.items()}
        pairs.append(Generated(output, spec["source"], numbers, net))
    return pairs


def _define(path: str, output: str, name: str, value: object) -> int | float:
    """A ``-D`` value: any finite number (integers stay integers, as on the command line)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f'{path}: [tool.modc.generated] "{output}" defines.{name} must be '
                          f"a finite number, got {value!r}")
    return value
