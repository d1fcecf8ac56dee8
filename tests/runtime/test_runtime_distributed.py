"""Sharded dualization: two gloo processes against one process."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

WORKER = Path(__file__).with_name("dist_worker.py")


def load_worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("modc_runtime_dist_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def single_process_run(worker: ModuleType, world: int) -> dict[str, torch.Tensor]:
    """The same training on one process: the full batch, no torch.distributed."""
    net, opt = worker.make()
    x, y = worker.batches(world)
    for step in range(worker.STEPS):
        opt.zero_grad()
        F.mse_loss(net(x[step]), y[step]).backward()
        opt.step()
    return net.state_dict()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_ranks_match_one_process(tmp_path: Path) -> None:
    worker = load_worker()
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    outs = [tmp_path / f"rank{rank}.pt" for rank in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), "2", str(port), str(outs[rank])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    for proc in procs:
        try:
            output, _ = proc.communicate(timeout=120)
        finally:
            for other in procs:
                if other.poll() is None and proc.returncode is None:
                    other.kill()
        assert proc.returncode == 0, output

    results = [torch.load(out) for out in outs]
    reference = single_process_run(worker, world=2)
    for name, expected in reference.items():
        rank0, rank1 = results[0]["state"][name], results[1]["state"][name]
        assert torch.equal(rank0, rank1), name
        torch.testing.assert_close(rank0, expected, rtol=0, atol=1e-6, msg=name)
        assert not torch.equal(expected, worker.make()[0].state_dict()[name]), name

    # Atoms are dealt round-robin with the offset carried across buckets: conv0 (9 taps) to
    # rank 0, linear0 to rank 1, the three blocks to ranks 0, 1, 0, head to rank 1.
    matrices = [r["matrices"] for r in results]
    assert matrices == [(9 + 2) * worker.STEPS, 3 * worker.STEPS]
