"""Train the GPT of gpt.mod as a character-level language model, then sample from it.

The script compiles examples/gpt.mod (Modula's GPT: no layer norms, residual blocks scaled by
1/(2L), 1/d attention, blocks tared to mass 5) and trains it on the standard library's pydoc
topics, ~465k characters of English about Python that every Python installation ships in
``pydoc_data.topics``: the first 90% for training, the last 10% held out. The vocabulary is
pinned to newline plus printable ASCII (96 symbols). The optimizer is ``net.optimizer(lr)``:
momentum, then each Linear's gradient orthogonalized by Newton–Schulz, each embedding row
normalized, every layer at the learning-rate multiplier the compiler derived for it.

Run:
    python examples/train_gpt.py                       # about two minutes on two cores
    python examples/train_gpt.py --steps 4000          # a longer run, better samples
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # find common.py when imported by path
from common import (
    CONTEXT,
    EXAMPLES,
    VOCAB,
    compile_mod,
    count_params,
    decode,
    encode,
    example_parser,
    load_corpus_split,
    lr_schedule,
    network_line,
    parse_defines,
    progress,
    text_windows,
)

SOURCE = EXAMPLES / "gpt.mod"


def lm_loss(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy in nats."""
    logits = net(x)
    return F.cross_entropy(logits.flatten(0, -2), y.flatten())


@torch.no_grad()
def estimate_loss(
    net: torch.nn.Module, data: torch.Tensor, batches: int, batch_size: int, context: int
) -> float:
    """Mean loss over ``batches`` batches of windows, always the same ones (seed 1234)."""
    generator = torch.Generator().manual_seed(1234)
    losses = [
        float(lm_loss(net, *text_windows(data, batch_size, context, generator)))
        for _ in range(batches)
    ]
    return sum(losses) / len(losses)


@torch.no_grad()
def sample(
    net: torch.nn.Module, prompt: str, length: int, context: int, temperature: float, seed: int
) -> str:
    """Continue ``prompt`` by ``length`` characters, one at a time, at ``temperature``."""
    generator = torch.Generator().manual_seed(seed)
    ids = encode(prompt).tolist()
    for _ in range(length):
        window = torch.tensor([ids[-context:]])
        logits = net(window)[0, -1].double() / temperature
        probs = torch.softmax(logits, dim=-1)
        ids.append(int(torch.multinomial(probs, 1, generator=generator)))
    return decode(ids)


def parse_args(argv: Sequence[str] | None):
    parser = example_parser(__doc__, steps=800, lr=0.1, batch_size=32)
    parser.add_argument(
        "--eval-batches",
        type=int,
        default=16,
        help="batches of held-out windows for the final loss",
    )
    parser.add_argument("--sample-length", type=int, default=200, help="characters to sample")
    parser.add_argument("--temperature", type=float, default=0.8, help="of the sampling")
    parser.add_argument("--prompt", default="The ", help="text the sample continues")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    """Compile, train, evaluate on held-out text and sample; return the final metrics."""
    args = parse_args(argv)
    overrides = dict(parse_defines(args.defines))
    context = int(float(overrides.get("context", CONTEXT)))
    if float(overrides.get("vocab", len(VOCAB))) != len(VOCAB):
        raise SystemExit(f"-D vocab must stay {len(VOCAB)}: the vocabulary is pinned in common.py")
    generated = compile_mod(SOURCE, args.defines)

    torch.manual_seed(args.seed)  # generated networks draw their init from torch's global RNG
    net = generated.GPT()
    optimizer = net.optimizer(lr=args.lr)
    (scheduler,) = lr_schedule(optimizer, args.steps)
    train, held_out = load_corpus_split()
    generator = torch.Generator().manual_seed(args.seed)

    start, smooth = time.perf_counter(), math.nan
    bar = progress(args.steps, "gpt", not args.no_progress)
    for step in range(args.steps):
        x, y = text_windows(train, args.batch_size, context, generator)
        loss = lm_loss(net, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            bar.close()
            raise SystemExit(f"the loss diverged at step {step}: try a smaller --lr")
        smooth = value if step == 0 else 0.95 * smooth + 0.05 * value
        bar.update(1)
        bar.set_postfix(loss=f"{smooth:.3f}", lr=f"{lr:.3g}", refresh=False)
    bar.close()
    seconds = time.perf_counter() - start

    net.eval()
    size = args.batch_size
    train_loss = estimate_loss(net, train, args.eval_batches, size, context)
    held_out_loss = estimate_loss(net, held_out, args.eval_batches, size, context)
    text = sample(net, args.prompt, args.sample_length, context, args.temperature, args.seed)
    metrics = {
        "train_loss": train_loss,
        "held_out_loss": held_out_loss,
        "held_out_bits_per_char": held_out_loss / math.log(2),
        "params": count_params(net),
        "seconds": seconds,
        "steps": args.steps,
        "lr": args.lr,
        "sample": text,
        "generated": generated.__file__,
    }

    line = network_line("GPT", SOURCE, args.defines, metrics["params"])
    print(f"{line}, vocabulary {len(VOCAB)}, context {context}")
    print(
        f"  {args.steps} steps of {args.batch_size}×{context} characters, lr {args.lr:g} with "
        f"linear warm-up and decay, {seconds:.0f} s "
        f"({args.steps * args.batch_size * context / seconds:,.0f} characters/s)"
    )
    print(
        f"  train loss {train_loss:.3f} | held-out loss {held_out_loss:.3f} nats/char "
        f"({metrics['held_out_bits_per_char']:.2f} bits/char; uniform would be "
        f"{math.log(len(VOCAB)):.2f} nats)"
    )
    print(f"  generated module: {generated.__file__}")
    print(f"  sample (temperature {args.temperature:g}):")
    print("    " + text.replace("\n", "\n    "))
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
