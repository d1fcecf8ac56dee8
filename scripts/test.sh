#!/usr/bin/env bash
# Install modc with its test dependencies, then run the linter and the whole test suite.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q -e ".[test]" -c constraints.txt
# Two cores: keep torch and numpy from oversubscribing them (ECOSYSTEM.md, A5).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m ruff check compiler runtime tests bench examples
bash scripts/typecheck.sh
python -m pytest -q "$@"
