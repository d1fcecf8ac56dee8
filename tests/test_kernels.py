"""Tests of the fused bond chains (runtime/kernels/): the Triton path against the torch path.

Without a GPU the Triton path runs under the interpreter on CPU tensors. triton.jit reads
TRITON_INTERPRET when the kernel module is imported, so the ``interpreted`` fixture sets it
(and one intra-op thread, since the interpreter's numpy and torch's threads fight over two
cores) and then imports ``modc.runtime.kernels.triton_chain`` afresh; afterwards it removes
the module again, so the rest of the session loads the kernels as it would have. The
interpreter costs about 1.5 ms per program and per op, so the tensors hold a few rows.
Shapes have rows of lengths that are not powers of two, to exercise the masks.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")

from modc.backend.pytorch import generate  # noqa: E402
from modc.pipeline import compile_source  # noqa: E402
from modc.runtime import kernels  # noqa: E402
from modc.runtime.kernels import torch_path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KERNEL_MODULE = "modc.runtime.kernels.triton_chain"
Spec = tuple[tuple[object, ...], ...]

# Each op alone, with the per-example shape it runs on.
SINGLE_OPS: list[tuple[Spec, tuple[int, ...]]] = [
    ((("relu",),), (2, 3, 37)),
    ((("gelu",),), (2, 3, 37)),
    ((("abs",),), (2, 3, 37)),
    ((("mul", -0.7),), (2, 3, 37)),
    ((("mean_subtract", (-1,)),), (2, 3, 37)),
    ((("rms_divide", (-1,)),), (2, 3, 37)),
    ((("layer_norm", (-1,)),), (2, 3, 37)),
    ((("causal_mask",),), (2, 5, 5)),
    ((("softmax", 1.7),), (2, 3, 37)),
]
MIXED: list[tuple[Spec, tuple[int, ...]]] = [
    # every element-wise op, then every row-wise op but causal_mask
    ((("gelu",), ("mul", 0.5), ("layer_norm", (-1,)), ("abs",), ("relu",), ("softmax", 2.0)),
     (2, 3, 29)),
    # the residue of ResMLP and, over three trailing axes, of ResCNN
    ((("abs",), ("mean_subtract", (-1,))), (5, 24)),
    ((("abs",), ("mean_subtract", (-3, -2, -1))), (2, 3, 5, 7)),
    # rows of two axes, with rms_divide before an element-wise op
    ((("abs",), ("mean_subtract", (-2, -1)), ("rms_divide", (-2, -1)), ("relu",)), (3, 4, 9)),
    # attention: scaled scores, masked, then softmax
    ((("mul", 0.25), ("causal_mask",), ("softmax", 3.0)), (2, 6, 6)),
    # element-wise only: rows of 1024 elements of the flattened tensor, the last one partial
    ((("relu",), ("mul", -1.5), ("gelu",), ("abs",)), (2, 1300)),
]
ALL = SINGLE_OPS + MIXED


def spec_id(case: tuple[Spec, tuple[int, ...]]) -> str:
    return "-".join(str(op[0]) for op in case[0])


@pytest.fixture(scope="module")
def interpreted() -> Iterator[ModuleType]:
    """The kernel module as imported with TRITON_INTERPRET=1."""
    pytest.importorskip("triton")
    patch = pytest.MonkeyPatch()
    patch.setenv("TRITON_INTERPRET", "1")
    patch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    _forget_kernels()
    module = importlib.import_module(KERNEL_MODULE)
    assert module.INTERPRETED
    yield module
    patch.undo()
    torch.set_num_threads(threads)
    _forget_kernels()


def _forget_kernels() -> None:
    """Drop the kernel module, so that the next import reads TRITON_INTERPRET again."""
    sys.modules.pop(KERNEL_MODULE, None)
    if hasattr(kernels, "triton_chain"):
        delattr(kernels, "triton_chain")


def run(spec: Spec, x: torch.Tensor, dy: torch.Tensor, path: str,
        monkeypatch: pytest.MonkeyPatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Output and input gradient of the chain on ``path``, asserting that it ran there."""
    monkeypatch.setenv(kernels.ENV, path)
    leaf = x.detach().clone().requires_grad_()
    y = kernels.chain(leaf, spec)
    assert kernels.last_path == path
    (dx,) = torch.autograd.grad(y, leaf, dy)
    return y.detach(), dx


def inputs(shape: tuple[int, ...], dtype: torch.dtype = torch.float32, seed: int = 0
           ) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    dy = torch.randn(shape, generator=gen, dtype=torch.float64)
    return x.to(dtype), dy.to(dtype)


# --------------------------------------------------------------------------- both paths


@pytest.mark.interpreter
@pytest.mark.parametrize("case", ALL, ids=spec_id)
def test_triton_matches_torch_fp32(interpreted: ModuleType, case: tuple[Spec, tuple[int, ...]],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    spec, shape = case
    x, dy = inputs(shape)
    y_triton, dx_triton = run(spec, x, dy, "triton", monkeypatch)
    y_torch, dx_torch = run(spec, x, dy, "torch", monkeypatch)
    # -inf where causal_mask masks, in the same places; everything else within rounding.
    torch.testing.assert_close(y_triton, y_torch, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dx_triton, dx_torch, rtol=1e-5, atol=1e-5)


@pytest.mark.interpreter
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", MIXED[:1] + MIXED[4:], ids=spec_id)
def test_triton_half_precision_rounds_once(interpreted: ModuleType, dtype: torch.dtype,
                                           case: tuple[Spec, tuple[int, ...]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """fp16 and bf16 load, compute in fp32 and store: the fp32 result, rounded once.

    The interpreter computes bf16 arithmetic wrongly (triton#11584), but the kernels only
    convert bf16 to fp32 and back. It truncates fp32 to bf16 (measured: the stores equal
    the truncated fp32 results but for fp32 rounding noise), so bf16 is within one ulp
    here, where a GPU rounds to nearest.
    """
    spec, shape = case
    x, dy = inputs(shape, dtype, seed=1)
    y, dx = run(spec, x, dy, "triton", monkeypatch)
    assert y.dtype == dx.dtype == dtype
    y_ref, dx_ref = run(spec, x.float(), dy.float(), "torch", monkeypatch)
    rounding = 2.0 ** -11 if dtype == torch.float16 else 2.0 ** -7  # half an ulp; one ulp
    torch.testing.assert_close(y.float(), y_ref, rtol=rounding, atol=1e-6)
    torch.testing.assert_close(dx.float(), dx_ref, rtol=rounding, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in ALL if c[0] != (("causal_mask",),)], ids=spec_id)
def test_gradcheck_torch_path(case: tuple[Spec, tuple[int, ...]],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    spec, _ = case
    monkeypatch.setenv(kernels.ENV, "torch")
    x, _ = inputs((2, 3, 4, 5) if spec == MIXED[2][0] else (3, 6), torch.float64, seed=2)
    assert torch.autograd.gradcheck(lambda t: kernels.chain(t, spec), x.requires_grad_())


# Smaller shapes for gradcheck, which runs the chain many times.
GRADCHECK_TRITON = [(MIXED[0][0], (2, 7)), (MIXED[2][0], (1, 2, 2, 3)), (MIXED[3][0], (2, 7)),
                    (MIXED[4][0], (1, 5, 5))]


@pytest.mark.interpreter
@pytest.mark.parametrize("case", GRADCHECK_TRITON, ids=spec_id)
def test_gradcheck_triton_path(interpreted: ModuleType, case: tuple[Spec, tuple[int, ...]],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter runs float64, so the kernels' own backward passes gradcheck."""
    spec, shape = case
    monkeypatch.setenv(kernels.ENV, "triton")
    x, _ = inputs(shape, torch.float64, seed=3)
    assert torch.autograd.gradcheck(lambda t: kernels.chain(t, spec), x.requires_grad_(),
                                    fast_mode=True)
    assert kernels.last_path == "triton"


@pytest.mark.interpreter
def test_non_contiguous_input_and_gradient(interpreted: ModuleType,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    spec = (("gelu",), ("rms_divide", (-1,)))
    x, dy = inputs((19, 4))
    x, dy = x.t(), dy.t()  # rows of 19, strided
    torch.testing.assert_close(run(spec, x, dy, "triton", monkeypatch),
                               run(spec, x, dy, "torch", monkeypatch), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- dispatch


@pytest.mark.interpreter
def test_auto_takes_triton_under_the_interpreter(interpreted: ModuleType,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kernels.ENV, raising=False)
    x, _ = inputs((2, 24))
    kernels.chain(x, MIXED[1][0])
    assert kernels.last_path == "triton"
    monkeypatch.setenv(kernels.ENV, "torch")  # forces the plain path
    kernels.chain(x, MIXED[1][0])
    assert kernels.last_path == "torch"
    # Empty tensors and rows too long for one program take the torch path.
    monkeypatch.setenv(kernels.ENV, "auto")
    assert kernels.chain(x[:0], MIXED[1][0]).shape == (0, 24)
    assert kernels.last_path == "torch"
    kernels.chain(torch.zeros(1, kernels.MAX_ROW + 1), MIXED[1][0])
    assert kernels.last_path == "torch"
    monkeypatch.setenv(kernels.ENV, "triton")
    with pytest.raises(RuntimeError, match="exceed"):
        kernels.chain(torch.zeros(1, kernels.MAX_ROW + 1), MIXED[1][0])


def test_cpu_without_interpreter_takes_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv(kernels.ENV, raising=False)
    x, _ = inputs((2, 24))
    y = kernels.chain(x, MIXED[1][0])
    assert kernels.last_path == "torch"
    assert torch.equal(y, x.abs() - x.abs().mean(dim=-1, keepdim=True))
    monkeypatch.setenv(kernels.ENV, "triton")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1 is not set"):
        kernels.chain(x, MIXED[1][0])
    monkeypatch.setenv(kernels.ENV, "fast")
    with pytest.raises(ValueError, match="expected auto, torch or triton"):
        kernels.chain(x, MIXED[1][0])


def test_torch_path_is_the_bonds_bit_for_bit() -> None:
    from modc.runtime import bonds

    x, _ = inputs((3, 2, 10))
    spec = (("gelu",), ("mul", 3.0), ("layer_norm", (-1,)), ("softmax", 0.5))
    expected = bonds.softmax(bonds.layer_norm(bonds.gelu(x) * 3.0, (-1,)), 0.5)
    assert torch.equal(torch_path.chain(x, kernels.plan(spec).ops), expected)


@pytest.mark.parametrize(("spec", "message"), [
    ((), "non-empty"),
    ((("tanh",),), "unknown chain op"),
    ((("mul",),), "bad arguments"),
    ((("mul", True),), "bad arguments"),
    ((("softmax", float("inf")),), "bad arguments"),
    ((("relu", 1.0),), "bad arguments"),
    ((("mean_subtract", (-2,)),), "bad arguments"),  # not a trailing block
    ((("mean_subtract", -1),), "bad arguments"),
    ((("mean_subtract", (-1,)), ("rms_divide", (-2, -1))), "mixes rows"),
    ((("causal_mask",), ("layer_norm", (-2, -1))), "mixes rows"),
])
def test_bad_specs_are_refused(spec: Spec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kernels.plan(spec)


def test_plan_rows() -> None:
    x = torch.zeros(2, 3, 5, 7)
    assert kernels.plan((("abs",), ("relu",))).row_length(x) == 210  # all of it, < 1024
    assert kernels.plan((("abs",),)).row_length(torch.zeros(5000)) == kernels.ELEMENTWISE_ROW
    assert kernels.plan((("layer_norm", (-3, -2, -1)),)).row_length(x) == 105
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        kernels.plan((("causal_mask",), ("softmax", 1.0))).row_length(torch.zeros(4))


# --------------------------------------------------------------------------- generated code


NETS = {
    "gpt": "net G(x: int[6]) = GPT(20, 2, 16, 8, 8, 1)\n",
    "resmlp": "net R(x: [24]) = ResMLP(24, 2, 1, 24, 5)\n",
    "mixed": "net M(x: [3, 9]) = Linear(5, 9) @ (Abs @ LayerNorm(dim=(0, 1)) * 2 @ GELU) "
             "@ Linear(9, 9)\n",
}


def load_net(tmp_path: Path, name: str) -> type:
    source = tmp_path / f"{name}.mod"
    source.write_text(NETS[name])
    result = compile_source(str(source))
    assert result.ok and result.program is not None
    (net,) = result.program.nets
    assert net.chains, "the test net should have a fused chain"
    out = tmp_path / f"{name}.py"
    code = generate(result.program)
    assert "_k.chain(" in code
    out.write_text(code)
    spec = importlib.util.spec_from_file_location(f"kernels_{name}_{id(tmp_path)}", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, net.name)


@pytest.mark.interpreter
@pytest.mark.parametrize("name", sorted(NETS))
def test_generated_module_same_under_both_paths(interpreted: ModuleType, tmp_path: Path,
                                                name: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cls = load_net(tmp_path, name)
    torch.manual_seed(0)
    model = cls()
    x = torch.randint(0, 20, (2, 6)) if name == "gpt" else torch.randn(2, *{
        "resmlp": (24,), "mixed": (3, 9)}[name])
    results = {}
    for path in ("torch", "triton"):
        monkeypatch.setenv(kernels.ENV, path)
        model.zero_grad()
        out = model(x)
        assert kernels.last_path == path
        out.square().sum().backward()
        results[path] = (out.detach(), [p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(results["triton"], results["torch"], rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- processes


def python(script: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET",
                                                                 kernels.ENV)}
    environ.update(OMP_NUM_THREADS="1", **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT,
                          env=environ, capture_output=True, text=True, check=False)


def test_runtime_imports_no_triton() -> None:
    done = python("""
        import sys
        import torch
        import modc.runtime
        from modc.runtime import kernels
        x = torch.randn(3, 5)
        y = kernels.chain(x, (("relu",), ("mean_subtract", (-1,))))
        assert kernels.last_path == "torch", kernels.last_path
        assert "triton" not in sys.modules, "modc.runtime imported triton"
    """)
    assert done.returncode == 0, done.stderr


def test_kernels_compile_for_a_gpu() -> None:
    """Without a GPU, triton still compiles the kernels for one (sm_90) down to a cubin:
    the compiled mode accepts every op of the chain, in every dtype."""
    pytest.importorskip("triton")
    from triton.backends import backends

    if "nvidia" not in backends:
        pytest.skip("this triton has no NVIDIA backend")
    done = python("""
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from modc.runtime import kernels
        from modc.runtime.kernels import triton_chain as tc
        assert not tc.INTERPRETED
        spec = (("gelu",), ("mul", 0.5), ("layer_norm", (-1,)), ("abs",), ("relu",),
                ("causal_mask",), ("softmax", 2.0))
        codes, args = tc._encode(kernels.plan(spec).ops)
        for dtype in ("fp32", "bf16", "fp64"):
            for kernel, ptrs in ((tc._chain_forward_kernel, ("x_ptr", "y_ptr")),
                                 (tc._chain_backward_kernel, ("x_ptr", "dy_ptr", "dx_ptr"))):
                signature = {p: "*" + dtype for p in ptrs}
                signature.update(n_cols="i32", numel="i32", t_rows="i32", OPS="constexpr",
                                 ARGS="constexpr", BLOCK="constexpr", F64="constexpr")
                constexprs = {"OPS": codes, "ARGS": args, "BLOCK": 128, "F64": dtype == "fp64"}
                source = ASTSource(kernel, signature, constexprs=constexprs)
                compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32))
                assert compiled.asm["cubin"], (dtype, kernel)
    """, TRITON_DEFAULT_FP_FUSION="1")
    assert done.returncode == 0, done.stderr[-3000:]


# --------------------------------------------------------------------------- GPU


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The kernel module compiled for the GPU, during one test; the interpreter's after."""
    pytest.importorskip("triton")
    interpreting = os.environ.get("TRITON_INTERPRET") == "1"
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    module = sys.modules.get(KERNEL_MODULE)
    if module is not None and module.INTERPRETED:
        _forget_kernels()
    yield
    if interpreting:  # the `interpreted` fixture is active: let the next import see it
        _forget_kernels()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", ALL, ids=spec_id)
def test_gpu_triton_matches_torch(compiled: None, case: tuple[Spec, tuple[int, ...]],
                                  dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, shape = case
    x, dy = (t.cuda() for t in inputs((64, *shape[1:-1], shape[-1] * 11), dtype, seed=4))
    y, dx = run(spec, x, dy, "triton", monkeypatch)
    y_ref, dx_ref = run(spec, x.float(), dy.float(), "torch", monkeypatch)
    # GPU exp and division are within 2 ulp of fp32; bf16 output rounds once (half an ulp,
    # plus the fp32 noise).
    tol = 1e-5 if dtype == torch.float32 else 2.0 ** -8 + 1e-5
    torch.testing.assert_close(y.float(), y_ref, rtol=tol, atol=1e-5)
    torch.testing.assert_close(dx.float(), dx_ref, rtol=tol, atol=1e-5)


# --------------------------------------------------------------------------- limitations


@pytest.mark.interpreter
@pytest.mark.xfail(strict=True, raises=RuntimeError,
                   reason="docs/kernels.md, limitations: no double backward on the Triton path")
def test_double_backward_on_the_triton_path(interpreted: ModuleType,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernels.ENV, "triton")
    x, _ = inputs((2, 7), torch.float64)
    x.requires_grad_()
    y = kernels.chain(x, MIXED[1][0])
    assert kernels.last_path == "triton"  # an AssertionError would fail the xfail
    (g,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    torch.autograd.grad(g.sum(), x)
