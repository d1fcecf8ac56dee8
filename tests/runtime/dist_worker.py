"""One rank of the two-process test in test_runtime_distributed.py (run as a script).

Usage: python dist_worker.py RANK WORLD PORT OUT. Trains ConvNet under DDP on gloo with the
sharded ModularOptimizer and saves the final weights and the number of matrices this rank
orthogonalized to OUT.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from modc.runtime import Block, Conv2D, Linear, Network, bonds, newton_schulz

STEPS = 4
PER_RANK = 8


class Residual(Block):
    PLAN = (("atom", "linear", "Linear", (16, 16), 1.0, 1.0, "orthogonalize"),)

    def __init__(self) -> None:
        super().__init__()
        self.linear = Linear(16, 16)

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * x + 0.5 * bonds.relu(self.linear(x))


class ConvNet(Network):
    """Buckets of 1, 1, 3 and 1 matrices (9 for the conv taps): uneven across two ranks."""

    NAME = "ConvNet"
    PLAN = (
        ("atom", "conv0", "Conv2D", (4, 4, 3, 3), 1.0, 0.25, "orthogonalize_per_tap"),
        ("atom", "linear0", "Linear", (16, 64), 1.0, 0.25, "orthogonalize"),
        ("repeat", "blocks", Residual, (0.1, 0.15, 0.2)),
        ("atom", "head", "Linear", (4, 16), 1.0, 0.25, "orthogonalize"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = Conv2D(4, 4)
        self.linear0 = Linear(16, 64)
        self.blocks = nn.ModuleList([Residual() for _ in range(3)])
        self.head = Linear(4, 16)

    def forward(self, x: Tensor) -> Tensor:
        h = self.linear0(bonds.flatten(bonds.relu(self.conv0(x)), 3))
        for block in self.blocks:
            h = block(h)
        return self.head(h)


def batches(world: int) -> tuple[Tensor, Tensor]:
    """Inputs [STEPS, world·PER_RANK, 4, 4, 4] and targets [STEPS, world·PER_RANK, 4]."""
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(STEPS, world * PER_RANK, 4, 4, 4, generator=gen)
    y = torch.randn(STEPS, world * PER_RANK, 4, generator=gen)
    return x, y


def make(seed: int = 0) -> tuple[ConvNet, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    net = ConvNet()
    return net, net.optimizer(0.1, momentum=0.9, nesterov=True, weight_decay=0.01)


def main(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    counted = [0]
    orthogonalize = newton_schulz.orthogonalize

    def counting(G: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        counted[0] += G.numel() // (G.shape[-2] * G.shape[-1])
        return orthogonalize(G, dtype)

    # The atoms resolve orthogonalize from their module's globals.
    from modc.runtime import atoms

    atoms.orthogonalize = counting  # type: ignore[assignment]

    net, opt = make()
    model = DistributedDataParallel(net)
    x, y = batches(world)
    rows = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    for step in range(STEPS):
        opt.zero_grad()
        F.mse_loss(model(x[step, rows]), y[step, rows]).backward()
        opt.step()
    torch.save({"state": net.state_dict(), "matrices": counted[0]}, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
