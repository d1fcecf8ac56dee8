"""``python -m modc.lint.check_generated``: are the checked-in generated files up to date?

The pre-commit hook ``modc-check`` runs this. The pairs come from ``[tool.modc]`` in the
nearest ``pyproject.toml`` (or ``--config``), paths relative to that file's folder::

    [tool.modc]
    generated = { "nets/mlp.py" = "nets/mlp.mod" }
    # or, with the -D overrides and --net the file was generated with:
    [tool.modc.generated."nets/gpt.py"]
    source = "nets/gpt.mod"
    defines = { width = 1024 }
    net = "GPT"

Each pair runs ``modc SOURCE -o OUTPUT --check [-D NAME=VALUE]... [--net NAME]`` from that
folder, which prints a diff and the regenerate command for a stale file. Exit code: 0 all
up to date, 1 some file stale or missing (or its source has errors), 2 no pairs or a bad
configuration, 3 an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys

from modc.lint.config import ConfigError, Generated, load_config


def command(pair: Generated) -> list[str]:
    """The ``modc`` arguments that check one pair."""
    argv = [pair.source, "-o", pair.output, "--check"]
    for name, value in pair.defines.items():
        argv += ["-D", f"{name}={value}"]
    if pair.net is not None:
        argv += ["--net", pair.net]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Check every pair; returns the worst exit code."""
    from modc.cli import main as modc_main

    parser = argparse.ArgumentParser(prog="python -m modc.lint.check_generated",
                                     description="Check the generated files listed in "
                                     "[tool.modc] generated against their .mod sources.")
    parser.add_argument("--config", metavar="pyproject.toml", help="default: the nearest one")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, None)
    except ConfigError as exc:
        _stderr(f"modc-check: {exc}")
        return 2
    if not config.generated:
        where = config.path or "no pyproject.toml with [tool.modc] found"
        _stderr(f"modc-check: no [tool.modc] generated pairs ({where}); add for example "
                'generated = { "net.py" = "net.mod" }')
        return 2
    os.chdir(config.root)
    worst = 0
    for pair in config.generated:
        worst = max(worst, modc_main(command(pair)))
    return worst


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")


if __name__ == "__main__":
    sys.exit(main())
