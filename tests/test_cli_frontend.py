"""The command line as the front end sees it: version, usage, I/O and source errors, exit
codes, the installed entry point, and no torch or triton in the front end."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modc import __version__
from modc.cli import main

GOOD = "param width = 8\nnet N(x: [4]) = Linear(width, 4)\n"
BAD = "net N = Linear(3, 4) @ Linear(5, 6)\n"
BAD_RENDERED = (
    "bad.mod:1:9: error: shape mismatch: Linear(3, 4) expects [..., 4] but gets [5] [E300]\n"
    "    1 | net N = Linear(3, 4) @ Linear(5, 6)\n"
    "      |         ^^^^^^^^^^^^\n"
    "     = hint: the input has 5 features: Linear(3, 5)\n"
)


@pytest.fixture
def files(write_files, monkeypatch) -> Path:
    root = write_files({"good.mod": GOOD, "bad.mod": BAD, "lib/empty.mod": ""})
    monkeypatch.chdir(root)
    return root


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys) -> None:
    assert __version__ == "0.1.0"
    assert run(["--version"], capsys) == (0, "modc 0.1.0\n", "")


def test_no_arguments_prints_usage(capsys) -> None:
    code, out, err = run([], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("usage: modc ")


@pytest.mark.parametrize("argv", [
    ["--bogus"], ["good.mod", "-o", "out.py", "--bogus"], ["explain", "--bogus", "good.mod"],
    ["explain"], ["lint", "--format", "xml", "good.mod"], ["good.mod"],
])
def test_bad_command_lines_exit_2(files, capsys, argv: list[str]) -> None:
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.startswith("modc") and "Traceback" not in err


@pytest.mark.parametrize("name, reason", [
    ("missing.mod", "No such file or directory"), ("lib", "Is a directory"),
])
def test_unreadable_main_file_exits_2(files, capsys, name: str, reason: str) -> None:
    assert run(["explain", name], capsys) == (2, "", f"modc: cannot read {name}: {reason}\n")
    code, out, err = run(["lint", "missing.mod"], capsys)  # lint words it its own way
    assert (code, out) == (2, "")
    assert "missing.mod" in err and "Traceback" not in err


def test_unreadable_main_file_when_compiling(files, capsys) -> None:
    code, out, err = run(["missing.mod", "-o", "out.py"], capsys)
    assert (code, out, err) == (2, "", "modc: cannot read missing.mod: No such file or directory\n")
    assert not (files / "out.py").exists()


@pytest.mark.parametrize("define, message", [
    ("width", "-D width: expected NAME=VALUE, for example -D width=1024"),
    ("=3", "-D =3: expected NAME=VALUE, for example -D width=1024"),
    ("3=4", "-D 3=4: expected NAME=VALUE, for example -D width=1024"),
    ("width=abc", "-D width=abc: 'abc' is not a number"),
    ("width=", "-D width=: '' is not a number"),
    ("width=nan", "-D width=nan: the value must be finite"),
    ("width=-inf", "-D width=-inf: the value must be finite"),
])
def test_malformed_define_exits_2(files, capsys, define: str, message: str) -> None:
    for argv in (["explain", "good.mod", "-D", define], ["good.mod", "-o", "o.py", "-D", define]):
        assert run(argv, capsys) == (2, "", "modc: " + message + "\n")


def test_define_changes_the_result(files, capsys) -> None:
    pytest.importorskip("modc.explain")
    code, out, err = run(["explain", "good.mod", "-D", "width=32"], capsys)
    assert (code, err) == (0, "")
    assert "[32, 4]" in out and "[8, 4]" not in out


def test_source_errors_exit_1_with_the_diagnostic_on_stderr(files, capsys) -> None:
    pytest.importorskip("modc.backend.pytorch")
    (files / "out.py").write_text("# the old file\n")
    assert run(["bad.mod", "-o", "out.py"], capsys) == (1, "", BAD_RENDERED)
    assert (files / "out.py").read_text() == "# the old file\n"


def test_explain_reports_source_errors(files, capsys) -> None:
    pytest.importorskip("modc.explain")
    assert run(["explain", "bad.mod"], capsys) == (1, "", BAD_RENDERED)


@pytest.mark.parametrize("argv, expected", [
    (["explain", "good.mod", "-D", "wdth=3"],
     "modc: error: -D wdth: no param named 'wdth' [E207]\n  = hint: did you mean 'width'?\n"),
    (["explain", "good.mod", "--net", "M"],
     "modc: error: --net M: no net of that name [E206]\n  = hint: nets in this file: N\n"),
])
def test_command_line_names_that_the_file_lacks(files, capsys, argv, expected: str) -> None:
    pytest.importorskip("modc.explain")
    assert run(argv, capsys) == (1, "", expected)


def test_installed_console_script() -> None:
    exe = shutil.which("modc")
    if exe is None:
        pytest.skip("the modc console script is not on PATH")
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "modc 0.1.0\n", "")


def test_python_dash_m() -> None:
    done = subprocess.run([sys.executable, "-m", "modc", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "modc 0.1.0\n")


def test_front_end_never_imports_torch_or_triton(files) -> None:
    script = textwrap.dedent("""
        import contextlib, importlib.util, io, sys
        from modc.pipeline import compile_source
        from modc.cli import main
        result = compile_source("gpt.mod", text="net G = GPT(65, 4, 128, 32, 32, 2)\\n")
        assert result.ok
        commands = [["explain", "good.mod"], ["lint", "good.mod"], ["good.mod", "-o", "-"]]
        needs = ["modc.explain", "modc.lint.engine", "modc.backend.pytorch"]
        ran = []
        for argv, module in zip(commands, needs):
            if importlib.util.find_spec(module) is None:
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(argv) == 0, argv
            ran.append(argv[0])
        heavy = sorted(m for m in ("torch", "triton") if m in sys.modules)
        print(heavy, ran)
    """)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=files, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[] ")
    assert importlib.util.find_spec("modc.pipeline") is not None
