"""Regenerate the expected generated modules under tests/golden/.

Run from anywhere after an intended change to the generated code:

    python tests/regen_golden.py

Every ``examples/*.mod`` and ``tests/golden/*.mod`` is compiled with modc's command line
from the repository root (so headers show paths such as ``examples/mlp.mod``) into
``tests/golden/<stem>.py``. Review the diff before committing it: tests/test_backend.py
compares the compiler's output with these files byte for byte.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path("tests") / "golden"


def golden_cases() -> list[tuple[str, str]]:
    """(source, expected output) pairs, relative to the repository root, sorted."""
    sources = sorted((ROOT / "examples").glob("*.mod")) + sorted((ROOT / GOLDEN).glob("*.mod"))
    cases = [(src.relative_to(ROOT).as_posix(), (GOLDEN / f"{src.stem}.py").as_posix())
             for src in sources]
    outputs = [out for _, out in cases]
    if len(set(outputs)) != len(outputs):
        raise SystemExit("two golden sources share a file name; rename one of them")
    return cases


def main() -> int:
    from modc.cli import main as modc

    os.chdir(ROOT)
    status = 0
    for source, output in golden_cases():
        code = modc([source, "-o", output])
        print(f"{'wrote' if code == 0 else 'FAILED'} {output} from {source}")
        status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main())
