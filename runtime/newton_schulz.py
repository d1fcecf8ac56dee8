"""Newton–Schulz orthogonalization: the polar factor U Vᵀ of a batch of matrices, without SVD."""

from __future__ import annotations

import torch
from torch import Tensor

# Six (a, b, c) steps of X <- a X + b (X Xᵀ) X + c (X Xᵀ)² X, the schedule Modula 2 ships in
# modula/atom.py. It was found by Jiacheng You (@YouJiacheng, Feb 2025) by optimizing the
# coefficients directly, with a stability term after @leloykun. The early steps have a large
# slope at 0 (a ≈ 3.9) to lift small singular values fast; the last two have a + b + c ≈ 1 and
# a small slope at 1, so that the singular values settle near 1 instead of oscillating in
# [0.7, 1.2] as Muon's five-step quintic does. The product of the slopes at 0 is about 1.1e3,
# which bounds how far a singular value far below the Frobenius norm can be lifted.
NS_COEFFICIENTS: tuple[tuple[float, float, float], ...] = (
    (3955 / 1024, -8306 / 1024, 5008 / 1024),
    (3735 / 1024, -6681 / 1024, 3463 / 1024),
    (3799 / 1024, -6499 / 1024, 3211 / 1024),
    (4019 / 1024, -6385 / 1024, 2906 / 1024),
    (2677 / 1024, -3029 / 1024, 1162 / 1024),
    (2172 / 1024, -1833 / 1024, 682 / 1024),
)

# Added to the Frobenius norm before dividing (as Muon does), so a zero matrix maps to exact
# zeros and a matrix far below 1e-7 in norm maps to a proportionally tiny one, never NaN.
NS_EPS = 1e-7


def default_compute_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """The dtype Newton–Schulz runs in for inputs of `dtype` on `device`."""
    if dtype == torch.float64:
        return torch.float64
    # bf16 matmuls are native on recent GPUs and NS is robust to their rounding (Muon runs in
    # bf16); on CPU bf16 is emulated and hundreds of times slower than fp32.
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def orthogonalize(G: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """Approximate polar factor of each matrix in `G[..., m, n]`, by six Newton–Schulz steps."""
    if G.ndim < 2:
        raise ValueError(f"orthogonalize needs a tensor of shape [..., m, n], got {list(G.shape)}")
    m, n = G.shape[-2], G.shape[-1]
    result_dtype = torch.float64 if G.dtype == torch.float64 else torch.float32
    compute = dtype or default_compute_dtype(G.device, G.dtype)
    if G.numel() == 0:
        return torch.zeros(G.shape, dtype=result_dtype, device=G.device)

    # One bmm chain over a flat batch; iterate on the wide orientation so that the Gram
    # matrix X Xᵀ is min(m, n) square, the cheap side.
    X = G.reshape(-1, m, n)
    transpose = m > n
    if transpose:
        X = X.mT

    # Frobenius normalization puts every singular value in [0, 1], inside the region where
    # the iteration converges. It runs in fp32 (fp64 for fp64) whatever the step dtype.
    X = X.to(result_dtype)
    norm = torch.linalg.vector_norm(X, dim=(-2, -1), keepdim=True)
    X = (X / (norm + NS_EPS)).to(compute)

    for a, b, c in NS_COEFFICIENTS:
        A = torch.bmm(X, X.mT)
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # b A + c A²
        X = torch.baddbmm(X, B, X, beta=a, alpha=1.0)  # a X + (b A + c A²) X

    if transpose:
        X = X.mT
    return X.reshape(G.shape).to(result_dtype)
