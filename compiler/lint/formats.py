"""Output formats of ``modc lint``: text, json, github (workflow commands) and sarif.

Each formatter takes the findings, already filtered and sorted, and returns the whole
output as one string (the engine writes it to stdout). json, hashlib and urllib are
imported by the formats that need them: the text format is the start-up path of CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from modc import __version__
from modc.diagnostics import CODES, Diagnostic, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


@dataclass
class Finding:
    """A diagnostic with the file it belongs to (span-less diagnostics get the linted file)."""

    diagnostic: Diagnostic
    file: str

    @property
    def code(self) -> str:
        return self.diagnostic.code

    @property
    def severity(self) -> Severity:
        return self.diagnostic.severity

    @property
    def message(self) -> str:
        return self.diagnostic.message

    @property
    def region(self) -> tuple[int, int, int, int]:
        """(line, column, end line, end column), 1-based; the end column is exclusive."""
        span = self.diagnostic.span
        if span is None:
            return 1, 1, 1, 1
        return span.line, span.column, span.end_line, span.end_column

    def sort_key(self) -> tuple:
        return (self.file, *self.region[:2], self.code, self.message)

    def source_line(self) -> str:
        span = self.diagnostic.span
        return span.source.line_text(span.line) if span is not None else ""


# --------------------------------------------------------------------------- text


def text(findings: list[Finding]) -> str:
    """DESIGN.md's diagnostics: ``file:line:col: severity: message [CODE]``, line, caret."""
    blocks = []
    for f in findings:
        if f.diagnostic.span is None:  # a whole-file problem (for example a bad -D)
            head = f"{f.file}: {f.severity.value}: {f.message} [{f.code}]"
            tail = [f"  = hint: {f.diagnostic.hint}"] if f.diagnostic.hint else []
            blocks.append("\n".join([head, *tail]))
        else:
            blocks.append(f.diagnostic.render())
    return "".join(b + "\n" for b in blocks)


# --------------------------------------------------------------------------- json


def to_json(findings: list[Finding]) -> str:
    """An array sorted by file, line and column."""
    import json

    rows = []
    for f in findings:
        line, column, end_line, end_column = f.region
        rows.append({
            "file": f.file, "line": line, "column": column, "end_line": end_line,
            "end_column": end_column, "severity": f.severity.value, "code": f.code,
            "message": f.message,
        })
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- github


def escape_data(value: str) -> str:
    """A workflow-command message (actions/toolkit ``escapeData``)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A workflow-command property value (actions/toolkit ``escapeProperty``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(findings: list[Finding], names: dict[str, str]) -> str:
    """``::warning file=…,line=…,col=…,endLine=…,endColumn=…,title=…::message`` lines."""
    lines = []
    for f in findings:
        line, column, end_line, end_column = f.region
        title = f"{f.code} {names[f.code]}" if f.code in names else f.code
        props = {"file": f.file.replace(os.sep, "/"), "line": line, "col": column,
                 "endLine": end_line, "endColumn": end_column, "title": title}
        body = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items())
        message = f.message + (f"\nhint: {f.diagnostic.hint}" if f.diagnostic.hint else "")
        lines.append(f"::{_GITHUB_LEVEL[f.severity]} {body}::{escape_data(message)}")
    return "".join(line + "\n" for line in lines)


# --------------------------------------------------------------------------- sarif


@dataclass(frozen=True)
class RuleInfo:
    """What SARIF's ``tool.driver.rules[]`` says about one code."""

    code: str
    name: str  # PascalCase
    summary: str
    description: str
    help_uri: str
    severity: Severity


def sarif(findings: list[Finding], rules: list[RuleInfo], uri: Callable[[str], str]) -> str:
    """SARIF 2.1.0 for GitHub code scanning; ``uri`` maps a file to a repository URI."""
    import json

    index = {r.code: i for i, r in enumerate(rules)}
    seen: dict[tuple[str, str, str], int] = {}
    results = []
    for f in findings:
        location = uri(f.file)
        line, column, end_line, end_column = f.region
        key = (f.code, location, " ".join(f.source_line().split()))
        seen[key] = seen.get(key, 0) + 1
        text = f.message + (f"\nhint: {f.diagnostic.hint}" if f.diagnostic.hint else "")
        results.append({
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": text},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": location},
                "region": {"startLine": line, "startColumn": column,
                           "endLine": end_line, "endColumn": end_column},
            }}],
            "partialFingerprints": {"modcFinding/v1": _fingerprint(*key, seen[key])},
        })
    driver = {
        "name": "modc",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [_sarif_rule(r) for r in rules],
    }
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints",
                  "results": results}],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _sarif_rule(r: RuleInfo) -> dict:
    return {
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": r.description},
        "help": {"text": f"{r.description} See {r.help_uri} in the modc sources."},
        "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
    }


def _fingerprint(code: str, location: str, line_text: str, occurrence: int) -> str:
    """Stable across runs and line moves: the code, the file and the line's own text."""
    import hashlib

    digest = hashlib.sha256("\0".join((code, location, line_text)).encode("utf-8"))
    return f"{digest.hexdigest()[:32]}:{occurrence}"


def error_rule(code: str, help_uri: str) -> RuleInfo:
    """SARIF's description of a front-end error code (from modc.diagnostics.CODES)."""
    summary = CODES.get(code, "front-end error")
    name = "".join(w.capitalize() for w in summary.replace("-", " ").split() if w.isalnum())
    return RuleInfo(code, name or code, summary,
                    f"modc front-end error {code}: {summary}. The file does not compile, "
                    "so it cannot be linted until the error is fixed.", help_uri,
                    Severity.ERROR)


def repository_uri(root: str) -> Callable[[str], str]:
    """A file's URI relative to ``root`` (forward slashes, percent-encoded)."""
    from urllib.parse import quote

    def uri(path: str) -> str:
        absolute = os.path.abspath(path)
        relative = os.path.relpath(absolute, root) if _inside(absolute, root) else None
        if relative is None:
            return "file://" + quote(absolute.replace(os.sep, "/"), safe="/:")
        return quote(relative.replace(os.sep, "/"), safe="/")

    return uri


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False
