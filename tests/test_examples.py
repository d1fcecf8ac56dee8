"""Smoke tests of the example scripts: each compiles its .mod through modc and trains.

Tiny step counts keep these fast; tests/test_train_digits.py holds the accuracy bar, and
docs/transfer.md the measured sweep. Every script must return finite metrics.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script, extra", [
    ("train_mlp", []),
    ("train_resmlp", ["-D", "blocks=2"]),
    ("train_rescnn", ["-D", "width=8", "-D", "blocks=2", "-D", "block_depth=1"]),
])
def test_digit_classifiers_train(script: str, extra: list[str]) -> None:
    metrics = load(script).main(["--steps", "4", "--no-progress", *extra])
    numbers = [v for v in metrics.values() if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers), metrics
    assert 0.0 <= metrics["test_accuracy"] <= 1.0


def test_gpt_trains_and_samples() -> None:
    metrics = load("train_gpt").main([
        "--steps", "3", "--no-progress", "--batch-size", "4", "--eval-batches", "1",
        "--sample-length", "12", "-D", "width=32", "-D", "blocks=1",
    ])
    assert math.isfinite(metrics["held_out_loss"]) and metrics["held_out_loss"] > 0
    # 96 symbols: an untrained model sits near ln 96 = 4.56 nats per character.
    assert metrics["held_out_loss"] < 2 * math.log(96)
    assert isinstance(metrics["sample"], str) and len(metrics["sample"]) >= 12


def test_transfer_runs_one_point_of_each_optimizer(tmp_path: Path) -> None:
    transfer = load("transfer")
    grid = transfer.Grid(widths=(32,), depths=(2,), steps=2, seeds=(0,),
                         exponents={"modc": (-1,), "adamw": (-6,), "muon": (-5,)})
    paths = transfer.compile_networks(grid)
    runs = transfer.plan_runs(grid, paths)
    assert {r.optimizer for r in runs} == {"modc", "adamw", "muon"}
    results = [transfer.train_one(run, grid) for run in runs]
    assert all(math.isfinite(r["train_loss"]) for r in results), results
