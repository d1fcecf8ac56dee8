"""Atoms: the modules with weights, with their init, projection, dual map and norm.

Each atom is a `torch.nn.Module` with one parameter `weight`. The maps the optimizer uses are
class-level and batched: they take a stack `[B, *weight_shape]` of same-shape tensors, so one
Newton–Schulz chain serves every atom of a shape (Modula's `project`, `dualize` and the atom
norms of "Modular duality in deep learning", vectorized across layers).

With these definitions `norm(dual(G, t)) == t` for every atom, up to the Newton–Schulz error
for Linear and Conv2D (exactly for Embed): the dual map returns an update of norm t that is
steepest under the atom's norm.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .newton_schulz import orthogonalize

# Rows of an Embed gradient with norm below this are scaled by 1/ROW_EPS instead of their own
# norm: zero rows stay exactly zero and tiny rows give tiny updates, never NaN or inf. It sits
# far above fp32 underflow (squares of entries stay normal numbers for any realistic dim) and
# far below the row norms of real gradients, so ordinary rows are normalized exactly.
ROW_EPS = 1e-12


def _as_targets(targets: Tensor | list[float] | tuple[float, ...], like: Tensor) -> Tensor:
    """Targets as a 1-D tensor on `like`'s device in `like`'s dtype."""
    return torch.as_tensor(targets, dtype=like.dtype, device=like.device).reshape(-1)


def update_dtype(t: Tensor) -> torch.dtype:
    """Dual maps return fp32 (fp64 for fp64 input): updates are accumulated in full precision."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def _orthogonal_(weight: Tensor, gain: float) -> None:
    """Fill a 2-D `weight` with a random orthogonal matrix times `gain`, from the global RNG."""
    # torch's QR has no bf16/fp16 kernels, so draw in fp32 on the same device and copy.
    scratch = torch.empty(weight.shape, dtype=torch.float32, device=weight.device)
    nn.init.orthogonal_(scratch, gain=gain)
    weight.copy_(scratch)


class Atom(nn.Module):
    """Base of the atoms: one parameter `weight` and class-level batched maps."""

    KIND: ClassVar[str] = ""
    DUAL_MAP: ClassVar[str] = ""
    weight: nn.Parameter

    @classmethod
    def project(cls, W: Tensor) -> Tensor:
        """Map a stack of weights `[B, *shape]` to the atom's init set."""
        raise NotImplementedError(f"{cls.__name__} does not define project")

    @classmethod
    def dual(cls, G: Tensor, targets: Tensor | list[float] | tuple[float, ...]) -> Tensor:
        """Dualize a stack of gradients `[B, *shape]` to updates of atom norm `targets[B]`."""
        raise NotImplementedError(f"{cls.__name__} does not define dual")

    @classmethod
    def norm(cls, W: Tensor) -> Tensor:
        """Atom norm of each tensor in a stack `[B, *shape]`, as a `[B]` tensor."""
        raise NotImplementedError(f"{cls.__name__} does not define norm")


class Linear(Atom):
    """y = W x with W of shape [fan_out, fan_in], in the RMS→RMS operator norm."""

    KIND = "Linear"
    DUAL_MAP = "orthogonalize"

    def __init__(
        self,
        fan_out: int,
        fan_in: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.fan_out = fan_out
        self.fan_in = fan_in
        self.weight = nn.Parameter(torch.empty(fan_out, fan_in, device=device, dtype=dtype))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Orthogonal init scaled by √(out/in): every singular value is √(out/in), RMS norm 1."""
        _orthogonal_(self.weight, math.sqrt(self.fan_out / self.fan_in))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the linear map to the last dimension of x."""
        return F.linear(x, self.weight)

    def extra_repr(self) -> str:
        return f"fan_out={self.fan_out}, fan_in={self.fan_in}"

    @classmethod
    def project(cls, W: Tensor) -> Tensor:
        """orth(W) · √(out/in) per matrix."""
        out, inp = W.shape[-2], W.shape[-1]
        return orthogonalize(W) * math.sqrt(out / inp)

    @classmethod
    def dual(cls, G: Tensor, targets: Tensor | list[float] | tuple[float, ...]) -> Tensor:
        """t · √(out/in) · orth(G) per matrix."""
        out, inp = G.shape[-2], G.shape[-1]
        O = orthogonalize(G)
        scale = _as_targets(targets, O) * math.sqrt(out / inp)
        return O * scale[:, None, None]

    @classmethod
    def norm(cls, W: Tensor) -> Tensor:
        """√(in/out) · σmax(W) per matrix (an SVD: for diagnostics, not the training path)."""
        out, inp = W.shape[-2], W.shape[-1]
        sigma: Tensor = torch.linalg.matrix_norm(W.to(update_dtype(W)), ord=2)
        return sigma * math.sqrt(inp / out)


class Embed(Atom):
    """y = W[x] with W of shape [vocab, dim], in the max-over-rows RMS norm."""

    KIND = "Embed"
    DUAL_MAP = "row_normalize"

    def __init__(
        self,
        dim: int,
        vocab: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.vocab = vocab
        self.weight = nn.Parameter(torch.empty(vocab, dim, device=device, dtype=dtype))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Gaussian rows rescaled to norm √dim, so every embedding vector has RMS 1."""
        scratch = torch.randn(self.weight.shape, dtype=torch.float32, device=self.weight.device)
        self.weight.copy_(self.project(scratch[None])[0])

    def forward(self, x: Tensor) -> Tensor:
        """Look up the rows of the integer ids x."""
        return F.embedding(x, self.weight)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, vocab={self.vocab}"

    @staticmethod
    def _unit_rows(G: Tensor) -> Tensor:
        """Each row divided by its norm; rows below ROW_EPS shrink to zero instead."""
        G = G.to(update_dtype(G))
        norms: Tensor = torch.linalg.vector_norm(G, dim=-1, keepdim=True)
        return G / norms.clamp_min(ROW_EPS)

    @classmethod
    def project(cls, W: Tensor) -> Tensor:
        """Rows rescaled to norm √dim (zero rows stay zero)."""
        return cls._unit_rows(W) * math.sqrt(W.shape[-1])

    @classmethod
    def dual(cls, G: Tensor, targets: Tensor | list[float] | tuple[float, ...]) -> Tensor:
        """t · √dim · G / ‖row of G‖, zero rows staying exactly zero."""
        U = cls._unit_rows(G)
        scale = _as_targets(targets, U) * math.sqrt(G.shape[-1])
        return U * scale[:, None, None]

    @classmethod
    def norm(cls, W: Tensor) -> Tensor:
        """Largest row norm divided by √dim: the largest RMS of an embedding vector."""
        rows: Tensor = torch.linalg.vector_norm(W.to(update_dtype(W)), dim=-1)
        return rows.amax(dim=-1) / math.sqrt(W.shape[-1])


class Conv2D(Atom):
    """2-D convolution with weight [out, in, k, k]; the norm is k² times the worst tap's."""

    KIND = "Conv2D"
    DUAL_MAP = "orthogonalize_per_tap"

    def __init__(
        self,
        fan_out: int,
        fan_in: int,
        kernel: int = 3,
        stride: int = 1,
        padding: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.fan_out = fan_out
        self.fan_in = fan_in
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        shape = (fan_out, fan_in, kernel, kernel)
        self.weight = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Per kernel tap an orthogonal [out, in] matrix · √(out/in) / k²."""
        # The convolution is a sum over the k² taps of (shift ∘ W[:, :, i, j]) and a shift has
        # norm at most 1, so k² taps of norm √(out/in)/k² bound the whole map by √(out/in)
        # (the triangle inequality behind the k² in Conv2D's norm).
        k = self.kernel
        gain = math.sqrt(self.fan_out / self.fan_in) / k**2
        for i in range(k):
            for j in range(k):
                _orthogonal_(self.weight[:, :, i, j], gain)

    def forward(self, x: Tensor) -> Tensor:
        """Convolve x [..., in, H, W] with stride and zero padding."""
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"fan_out={self.fan_out}, fan_in={self.fan_in}, kernel={self.kernel}, "
            f"stride={self.stride}, padding={self.padding}"
        )

    @staticmethod
    def _taps(W: Tensor) -> Tensor:
        """[B, out, in, k, k] -> [B, k, k, out, in]: one matrix per kernel position."""
        return W.permute(0, 3, 4, 1, 2)

    @staticmethod
    def _untaps(T: Tensor) -> Tensor:
        """Inverse of _taps, contiguous."""
        return T.permute(0, 3, 4, 1, 2).contiguous()

    @classmethod
    def project(cls, W: Tensor) -> Tensor:
        """Per tap orth(W[:, :, i, j]) · √(out/in) / k²."""
        out, inp, k = W.shape[-4], W.shape[-3], W.shape[-1]
        O = orthogonalize(cls._taps(W))
        return cls._untaps(O * (math.sqrt(out / inp) / k**2))

    @classmethod
    def dual(cls, G: Tensor, targets: Tensor | list[float] | tuple[float, ...]) -> Tensor:
        """Per tap t · √(out/in) / k² · orth(G[:, :, i, j]), all taps in one NS call."""
        out, inp, k = G.shape[-4], G.shape[-3], G.shape[-1]
        O = orthogonalize(cls._taps(G))
        scale = _as_targets(targets, O) * (math.sqrt(out / inp) / k**2)
        return cls._untaps(O * scale[:, None, None, None, None])

    @classmethod
    def norm(cls, W: Tensor) -> Tensor:
        """k² · √(in/out) · max over taps of σmax(W[:, :, i, j])."""
        out, inp, k = W.shape[-4], W.shape[-3], W.shape[-1]
        sigma: Tensor = torch.linalg.matrix_norm(cls._taps(W.to(update_dtype(W))), ord=2)
        return sigma.amax(dim=(-2, -1)) * (k**2 * math.sqrt(inp / out))


ATOM_CLASSES: dict[str, type[Atom]] = {cls.KIND: cls for cls in (Linear, Embed, Conv2D)}
