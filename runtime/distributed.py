"""Sharding the dual maps across the ranks of a torch.distributed process group.

Gradients arrive already averaged (DDP does that), so every rank holds the same momentum and
would compute the same dual maps. Instead each same-shape bucket is dealt out round-robin:
every rank runs Newton–Schulz on its share only, then one all_gather per bucket hands every
rank every update, and all ranks apply identical updates (as the distributed Muon
implementations do). The work per rank falls to about 1/world of the Newton–Schulz flops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import Tensor

from .atoms import Atom, update_dtype

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup


def active_group(group: ProcessGroup | None) -> ProcessGroup | None:
    """The group to shard over, or None when running in one process (or a group of one)."""
    if not dist.is_available() or not dist.is_initialized():
        return None
    group = group if group is not None else dist.group.WORLD
    if dist.get_world_size(group) <= 1:
        return None
    return group


def sharded_dual(
    jobs: Sequence[tuple[type[Atom], Tensor, Tensor]], group: ProcessGroup
) -> list[Tensor]:
    """Run each (atom class, stack, targets) job split across `group`; every rank gets all."""
    world = dist.get_world_size(group)
    rank = dist.get_rank(group)
    # Matrix i of a bucket has the virtual index v = offset + i and goes to rank v % world,
    # slot v // world. The offset carries over between buckets, so a run of small buckets
    # still spreads over all ranks. Every rank computes the same deal from the same order.
    offset = 0
    pending = []
    for cls, stack, targets in jobs:
        count = stack.shape[0]
        end = offset + count
        slots = -(-end // world)
        mine = [v for v in range(rank, end, world) if v >= offset]
        buffer = torch.zeros(
            (slots, *stack.shape[1:]), dtype=update_dtype(stack), device=stack.device
        )
        if mine:
            local = torch.tensor([v - offset for v in mine], device=stack.device)
            buffer[[v // world for v in mine]] = cls.dual(stack[local], targets[local])
        gathered = [torch.empty_like(buffer) for _ in range(world)]
        # Async, so the collective of this bucket overlaps the Newton–Schulz of the next.
        work = dist.all_gather(gathered, buffer, group=group, async_op=True)
        pending.append((work, gathered, offset, count))
        offset = end % world

    results = []
    for work, gathered, start, count in pending:
        work.wait()
        # Interleave [world][slots] back to virtual order v = slot · world + rank.
        flat = torch.stack(gathered, dim=1).flatten(0, 1)
        results.append(flat[start : start + count])
    return results
