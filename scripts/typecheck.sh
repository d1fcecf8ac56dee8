#!/usr/bin/env bash
# Type-check compiler/ and runtime/ with mypy, as the installed package modc sees them.
# pyproject.toml maps modc -> compiler/ and modc.runtime -> runtime/ (setuptools package-dir),
# which mypy cannot follow, so mirror that layout with symlinks under build/ (git-ignored);
# [tool.mypy] in pyproject.toml points mypy_path and the cache there.
# Usage: bash scripts/typecheck.sh [mypy arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
pkg=build/mypy/modc
rm -rf "$pkg"
mkdir -p "$pkg"
for entry in compiler/*; do
    [ "$(basename "$entry")" = __pycache__ ] || ln -s "$root/$entry" "$pkg/"
done
for sub in runtime grammar templates; do
    ln -s "$root/$sub" "$pkg/$sub"
done
python -m mypy --config-file pyproject.toml "$@"
