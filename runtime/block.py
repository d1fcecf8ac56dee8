"""Block and Network: the base classes of generated modules, driven by their PLAN tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from .atoms import ATOM_CLASSES, Atom, update_dtype
from .optimizer import ModularOptimizer, bucket_indices, dualize_tensors

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

# One PLAN entry, in weight order (docs/internals.md):
#   ("atom", attr, kind, shape, mass, target, dual_map)
#   ("repeat", attr, BodyClass, copy_targets)
PlanEntry = tuple[Any, ...]


class AtomEntry(NamedTuple):
    """One atom of a network, with its absolute target norm (its learning-rate multiplier)."""

    name: str
    module: Atom
    kind: str
    shape: tuple[int, ...]
    mass: float
    target: float
    dual_map: str


class Block(nn.Module):
    """A module whose atoms are listed, in weight order, by the class attribute PLAN."""

    PLAN: ClassVar[tuple[PlanEntry, ...]] = ()

    def atom_entries(self, scale: float = 1.0, prefix: str = "") -> Iterator[AtomEntry]:
        """Yield every atom of this block in weight order, targets multiplied by `scale`."""
        for entry in self.PLAN:
            if entry[0] == "atom":
                _, attr, kind, shape, mass, target, dual_map = entry
                module = getattr(self, attr)
                _check_atom(module, prefix + attr, kind, tuple(shape))
                yield AtomEntry(
                    prefix + attr, module, kind, tuple(shape), float(mass), scale * target, dual_map
                )
            elif entry[0] == "repeat":
                _, attr, _body, copy_targets = entry
                copies = getattr(self, attr)
                if len(copies) != len(copy_targets):
                    raise ValueError(
                        f"{prefix}{attr} has {len(copies)} copies but PLAN lists "
                        f"{len(copy_targets)} copy targets"
                    )
                for k, copy in enumerate(copies):
                    # Modula's m ** n: copy k's scope is dualized with its own target norm.
                    yield from copy.atom_entries(scale * copy_targets[k], f"{prefix}{attr}.{k}.")
            else:
                raise ValueError(f"unknown PLAN entry kind {entry[0]!r} in {type(self).__name__}")

    @classmethod
    def atom_table(cls) -> list[dict[str, Any]]:
        """The atom rows of `atom_entries()` as dicts, computed from PLAN without any weights."""
        return [
            {
                "name": name,
                "kind": kind,
                "shape": list(shape),
                "mass": float(mass),
                "target_norm": target,
                "dual_map": dual_map,
            }
            for name, kind, shape, mass, target, dual_map in cls._plan_rows(1.0, "")
        ]

    @classmethod
    def _plan_rows(cls, scale: float, prefix: str) -> Iterator[tuple[Any, ...]]:
        """(name, kind, shape, mass, target, dual_map) per atom, following PLAN recursively."""
        for entry in cls.PLAN:
            if entry[0] == "atom":
                _, attr, kind, shape, mass, target, dual_map = entry
                yield prefix + attr, kind, tuple(shape), mass, scale * target, dual_map
            elif entry[0] == "repeat":
                _, attr, body, copy_targets = entry
                for k, copy_target in enumerate(copy_targets):
                    yield from body._plan_rows(scale * copy_target, f"{prefix}{attr}.{k}.")
            else:
                raise ValueError(f"unknown PLAN entry kind {entry[0]!r} in {cls.__name__}")


def _check_atom(module: nn.Module, name: str, kind: str, shape: tuple[int, ...]) -> None:
    """Fail loudly when a PLAN row and the module it names disagree."""
    if kind not in ATOM_CLASSES:
        raise ValueError(f"{name}: unknown atom kind {kind!r}")
    if not isinstance(module, ATOM_CLASSES[kind]):
        raise TypeError(f"{name}: PLAN says {kind}, found {type(module).__name__}")
    if tuple(module.weight.shape) != shape:
        raise ValueError(f"{name}: PLAN says shape {list(shape)}, weight has {module.weight.shape}")


class Network(Block):
    """A whole network: a Block with the optimizer and the modular-norm operations."""

    NAME: ClassVar[str] = ""

    def optimizer(
        self,
        lr: float,
        momentum: float = 0.95,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        process_group: ProcessGroup | None = None,
    ) -> ModularOptimizer:
        """The modular optimizer of this network (momentum, then per-atom dual maps)."""
        return ModularOptimizer(
            self,
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            process_group=process_group,
        )

    @torch.no_grad()
    def dualize(
        self, grads: Sequence[Tensor | None] | None = None, target_norm: float = 1.0
    ) -> list[Tensor]:
        """Dual of each gradient (default: each weight's .grad) for total target `target_norm`."""
        entries = list(self.atom_entries())
        if grads is None:
            grads = [e.module.weight.grad for e in entries]
        if len(grads) != len(entries):
            raise ValueError(f"dualize got {len(grads)} tensors for {len(entries)} atoms")

        result: dict[int, Tensor] = {}
        live: list[int] = []
        live_grads: list[Tensor] = []
        for i, (entry, g) in enumerate(zip(entries, grads, strict=True)):
            if g is None or entry.target * target_norm == 0:
                # A missing gradient is a zero gradient; a target-0 atom is never updated.
                like = entry.module.weight if g is None else g
                result[i] = torch.zeros(like.shape, dtype=update_dtype(like), device=like.device)
            else:
                live.append(i)
                live_grads.append(g)
        kinds = [entries[i].kind for i in live]
        targets = [entries[i].target * target_norm for i in live]
        result.update(zip(live, dualize_tensors(kinds, live_grads, targets), strict=True))
        return [result[i] for i in range(len(entries))]

    @torch.no_grad()
    def project(self) -> None:
        """Map every weight, in place, to its atom's init set (e.g. orth(W)·√(out/in))."""
        entries = list(self.atom_entries())
        weights = [e.module.weight for e in entries]
        for (kind, *_), idx in bucket_indices([e.kind for e in entries], weights).items():
            projected = ATOM_CLASSES[kind].project(torch.stack([weights[i] for i in idx]))
            for i, w in zip(idx, projected, strict=True):
                weights[i].copy_(w)

    @torch.no_grad()
    def modular_norm(self, tensors: Sequence[Tensor] | None = None) -> float:
        """max over atoms with target > 0 of atom_norm(w) / target (default: the weights)."""
        # The modular norm's recursive max has, for each atom, the coefficient 1/target_norm
        # at T = 1 (both come from the same mass/sensitivity recursion), so it flattens to this.
        entries = list(self.atom_entries())
        if tensors is None:
            tensors = [e.module.weight for e in entries]
        if len(tensors) != len(entries):
            raise ValueError(f"modular_norm got {len(tensors)} tensors for {len(entries)} atoms")
        live = [i for i, e in enumerate(entries) if e.target > 0]
        kinds = [entries[i].kind for i in live]
        best = 0.0
        for (kind, *_), idx in bucket_indices(kinds, [tensors[i] for i in live]).items():
            rows = [live[j] for j in idx]
            norms = ATOM_CLASSES[kind].norm(torch.stack([tensors[i] for i in rows]))
            targets = torch.tensor([entries[i].target for i in rows], dtype=torch.float64)
            best = max(best, float((norms.double().cpu() / targets).max()))
        return best
