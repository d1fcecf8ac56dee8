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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # find common.py when imported by path
from common import (
    EXAMPLES,
    compile_mod,
    count_params,
    example_parser,
    fit_classifier,
    load_digits_split,
    print_summary,
)

SOURCE = EXAMPLES / "resmlp.mod"


def main(argv: Sequence[str] | None = None) -> dict:
    """Compile, train and evaluate; print a summary and return the final metrics."""
    args = example_parser(__doc__, steps=300, lr=0.0625, batch_size=128).parse_args(argv)
    generated = compile_mod(SOURCE, args.defines)

    torch.manual_seed(args.seed)  # generated networks draw their init from torch's global RNG
    net = generated.ResMLP()
    optimizer = net.optimizer(lr=args.lr)
    metrics = fit_classifier(
        net,
        [optimizer],
        load_digits_split(),
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        desc="resmlp",
        show_progress=not args.no_progress,
    )

    metrics.update(params=count_params(net), lr=args.lr, generated=generated.__file__)
    print_summary("ResMLP", SOURCE, args, metrics, generated)
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
