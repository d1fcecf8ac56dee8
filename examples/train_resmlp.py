"""Train the residual MLP of resmlp.mod on handwritten digits with modc's optimizer.

The network is Modula's residual MLP: a linear embedding, `blocks` residual blocks
``(1 - 1/L) * Identity + (1/L) * block`` with block = MeanSubtract @ Abs @ Linear @ RMSDivide,
their total mass tared to 1, and a linear read-out. The compiler gives every block's Linear its
learning-rate multiplier from the masses and sensitivities, so the learning rate tuned at
-D blocks=2 also works at -D blocks=16 (see examples/transfer.py). The data are scikit-learn's
8×8 digits (1347 training and 450 test images, no download).

Run:
    python examples/train_resmlp.py
    python examples/train_resmlp.py -D blocks=16    # same learning rate, 4x deeper
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # find common.py when imported by path
from common import EXAMPLES, run_digits_example

SOURCE = EXAMPLES / "resmlp.mod"


def main(argv: Sequence[str] | None = None) -> dict:
    """Compile, train and evaluate; print a summary and return the final metrics."""
    return run_digits_example(__doc__, SOURCE, "ResMLP", argv, steps=300, lr=0.0625)


if __name__ == "__main__":
    main(sys.argv[1:])
