"""The modular optimizer: momentum, then each atom's dual map at its own target norm.

This is Modula's training step (Bernstein & Newhouse, "Modular duality in deep learning"): the
update of atom i is lr · dual_i(m_i), with dual_i built from the atom's target norm, which the
compiler derived from the network's masses and sensitivities. With Linear atoms only, it is
Muon with a per-layer learning-rate multiplier of target · √(out/in).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

import torch
from torch import Tensor

from .atoms import ATOM_CLASSES, Atom
from .distributed import active_group, sharded_dual

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

    from .block import Block

# One batched dual-map call: the atom class, a stack [B, *shape] and the B target norms.
DualJob = tuple[type[Atom], Tensor, Tensor]


def bucket_indices(
    kinds: Sequence[str], tensors: Sequence[Tensor]
) -> dict[tuple[Any, ...], list[int]]:
    """Indices grouped by (kind, shape, dtype, device), in order of first appearance."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (kind, t) in enumerate(zip(kinds, tensors, strict=True)):
        groups.setdefault((kind, tuple(t.shape), t.dtype, t.device), []).append(i)
    return groups


def dualize_tensors(
    kinds: Sequence[str],
    tensors: Sequence[Tensor],
    targets: Sequence[float],
    process_group: ProcessGroup | None = None,
) -> list[Tensor]:
    """Dual map of each tensor for its atom kind and target, one batched call per bucket."""
    buckets = bucket_indices(kinds, tensors)
    jobs: list[DualJob] = []
    for (kind, *_), idx in buckets.items():
        stack = torch.stack([tensors[i] for i in idx])
        bucket_targets = torch.tensor([targets[i] for i in idx], device=stack.device)
        jobs.append((ATOM_CLASSES[kind], stack, bucket_targets))

    group = active_group(process_group)
    if group is None:
        results = [cls.dual(stack, t) for cls, stack, t in jobs]
    else:
        results = sharded_dual(jobs, group)

    out: list[Tensor] = [torch.empty(0)] * len(tensors)
    for idx, result in zip(buckets.values(), results, strict=True):
        for i, update in zip(idx, result.unbind(0), strict=True):
            out[i] = update
    return out


class ModularOptimizer(torch.optim.Optimizer):
    """SGD with momentum whose direction is dualized per atom in the network's modular norm."""

    def __init__(
        self,
        network: Block,
        lr: float,
        momentum: float = 0.95,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        process_group: ProcessGroup | None = None,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be non-negative, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
        entries = list(network.atom_entries())
        if not entries:
            raise ValueError(f"{type(network).__name__} has no atoms, so nothing to optimize")
        params = [e.module.weight for e in entries]
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)
        # Kind and target per parameter. They are architecture, not training state: they stay
        # out of state_dict, so a checkpoint resumes with the targets of the code that loads it.
        self._atoms: dict[Tensor, tuple[str, float]] = {
            e.module.weight: (e.kind, e.target) for e in entries
        }
        self.process_group = process_group

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Accept only the network's atom weights: every parameter needs a dual map."""
        if self.param_groups:
            raise ValueError("ModularOptimizer has one parameter group: the network's atoms")
        super().add_param_group(param_group)

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update: m = β·m + (1−β)·g, then p -= lr · dual(m) after decoupled weight decay."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            lr = float(group["lr"])
            beta = float(group["momentum"])
            decay = 1.0 - lr * float(group["weight_decay"])
            params: list[Tensor] = []
            directions: list[Tensor] = []
            for p in group["params"]:
                target = self._atoms[p][1]
                if p.grad is None or target == 0:
                    # Target 0 (an atom inside a mass-0 module) means never updated.
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1.0 - beta)
                # Nesterov looks one step ahead: β·m + (1−β)·g with the updated m.
                directions.append(p.grad.lerp(buf, beta) if group["nesterov"] else buf)
                params.append(p)

            kinds = [self._atoms[p][0] for p in params]
            targets = [self._atoms[p][1] for p in params]
            updates = dualize_tensors(kinds, directions, targets, self.process_group)
            for p, update in zip(params, updates, strict=True):
                if decay != 1.0:
                    p.mul_(decay)
                p.add_(update, alpha=-lr)
        return loss
