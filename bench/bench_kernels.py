"""Time the fused bond chains (modc.runtime.kernels) against the plain torch path.

    python bench/bench_kernels.py [--repeats 50] [--dtype float32|bfloat16|float16]

On CUDA, for the chains the examples produce (and two longer ones), prints the median time
of forward and of forward plus backward on both paths, their ratio (torch / fused, so above
1 means the fused kernel is faster) and the peak memory of forward plus backward. Both
paths run in this process on the same tensors; MODC_KERNELS selects the path.

Without a GPU there is nothing to time: the script says so and instead checks the Triton
path under the interpreter (TRITON_INTERPRET=1) against the torch path on small tensors,
exiting 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import Tensor

Spec = tuple[tuple[object, ...], ...]

# (what it is, spec, shape on the GPU)
CASES: list[tuple[str, Spec, tuple[int, ...]]] = [
    ("GPT attention scores", (("causal_mask",), ("softmax", 1.0)), (8, 12, 1024, 1024)),
    ("ResMLP residue", (("abs",), ("mean_subtract", (-1,))), (8192, 1024)),
    ("ResCNN residue", (("abs",), ("mean_subtract", (-3, -2, -1))), (256, 32, 16, 16)),
    ("GELU, scale, LayerNorm", (("gelu",), ("mul", 0.5), ("layer_norm", (-1,))), (8192, 2048)),
    ("element-wise only", (("relu",), ("mul", 2.0), ("gelu",), ("abs",)), (4096, 4096)),
]


def run_path(path: str, spec: Spec, x: Tensor, dy: Tensor, backward: bool) -> Tensor:
    """One forward (and backward) on ``path``."""
    from modc.runtime import kernels

    os.environ[kernels.ENV] = path
    leaf = x.detach().requires_grad_(backward)
    y = kernels.chain(leaf, spec)
    if kernels.last_path != path:
        raise RuntimeError(f"asked for the {path} path, ran {kernels.last_path}")
    if backward:
        (dx,) = torch.autograd.grad(y, leaf, dy)
        return dx
    return y


def median_ms(step: Callable[[], object], repeats: int) -> float:
    """Median milliseconds of ``step`` on the GPU, after three warm-up calls."""
    times = []
    for i in range(repeats + 3):
        torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        if i >= 3:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def peak_mib(step: Callable[[], object]) -> float:
    """Peak memory allocated during ``step`` beyond what was allocated before, in MiB."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def bench_gpu(repeats: int, dtype: torch.dtype) -> int:
    print(f"device {torch.cuda.get_device_name()}, {dtype}, median of {repeats}")
    print(f"{'chain':24} {'shape':>20} {'pass':>8} {'torch ms':>9} {'fused ms':>9} "
          f"{'ratio':>6} {'torch MiB':>10} {'fused MiB':>10}")
    for name, spec, shape in CASES:
        x = torch.randn(shape, device="cuda", dtype=dtype)
        dy = torch.randn(shape, device="cuda", dtype=dtype)
        for backward in (False, True):
            steps = {p: functools.partial(run_path, p, spec, x, dy, backward)
                     for p in ("torch", "triton")}
            ms = {p: median_ms(step, repeats) for p, step in steps.items()}
            mib = {p: peak_mib(step) for p, step in steps.items()}
            label = "fwd+bwd" if backward else "fwd"
            print(f"{name:24} {str(tuple(shape)):>20} {label:>8} {ms['torch']:9.3f} "
                  f"{ms['triton']:9.3f} {ms['torch'] / ms['triton']:6.2f} "
                  f"{mib['torch']:10.1f} {mib['triton']:10.1f}")
    return 0


def check_interpreter() -> int:
    """The Triton path under the interpreter against the torch path, on small tensors."""
    failures = 0
    for name, spec, shape in CASES:
        small = (2, *(min(d, 5) for d in shape[1:-1]), min(shape[-1], 37))
        if spec[0] == ("causal_mask",):
            small = (2, 5, 5)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(small, generator=gen)
        dy = torch.randn(small, generator=gen)
        worst = 0.0
        for backward in (False, True):
            fused = run_path("triton", spec, x, dy, backward)
            plain = run_path("torch", spec, x, dy, backward)
            finite = torch.isfinite(plain)
            if not torch.equal(finite, torch.isfinite(fused)):
                worst = float("inf")
            else:
                worst = max(worst, (fused - plain)[finite].abs().max().item())
        ok = worst <= 1e-5
        failures += not ok
        print(f"{'ok ' if ok else 'BAD'} {name:24} {str(small):>16}  max |fused - torch| "
              f"(forward and gradient) = {worst:.2e}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--dtype", default="float32",
                        choices=("float32", "bfloat16", "float16"))
    args = parser.parse_args()
    if torch.cuda.is_available():
        return bench_gpu(args.repeats, getattr(torch, args.dtype))
    print("bench_kernels times the fused kernels on a CUDA GPU, and this machine has none.",
          file=sys.stderr)
    print("Checking the Triton path under TRITON_INTERPRET=1 against the torch path instead "
          "(fp32; the interpreter says nothing about speed).", file=sys.stderr)
    # Before the kernel module is imported (on the first chain): triton.jit reads it then.
    os.environ["TRITON_INTERPRET"] = "1"
    torch.set_num_threads(1)
    return check_interpreter()


if __name__ == "__main__":
    sys.exit(main())
