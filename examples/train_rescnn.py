"""Train the residual CNN of rescnn.mod on handwritten digits seen as 1×8×8 images.

The network is Modula's residual CNN: a 3×3 convolution lifting 1 channel to `width`, residual
blocks of convolutions (MeanSubtract @ Abs @ Conv2D @ RMSDivide over channels and pixels,
``(1 - 1/L) * Identity + (1/L) * block``), global average pooling and a linear read-out. modc's
optimizer orthogonalizes each 3×3 kernel tap of every convolution's gradient by Newton–Schulz
and scales it by the layer's learning-rate multiplier. The data are scikit-learn's 8×8 digits
(1347 training and 450 test images, no download).

Run:
    python examples/train_rescnn.py
    python examples/train_rescnn.py --steps 300 -D width=64
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # find common.py when imported by path
from common import EXAMPLES, run_digits_example

SOURCE = EXAMPLES / "rescnn.mod"


def main(argv: Sequence[str] | None = None) -> dict:
    """Compile, train and evaluate; print a summary and return the final metrics."""
    return run_digits_example(__doc__, SOURCE, "ResCNN", argv, steps=200, lr=0.25, images=True)


if __name__ == "__main__":
    main(sys.argv[1:])
