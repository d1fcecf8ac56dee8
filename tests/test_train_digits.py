"""End to end: examples/mlp.mod, compiled and imported from disk, learns real digits.

scikit-learn's 8x8 digits ship with the package (no download). The generated optimizer at
one fixed learning rate, with no schedule and no tuning per layer, takes the compiled MLP
to at least 95% test accuracy in 300 steps of batch 128 (about 98% with these seeds).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")
model_selection = pytest.importorskip("sklearn.model_selection")
import torch.nn.functional as F  # noqa: E402

from modc.backend.pytorch import generate  # noqa: E402
from modc.pipeline import compile_source  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STEPS, BATCH, LR = 300, 128, 0.05


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixels scaled to [0, 1]; a fixed 75/25 split."""
    X, y = datasets.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        X / 16.0, y, test_size=0.25, random_state=0)
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return as_x(X_train), torch.tensor(y_train), as_x(X_test), torch.tensor(y_test)


@pytest.mark.slow
def test_compiled_mlp_learns_digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = compile_source("examples/mlp.mod")
    assert result.ok and result.program is not None
    out = tmp_path / "mlp.py"
    out.write_text(generate(result.program, output_name=out.name))
    spec = importlib.util.spec_from_file_location("digits_mlp", out)
    assert spec is not None and spec.loader is not None
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)

    # The matrices are at most 128 x 128: a second thread gains nothing, and on a busy
    # 2-core machine its spin-waiting made the test 30 times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        X_train, y_train, X_test, y_test = digits()
        torch.manual_seed(0)
        model = generated.MLP()
        opt = model.optimizer(lr=LR)
        batches = torch.Generator().manual_seed(0)
        for _ in range(STEPS):
            idx = torch.randint(0, len(X_train), (BATCH,), generator=batches)
            loss = F.cross_entropy(model(X_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            accuracy = (model(X_test).argmax(dim=1) == y_test).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f} after {STEPS} steps at lr {LR}"
