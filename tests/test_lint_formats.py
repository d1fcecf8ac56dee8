"""Tests of the lint output formats (compiler/lint/formats.py): golden text, JSON and
GitHub output for a small sample, GitHub escaping, and SARIF 2.1.0 structure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modc.diagnostics import Diagnostic, Severity
from modc.lint import formats
from modc.lint.config import LintConfig
from modc.lint.engine import LintRun, render
from modc.lint.formats import Finding, escape_data, escape_property

DEEP = "net Deep(x: [16]) = (Identity + Linear(16, 16)) ** 8\n"
BROKEN = "net Oops(x: [8]) = Linear(4, 9)\n"


def run_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str],
           select: list[str] | None = None) -> list[Finding]:
    """Lint ``files`` (relative names) from inside tmp_path, a git work tree."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir(exist_ok=True)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    run = LintRun(LintConfig(), select, [], {})
    for name in files:
        run.lint_file(name)
    return run.finish()


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    return run_in(tmp_path, monkeypatch, {"deep.mod": DEEP, "broken.mod": BROKEN},
                  select=["W101"])


# --------------------------------------------------------------------------- golden


GOLDEN_TEXT = """\
broken.mod:1:20: error: shape mismatch: Linear(4, 9) expects [..., 9] but gets [8] [E300]
    1 | net Oops(x: [8]) = Linear(4, 9)
      |                    ^^^^^^^^^^^^
     = hint: the input has 8 features: Linear(4, 8)
deep.mod:1:21: warning: `(Identity + Linear(16, 16)) ** 8` composes 8 copies of a block of \
sensitivity 2: the network's input sensitivity grows as 2^8 = 256 [W101]
    1 | net Deep(x: [16]) = (Identity + Linear(16, 16)) ** 8
      |                     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
     = hint: scale the residual for depth: (1 - 1/L) * Identity + 1/L * branch with L = 8, \
which is the prelude's Residual(8, branch)
"""

W101_MESSAGE = ("`(Identity + Linear(16, 16)) ** 8` composes 8 copies of a block of sensitivity 2: "
                "the network's input sensitivity grows as 2^8 = 256")
W101_HINT = ("scale the residual for depth: (1 - 1/L) * Identity + 1/L * branch with L = 8, "
             "which is the prelude's Residual(8, branch)")


def test_text_golden(sample: list[Finding]) -> None:
    assert render("text", sample) == GOLDEN_TEXT


def test_json_golden(sample: list[Finding]) -> None:
    assert json.loads(render("json", sample)) == [
        {"file": "broken.mod", "line": 1, "column": 20, "end_line": 1, "end_column": 32,
         "severity": "error", "code": "E300",
         "message": "shape mismatch: Linear(4, 9) expects [..., 9] but gets [8]"},
        {"file": "deep.mod", "line": 1, "column": 21, "end_line": 1, "end_column": 53,
         "severity": "warning", "code": "W101", "message": W101_MESSAGE},
    ]


def test_github_golden(sample: list[Finding]) -> None:
    assert render("github", sample) == (
        "::error file=broken.mod,line=1,col=20,endLine=1,endColumn=32,title=E300::"
        "shape mismatch: Linear(4, 9) expects [..., 9] but gets [8]%0A"
        "hint: the input has 8 features: Linear(4, 8)\n"
        "::warning file=deep.mod,line=1,col=21,endLine=1,endColumn=53,"
        "title=W101 unscaled-residual::" + W101_MESSAGE + "%0Ahint: " + W101_HINT + "\n")


def test_json_is_sorted_by_file_line_column(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"b.mod": "net N(x: [16]) = 500 * Linear(16, 16)\nparam p = 1\n",
             "a.mod": "param q = 2\nnet M(x: [4096]) = Linear(2, 4096)\n"}
    rows = json.loads(render("json", run_in(tmp_path, monkeypatch, files)))
    keys = [(r["file"], r["line"], r["column"]) for r in rows]
    assert keys == sorted(keys) and keys[0][0] == "a.mod"
    assert {r["severity"] for r in rows} == {"warning"}


def test_empty_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = run_in(tmp_path, monkeypatch, {"ok.mod": "net N(x: [8]) = Linear(8, 8)\n"})
    assert render("text", clean) == "" and render("github", clean) == ""
    assert json.loads(render("json", clean)) == []
    log = json.loads(render("sarif", clean))
    check_sarif(log)
    assert log["runs"][0]["results"] == []


# --------------------------------------------------------------------------- github escaping


def test_escape_data_and_property() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_data("a:b,c") == "a:b,c"
    assert escape_property("dir,x/a:b%.mod\n") == "dir%2Cx/a%3Ab%25.mod%0A"


def test_github_escapes_messages_and_properties() -> None:
    diag = Diagnostic(Severity.INFO, "I301", "50% of it: a,b\nsecond", None)
    line = formats.github([Finding(diag, "we,ird:dir/n%.mod")], {"I301": "non-smooth"})
    assert line == ("::notice file=we%2Cird%3Adir/n%25.mod,line=1,col=1,endLine=1,"
                    "endColumn=1,title=I301 non-smooth::50%25 of it: a,b%0Asecond\n")


# --------------------------------------------------------------------------- sarif


def check_sarif(log: dict) -> None:
    """The parts of the SARIF 2.1.0 schema and of GitHub code scanning's requirements
    that modc relies on, checked by hand (no jsonschema, no network for the schema)."""
    assert set(log) == {"$schema", "version", "runs"}
    assert log["version"] == "2.1.0" and "sarif-2.1.0" in log["$schema"]
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run = log["runs"][0]
    assert run["columnKind"] == "unicodeCodePoints"
    driver = run["tool"]["driver"]
    assert driver["name"] == "modc" and isinstance(driver["version"], str)
    assert "informationUri" not in driver  # optional; modc has no published site
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for r in rules:
        assert re.fullmatch(r"[EWI]\d{3}", r["id"]), r["id"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", r["name"]), r["name"]
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"]
        assert re.search(r"docs/lint\.md#[a-z0-9-]+ ", r["help"]["text"]), r["help"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert "\\" not in uri and not uri.startswith("/") and ":" not in uri, uri
        region = location["region"]
        for key in ("startLine", "startColumn", "endLine", "endColumn"):
            assert isinstance(region[key], int) and region[key] >= 1, key
        assert (region["endLine"], region["endColumn"]) >= (region["startLine"],
                                                           region["startColumn"])
        (fingerprint,) = result["partialFingerprints"].values()
        assert re.fullmatch(r"[0-9a-f]{32}:\d+", fingerprint)


def test_sarif_structure(sample: list[Finding]) -> None:
    log = json.loads(render("sarif", sample))
    check_sarif(log)
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["E300"]["defaultConfiguration"]["level"] == "error"
    assert rules["W101"]["name"] == "UnscaledResidual"
    assert "docs/lint.md#w101-unscaled-residual" in rules["W101"]["help"]["text"]
    assert rules["I301"]["defaultConfiguration"]["level"] == "note"
    by_rule = {r["ruleId"]: r for r in run["results"]}
    w101 = by_rule["W101"]
    assert w101["level"] == "warning" and w101["message"]["text"].startswith(W101_MESSAGE)
    assert w101["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "deep.mod"},
        "region": {"startLine": 1, "startColumn": 21, "endLine": 1, "endColumn": 53}}
    assert by_rule["E300"]["level"] == "error"


def test_sarif_uri_is_repository_relative(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    nested = tmp_path / "nets" / "big nets"
    nested.mkdir(parents=True)
    (nested / "deep.mod").write_text(DEEP)
    monkeypatch.chdir(nested)  # a subfolder of the work tree: URIs stay root-relative
    run = LintRun(LintConfig(), ["W101"], [], {})
    run.lint_file("deep.mod")
    log = json.loads(render("sarif", run.finish()))
    check_sarif(log)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "nets/big%20nets/deep.mod"


def test_sarif_fingerprints_follow_moved_code(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def fingerprints(text: str) -> list[str]:
        log = json.loads(render("sarif", run_in(tmp_path, monkeypatch, {"deep.mod": text},
                                                select=["W101"])))
        return [r["partialFingerprints"]["modcFinding/v1"] for r in log["runs"][0]["results"]]

    before = fingerprints(DEEP)
    assert fingerprints("# a comment\n\n" + DEEP) == before
    twice = fingerprints(DEEP + DEEP.replace("Deep", "Deep2").replace("x: [16]) =", "x: [16])="))
    assert len(twice) == 2 and len(set(twice)) == 2
