"""Known shortcomings, each listed in docs/limitations.md, as strict expected failures.

When one of these starts passing, pytest reports XPASS as a failure: remove the entry from
docs/limitations.md and turn the test into an ordinary one.
"""

from __future__ import annotations

import pytest
import torch

from modc.pipeline import compile_source
from modc.runtime import bonds, orthogonalize


@pytest.mark.xfail(strict=True, reason="docs/limitations.md: square Gaussian matrices")
def test_newton_schulz_lifts_every_singular_value_of_a_square_gaussian() -> None:
    # Six Newton-Schulz steps after Frobenius normalization lift a singular value into
    # [0.7, 1.2] only if it is at least 7.1e-4 of the Frobenius norm; a square Gaussian
    # matrix almost always has smaller ones.
    torch.manual_seed(0)
    g = torch.randn(256, 256, dtype=torch.float32)
    s = torch.linalg.svdvals(orthogonalize(g).double())
    assert s.min() >= 0.7


@pytest.mark.xfail(strict=True, reason="docs/limitations.md: GELU slope")
def test_gelu_slope_is_at_most_one() -> None:
    # Modula divides by 1.1289; the true maximum slope of tanh-GELU is 1.128993...
    x = torch.linspace(-4, 4, 200_001, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(bonds.gelu(x).sum(), x)
    assert slope.max() <= 1.0


@pytest.mark.xfail(strict=True, reason="docs/limitations.md: one input per net")
def test_a_net_can_take_a_tuple_of_inputs() -> None:
    result = compile_source("two.mod", text="net N(x: ([4], [4])) = Add\n")
    assert result.ok, [d.render() for d in result.diagnostics]


@pytest.mark.xfail(strict=True, reason="docs/limitations.md: attention is causal")
def test_the_prelude_has_a_bidirectional_attention() -> None:
    text = "net N(x: [16, 32]) = Attention(4, 32, 8, 8, 1, causal=0)\n"
    result = compile_source("attn.mod", text=text)
    assert result.ok, [d.render() for d in result.diagnostics]
