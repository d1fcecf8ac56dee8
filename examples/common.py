"""Shared helpers of the example scripts: compile a .mod file, load real data, train, evaluate.

Nothing here downloads anything: the digits ship with scikit-learn and the text corpus is the
standard library's ``pydoc_data.topics``. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

EXAMPLES = Path(__file__).resolve().parent

# The character vocabulary of the text examples, pinned: newline plus printable ASCII (96
# symbols, already in sorted order). pydoc_data.topics changes with every Python release, so a
# vocabulary read off the corpus would change the model's shape from one Python to the next.
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
# The corpus's few typographic characters (Python 3.11: 9 of them, 0.13% of the text) map to
# their ASCII look-alikes; anything else outside VOCAB becomes UNKNOWN.
ASCII_LOOKALIKES = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "."}
UNKNOWN = "?"
CONTEXT = 64


# ---------------------------------------------------------------------------------- compiling


def compile_mod(
    source: str | os.PathLike[str],
    defines: dict[str, float] | Sequence[str] = (),
    out_dir: str | os.PathLike[str] | None = None,
) -> ModuleType:
    """Compile ``source`` with the modc command line and import the generated file from disk.

    ``defines`` are ``-D`` overrides, as a dict or as ``"name=value"`` strings. The generated
    file goes to ``out_dir`` (default: ``$TMPDIR/modc-examples``), named after the source and
    the overrides, and is rewritten on every call, so it never goes stale.
    """
    from modc.cli import main as modc_main

    source = Path(source)
    pairs = parse_defines(defines)
    folder = Path(out_dir) if out_dir is not None else Path(tempfile.gettempdir()) / "modc-examples"
    folder.mkdir(parents=True, exist_ok=True)
    tag = "".join(f"_{k}{v}" for k, v in pairs)
    stem = re.sub(r"[^0-9A-Za-z_]", "_", f"{source.stem}{tag}")
    out = folder / f"{stem}.py"

    argv = [str(source), "-o", str(out)]
    for name, value in pairs:
        argv += ["-D", f"{name}={value}"]
    code = modc_main(argv)
    if code != 0:
        raise RuntimeError(f"modc {' '.join(argv)} failed with exit code {code} (see stderr)")
    return import_file(out)


def parse_defines(defines: dict[str, float] | Sequence[str]) -> list[tuple[str, str]]:
    """Sorted (name, value) pairs of ``-D`` overrides, given as a dict or "name=value"."""
    if isinstance(defines, dict):
        items = [(str(k), str(v)) for k, v in defines.items()]
    else:
        items = []
        for text in defines:
            name, sep, value = text.partition("=")
            if not sep:
                raise ValueError(f"-D {text}: expected NAME=VALUE, for example -D width=256")
            items.append((name.strip(), value.strip()))
    return sorted(items)


def import_file(path: str | os.PathLike[str]) -> ModuleType:
    """Import a Python file by path under a name unique to its path and content."""
    path = Path(path).resolve()
    digest = hashlib.sha256(path.read_bytes() + str(path).encode()).hexdigest()[:12]
    name = f"modc_generated_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def count_params(net: torch.nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------- data


def load_digits_split(images: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's 8×8 handwritten digits: (x_train, y_train, x_test, y_test).

    A fixed split (25% test, ``random_state=0``) of the 1797 images, pixels scaled from
    0..16 to 0..1. Rows are 64 pixels, or ``[1, 8, 8]`` images with ``images=True``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0
    )
    shape = (-1, 1, 8, 8) if images else (-1, 64)

    def pixels(a) -> Tensor:
        return torch.tensor(a / 16.0, dtype=torch.float32).reshape(shape)

    def labels(a) -> Tensor:
        return torch.tensor(a, dtype=torch.int64)

    return pixels(x_train), labels(y_train), pixels(x_test), labels(y_test)


def load_corpus() -> str:
    """The standard library's pydoc topics (~465k characters of English), topics sorted."""
    from pydoc_data.topics import topics

    return "\n".join(topics[key] for key in sorted(topics))


_INDEX = {ch: i for i, ch in enumerate(VOCAB)}


def encode(text: str) -> Tensor:
    """Character ids in VOCAB (look-alikes first, then UNKNOWN for the rest), int64."""
    unknown = _INDEX[UNKNOWN]
    ids = [_INDEX.get(ASCII_LOOKALIKES.get(ch, ch), unknown) for ch in text]
    return torch.tensor(ids, dtype=torch.int64)


def decode(ids: Sequence[int] | Tensor) -> str:
    """The text of character ids."""
    return "".join(VOCAB[int(i)] for i in ids)


def load_corpus_split(val_fraction: float = 0.1) -> tuple[Tensor, Tensor]:
    """Encoded corpus: the first 90% for training, the last 10% held out."""
    data = encode(load_corpus())
    cut = int(len(data) * (1.0 - val_fraction))
    return data[:cut], data[cut:]


def text_windows(
    data: Tensor, batch_size: int, context: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """A batch of random windows: inputs ``[B, context]`` and next characters as targets."""
    starts = torch.randint(len(data) - context - 1, (batch_size,), generator=generator)
    offsets = torch.arange(context)
    x = data[starts[:, None] + offsets]
    y = data[starts[:, None] + offsets + 1]
    return x, y


# ---------------------------------------------------------------------------------- training


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Index batches forever: a fresh random permutation per epoch, the last partial batch
    dropped (so every step sees ``batch_size`` examples)."""
    batch_size = min(batch_size, n)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def lr_schedule(
    optimizers: torch.optim.Optimizer | Sequence[torch.optim.Optimizer],
    steps: int,
    warmup: float = 0.05,
) -> list[torch.optim.lr_scheduler.LambdaLR]:
    """Linear warm-up over the first ``warmup`` fraction of steps, then linear decay to 0."""
    if isinstance(optimizers, torch.optim.Optimizer):
        optimizers = [optimizers]
    warm = max(1, round(warmup * steps)) if warmup > 0 else 0

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (steps - step) / max(1, steps - warm))

    return [torch.optim.lr_scheduler.LambdaLR(opt, factor) for opt in optimizers]


def progress(total: int, desc: str, enabled: bool = True, unit: str = "step") -> tqdm:
    """A tqdm bar over ``total`` items (to stderr; off when ``enabled`` is false)."""
    return tqdm(
        total=total,
        desc=desc,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.5,
        unit=unit,
    )


@torch.no_grad()
def evaluate_classifier(net: torch.nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a whole labelled set, in chunks of 1024."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), 1024):
        logits = net(x[start : start + 1024])
        target = y[start : start + 1024]
        total_loss += float(F.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(-1) == target).sum())
    return total_loss / len(x), correct / len(x)


def fit_classifier(
    net: torch.nn.Module,
    optimizers: Sequence[torch.optim.Optimizer],
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    steps: int,
    batch_size: int,
    seed: int = 0,
    desc: str = "train",
    show_progress: bool = True,
    warmup: float = 0.05,
) -> dict[str, float | bool]:
    """Train a classifier with minibatch cross-entropy; return train and test metrics.

    A standard PyTorch loop: forward, ``loss.backward()``, ``step()`` every optimizer and its
    LR scheduler. Training stops early, with ``diverged`` set, if the loss is not finite.
    """
    x_train, y_train, x_test, y_test = data
    schedulers = lr_schedule(optimizers, steps, warmup)
    order = batches(len(x_train), batch_size, torch.Generator().manual_seed(seed))
    start, diverged, smooth = time.perf_counter(), False, math.nan
    bar = progress(steps, desc, show_progress)
    net.train()
    for step in range(steps):
        idx = next(order)
        loss = F.cross_entropy(net(x_train[idx]), y_train[idx])
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        lr = optimizers[0].param_groups[0]["lr"]
        for sched in schedulers:
            sched.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            diverged = True
            break
        smooth = value if step == 0 else 0.9 * smooth + 0.1 * value
        bar.update(1)
        bar.set_postfix(loss=f"{smooth:.4f}", lr=f"{lr:.3g}", refresh=False)
    bar.close()
    seconds = time.perf_counter() - start

    net.eval()
    train_loss, train_acc = evaluate_classifier(net, x_train, y_train)
    test_loss, test_acc = evaluate_classifier(net, x_test, y_test)
    if diverged or not math.isfinite(train_loss):
        diverged = True
        train_loss = test_loss = math.nan
    return {
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "diverged": diverged,
        "seconds": seconds,
        "steps": steps,
    }


# ------------------------------------------------------------------------------ command lines


def example_parser(
    doc: str | None, steps: int, lr: float, batch_size: int
) -> argparse.ArgumentParser:
    """The options every training script takes, with the script's own defaults."""
    parser = argparse.ArgumentParser(
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=steps, help="optimizer steps")
    parser.add_argument(
        "--lr", type=float, default=lr, help="learning rate: the step size in the modular norm"
    )
    parser.add_argument("--batch-size", type=int, default=batch_size, help="examples per step")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the batches")
    parser.add_argument(
        "-D",
        dest="defines",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a param of the .mod file (repeatable), e.g. -D width=256",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def network_line(name: str, source: Path, defines: Sequence[str], params: int) -> str:
    """The first line of a summary: ``NAME from x.mod with -D a=1: N parameters``."""
    try:
        shown = source.relative_to(Path.cwd())
    except ValueError:
        shown = source
    overrides = f" with {' '.join('-D ' + d for d in defines)}" if defines else ""
    return f"{name} from {shown}{overrides}: {params:,} parameters"


def print_summary(
    name: str, source: Path, args: argparse.Namespace, metrics: dict, generated: ModuleType
) -> None:
    """The final report of a digits script: network, run, results, where the code went."""
    print(network_line(name, source, args.defines, metrics["params"]))
    print(
        f"  {args.steps} steps, batch {args.batch_size}, lr {args.lr:g} with linear warm-up"
        f" and decay, {metrics['seconds']:.1f} s"
    )
    print(
        f"  train loss {metrics['train_loss']:.4f} | test loss {metrics['test_loss']:.4f}"
        f" | test accuracy {100 * metrics['test_accuracy']:.2f}%"
        + ("  (diverged: try a smaller --lr)" if metrics["diverged"] else "")
    )
    print(f"  generated module: {generated.__file__}")


def run_digits_example(
    doc: str | None,
    source: Path,
    net_name: str,
    argv: Sequence[str] | None,
    *,
    steps: int,
    lr: float,
    images: bool = False,
) -> dict:
    """The digits examples' main: compile ``source``, train its net ``net_name``, evaluate.

    Prints a summary and returns the final metrics (train and test loss and accuracy, the
    parameter count, the learning rate and the path of the generated module).
    """
    args = example_parser(doc, steps=steps, lr=lr, batch_size=128).parse_args(argv)
    generated = compile_mod(source, args.defines)

    torch.manual_seed(args.seed)  # generated networks draw their init from torch's global RNG
    net = getattr(generated, net_name)()
    optimizer = net.optimizer(lr=args.lr)
    metrics = fit_classifier(
        net,
        [optimizer],
        load_digits_split(images=images),
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        desc=net_name.lower(),
        show_progress=not args.no_progress,
    )

    metrics.update(params=count_params(net), lr=args.lr, generated=generated.__file__)
    print_summary(net_name, source, args, metrics, generated)
    return metrics
