"""Shared settings of the runtime tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run each runtime test on one intra-op thread, then restore the previous count."""
    # The matrices here are small, and on a shared 2-core machine two OpenMP threads that
    # wait on each other's cores made steps 5-10x slower than one thread.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
