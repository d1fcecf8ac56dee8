"""Tests of the lint rules (compiler/lint/rules.py): a positive and a negative case per
rule, the prelude networks stay clean, suppression comments, selection and thresholds."""

from __future__ import annotations

import glob
import os
import textwrap
from pathlib import Path

import pytest

from modc.lint.config import LintConfig, load_config, parse_table
from modc.lint.engine import LintRun
from modc.lint.formats import Finding
from modc.lint.rules import RULES, enabled, known_code
from modc.lint.suppress import parse_line

ROOT = Path(__file__).resolve().parents[1]


def lint(tmp_path: Path, source: str, name: str = "t.mod", config: LintConfig | None = None,
         select: list[str] | None = None, ignore: list[str] | None = None,
         extra: dict[str, str] | None = None, net: str | None = None) -> list[Finding]:
    """Write ``source`` (and ``extra`` files) under tmp_path and lint ``name``."""
    (tmp_path / ".git").mkdir(exist_ok=True)  # bounds the importer scan to tmp_path
    for other, text in (extra or {}).items():
        (tmp_path / other).write_text(textwrap.dedent(text))
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    config = config or LintConfig()
    run = LintRun(config, config.select if select is None else select,
                  config.ignore if ignore is None else ignore, {}, net)
    run.lint_file(str(path))
    return run.finish()


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# --------------------------------------------------------------------------- each rule

# code: (positive source, negative source). Each positive case triggers the code; each
# negative case is a near miss that triggers nothing at all.
CASES: dict[str, tuple[str, str]] = {
    "W101": ("net N(x: [16]) = (Identity + Linear(16, 16)) ** 4\n",
             "net N(x: [16]) = Residual(4, Linear(16, 16)) ** 4\n"),
    "W102": ("net N(x: [16]) = 50 * Linear(16, 16)\n",
             "net N(x: [16]) = 10 * Linear(16, 16)\n"),
    "W103": ("net N(x: [16]) = Linear(16, 16) * 0.00001\n",
             "net N(x: [16]) = Linear(16, 16) * 0.001\n"),
    "W104": ("net N(x: [16]) = ReLU @ Identity\n",
             "net N(x: [16]) = ReLU @ Linear(16, 16)\n"),
    "W105": ("net N(x: [16]) = Linear(16, 16) @ Linear(16, 16, mass=1e-9)\n",
             "net N(x: [16]) = Linear(16, 16) @ Residual(3, Linear(16, 16)) ** 3\n"),
    "W106": ("net N(x: [16]) = Linear(10, 16, mass=500) @ Linear(16, 16)\n",
             "net N(x: [16]) = Linear(10, 16, mass=50) @ Linear(16, 16)\n"),
    "W107": ("net N(x: [16]) = Linear(10, 16) @ tare(Linear(16, 16), 0.001)\n",
             "net N(x: [16]) = Linear(10, 16) @ tare(Linear(16, 16), 0.1)\n"),
    "W108": ("net N(x: [4096]) = Linear(2, 4096)\n",
             "net N(x: [4096]) = Linear(8, 4096)\n"),
    "W109": ("net N(x: int[8]) = GPT(64, 3, 16, 8, 8, 1)\n",
             "net N(x: int[8]) = GPT(64, 4, 16, 4, 4, 1)\n"),
    "W110": ("net N(x: [8, 64]) = (Softmax(1) @ CausalMask @ Mul(8) @ AttentionQK\n"
             "    @ (SplitHeads(1) @ Linear(64, 64), SplitHeads(1) @ Linear(64, 64)))\n",
             "net N(x: [8, 64]) = (Softmax(1) @ CausalMask @ Mul(2) @ AttentionQK\n"
             "    @ (SplitHeads(1) @ Linear(64, 64), SplitHeads(1) @ Linear(64, 64)))\n"),
    "W201": ("param unused = 3\nnet N(x: [16]) = Linear(16, 16)\n",
             "param width = 16\nnet N(x: [16]) = Linear(width, 16)\n"),
    "W202": ("let block = Linear(16, 16)\nnet N(x: [16]) = Linear(16, 16)\n",
             "let block = Linear(16, 16)\nnet N(x: [16]) = block\n"),
    "W203": ("def Block(n) = Linear(n, n)\nnet N(x: [16]) = Linear(16, 16)\n",
             "def Block(n) = Linear(n, n)\nnet N(x: [16]) = Block(16)\n"),
    "I301": ("net N(x: [16]) = Linear(16, 16) @ GELU @ Linear(16, 16)  # modc: smooth\n",
             "net N(x: [16]) = Linear(16, 16) @ RMSDivide @ Linear(16, 16)  # modc: smooth\n"),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_positive(tmp_path: Path, code: str) -> None:
    found = lint(tmp_path, CASES[code][0])
    assert code in codes(found), [f.diagnostic.render() for f in found]


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_negative(tmp_path: Path, code: str) -> None:
    found = lint(tmp_path, CASES[code][1])
    assert codes(found) == [], [f.diagnostic.render() for f in found]


def test_every_rule_has_cases_and_docs() -> None:
    docs = (ROOT / "docs" / "lint.md").read_text()
    for code, r in RULES.items():
        assert code in CASES or code == "W204", code  # W204 has its own tests below
        assert r.code[0] in "WI" and r.summary and r.rationale
        assert f"### {code} {r.name}" in docs or f"{code} {r.name}" in docs, code
        assert f"| {code} | {r.name} |" in docs, code


# --------------------------------------------------------------------------- messages


def test_unscaled_residual_reports_growth_and_fix(tmp_path: Path) -> None:
    found = lint(tmp_path, "net N(x: [16]) = (Identity + Linear(16, 16)) ** 8\n",
                 select=["W101"])
    (f,) = found
    assert "2^8 = 256" in f.message and "`(Identity + Linear(16, 16)) ** 8`" in f.message
    assert "(1 - 1/L) * Identity + 1/L * branch" in f.diagnostic.hint
    assert "Residual(8, branch)" in f.diagnostic.hint
    assert f.region == (1, 18, 1, 50)


def test_unscaled_residual_huge_depth_does_not_overflow(tmp_path: Path) -> None:
    found = lint(tmp_path, "net N(x: [16]) = (Identity + Linear(16, 16)) ** 1000\n")
    messages = {f.code: f.message for f in found}
    assert "2^1000 = ≈1e301" in messages["W101"]
    assert "1.072e+301-fold" in messages["W102"]
    assert "in 986 of 1,000 copies" in messages["W105"]


def test_sensitivity_beyond_float_range_is_an_error(tmp_path: Path) -> None:
    # 2^3000 overflows float64: the front end's check_finite pass stops the net (E403).
    found = lint(tmp_path, "net N(x: [16]) = (Identity + Linear(16, 16)) ** 3000\n")
    assert [f.code for f in found] == ["E403"]
    assert "is not finite (inf)" in found[0].message


def test_frozen_atom_names_the_atom(tmp_path: Path) -> None:
    found = lint(tmp_path, "net N(x: [16]) = Linear(16, 16) @ Mul(1e12) @ Linear(16, 16)\n",
                 select=["W105"])
    (f,) = found
    assert f.message == ("Linear(16, 16) (linear0) is never updated: its target norm is "
                         "5e-13, below min-target-norm 1e-07")
    assert f.region[:2] == (1, 47)


def test_mass_imbalance_inside_a_repeated_block(tmp_path: Path) -> None:
    src = "net N(x: [16]) = (Linear(16, 16, mass=1000) @ Linear(16, 16)) ** 2\n"
    (f,) = lint(tmp_path, src, select=["W106"])
    assert "of the mass of the repeated block" in f.message


def test_mass_imbalance_counts_repeat_copies_as_parts(tmp_path: Path) -> None:
    deep = "net N(x: [16]) = Linear(10, 16) @ Linear(16, 16) ** 500 @ Linear(16, 16)\n"
    assert lint(tmp_path, deep) == []
    heavy = "net N(x: [16]) = Linear(10, 16) @ Linear(16, 16, mass=300) ** 1\n"
    (f,) = lint(tmp_path, heavy, select=["W106"])
    assert f.message.startswith("`Linear(16, 16, mass=300) ** 1` holds 99.7% of the mass")


def test_tare_of_a_whole_net_is_not_unusual(tmp_path: Path) -> None:
    assert lint(tmp_path, "net N(x: [16]) = tare(Linear(16, 16) @ Linear(16, 16), 1000)\n") == []


def test_attention_scale_on_the_scores(tmp_path: Path) -> None:
    (f,) = lint(tmp_path, CASES["W110"][0], select=["W110"])
    assert "1/√d instead of 1/d" in f.message and "`Mul(8)`" in f.message
    assert "(d_head = 64)" in f.message


def test_attention_scale_of_gpt(tmp_path: Path) -> None:
    src = "net N(x: int[8]) = GPT(64, 2, 128, 64, 64, 1, attention_scale=8)\n"
    (f,) = lint(tmp_path, src, select=["W110"])
    assert "multiplied by 8" in f.message and "`GPT(64, 2, 128" in f.message


def test_attention_scale_on_queries_and_keys(tmp_path: Path) -> None:
    src = ("net A(x: [8, 16]) = (Softmax(1) @ AttentionQK\n"
           "    @ (4 * SplitHeads(1) @ Linear(16, 16), SplitHeads(1) @ Linear(16, 16)))\n")
    (f,) = lint(tmp_path, src, select=["W110"])
    assert "multiplied by 4 (d_head = 16)" in f.message


def test_softmax_without_attention_is_not_attention(tmp_path: Path) -> None:
    assert lint(tmp_path, "net S(x: [16]) = Softmax(1) @ Linear(16, 16)\n") == []


def test_heads_divisibility_is_reported_once_per_call(tmp_path: Path) -> None:
    found = lint(tmp_path, CASES["W109"][0])
    assert codes(found) == ["W109"]


# --------------------------------------------------------------------------- clean nets


PRELUDE_NETS = [
    "net G(x: int[64]) = GPT(1000, 4, 128, 32, 32, 2)",
    "net G(x: int[64]) = GPT(50304, 12, 768, 64, 64, 48)",
    "net M(x: [784]) = MLP(10, 784, 256, 4)",
    "net M(x: [784]) = MLP(10, 784, 64, 1)",
    "net M(x: [784]) = MLP(10, 784, 64, 40)",
    "net R(x: [784]) = ResMLP(128, 100, 2, 784, 10)",
    "net R(x: [3, 32, 32]) = ResCNN(32, 10, 3, 3, 10)",
    "net R(x: [64]) = Residual(6, Linear(64, 64) @ GELU @ Linear(64, 64)) ** 6",
    "net R(x: [64]) = Linear(10, 64) @ Residual(500, Linear(64, 64)) ** 500",
]


@pytest.mark.parametrize("source", PRELUDE_NETS)
def test_prelude_nets_are_clean(tmp_path: Path, source: str) -> None:
    found = lint(tmp_path, source + "\n")
    assert found == [], [f.diagnostic.render() for f in found]


@pytest.mark.parametrize("path", sorted(glob.glob(str(ROOT / "examples" / "*.mod"))))
def test_examples_are_clean(path: str) -> None:
    run = LintRun(LintConfig(), None, [], {})
    run.lint_file(path)
    found = run.finish()
    assert found == [], [f.diagnostic.render() for f in found]


# --------------------------------------------------------------------------- unused names


def test_unused_import_and_library_files(tmp_path: Path) -> None:
    lib = """\
        param depth = 2
        def Block(n) = Linear(n, n)
        def Spare(n) = ReLU @ Linear(n, n)
    """
    found = lint(tmp_path, 'import "lib.mod"\nnet N(x: [8]) = Linear(8, 8)\n',
                 extra={"lib.mod": lib})
    assert codes(found) == ["W204"]
    assert found[0].message == 'import "lib.mod" is never used'
    # lib.mod has no net: a library, whose names are never reported
    run = LintRun(LintConfig(), None, [], {})
    run.lint_file(str(tmp_path / "lib.mod"))
    assert run.finish() == []


def test_names_of_imported_files_count_if_any_file_uses_them(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.mod").write_text("def Block(n) = Linear(n, n)\n"
                                    "net A(x: [8]) = Linear(8, 8)\n")
    (tmp_path / "b.mod").write_text('import "a.mod"\nnet B(x: [8]) = Block(8)\n')
    both = LintRun(LintConfig(), None, [], {})
    for name in ("a.mod", "b.mod"):
        both.lint_file(str(tmp_path / name))
    assert both.finish() == []
    # Linting a.mod alone still finds b.mod's use (pre-commit passes changed files only).
    alone = LintRun(LintConfig(), None, [], {})
    alone.lint_file(str(tmp_path / "a.mod"))
    assert alone.finish() == []
    # Once b.mod stops using it, Block is unused.
    (tmp_path / "b.mod").write_text('import "a.mod"\nnet B(x: [8]) = Linear(8, 8)\n')
    again = LintRun(LintConfig(), None, [], {})
    again.lint_file(str(tmp_path / "a.mod"))
    assert codes(again.finish()) == ["W203"]


def test_a_broken_importer_outside_the_run_leaves_uses_unknown(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.mod").write_text("def Block(n) = Linear(n, n)\n"
                                    "net A(x: [8]) = Linear(8, 8)\n")
    (tmp_path / "b.mod").write_text('import "a.mod"\nnet B(x: [8]) = Block(4)\n')  # E300
    run = LintRun(LintConfig(), None, [], {})
    run.lint_file(str(tmp_path / "a.mod"))
    assert run.finish() == []


def test_no_unused_reports_with_errors_or_net_filter(tmp_path: Path) -> None:
    src = "param unused = 1\nnet N(x: [8]) = Linear(8, 8)\nnet Bad(x: [8]) = Linear(4, 9)\n"
    found = lint(tmp_path, src)
    assert codes(found) == ["E300"]
    assert lint(tmp_path, "param unused = 1\nnet N(x: [8]) = Linear(8, 8)\n", net="N") == []


# --------------------------------------------------------------------------- smoothness


def test_require_smooth_from_config(tmp_path: Path) -> None:
    src = "net A(x: [8]) = Linear(8, 8) @ ReLU @ Linear(8, 8)\nnet B(x: [8]) = Abs\n"
    assert lint(tmp_path, src, select=["I"]) == []
    every = lint(tmp_path, src, config=parse_table({"require-smooth": True}))
    assert [(f.code, f.region[0]) for f in every if f.code == "I301"] == [
        ("I301", 1), ("I301", 2)]
    named = lint(tmp_path, src, config=parse_table({"require-smooth": ["B"]}), select=["I"])
    assert [f.region[0] for f in named] == [2] and "require-smooth" in named[0].message


def test_prelude_non_smooth_bond_is_reported_once(tmp_path: Path) -> None:
    found = lint(tmp_path, "net M(x: [784]) = MLP(10, 784, 64, 5)  # modc: smooth\n")
    assert codes(found) == ["I301"] and found[0].severity.value == "info"


# --------------------------------------------------------------------------- suppression


@pytest.mark.parametrize("comment, silenced", [
    ("# modc: ignore[W108]", True),
    ("# modc: ignore[W1]", True),
    ("# modc: ignore[W103, W108]", True),
    ("# modc: ignore", True),
    ("#modc:ignore[w108]", True),
    ("# modc: ignore[W103]", False),
    ("# modc: smooth", False),
    ("# a note", False),
])
def test_suppression_comments(tmp_path: Path, comment: str, silenced: bool) -> None:
    found = lint(tmp_path, f"net N(x: [4096]) = Linear(2, 4096)  {comment}\n")
    assert codes(found) == ([] if silenced else ["W108"])


def test_suppression_is_per_line_and_never_hides_errors(tmp_path: Path) -> None:
    src = ("net N(x: [4096]) = Linear(2, 4096)\n"
           "# modc: ignore[W108]\n"
           "net E(x: [8]) = Linear(4, 9)  # modc: ignore\n")
    assert codes(lint(tmp_path, src)) == ["W108", "E300"]


def test_directive_parser() -> None:
    assert parse_line('import "a#b.mod"  # modc: ignore[W204]').ignore == ("W204",)
    assert not parse_line('import "a#modc: ignore.mod"').ignore_all
    both = parse_line("net N = ReLU  # modc: smooth  modc: ignore[I301]")
    assert both.smooth and both.silences("I301") and not both.silences("W101")


# --------------------------------------------------------------------------- selection


def test_select_and_ignore_precedence() -> None:
    assert enabled("W101", None, [])
    assert not enabled("W101", None, ["W1"])
    assert enabled("W105", ["W1"], []) and not enabled("W201", ["W1"], [])
    assert not enabled("W105", ["W1"], ["W105"])
    assert enabled("W105", ["W105"], ["W1"])  # the longer prefix wins
    assert not enabled("W105", ["W105"], ["W105"])  # a tie goes to ignore
    assert known_code("W1") and known_code("E3") and known_code("I301")
    assert not known_code("X1") and not known_code("W999")


def test_select_in_a_run(tmp_path: Path) -> None:
    src = "param p = 1\nnet N(x: [16]) = (Identity + Linear(16, 16)) ** 8\n"
    assert codes(lint(tmp_path, src)) == ["W201", "W102", "W101"]
    assert codes(lint(tmp_path, src, select=["W2"])) == ["W201"]
    assert codes(lint(tmp_path, src, ignore=["W10"])) == ["W201"]


# --------------------------------------------------------------------------- thresholds


def test_thresholds_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "x"

        [tool.modc]
        max-sensitivity = 1000
        max-fan-ratio = 4096
        ignore = ["W1"]
        select = "W,I"
        typo-key = 1
    """))
    sub = tmp_path / "nets"
    sub.mkdir()
    config = load_config(None, str(sub))
    assert config.path == str(tmp_path / "pyproject.toml")
    assert config.thresholds.max_sensitivity == 1000 and config.select == ["W", "I"]
    assert config.ignore == ["W1"] and "unknown key 'typo-key'" in config.notes[0]
    src = "net N(x: [4096]) = 500 * Linear(2, 4096)\n"
    assert codes(lint(tmp_path, src)) == ["W102", "W103", "W108"]
    assert codes(lint(tmp_path, src, config=config)) == []
    config.ignore = []
    assert codes(lint(tmp_path, src, config=config)) == ["W103"]  # 500 > max-scalar 100
    config.thresholds.max_scalar = 1000
    assert codes(lint(tmp_path, src, config=config)) == []


def test_nearest_pyproject_without_modc_table_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.modc]\nmax-tare = 5\n")
    inner = tmp_path / "sub"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname = 'inner'\n")
    assert load_config(None, str(inner / "a.mod")).thresholds.max_tare == 5


@pytest.mark.parametrize("table, message", [
    ({"max-sensitivity": "big"}, "must be a number"),
    ({"min-scalar": 10, "max-scalar": 1}, "min-scalar is above max-scalar"),
    ({"max-mass-share": 2}, "fraction"),
    ({"require-smooth": 3}, "require-smooth"),
    ({"select": 3}, "list of codes"),
    ({"generated": ["x"]}, "generated"),
])
def test_bad_config_values(table: dict, message: str) -> None:
    from modc.lint.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_table(table)


def test_generated_table() -> None:
    config = parse_table({"generated": {
        "a.py": "a.mod",
        "b.py": {"source": "b.mod", "defines": {"width": 64, "lr": 0.5}, "net": "B"},
    }})
    pairs = {g.output: g for g in config.generated}
    assert pairs["a.py"].source == "a.mod" and pairs["b.py"].defines == {"width": 64, "lr": 0.5}
    assert pairs["b.py"].net == "B"
    assert os.path.isabs(config.root)
