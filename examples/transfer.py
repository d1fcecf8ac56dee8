"""Learning-rate transfer across width and depth: modc's optimizer against AdamW and Muon.

Sweeps the learning rate over powers of two, for every width of an MLP (mlp.mod, three layers)
and every depth of a residual MLP (resmlp.mod, blocks ``(1 - 1/L) * Identity + (1/L) * block``),
on scikit-learn's 8×8 handwritten digits. Each network is trained three ways with the same data,
batches, steps, schedule and seed:

- modc: the compiled network and its generated optimizer, ``net.optimizer(lr)``;
- AdamW: a hand-written PyTorch copy of the same architecture (bias-free ``nn.Linear`` with
  PyTorch's default init) and ``torch.optim.AdamW`` on every weight;
- Muon: the same copy with ``torch.optim.Muon`` on the hidden matrices and AdamW on the first
  and last layers, as Muon's authors recommend, sharing one learning rate through Muon's
  ``adjust_lr_fn="match_rms_adamw"``. On CPU, where bf16 is emulated, Muon's Newton–Schulz
  runs in fp32 (same coefficients and steps).

It writes a plot (final training loss against learning rate, one curve per width or depth, one
panel per optimizer), a markdown table of the best learning rate per size, and the raw results:
examples/transfer/transfer.png, transfer.md and results.json. docs/transfer.md discusses them.

Run:
    python examples/transfer.py            # the full grid (see docs/transfer.md for the time)
    python examples/transfer.py --quick    # a small grid, under two minutes; writes to $TMPDIR
"""

import argparse
import json
import math
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # find common.py when imported by path
from common import (
    EXAMPLES,
    compile_mod,
    fit_classifier,
    import_file,
    load_digits_split,
    progress,
)

OPTIMIZERS = ("modc", "adamw", "muon")
TITLES = {"modc": "modc (modular optimizer)", "adamw": "AdamW", "muon": "Muon + AdamW"}


@dataclass(frozen=True)
class Grid:
    """What to sweep. Learning rates are 2**k for k in the optimizer's exponent range."""

    widths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    depths: tuple[int, ...] = (2, 4, 8, 16)
    mlp_depth: int = 3  # layers of the width sweep's MLP
    resmlp_width: int = 128  # width of the depth sweep's residual MLP
    exponents: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {
            "modc": tuple(range(-5, 3)),
            "adamw": tuple(range(-10, -2)),
            "muon": tuple(range(-9, -1)),
        }
    )
    # 50 steps is under five epochs of the 1347 training digits. Much longer, the networks
    # memorize the training set at many rates, the final losses sink to ~1e-4 and which rate
    # is "best" becomes noise (docs/transfer.md reports a 100-step probe).
    steps: int = 50
    batch_size: int = 128
    seeds: tuple[int, ...] = (0, 1)


FULL = Grid()
QUICK = Grid(
    widths=(32, 256),
    depths=(2, 8),
    exponents={"modc": (-3, -1, 1), "adamw": (-8, -6, -4), "muon": (-7, -5, -3)},
    seeds=(0,),
)


@dataclass(frozen=True)
class Run:
    """One training run of the sweep."""

    sweep: str  # "width" or "depth"
    size: int  # the width, or the number of residual blocks
    optimizer: str
    exponent: int
    seed: int
    generated: str  # path of the compiled module (used by the modc runs)

    @property
    def lr(self) -> float:
        return 2.0**self.exponent


# ----------------------------------------------------------------------------- the baselines


class ResidualBlock(nn.Module):
    """x -> (1 - 1/L) x + (1/L) MeanSubtract(Abs(Linear(RMSDivide(x)))), as resmlp.mod."""

    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width, bias=False)
        self.scale = 1.0 / blocks

    def forward(self, x: Tensor) -> Tensor:
        h = x / x.square().mean(-1, keepdim=True).sqrt()
        h = self.linear(h).abs()
        h = h - h.mean(-1, keepdim=True)
        return (1 - self.scale) * x + self.scale * h


def baseline_network(run: Run, grid: Grid) -> nn.Sequential:
    """The hand-written PyTorch copy of the compiled network of ``run``."""
    if run.sweep == "width":
        width, layers = run.size, [nn.Linear(64, run.size, bias=False)]
        for _ in range(grid.mlp_depth - 2):
            layers += [nn.ReLU(), nn.Linear(width, width, bias=False)]
        return nn.Sequential(*layers, nn.ReLU(), nn.Linear(width, 10, bias=False))
    width = grid.resmlp_width
    blocks = [ResidualBlock(width, run.size) for _ in range(run.size)]
    return nn.Sequential(
        nn.Linear(64, width, bias=False), *blocks, nn.Linear(width, 10, bias=False)
    )


def baseline_optimizers(net: nn.Sequential, run: Run) -> list[torch.optim.Optimizer]:
    """AdamW on everything, or Muon on the hidden matrices and AdamW on the first and last."""
    if run.optimizer == "adamw":
        return [torch.optim.AdamW(net.parameters(), lr=run.lr, weight_decay=0.0)]
    weights = list(net.parameters())
    hidden, edges = weights[1:-1], [weights[0], weights[-1]]
    return [
        torch.optim.Muon(hidden, lr=run.lr, weight_decay=0.0, adjust_lr_fn="match_rms_adamw"),
        torch.optim.AdamW(edges, lr=run.lr, weight_decay=0.0),
    ]


def _newton_schulz_fp32(
    grad: Tensor, ns_coefficients: tuple[float, float, float], ns_steps: int, eps: float
) -> Tensor:
    """torch.optim.Muon's Newton–Schulz iteration, in fp32 instead of bf16."""
    a, b, c = ns_coefficients
    x = grad.float()
    if grad.size(0) > grad.size(1):
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if grad.size(0) > grad.size(1) else x


def use_fp32_muon() -> None:
    """Make torch.optim.Muon orthogonalize in fp32: CPUs emulate bf16 matmuls, ~100× slower."""
    import torch.optim._muon as muon_impl

    muon_impl._zeropower_via_newtonschulz = _newton_schulz_fp32


# ------------------------------------------------------------------------------------ running


def train_one(run: Run, grid: Grid) -> dict:
    """Train one network of the sweep and return its metrics."""
    data = load_digits_split()
    torch.manual_seed(run.seed)
    if run.optimizer == "modc":
        generated = import_file(run.generated)
        net = getattr(generated, "MLP" if run.sweep == "width" else "ResMLP")()
        optimizers = [net.optimizer(lr=run.lr)]
    else:
        net = baseline_network(run, grid)
        optimizers = baseline_optimizers(net, run)
    metrics = fit_classifier(
        net, optimizers, data, grid.steps, grid.batch_size, run.seed, show_progress=False
    )
    row = {k: v for k, v in asdict(run).items() if k != "generated"}
    return {**row, "lr": run.lr, **metrics}


def _init_worker() -> None:
    torch.set_num_threads(1)  # one process per core beats two threads on these small matrices
    use_fp32_muon()


def compile_networks(grid: Grid) -> dict[tuple[str, int], str]:
    """Compile mlp.mod per width and resmlp.mod per depth; return the generated files."""
    paths = {}
    for width in grid.widths:
        defines = {"width": width, "depth": grid.mlp_depth}
        paths["width", width] = compile_mod(EXAMPLES / "mlp.mod", defines).__file__
    for blocks in grid.depths:
        defines = {"width": grid.resmlp_width, "blocks": blocks, "block_depth": 1}
        paths["depth", blocks] = compile_mod(EXAMPLES / "resmlp.mod", defines).__file__
    return paths


def plan_runs(grid: Grid, paths: dict[tuple[str, int], str]) -> list[Run]:
    """Every run of the grid, the most expensive first (so parallel workers finish together)."""
    runs = [
        Run(sweep, size, opt, k, seed, paths[sweep, size])
        for sweep, sizes in (("width", grid.widths), ("depth", grid.depths))
        for size in sizes
        for opt in OPTIMIZERS
        for k in grid.exponents[opt]
        for seed in grid.seeds
    ]

    def cost(run: Run) -> float:
        if run.sweep == "width":
            return run.size**3 * (run.optimizer != "adamw") + 200 * run.size**2
        return run.size * grid.resmlp_width**3

    return sorted(runs, key=cost, reverse=True)


def run_all(runs: Sequence[Run], grid: Grid, jobs: int) -> list[dict]:
    """Train every run, on ``jobs`` worker processes, with one progress bar."""
    results = []
    bar = progress(len(runs), "transfer sweep", unit="run")
    if jobs <= 1:
        _init_worker()
        for run in runs:
            results.append(train_one(run, grid))
            bar.update(1)
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker) as pool:
            futures = [pool.submit(train_one, run, grid) for run in runs]
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                bar.update(1)
                bar.set_postfix_str(f"{result['sweep']}={result['size']} {result['optimizer']}")
    bar.close()
    return results


# ------------------------------------------------------------------------------------ results


def mean_losses(results: Sequence[dict]) -> dict[tuple[str, str, int, int], tuple[float, float]]:
    """(sweep, optimizer, size, exponent) -> (mean final train loss, mean test accuracy).

    A run that diverged counts as loss NaN; the mean over seeds is NaN if any seed diverged.
    """
    groups: dict[tuple[str, str, int, int], list[dict]] = {}
    for r in results:
        groups.setdefault((r["sweep"], r["optimizer"], r["size"], r["exponent"]), []).append(r)
    return {
        key: (
            sum(r["train_loss"] for r in rs) / len(rs),
            sum(r["test_accuracy"] for r in rs) / len(rs),
        )
        for key, rs in groups.items()
    }


def best_exponents(table: dict, grid: Grid) -> dict[tuple[str, str, int], int | None]:
    """(sweep, optimizer, size) -> the exponent of the lowest final train loss (None if all
    runs diverged)."""
    best = {}
    for sweep, sizes in (("width", grid.widths), ("depth", grid.depths)):
        for opt in OPTIMIZERS:
            for size in sizes:
                scored = [
                    (table[sweep, opt, size, k][0], k)
                    for k in grid.exponents[opt]
                    if math.isfinite(table[sweep, opt, size, k][0])
                ]
                best[sweep, opt, size] = min(scored)[1] if scored else None
    return best


def _lr_text(k: int) -> str:
    return f"2^{k}"


def markdown(
    results: Sequence[dict], grid: Grid, seconds: float, command: str, machine: str
) -> str:
    """Two tables per sweep: the best learning rate per size, and tune-small-train-large."""
    table = mean_losses(results)
    best = best_exponents(table, grid)
    seeds = len(grid.seeds)
    lines = [
        f"Measured with `{command}`: {len(results)} runs of {grid.steps} steps at batch "
        f"{grid.batch_size}, {seeds} seed{'s' if seeds > 1 else ''} per point, "
        f"{seconds / 60:.1f} minutes on {machine}.",
        "",
        "loss: final training loss (cross-entropy over the whole training set"
        + (", mean over seeds" if seeds > 1 else "")
        + "); acc: accuracy on the 450 held-out digits; lr = 2^k.",
    ]
    names = {
        "width": "width (MLP, 3 layers)",
        "depth": f"blocks (residual MLP, width {grid.resmlp_width})",
    }
    for sweep, sizes in (("width", grid.widths), ("depth", grid.depths)):
        header = f"| {names[sweep]} | " + " | ".join(TITLES[o] for o in OPTIMIZERS) + " |"
        rule = "|---:" + "|:---" * len(OPTIMIZERS) + "|"
        lines += ["", f"Best learning rate per {sweep} (loss, acc at that rate):", ""]
        lines += [header, rule]
        for size in sizes:
            cells = []
            for opt in OPTIMIZERS:
                k = best[sweep, opt, size]
                if k is None:
                    cells.append("all diverged")
                    continue
                loss, acc = table[sweep, opt, size, k]
                cells.append(f"**{_lr_text(k)}** ({loss:.4f}, {100 * acc:.1f}%)")
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
        spans = []
        for opt in OPTIMIZERS:
            ks = [best[sweep, opt, s] for s in sizes if best[sweep, opt, s] is not None]
            spans.append(f"{TITLES[opt]} {len(set(ks))}")
        lines += ["", "Distinct best learning rates: " + ", ".join(spans) + "."]

        small = f"width {sizes[0]}" if sweep == "width" else f"{sizes[0]} blocks"
        lines += [
            "",
            f"Tuned at {small}, used at every {sweep}: loss at the rate that is best for "
            f"{small} (in brackets, the best loss at that {sweep}):",
            "",
            header,
            rule,
        ]
        for size in sizes:
            cells = []
            for opt in OPTIMIZERS:
                k0, k = best[sweep, opt, sizes[0]], best[sweep, opt, size]
                if k0 is None or k is None:
                    cells.append("–")
                    continue
                loss = table[sweep, opt, size, k0][0]
                shown = f"{loss:.4f}" if math.isfinite(loss) else "diverged"
                cells.append(f"{shown} ({table[sweep, opt, size, k][0]:.4f})")
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
    # Wrap the prose to 100 columns; table rows stay on one line each.
    wrapped = [line if line.startswith("|") else textwrap.fill(line, 100) for line in lines]
    return "\n".join(wrapped) + "\n"


def plot(results: Sequence[dict], grid: Grid, path: Path) -> None:
    """Final training loss against learning rate: rows width and depth, columns optimizers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = mean_losses(results)
    best = best_exponents(table, grid)
    fig, axes = plt.subplots(2, len(OPTIMIZERS), figsize=(14.5, 7.5), sharey="row")
    for row, (sweep, sizes) in enumerate((("width", grid.widths), ("depth", grid.depths))):
        colors = plt.cm.viridis([i / max(1, len(sizes) - 1) for i in range(len(sizes))])
        for col, opt in enumerate(OPTIMIZERS):
            ax = axes[row, col]
            ks = grid.exponents[opt]
            for size, color in zip(sizes, colors, strict=True):
                losses = [table[sweep, opt, size, k][0] for k in ks]
                label = f"width {size}" if sweep == "width" else f"{size} blocks"
                ax.plot([2.0**k for k in ks], losses, "o-", color=color, ms=3, label=label)
                k = best[sweep, opt, size]
                if k is not None:
                    ax.plot(
                        2.0**k,
                        table[sweep, opt, size, k][0],
                        "*",
                        color=color,
                        ms=12,
                        markeredgecolor="black",
                        markeredgewidth=0.5,
                    )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{TITLES[opt]}: {sweep}", fontsize=10)
            ax.set_xlabel("learning rate")
            ax.grid(True, which="major", alpha=0.3)
            if col == 0:
                ax.set_ylabel("final training loss")
            if col == len(OPTIMIZERS) - 1:
                ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    seeds = len(grid.seeds)
    fig.suptitle(
        f"Final training loss on the digits after {grid.steps} steps at batch "
        f"{grid.batch_size}"
        + (f", mean of {seeds} seeds" if seeds > 1 else "")
        + "; stars: best learning rate per size; missing points diverged",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="only redraw transfer.png and transfer.md from the results.json in --out",
    )
    parser.add_argument("--quick", action="store_true", help="a small grid (smoke test)")
    parser.add_argument("--steps", type=int, default=None, help="override the grid's steps")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds per point")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (one thread each)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for transfer.png, transfer.md and results.json (default: "
        "examples/transfer, or $TMPDIR/modc-transfer-quick with --quick)",
    )
    return parser.parse_args(argv)


def grid_from_dict(d: dict) -> Grid:
    """The Grid saved in results.json (lists back to tuples)."""
    exponents = {opt: tuple(ks) for opt, ks in d["exponents"].items()}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return Grid(**{**fields, "exponents": exponents})


def write_outputs(raw: dict, out: Path) -> str:
    """transfer.md, transfer.png and results.json from the raw results; returns the table."""
    grid, results = grid_from_dict(raw["grid"]), raw["results"]
    text = markdown(results, grid, raw["seconds"], raw["command"], raw["machine"])
    (out / "transfer.md").write_text(text, encoding="utf-8")
    plot(results, grid, out / "transfer.png")
    (out / "results.json").write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
    return text


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the sweep, write the plot, the table and the raw results; return a summary."""
    args = parse_args(argv)
    grid = QUICK if args.quick else FULL
    if args.steps is not None:
        grid = Grid(**{**asdict(grid), "steps": args.steps})
    if args.seeds is not None:
        grid = Grid(**{**asdict(grid), "seeds": tuple(range(args.seeds))})
    if args.out is None:
        quick_dir = Path(tempfile.gettempdir()) / "modc-transfer-quick"
        args.out = quick_dir if args.quick else EXAMPLES / "transfer"
    args.out.mkdir(parents=True, exist_ok=True)

    if args.replot:
        raw = json.loads((args.out / "results.json").read_text(encoding="utf-8"))
    else:
        command = "python examples/transfer.py" + " ".join(
            [""]
            + (["--quick"] if args.quick else [])
            + ([f"--steps {args.steps}"] if args.steps is not None else [])
            + ([f"--seeds {args.seeds}"] if args.seeds is not None else [])
        )
        start = time.perf_counter()
        paths = compile_networks(grid)
        results = run_all(plan_runs(grid, paths), grid, args.jobs)
        seconds = time.perf_counter() - start
        machine = f"{os.cpu_count()} cores, {args.jobs} workers, torch {torch.__version__}"
        raw = {
            "command": command,
            "seconds": seconds,
            "machine": machine,
            "grid": asdict(grid),
            "results": results,
        }

    text = write_outputs(raw, args.out)
    print(text)
    print(f"wrote {args.out / 'transfer.png'}, transfer.md and results.json")
    grid = grid_from_dict(raw["grid"])
    best = best_exponents(mean_losses(raw["results"]), grid)
    return {"seconds": raw["seconds"], "best": {f"{s}/{o}/{n}": k for (s, o, n), k in best.items()}}


if __name__ == "__main__":
    main(sys.argv[1:])
