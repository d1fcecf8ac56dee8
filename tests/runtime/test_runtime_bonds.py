"""Bond functions against hand-written formulas."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from modc.runtime import bonds


def modula_rope_reference(x: Tensor, d_head: int, base: float = 10000) -> Tensor:
    """Modula 2's Rope written out with explicit loops over positions and pairs."""
    rope_dim = d_head // 2
    T = x.shape[-2]
    out = torch.empty_like(x)
    for t in range(T):
        for i in range(rope_dim):
            theta = t * (1.0 / base ** (i / rope_dim))
            x1, x2 = x[..., t, rope_dim + i], x[..., t, i]
            # As Modula 2 executes it: get_cached returns (sin, cos), rotate unpacks it as
            # (cos, sin), so sin stands where the formula reads cos and vice versa.
            out[..., t, i] = math.sin(theta) * x1 + math.cos(theta) * x2
            out[..., t, rope_dim + i] = -math.cos(theta) * x1 + math.sin(theta) * x2
    return out


def test_rope_matches_modula_formula() -> None:
    torch.manual_seed(0)
    q = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    k = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    rq, rk = bonds.rope((q, k), 8)
    torch.testing.assert_close(rq, modula_rope_reference(q, 8))
    torch.testing.assert_close(rk, modula_rope_reference(k, 8))
    # A rotation per pair: norms are kept; at position 0 (theta = 0) Modula's executed
    # formula gives y1 = x[..., :rope_dim] and y2 = -x[..., rope_dim:].
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))
    torch.testing.assert_close(rq[..., 0, :], torch.cat([q[..., 0, :4], -q[..., 0, 4:]], -1))


def test_rope_scores_depend_on_relative_position() -> None:
    # The same q and k at every position: the scores form a Toeplitz matrix.
    torch.manual_seed(1)
    q = torch.randn(16, dtype=torch.float64).expand(6, 16)
    k = torch.randn(16, dtype=torch.float64).expand(6, 16)
    scores = bonds.attention_qk(bonds.rope((q, k), 16))
    for offset in range(-5, 6):
        diagonal = torch.diagonal(scores, offset)
        torch.testing.assert_close(diagonal, diagonal[:1].expand_as(diagonal))


def test_rope_float32_and_bad_width() -> None:
    q = torch.randn(3, 10, 4)
    rq, _ = bonds.rope((q, q), 4)
    torch.testing.assert_close(rq, modula_rope_reference(q.double(), 4).float())
    try:
        bonds.rope((q, q), 6)
    except ValueError as err:
        assert "even last size 6" in str(err)
    else:
        raise AssertionError("rope accepted a mismatched d_head")


def test_gelu_formula_and_slope() -> None:
    x = torch.linspace(-6, 6, 400_001, dtype=torch.float64, requires_grad=True)
    y = bonds.gelu(x)
    torch.testing.assert_close(y, F.gelu(x, approximate="tanh") / 1.1289)
    (slope,) = torch.autograd.grad(y.sum(), x)
    # 1.1289 is Modula's rounding of the max slope 1.128993: the peak is 1 + 8e-5.
    assert 0.999 < slope.max().item() <= 1.0001


def test_attention_qk_scaling_and_mask() -> None:
    torch.manual_seed(2)
    q, k = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8)
    scores = bonds.attention_qk((q, k))
    torch.testing.assert_close(scores, q @ k.transpose(-1, -2) / 8)
    s = torch.randn(2, 5, 5)
    masked = bonds.causal_mask(s)
    above = torch.ones(5, 5, dtype=torch.bool).triu(1)
    assert torch.isneginf(masked[:, above]).all()
    assert torch.equal(masked[:, ~above], s[:, ~above])
    p = bonds.softmax(masked, 2.0)
    torch.testing.assert_close(p, torch.softmax(2.0 * masked, dim=-1))
    assert torch.equal(p[:, 0, 0], torch.ones(2))
    v = torch.randn(2, 5, 3)
    torch.testing.assert_close(bonds.apply_attention_scores((v, p)), p @ v)


def test_heads_like_nanogpt() -> None:
    torch.manual_seed(3)
    B, T, D, H = 2, 5, 12, 3
    x = torch.randn(B, T, D)
    split = bonds.split_heads(x, H)
    assert torch.equal(split, x.view(B, T, H, D // H).transpose(1, 2))
    assert torch.equal(bonds.merge_heads(split), x)


def test_normalizations() -> None:
    torch.manual_seed(4)
    x = torch.randn(3, 4, 10) * 5 + 2
    y = bonds.layer_norm(x, (-1,))
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, 4), atol=1e-6, rtol=0)
    torch.testing.assert_close(y.square().mean(-1), torch.ones(3, 4))
    torch.testing.assert_close(bonds.mean_subtract(x, (-1,)), x - x.mean(-1, keepdim=True))
    rms = bonds.rms_divide(x, (-2, -1))
    expected = x / x.square().mean(dim=(-2, -1), keepdim=True).sqrt()
    torch.testing.assert_close(rms, expected)


def test_rms_divide_zero_rows() -> None:
    x = torch.zeros(2, 6, requires_grad=True)
    y = bonds.layer_norm(x, (-1,))
    assert torch.equal(y, torch.zeros(2, 6))
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(grad).all()


def test_shape_bonds() -> None:
    x = torch.randn(2, 3, 4, 5)
    assert bonds.flatten(x, 3).shape == (2, 60)
    assert bonds.flatten(x, 1) is x
    assert bonds.mean(x, (-2, -1)).shape == (2, 3)
    torch.testing.assert_close(bonds.avg_pool(x), F.adaptive_avg_pool2d(x, 1))
    ids = torch.randint(0, 9, (3, 7))
    pos = bonds.enumerate(ids)
    assert pos.dtype == torch.int64 and pos.shape == (3, 7)
    assert torch.equal(pos[2], torch.arange(7))


def test_elementwise_bonds() -> None:
    x = torch.randn(4, 5)
    assert bonds.identity(x) is x
    assert torch.equal(bonds.relu(x), x.clamp_min(0))
    assert torch.equal(bonds.abs(x), x.abs())
    assert torch.equal(bonds.mul(x, -0.5), x * -0.5)
    assert torch.equal(bonds.add((x, 2 * x, x)), x + 2 * x + x)
