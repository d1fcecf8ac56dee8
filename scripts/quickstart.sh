#!/usr/bin/env bash
# The README's main command: install modc with what the examples need, show what the compiler
# derives for a small GPT, then train it as a character-level language model on real English
# (the standard library's pydoc topics) with the generated optimizer and sample from it.
# About two minutes on two CPU cores; nothing is downloaded at run time.
#
# Usage: bash scripts/quickstart.sh [options of examples/train_gpt.py, e.g. --steps 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q -e ".[examples]" -c constraints.txt

echo "== modc explain examples/gpt.mod: each layer's mass, target norm (its learning-rate"
echo "   multiplier) and dual map, derived from the architecture"
modc explain examples/gpt.mod
echo
echo "== compile examples/gpt.mod with modc and train it (examples/train_gpt.py)"
python examples/train_gpt.py "$@"
