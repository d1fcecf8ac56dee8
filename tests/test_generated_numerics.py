"""Numerical tests of generated modules, imported from disk as a user would import them.

Each forward is compared with a hand-written PyTorch model, written here from DESIGN.md and
Modula 2's definitions (``modula/compound.py``, ``modula/bond.py``), fed the same weights.
The optimizer side checks the contract of DESIGN.md: the ATOMS table equals
``modc explain --json``, parameters come in weight order, ``dualize(T)`` has modular norm T,
torch LR schedulers drive the optimizer, and a checkpoint resumes bit for bit on CPU.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from modc import explain  # noqa: E402
from modc.backend.pytorch import generate  # noqa: E402
from modc.pipeline import compile_source  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from regen_golden import golden_cases  # noqa: E402

ATOL = 1e-5


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The test networks are tiny: extra threads only spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(tmp_path: Path, source: str, name: str = "net") -> tuple[ModuleType, object]:
    """Compile ``source`` (text of a .mod file), write the module, import it from disk."""
    mod = tmp_path / f"{name}.mod"
    mod.write_text(source)
    return load_compiled(tmp_path, str(mod), name)


def load_compiled(tmp_path: Path, path: str, name: str) -> tuple[ModuleType, object]:
    """Compile the file ``path``; return the imported module and the program."""
    result = compile_source(path)
    assert result.ok, [d.render() for d in result.diagnostics]
    out = tmp_path / f"{name}.py"
    out.write_text(generate(result.program, output_name=out.name))
    spec = importlib.util.spec_from_file_location(f"gen_{name}_{id(tmp_path)}", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, result.program


# --------------------------------------------------------------------------- references


def rms_divide(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return x / x.pow(2).mean(dim=dims, keepdim=True).sqrt()


def mean_subtract(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return x - x.mean(dim=dims, keepdim=True)


def residual(x: torch.Tensor, branch: torch.Tensor, L: int) -> torch.Tensor:
    """``(1 - 1/L) * Identity + 1/L * branch``."""
    return (1 - 1 / L) * x + (1 / L) * branch


def rope(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Modula 2's Rope.rotate: pairs (x[i + d/2], x[i]) rotated by position · base^(-i/(d/2))."""
    T, d = x.shape[-2], x.shape[-1]
    half = d // 2
    inverse_frequencies = 1 / base ** (torch.arange(half) / half)
    freqs = torch.outer(torch.arange(T), inverse_frequencies)
    # Modula 2's get_cached returns (sin, cos) and rotate unpacks it as (cos, sin).
    cos, sin = torch.sin(freqs), torch.cos(freqs)
    x1, x2 = x[..., half:], x[..., :half]
    return torch.cat([cos * x1 + sin * x2, -sin * x1 + cos * x2], dim=-1)


def attention(h: torch.Tensor, w: Iterator[torch.Tensor], heads: int, scale: float
              ) -> torch.Tensor:
    """Modula 2's Attention: weights in weight order V, Q, K, then the output W."""
    Wv, Wq, Wk, Wo = (next(w) for _ in range(4))
    B, T, _ = h.shape

    def split(y: torch.Tensor) -> torch.Tensor:
        return y.reshape(B, T, heads, -1).transpose(1, 2)  # [B, heads, T, d_head]

    v, q, k = split(h @ Wv.T), split(h @ Wq.T), split(h @ Wk.T)
    q, k = rope(q), rope(k)
    scores = q @ k.transpose(-1, -2) / q.shape[-1]  # the 1/d of the golden rules
    causal = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)
    probs = torch.softmax(scale * scores.masked_fill(causal, float("-inf")), dim=-1)
    out = (probs @ v) / 3
    return out.transpose(1, 2).reshape(B, T, -1) @ Wo.T


def ref_gpt(tokens: torch.Tensor, weights: list[torch.Tensor], heads: int, blocks: int,
            attention_scale: float = 1.0, final_scale: float = 1.0) -> torch.Tensor:
    """Modula 2's GPT: Embed, blocks of attention and MLP residuals (L = 2·blocks), readout."""
    w = iter(weights)
    h = next(w)[tokens]
    L = 2 * blocks
    for _ in range(blocks):
        h = residual(h, attention(h, w, heads, attention_scale), L)
        W1, W2 = next(w), next(w)
        mlp = (F.gelu(h @ W1.T, approximate="tanh") / 1.1289) @ W2.T
        h = residual(h, mlp, L)
    out = final_scale * (h @ next(w).T)
    assert next(w, None) is None
    return out


def ref_mlp(x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    h = x @ weights[0].T
    for W in weights[1:]:
        h = torch.relu(h) @ W.T
    return h


def ref_resmlp(x: torch.Tensor, weights: list[torch.Tensor], blocks: int, depth: int
               ) -> torch.Tensor:
    w = iter(weights)
    h = x.flatten(1) @ next(w).T
    for _ in range(blocks):
        r = h
        for _ in range(depth):
            r = mean_subtract(torch.abs(rms_divide(r, (-1,)) @ next(w).T), (-1,))
        h = residual(h, r, blocks)
    return h @ next(w).T


def ref_rescnn(x: torch.Tensor, weights: list[torch.Tensor], blocks: int, depth: int
               ) -> torch.Tensor:
    w = iter(weights)
    chw = (-3, -2, -1)
    h = F.conv2d(x, next(w), padding=1)
    for _ in range(blocks):
        r = h
        for _ in range(depth):
            r = mean_subtract(torch.abs(F.conv2d(rms_divide(r, chw), next(w), padding=1)), chw)
        h = residual(h, r, blocks)
    return h.mean(dim=(-2, -1)) @ next(w).T


# --------------------------------------------------------------------------- forward


GPT_CASES = [
    ("GPT(50, 2, 32, 16, 16, 3)", {}),
    ("GPT(50, 4, 32, 8, 4, 2, blocks_mass=2, attention_scale=2, final_scale=0.5)",
     {"attention_scale": 2.0, "final_scale": 0.5}),
]


@pytest.mark.parametrize(("call", "scales"), GPT_CASES, ids=["default", "scaled"])
def test_gpt_matches_hand_written(tmp_path: Path, call: str, scales: dict) -> None:
    module, _ = build(tmp_path, f"net GPT(x: int[16]) = {call}\n")
    torch.manual_seed(0)
    model = module.GPT()
    tokens = torch.randint(0, 50, (3, 16))
    heads, blocks = (2, 3) if not scales else (4, 2)
    expected = ref_gpt(tokens, list(model.parameters()), heads, blocks, **scales)
    torch.testing.assert_close(model(tokens), expected, atol=ATOL, rtol=0)


def test_mlp_matches_hand_written(tmp_path: Path) -> None:
    module, _ = build(tmp_path, "net M(x: [64]) = MLP(10, 64, 48, 4)\n")
    torch.manual_seed(1)
    model = module.M()
    x = torch.randn(5, 64)
    torch.testing.assert_close(model(x), ref_mlp(x, list(model.parameters())), atol=ATOL,
                               rtol=0)


def test_resmlp_matches_hand_written(tmp_path: Path) -> None:
    module, _ = build(tmp_path, "net R(x: [64]) = ResMLP(32, 3, 2, 64, 10)\n")
    torch.manual_seed(2)
    model = module.R()
    x = torch.randn(5, 64)
    expected = ref_resmlp(x, list(model.parameters()), blocks=3, depth=2)
    torch.testing.assert_close(model(x), expected, atol=ATOL, rtol=0)


def test_rescnn_matches_hand_written(tmp_path: Path) -> None:
    module, _ = build(tmp_path, "net C(x: [1, 8, 8]) = ResCNN(8, 2, 2, 1, 10)\n")
    torch.manual_seed(3)
    model = module.C()
    x = torch.randn(4, 1, 8, 8)
    expected = ref_rescnn(x, list(model.parameters()), blocks=2, depth=2)
    torch.testing.assert_close(model(x), expected, atol=ATOL, rtol=0)


def test_tuple_nets_match_hand_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/golden/tuples.mod: nested tuples, tuple-valued '+', a repeat over a pair."""
    monkeypatch.chdir(ROOT)
    module, _ = load_compiled(tmp_path, "tests/golden/tuples.mod", "tuples")
    torch.manual_seed(12)
    x = torch.randn(3, 8)
    close = lambda a, b: torch.testing.assert_close(a, b, atol=ATOL, rtol=0)  # noqa: E731

    branches = module.Branches()
    W0, W1, W2 = branches.parameters()
    close(branches(x), (x @ W0.T + (torch.relu(x) @ W1.T + x) + 0.5 * x) @ W2.T)

    pair = module.Pair()
    Wa, Wb = pair.parameters()
    a, (b, c) = pair(x)
    close(a, x @ Wa.T)
    close(b, (F.gelu(x, approximate="tanh") / 1.1289) @ Wb.T)
    close(c, x.abs())

    tuple_sum = module.TupleSum()
    W0, W1 = tuple_sum.parameters()
    first, second = tuple_sum(x)
    close(first, x @ W0.T + x)
    close(second, torch.relu(x) + (x @ W1.T).abs())

    loop = module.PairLoop()
    W0, *copies = loop.parameters()
    u, v = x, x @ W0.T
    for W in copies:
        u, v = (u + v) @ W.T, u + v
    close(loop(x), u + v)


def test_nested_repeats_match_hand_written(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/golden/nested.mod: (2 * ((Conv2D @ ReLU) ** 2 * 0.5) ** 3) between scalars."""
    monkeypatch.chdir(ROOT)
    module, _ = load_compiled(tmp_path, "tests/golden/nested.mod", "nested")
    torch.manual_seed(13)
    model = module.Nested()
    x = torch.randn(2, 3, 8, 8)
    w = iter(model.parameters())
    h = F.conv2d(0.5 * x, next(w), padding=1)
    for _ in range(3):
        h = 0.5 * h
        for _ in range(2):
            h = F.conv2d(torch.relu(h), next(w), padding=1)
    expected = (2 * h).mean(dim=(-2, -1)) @ next(w).T
    torch.testing.assert_close(model(x), expected, atol=ATOL, rtol=0)

    strided = module.Strided()
    Wc, Wl = strided.parameters()
    y = torch.randn(2, 1, 9, 9)
    expected = F.conv2d(y, Wc, stride=3).flatten(1) @ Wl.T
    torch.testing.assert_close(strided(y), expected, atol=ATOL, rtol=0)


def test_init_follows_the_global_rng_and_dtype(tmp_path: Path) -> None:
    module, _ = build(tmp_path, "net GPT(x: int[8]) = GPT(20, 2, 16, 8, 8, 2)\n")
    torch.manual_seed(4)
    a = module.GPT()
    torch.manual_seed(4)
    b = module.GPT(dtype=torch.float64)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert q.dtype == torch.float64
        torch.testing.assert_close(p.double(), q, atol=1e-7, rtol=0)


# --------------------------------------------------------------------------- tables


@pytest.mark.parametrize(("source", "golden"), [
    pytest.param(s, g, id=Path(s).stem) for s, g in golden_cases()])
def test_atoms_table_is_explain_json_and_weight_order(tmp_path: Path, source: str, golden: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    module, program = load_compiled(tmp_path, source, Path(source).stem)
    nets = explain.explain_json(program)["nets"]
    assert list(module.ATOMS) == [net["name"] for net in nets]
    for net, class_name in zip(nets, module.__all__, strict=False):
        assert module.ATOMS[net["name"]] == net["atoms"]  # bit for bit
        cls = getattr(module, class_name)
        assert cls.NAME == net["name"] and cls.atom_table() == net["atoms"]
        model = cls()
        params = list(model.parameters())
        entries = list(model.atom_entries())
        assert [id(p) for p in params] == [id(e.module.weight) for e in entries]
        assert [n for n, _ in model.named_parameters()] == \
            [f"{row['name']}.weight" for row in net["atoms"]]
        assert [e.target for e in entries] == [row["target_norm"] for row in net["atoms"]]


# --------------------------------------------------------------------------- optimizer


GPT_SMALL = "net GPT(x: int[8]) = GPT(20, 2, 16, 8, 8, 2)\n"


def random_grads(model: torch.nn.Module, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=gen) for p in model.parameters()]


@pytest.mark.parametrize("target", [1.0, 0.1, 3.0])
def test_dualize_has_the_requested_modular_norm(tmp_path: Path, target: float) -> None:
    module, _ = build(tmp_path, GPT_SMALL)
    torch.manual_seed(5)
    model = module.GPT()
    updates = model.dualize(random_grads(model, 6), target_norm=target)
    assert [u.shape for u in updates] == [p.shape for p in model.parameters()]
    # Newton–Schulz approximates the polar factor: a few percent at most.
    assert model.modular_norm(updates) == pytest.approx(target, rel=0.05)


def test_optimizer_step_is_lr_times_dual_and_follows_the_scheduler(tmp_path: Path) -> None:
    module, _ = build(tmp_path, GPT_SMALL)
    torch.manual_seed(7)
    model = module.GPT()
    opt = model.optimizer(lr=0.2, momentum=0.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for step, lr in enumerate((0.2, 0.1, 0.05)):
        assert opt.param_groups[0]["lr"] == pytest.approx(lr)
        grads = random_grads(model, 10 + step)
        before = [p.detach().clone() for p in model.parameters()]
        expected = model.dualize(grads)
        for p, g in zip(model.parameters(), grads, strict=True):
            p.grad = g
        opt.step()
        sched.step()
        for p, w, d in zip(model.parameters(), before, expected, strict=True):
            torch.testing.assert_close(p.detach(), w - lr * d, atol=1e-6, rtol=0)


def _train(model: torch.nn.Module, opt, sched, batches: list[torch.Tensor]) -> None:
    for tokens in batches:
        opt.zero_grad()
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        loss.backward()
        opt.step()
        sched.step()


def test_checkpoint_resume_is_bit_exact(tmp_path: Path) -> None:
    module, _ = build(tmp_path, "net GPT(x: int[7]) = GPT(20, 2, 16, 8, 8, 2)\n")
    gen = torch.Generator().manual_seed(8)
    batches = [torch.randint(0, 20, (4, 8), generator=gen) for _ in range(6)]

    def fresh(seed: int):
        torch.manual_seed(seed)
        model = module.GPT()
        opt = model.optimizer(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
        return model, opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)

    model, opt, sched = fresh(9)
    _train(model, opt, sched, batches[:3])
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict()}, buffer)
    _train(model, opt, sched, batches[3:])

    resumed, opt2, sched2 = fresh(10)
    buffer.seek(0)
    state = torch.load(buffer)
    resumed.load_state_dict(state["model"])
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    _train(resumed, opt2, sched2, batches[3:])

    for (name, p), q in zip(model.named_parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]
    for p, q in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(opt.state[p]["momentum_buffer"], opt2.state[q]["momentum_buffer"])


def test_project_keeps_the_init_set(tmp_path: Path) -> None:
    module, _ = build(tmp_path, GPT_SMALL)
    torch.manual_seed(11)
    model = module.GPT()
    start = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    model.project()
    for name, p in model.state_dict().items():
        # Orthogonal and row-normalized inits are fixed points of project, up to Newton–Schulz.
        assert torch.allclose(p, start[name], atol=0.05), name
    assert math.isfinite(model.modular_norm())
