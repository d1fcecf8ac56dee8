"""Train the MLP of mlp.mod on handwritten digits with the optimizer modc generates for it.

The script compiles examples/mlp.mod with modc, builds the generated network, and trains it on
scikit-learn's 8×8 digits (1347 training and 450 test images, no download) with
``net.optimizer(lr)``: momentum, then every layer's gradient orthogonalized by Newton–Schulz and
scaled to that layer's share of the step in the modular norm. The learning rate is that step
size; the same value works for -D width=32 and -D width=1024 (see examples/transfer.py).

Run:
    python examples/train_mlp.py
    python examples/train_mlp.py -D width=1024      # same learning rate, 32x wider
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # find common.py when imported by path
from common import EXAMPLES, run_digits_example

SOURCE = EXAMPLES / "mlp.mod"


def main(argv: Sequence[str] | None = None) -> dict:
    """Compile, train and evaluate; print a summary and return the final metrics."""
    return run_digits_example(__doc__, SOURCE, "MLP", argv, steps=300, lr=0.0625)


if __name__ == "__main__":
    main(sys.argv[1:])
