"""Block/Network: PLAN traversal, atom tables, dualize, project and the modular norm."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from modc.runtime import Block, Conv2D, Embed, Linear, Network
from modc.runtime.atoms import ATOM_CLASSES

# σmax of Newton–Schulz outputs (see test_runtime_newton_schulz.py), plus fp32 rounding.
NORM_BAND = (0.99, 1.0 + 1e-6)


class Body(Block):
    PLAN = (
        ("atom", "linear0", "Linear", (16, 16), 1.0, 0.5, "orthogonalize"),
        ("atom", "linear1", "Linear", (16, 16), 1.0, 0.5, "orthogonalize"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.linear0 = Linear(16, 16)
        self.linear1 = Linear(16, 16)


class Outer(Block):
    PLAN = (("repeat", "inner", Body, (0.7, 0.3)),)

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.ModuleList([Body() for _ in range(2)])


class Zoo(Network):
    """Every atom kind, a repeat, a nested repeat and a never-updated (target 0) atom."""

    NAME = "Zoo"
    PLAN = (
        ("atom", "embed0", "Embed", (10, 16), 1.0, 0.25, "row_normalize"),
        ("repeat", "blocks0", Body, (0.1, 0.2, 0.3)),
        ("repeat", "outer0", Outer, (0.6, 0.9)),
        ("atom", "conv0", "Conv2D", (8, 4, 3, 3), 2.0, 0.125, "orthogonalize_per_tap"),
        ("atom", "frozen", "Linear", (16, 8), 0.0, 0.0, "orthogonalize"),
        ("atom", "head", "Linear", (5, 16), 1.0, 0.375, "orthogonalize"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.embed0 = Embed(16, 10)
        self.blocks0 = nn.ModuleList([Body() for _ in range(3)])
        self.outer0 = nn.ModuleList([Outer() for _ in range(2)])
        self.conv0 = Conv2D(8, 4)
        self.frozen = Linear(16, 8)
        self.head = Linear(5, 16)


def expected_targets() -> dict[str, float]:
    targets = {"embed0": 0.25, "conv0": 0.125, "frozen": 0.0, "head": 0.375}
    for k, ct in enumerate((0.1, 0.2, 0.3)):
        for j in range(2):
            targets[f"blocks0.{k}.linear{j}"] = (1.0 * ct) * 0.5
    for k, ct in enumerate((0.6, 0.9)):
        for i, inner in enumerate((0.7, 0.3)):
            for j in range(2):
                targets[f"outer0.{k}.inner.{i}.linear{j}"] = ((1.0 * ct) * inner) * 0.5
    return targets


def random_grads(net: Network) -> list[Tensor]:
    return [torch.randn_like(e.module.weight) for e in net.atom_entries()]


def test_atom_entries_follow_plan() -> None:
    torch.manual_seed(0)
    net = Zoo()
    entries = list(net.atom_entries())
    names = [e.name for e in entries]
    assert names[:3] == ["embed0", "blocks0.0.linear0", "blocks0.0.linear1"]
    assert names[-3:] == ["conv0", "frozen", "head"]
    assert "outer0.1.inner.0.linear1" in names
    # The same rule as the compiler's explain JSON: bit-for-bit products of copy targets.
    assert {e.name: e.target for e in entries} == expected_targets()
    assert [e.module.weight for e in entries] == list(net.parameters())
    conv = entries[names.index("conv0")]
    assert conv.kind == "Conv2D" and conv.shape == (8, 4, 3, 3) and conv.mass == 2.0
    assert conv.dual_map == "orthogonalize_per_tap" and conv.module is net.conv0


def test_atom_table_needs_no_weights() -> None:
    table = Zoo.atom_table()
    torch.manual_seed(0)
    entries = list(Zoo().atom_entries())
    assert table == [
        {
            "name": e.name,
            "kind": e.kind,
            "shape": list(e.shape),
            "mass": e.mass,
            "target_norm": e.target,
            "dual_map": e.dual_map,
        }
        for e in entries
    ]
    assert all(type(row["shape"]) is list for row in table)


def test_plan_mismatches_are_reported() -> None:
    class WrongKind(Network):
        PLAN = (("atom", "a", "Embed", (4, 4), 1.0, 1.0, "row_normalize"),)

        def __init__(self) -> None:
            super().__init__()
            self.a = Linear(4, 4)

    class WrongShape(Network):
        PLAN = (("atom", "a", "Linear", (4, 5), 1.0, 1.0, "orthogonalize"),)

        def __init__(self) -> None:
            super().__init__()
            self.a = Linear(4, 4)

    class WrongCount(Network):
        PLAN = (("repeat", "r", Body, (1.0, 1.0)),)

        def __init__(self) -> None:
            super().__init__()
            self.r = nn.ModuleList([Body()])

    with pytest.raises(TypeError, match="PLAN says Embed, found Linear"):
        list(WrongKind().atom_entries())
    with pytest.raises(ValueError, match=r"PLAN says shape \[4, 5\]"):
        list(WrongShape().atom_entries())
    with pytest.raises(ValueError, match="r has 1 copies but PLAN lists 2"):
        list(WrongCount().atom_entries())


@pytest.mark.parametrize("total", [1.0, 0.3, 4.0])
def test_dualize_has_modular_norm_total(total: float) -> None:
    torch.manual_seed(1)
    net = Zoo()
    entries = list(net.atom_entries())
    updates = net.dualize(random_grads(net), target_norm=total)
    ratio = net.modular_norm(updates) / total
    assert NORM_BAND[0] <= ratio <= NORM_BAND[1]
    for e, u in zip(entries, updates, strict=True):
        assert u.shape == e.module.weight.shape
        if e.target == 0:
            assert torch.equal(u, torch.zeros_like(u))
            continue
        atom_ratio = ATOM_CLASSES[e.kind].norm(u[None]).item() / (e.target * total)
        if e.kind == "Embed":
            assert atom_ratio == pytest.approx(1.0, rel=1e-6)
        else:
            assert NORM_BAND[0] <= atom_ratio <= NORM_BAND[1]


def test_dualize_defaults_to_grad_and_zero_for_missing() -> None:
    torch.manual_seed(2)
    net = Zoo()
    grads = random_grads(net)
    for e, g in zip(net.atom_entries(), grads, strict=True):
        e.module.weight.grad = g
    net.head.weight.grad = None
    from_grad = net.dualize()
    grads[-1] = None  # type: ignore[call-overload]
    explicit = net.dualize(grads)
    assert all(torch.equal(a, b) for a, b in zip(from_grad, explicit, strict=True))
    assert torch.equal(from_grad[-1], torch.zeros(5, 16))
    with pytest.raises(ValueError, match="dualize got 2 tensors"):
        net.dualize(grads[:2])


def test_zero_gradients_give_zero_updates() -> None:
    torch.manual_seed(3)
    net = Zoo()
    zeros = [torch.zeros_like(e.module.weight) for e in net.atom_entries()]
    updates = net.dualize(zeros)
    assert all(torch.equal(u, torch.zeros_like(u)) for u in updates)
    assert net.modular_norm(updates) == 0.0


def test_project_and_modular_norm_of_weights() -> None:
    torch.manual_seed(4)
    net = Zoo()
    entries = list(net.atom_entries())
    # Exact orthogonal init: every atom norm is 1, so the modular norm is max 1/target.
    live = [e.target for e in entries if e.target > 0]
    assert net.modular_norm() == pytest.approx(max(1 / t for t in live), rel=1e-5)

    with torch.no_grad():
        for e in entries:
            e.module.weight.mul_(3.0).add_(torch.randn_like(e.module.weight))
    net.project()
    for e in entries:
        norm = ATOM_CLASSES[e.kind].norm(e.module.weight[None].detach()).item()
        if e.kind == "Embed":
            assert norm == pytest.approx(1.0, rel=1e-6)
        else:
            assert NORM_BAND[0] <= norm <= NORM_BAND[1]
