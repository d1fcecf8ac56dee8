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

SOURCE = EXAMPLES / "mlp.mod"


def main(argv: Sequence[str] | None = None) -> dict:
    """Compile, train and evaluate; print a summary and return the final metrics."""
    args = example_parser(__doc__, steps=300, lr=0.0625, batch_size=128).parse_args(argv)
    generated = compile_mod(SOURCE, args.defines)

    torch.manual_seed(args.seed)  # generated networks draw their init from torch's global RNG
    net = generated.MLP()
    optimizer = net.optimizer(lr=args.lr)
    metrics = fit_classifier(
        net,
        [optimizer],
        load_digits_split(),
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        desc="mlp",
        show_progress=not args.no_progress,
    )

    metrics.update(params=count_params(net), lr=args.lr, generated=generated.__file__)
    print_summary("MLP", SOURCE, args, metrics, generated)
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
