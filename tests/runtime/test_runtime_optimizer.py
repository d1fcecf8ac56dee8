"""ModularOptimizer: update math, schedulers, checkpoints, and a real (small) training run."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from modc.runtime import Embed, Linear, ModularOptimizer, Network, bonds, orthogonalize


class MLP(Network):
    """Linear(10, 32) @ ReLU @ Linear(32, 32) @ ReLU @ Linear(32, 64): masses 1, targets 1/3."""

    NAME = "MLP"
    PLAN = (
        ("atom", "linear0", "Linear", (32, 64), 1.0, 1 / 3, "orthogonalize"),
        ("atom", "linear1", "Linear", (32, 32), 1.0, 1 / 3, "orthogonalize"),
        ("atom", "linear2", "Linear", (10, 32), 1.0, 1 / 3, "orthogonalize"),
    )

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.linear0 = Linear(width, 64)
        self.linear1 = Linear(width, width)
        self.linear2 = Linear(10, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(bonds.relu(self.linear1(bonds.relu(self.linear0(x)))))


class WideMLP(MLP):
    """The same MLP at width 128."""

    PLAN = (
        ("atom", "linear0", "Linear", (128, 64), 1.0, 1 / 3, "orthogonalize"),
        ("atom", "linear1", "Linear", (128, 128), 1.0, 1 / 3, "orthogonalize"),
        ("atom", "linear2", "Linear", (10, 128), 1.0, 1 / 3, "orthogonalize"),
    )

    def __init__(self) -> None:
        super().__init__(width=128)


class Mixed(Network):
    """An Embed, two same-shape Linears (one batch) and a frozen (target 0) Linear."""

    PLAN = (
        ("atom", "embed", "Embed", (12, 8), 1.0, 0.25, "row_normalize"),
        ("atom", "a", "Linear", (8, 8), 1.0, 0.25, "orthogonalize"),
        ("atom", "b", "Linear", (8, 8), 1.0, 0.5, "orthogonalize"),
        ("atom", "frozen", "Linear", (3, 8), 0.0, 0.0, "orthogonalize"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.embed = Embed(8, 12)
        self.a = Linear(8, 8)
        self.b = Linear(8, 8)
        self.frozen = Linear(3, 8)

    def forward(self, ids: Tensor) -> Tensor:
        return self.frozen(self.b(bonds.gelu(self.a(self.embed(ids)))))


def linear_update(direction: Tensor, target: float) -> Tensor:
    """t · √(out/in) · orth(d), the Linear dual map written out."""
    out, inp = direction.shape
    return orthogonalize(direction) * (torch.tensor([target]) * math.sqrt(out / inp))


def set_grads(net: Network, seed: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    grads = []
    for p in net.parameters():
        p.grad = torch.randn(p.shape, generator=gen)
        grads.append(p.grad.clone())
    return grads


@pytest.mark.parametrize("nesterov", [False, True])
def test_two_steps_by_hand(nesterov: bool) -> None:
    torch.manual_seed(0)
    net = MLP()
    lr, beta, wd = 0.1, 0.9, 0.01
    opt = net.optimizer(lr, momentum=beta, nesterov=nesterov, weight_decay=wd)
    weights = [p.detach().clone() for p in net.parameters()]
    moms = [torch.zeros_like(w) for w in weights]
    for step in range(2):
        grads = set_grads(net, seed=step)
        opt.step()
        for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
            moms[i] = beta * moms[i] + (1 - beta) * g
            d = beta * moms[i] + (1 - beta) * g if nesterov else moms[i]
            update = linear_update(d, 1 / 3)
            weights[i] = w * (1 - lr * wd) - lr * update
        for p, w, m in zip(net.parameters(), weights, moms, strict=True):
            torch.testing.assert_close(p.detach(), w, rtol=0, atol=1e-6)
            torch.testing.assert_close(opt.state[p]["momentum_buffer"], m, rtol=0, atol=1e-7)


def test_update_is_exactly_the_dual_of_the_momentum() -> None:
    torch.manual_seed(1)
    net = MLP()
    opt = net.optimizer(0.05, momentum=0.5)
    before = [p.detach().clone() for p in net.parameters()]
    grads = set_grads(net, seed=3)
    opt.step()
    for p, w, g in zip(net.parameters(), before, grads, strict=True):
        m = torch.zeros_like(g).lerp_(g, 0.5)
        expected = torch.add(w, linear_update(m, 1 / 3), alpha=-0.05)
        assert torch.equal(p.detach(), expected)


def test_skips_params_without_grad_and_frozen_atoms() -> None:
    torch.manual_seed(2)
    net = Mixed()
    opt = net.optimizer(0.1, weight_decay=0.5)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    net(torch.randint(0, 12, (4, 5))).square().mean().backward()
    net.a.weight.grad = None
    opt.step()
    after = dict(net.named_parameters())
    assert torch.equal(after["a.weight"], before["a.weight"])
    assert torch.equal(after["frozen.weight"], before["frozen.weight"])
    assert not torch.equal(after["b.weight"], before["b.weight"])
    assert not torch.equal(after["embed.weight"], before["embed.weight"])
    assert net.a.weight not in opt.state and net.frozen.weight not in opt.state


def test_step_size_follows_the_target_norms() -> None:
    # lr · dual has atom norm lr · target: an Embed row moves by exactly lr · t · √dim.
    torch.manual_seed(3)
    net = Mixed()
    before = net.embed.weight.detach().clone()
    net(torch.tensor([[1, 2, 3]])).sum().backward()
    net.optimizer(0.2).step()
    moved = (net.embed.weight.detach() - before).norm(dim=-1)
    touched = torch.tensor([1, 2, 3])
    expected = torch.full((3,), 0.2 * 0.25 * math.sqrt(8))
    torch.testing.assert_close(moved[touched], expected)
    assert moved.sum() == pytest.approx(moved[touched].sum())


def test_lr_scheduler_changes_take_effect() -> None:
    torch.manual_seed(4)
    net = MLP()
    opt = net.optimizer(0.4, momentum=0.0)
    factors = [1.0, 0.5, 0.0, 0.25]
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: factors[min(epoch, 3)])
    for step, factor in enumerate(factors):
        before = net.linear1.weight.detach().clone()
        set_grads(net, seed=step)
        opt.step()
        schedule.step()
        # The spectral size of a Linear step is lr · t · σmax(orth) ∈ lr · t · [0.99, 1].
        moved = torch.linalg.matrix_norm(net.linear1.weight.detach() - before, ord=2).item()
        expected = 0.4 * factor / 3
        assert expected * 0.99 <= moved <= expected * (1 + 1e-5)

    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(net.optimizer(1.0), T_max=4)
    lrs = []
    for _ in range(4):
        cosine.optimizer.step()
        cosine.step()
        lrs.append(cosine.optimizer.param_groups[0]["lr"])
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12) and lrs[0] == pytest.approx(0.5**0.5 / 2 + 0.5)


def train(net: Network, opt: ModularOptimizer, schedule: object, steps: range) -> None:
    gen = torch.Generator().manual_seed(1000)
    data = torch.randn(64, 64, generator=gen)
    labels = torch.randint(0, 10, (64,), generator=gen)
    for step in steps:
        rows = torch.arange(step * 8, step * 8 + 16) % 64
        opt.zero_grad()
        F.cross_entropy(net(data[rows]), labels[rows]).backward()
        opt.step()
        schedule.step()  # type: ignore[attr-defined]


def make_run(seed: int) -> tuple[MLP, ModularOptimizer, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(seed)
    net = MLP()
    opt = net.optimizer(0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    return net, opt, schedule


def test_resume_is_bit_identical() -> None:
    net, opt, schedule = make_run(5)
    train(net, opt, schedule, range(10))

    half, half_opt, half_schedule = make_run(5)
    train(half, half_opt, half_schedule, range(5))
    buffer = io.BytesIO()
    state = {
        "model": half.state_dict(),
        "opt": half_opt.state_dict(),
        "sched": half_schedule.state_dict(),
    }
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)
    # Different init: everything must come from the checkpoint.
    resumed, resumed_opt, resumed_schedule = make_run(6)
    resumed.load_state_dict(loaded["model"])
    resumed_opt.load_state_dict(loaded["opt"])
    resumed_schedule.load_state_dict(loaded["sched"])
    train(resumed, resumed_opt, resumed_schedule, range(5, 10))

    for a, b in zip(net.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    group = loaded["opt"]["param_groups"][0]
    assert set(group) >= {"lr", "momentum", "nesterov", "weight_decay", "params"}
    assert "target" not in str(loaded["opt"])


def test_closure_and_validation() -> None:
    torch.manual_seed(7)
    net = MLP()
    opt = net.optimizer(0.1)
    x = torch.randn(4, 64)

    def closure() -> float:
        opt.zero_grad()
        loss = net(x).square().mean()
        loss.backward()
        return loss.item()

    assert isinstance(opt.step(closure), float)
    with pytest.raises(ValueError, match="momentum"):
        net.optimizer(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="one parameter group"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)]})

    class Empty(Network):
        PLAN = ()

    with pytest.raises(ValueError, match="Empty has no atoms"):
        Empty().optimizer(0.1)
    assert Empty().dualize() == [] and Empty().modular_norm() == 0.0


def test_trains_on_digits() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32)
    y = torch.tensor(digits.target)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    x = x / x.square().mean(1, keepdim=True).sqrt()  # RMS 1 inputs, as the norms assume

    torch.manual_seed(0)
    net = WideMLP()
    opt = net.optimizer(0.1)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        start = F.cross_entropy(net(x), y).item()
    for _ in range(100):
        batch = torch.randint(0, len(x), (128,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(net(x[batch]), y[batch]).backward()
        opt.step()
    with torch.no_grad():
        logits = net(x)
        end = F.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(1) == y).float().mean().item()
    assert start > 2.0 and end < 0.1 * start
    assert accuracy > 0.95
