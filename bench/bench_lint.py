"""Speed of ``modc lint`` (docs/lint.md), printed as ratios against a peer in the same run.

(a) ``modc lint examples/gpt.mod`` in a fresh process, median of 5, against a bare
    ``python -c "import lark"`` (goal: ratio <= 2);
(b) 100 files linted in one process (the parser is built once), total and per file.

Run: ``python bench/bench_lint.py [--repeat 5]``. Without examples/gpt.mod a GPT file
with the same shape is written to a temporary folder. The fresh processes keep their
bytecode in a temporary ``PYTHONPYCACHEPREFIX`` (written by a warm-up run), as an
installed modc has its ``.pyc`` files: with ``PYTHONDONTWRITEBYTECODE`` every modc
module would be compiled from source in every process, while lark's are installed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPT = """\
param vocab = 50304
param blocks = 12
net GPT2(x: int[1024]) = GPT(vocab, 12, 768, 64, 64, blocks)
"""


def fresh(argv: list[str], repeat: int, env: dict[str, str]) -> float:
    """Median wall time of ``argv`` in fresh processes, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=False, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def many_files(folder: Path, count: int) -> float:
    """Seconds to lint ``count`` generated files in this process."""
    from modc.cli import main

    for i in range(count):
        width = 64 + 8 * i
        (folder / f"net{i:03d}.mod").write_text(
            f"param width = {width}\n"
            f"net Mlp(x: [784]) = MLP(10, 784, width, 4)\n"
            f"net Res(x: [width]) = Residual(6, Linear(width, width) @ GELU\n"
            f"    @ Linear(width, width)) ** 6\n")
    sink = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = main(["lint", str(folder)])
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"linting the generated files failed:\n{sink.getvalue()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gpt = ROOT / "examples" / "gpt.mod"
        if not gpt.exists():
            gpt = Path(tmp) / "gpt.mod"
            gpt.write_text(GPT)
        python = sys.executable
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        command = [python, "-m", "modc", "lint", str(gpt)]
        fresh(command, 1, env)  # warm up: bytecode and lark's table cache
        fresh([python, "-c", "import lark"], 1, env)
        lint = fresh(command, args.repeat, env)
        lark = fresh([python, "-c", "import lark"], args.repeat, env)
        folder = Path(tmp) / "many"
        folder.mkdir()
        batch = many_files(folder, args.files)
    print(f"(a) modc lint {gpt.name} (fresh process, median of {args.repeat}): "
          f"{lint * 1e3:.0f} ms; import lark: {lark * 1e3:.0f} ms; "
          f"ratio {lint / lark:.2f} (goal <= 2)")
    print(f"(b) {args.files} files in one process: {batch:.2f} s "
          f"({batch / args.files * 1e3:.1f} ms per file)")


if __name__ == "__main__":
    main()
