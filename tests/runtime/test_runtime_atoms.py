"""Atoms: init, forward, project, dual maps against exact SVD-based maps, and atom norms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from modc.runtime import ATOM_CLASSES, Atom, Conv2D, Embed, Linear

# Relative Frobenius distance between the NS polar factor and the exact U Vᵀ for rectangular
# Gaussian gradients: measured 0.0026–0.0034 (the band [0.9955, 0.9994] of the singular
# values). Tolerance 1e-2.
POLAR_RTOL = 1e-2
# σmax of an NS output lies in [0.9955, 0.99934] for these gradients, so atom norms of duals
# are t times that.
NORM_BAND = (0.99, 1.0 + 1e-6)


def polar(G: Tensor) -> Tensor:
    """Exact polar factor U Vᵀ of each matrix in a stack, in float64."""
    U, _, Vh = torch.linalg.svd(G.double(), full_matrices=False)
    return U @ Vh


def rel(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def test_registry_and_names() -> None:
    assert ATOM_CLASSES == {"Linear": Linear, "Embed": Embed, "Conv2D": Conv2D}
    assert Linear.DUAL_MAP == "orthogonalize"
    assert Embed.DUAL_MAP == "row_normalize"
    assert Conv2D.DUAL_MAP == "orthogonalize_per_tap"


def test_linear_init_forward_and_norm() -> None:
    torch.manual_seed(0)
    atom = Linear(32, 96)
    assert atom.weight.shape == (32, 96)
    assert [name for name, _ in atom.named_parameters()] == ["weight"]
    sv = torch.linalg.svdvals(atom.weight.double())
    torch.testing.assert_close(sv, torch.full_like(sv, math.sqrt(32 / 96)), rtol=1e-5, atol=0)
    assert Linear.norm(atom.weight[None]).item() == pytest.approx(1.0, rel=1e-5)
    x = torch.randn(5, 7, 96)
    torch.testing.assert_close(atom(x), x @ atom.weight.T)
    assert "fan_out=32, fan_in=96" in repr(atom)


def test_init_uses_global_rng_and_dtype() -> None:
    torch.manual_seed(1)
    a = Linear(8, 4)
    torch.manual_seed(1)
    b = Linear(8, 4)
    assert torch.equal(a.weight, b.weight)
    half = Linear(8, 4, dtype=torch.bfloat16)
    assert half.weight.dtype == torch.bfloat16
    conv = Conv2D(4, 2, dtype=torch.float64)
    assert conv.weight.dtype == torch.float64


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (48, 48)])
def test_linear_dual_vs_polar(shape: tuple[int, int]) -> None:
    torch.manual_seed(2)
    out, inp = shape
    G = torch.randn(3, out, inp)
    if out == inp:
        # A square Gaussian has singular values too small for six steps (see the NS tests);
        # a well-conditioned square gradient is what the polar comparison is about.
        G = G + 4 * math.sqrt(out) * torch.eye(out)
    targets = torch.tensor([1.0, 0.5, 2.0])
    D = Linear.dual(G, targets)
    assert D.shape == G.shape and D.dtype == torch.float32
    exact = polar(G) * (targets.double() * math.sqrt(out / inp))[:, None, None]
    assert rel(D, exact) < POLAR_RTOL
    ratio = Linear.norm(D) / targets
    assert ratio.min() >= NORM_BAND[0] and ratio.max() <= NORM_BAND[1]


def test_linear_dual_formula() -> None:
    # dual(G, t) = t · √(out/in) · orth(G), written out independently.
    from modc.runtime import orthogonalize

    torch.manual_seed(3)
    G = torch.randn(2, 20, 12)
    D = Linear.dual(G, [0.25, 3.0])
    for i, t in enumerate([0.25, 3.0]):
        torch.testing.assert_close(D[i], t * math.sqrt(20 / 12) * orthogonalize(G[i]))


def test_linear_project() -> None:
    torch.manual_seed(4)
    W = torch.randn(2, 40, 24) * 7.0
    P = Linear.project(W)
    sv = torch.linalg.svdvals(P.double()) / math.sqrt(40 / 24)
    assert sv.min() >= 0.99 and sv.max() <= 1.0
    assert rel(P, polar(W) * math.sqrt(40 / 24)) < POLAR_RTOL
    assert rel(Linear.project(P), P) < POLAR_RTOL


def test_embed_init_forward_project_dual() -> None:
    torch.manual_seed(5)
    atom = Embed(16, 50)
    assert atom.weight.shape == (50, 16)
    rows = atom.weight.norm(dim=-1)
    torch.testing.assert_close(rows, torch.full_like(rows, 4.0))
    assert Embed.norm(atom.weight[None]).item() == pytest.approx(1.0, rel=1e-6)
    ids = torch.tensor([[0, 3, 49], [7, 7, 1]])
    assert torch.equal(atom(ids), atom.weight[ids])

    G = torch.randn(2, 50, 16)
    G[0, 5] = 0.0
    targets = torch.tensor([0.5, 2.0])
    D = Embed.dual(G, targets)
    exact = G.double() / G.double().norm(dim=-1, keepdim=True) * 4.0
    exact = exact * targets.double()[:, None, None]
    exact[0, 5] = 0.0
    torch.testing.assert_close(D.double(), exact, rtol=1e-6, atol=1e-7)
    assert torch.equal(D[0, 5], torch.zeros(16))
    # Exact normalization: the atom norm of the dual is the target.
    torch.testing.assert_close(Embed.norm(D), targets, rtol=1e-6, atol=0)
    torch.testing.assert_close(Embed.project(G * 9.0), Embed.dual(G, [1.0, 1.0]))


def test_conv_init_forward_and_norm() -> None:
    torch.manual_seed(6)
    atom = Conv2D(8, 4, kernel=3, stride=2, padding=1)
    assert atom.weight.shape == (8, 4, 3, 3)
    for i in range(3):
        for j in range(3):
            sv = torch.linalg.svdvals(atom.weight[:, :, i, j].double())
            expected = torch.full_like(sv, math.sqrt(8 / 4) / 9)
            torch.testing.assert_close(sv, expected, rtol=1e-5, atol=0)
    assert Conv2D.norm(atom.weight[None]).item() == pytest.approx(1.0, rel=1e-5)
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(atom(x), F.conv2d(x, atom.weight, stride=2, padding=1))
    assert atom(x).shape == (2, 8, 5, 5)


def test_conv_dual_vs_polar_per_tap() -> None:
    torch.manual_seed(7)
    G = torch.randn(2, 24, 8, 3, 3)
    targets = torch.tensor([1.0, 0.3])
    D = Conv2D.dual(G, targets)
    assert D.shape == G.shape and D.is_contiguous()
    scale = math.sqrt(24 / 8) / 9
    for b in range(2):
        for i in range(3):
            for j in range(3):
                exact = polar(G[b, :, :, i, j]) * (targets[b].item() * scale)
                assert rel(D[b, :, :, i, j], exact) < POLAR_RTOL
    ratio = Conv2D.norm(D) / targets
    assert ratio.min() >= NORM_BAND[0] and ratio.max() <= NORM_BAND[1]
    P = Conv2D.project(G)
    torch.testing.assert_close(P, Conv2D.dual(G, [1.0, 1.0]))


@pytest.mark.parametrize(
    "cls, shape", [(Linear, (12, 20)), (Embed, (30, 8)), (Conv2D, (6, 4, 3, 3))]
)
def test_zero_and_tiny_gradients(cls: type[Atom], shape: tuple[int, ...]) -> None:
    zero = cls.dual(torch.zeros(2, *shape), [1.0, 2.0])
    assert torch.equal(zero, torch.zeros(2, *shape))
    torch.manual_seed(8)
    tiny = cls.dual(torch.randn(2, *shape) * 1e-30, [1.0, 2.0])
    assert torch.isfinite(tiny).all() and tiny.abs().max() < 1e-10
    assert torch.equal(cls.dual(torch.randn(1, *shape), [0.0]), torch.zeros(1, *shape))


def test_targets_accept_lists_tensors_and_float64() -> None:
    torch.manual_seed(9)
    G = torch.randn(2, 6, 10)
    a = Linear.dual(G, [1.0, 0.5])
    b = Linear.dual(G, (1.0, 0.5))
    c = Linear.dual(G, torch.tensor([1.0, 0.5], dtype=torch.float64))
    assert torch.equal(a, b) and torch.equal(a, c)
    assert Linear.dual(G.double(), [1.0, 0.5]).dtype == torch.float64
