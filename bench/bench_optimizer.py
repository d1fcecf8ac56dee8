"""Time one ModularOptimizer step against torch.optim.Muon and AdamW on the same shapes.

    python bench/bench_optimizer.py [--device cpu|cuda] [--widths 784,512,512,10] [--repeats 20]

Prints the median step time of each optimizer and its ratio to ModularOptimizer. All run in
this process on identical parameter shapes and gradients. Note that torch.optim.Muon always
runs Newton–Schulz in bf16, which CPUs emulate slowly; on CPU the fair peer is the fp32 column
of ModularOptimizer against AdamW, on GPU it is Muon.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from modc.runtime import Linear, Network, bonds


def mlp_class(widths: list[int]) -> type[Network]:
    """A Network class for Linear layers widths[0] -> ... -> widths[-1], masses 1."""
    n = len(widths) - 1
    plan = tuple(
        ("atom", f"linear{i}", "Linear", (widths[i + 1], widths[i]), 1.0, 1 / n, "orthogonalize")
        for i in range(n)
    )

    class MLP(Network):
        NAME = "MLP"
        PLAN = plan

        def __init__(self, device: torch.device) -> None:
            super().__init__()
            for i in range(n):
                setattr(self, f"linear{i}", Linear(widths[i + 1], widths[i], device=device))

        def forward(self, x: Tensor) -> Tensor:
            for i in range(n):
                x = getattr(self, f"linear{i}")(x)
                x = bonds.relu(x) if i < n - 1 else x
            return x

    return MLP


def time_steps(step: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median seconds of `step` over `repeats` calls, after three warm-up calls."""
    times = []
    for i in range(repeats + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def with_grads(params: list[nn.Parameter], grads: list[Tensor]) -> list[nn.Parameter]:
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--widths", default="784,512,512,10")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    widths = [int(w) for w in args.widths.split(",")]

    torch.manual_seed(0)
    net = mlp_class(widths)(device)
    grads = [torch.randn_like(p) for p in net.parameters()]
    with_grads(list(net.parameters()), grads)
    modular = net.optimizer(lr=0.01)

    def peer_params() -> list[nn.Parameter]:
        copies = [nn.Parameter(p.detach().clone()) for p in net.parameters()]
        return with_grads(copies, grads)

    results = {"ModularOptimizer": time_steps(modular.step, args.repeats, device)}
    if hasattr(torch.optim, "Muon"):
        muon = torch.optim.Muon(peer_params(), lr=0.01)
        results["torch.optim.Muon"] = time_steps(muon.step, args.repeats, device)
    adamw = torch.optim.AdamW(peer_params(), lr=0.01)
    results["torch.optim.AdamW"] = time_steps(adamw.step, args.repeats, device)

    shapes = " ".join(f"{w}x{h}" for h, w in zip(widths, widths[1:], strict=False))
    print(f"shapes [out x in]: {shapes}; device {device}; threads {torch.get_num_threads()}")
    base = results["ModularOptimizer"]
    for name, seconds in results.items():
        print(f"{name:>20}: {seconds * 1e3:9.3f} ms/step   ratio to modular {seconds / base:7.3f}")


if __name__ == "__main__":
    main()
