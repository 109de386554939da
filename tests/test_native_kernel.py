"""The native deformable-attention kernel for OpenVINO: it computes what the network computes,
the parser uses it when it can be built, and every way it can fail leaves a working OpenVINO.

The golden parity tests (test_parity.py) run the OpenVINO parser with this kernel (the tiny
model: 4 heads of 8 channels, the kernel's general path); the full model's shape (8 heads of
32 channels, its register path) is checked against the PyTorch form here.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ov = pytest.importorskip("openvino")

from desktop.engine import HumanParser, native_kernel  # noqa: E402
from desktop.engine import openvino_runtime as ovr  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def _kernel_or_skip() -> native_kernel.Kernel:
    kernel, why = native_kernel.find(build=True)
    if kernel is None:
        pytest.skip(f"the native kernel cannot be built here: {why}")
    return kernel


class _Attention(torch.nn.Module):
    def forward(self, value, offsets, weights, ref, shapes):
        return torch.ops.m2fp.ms_deform_attn(value, offsets, weights, ref, shapes)


def _inputs(level_hw, heads, head_dim, points, batch, spread, seed, shape_dtype):
    g = torch.Generator().manual_seed(seed)
    levels = len(level_hw)
    tokens = sum(h * w for h, w in level_hw)
    value = torch.randn(batch, tokens, heads, head_dim, generator=g)
    # Offsets of a few pixels, and some far outside every level (zero padding must hold).
    offsets = torch.randn(batch, tokens, heads, levels * points * 2, generator=g) * spread
    offsets[..., ::7] *= 40
    weights = torch.softmax(torch.randn(batch, tokens, heads, levels * points, generator=g), -1)
    refs = []
    for h, w in level_hw:
        ys, xs = (torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w
        refs.append(torch.stack((xs[None].expand(h, -1), ys[:, None].expand(-1, w)), -1).reshape(-1, 2))
    ref = torch.cat(refs)[None]
    return value, offsets, weights, ref, torch.tensor(level_hw, dtype=shape_dtype)


@pytest.mark.parametrize(
    ("level_hw", "heads", "head_dim", "points", "batch", "shape_dtype"),
    [
        ([(20, 36), (10, 18), (5, 9)], 8, 32, 4, 1, torch.int64),  # the full model's layout
        ([(12, 8), (6, 4), (3, 2)], 4, 8, 4, 2, torch.int32),  # the tiny model's, two images
        ([(7, 11), (4, 6)], 3, 5, 2, 1, torch.int64),  # odd sizes everywhere
    ],
)
def test_kernel_computes_the_networks_sampling(level_hw, heads, head_dim, points, batch, shape_dtype):
    kernel = _kernel_or_skip()
    args = _inputs(level_hw, heads, head_dim, points, batch, spread=3.0, seed=len(level_hw) + heads,
                   shape_dtype=shape_dtype)
    expected = _Attention()(*args)  # the op's PyTorch body: the network's own embedding-bag form
    core = ov.Core()
    core.add_extension(str(kernel.path))
    model = ov.convert_model(_Attention(), example_input=args, extension=str(kernel.path))
    assert "MSDeformAttn" in {op.get_type_name() for op in model.get_ops()}
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2})
    got = torch.from_numpy(np.array(compiled([a.numpy() for a in args])[0]))
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) < 1e-4 * max(1.0, float(expected.abs().max()))


def test_parser_uses_the_kernel_and_agrees_with_the_stock_operations(tiny_model_dir, golden_images, tmp_path,
                                                                     monkeypatch):
    _kernel_or_skip()
    native = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert native.info["openvino_kernel"] == "native deformable attention"
    ops = {op.get_type_name() for op in native.runtime._model.get_ops()}
    assert "MSDeformAttn" in ops and "EmbeddingBagOffsetsSum" not in ops

    monkeypatch.setenv(native_kernel.DISABLE_ENV_VAR, "0")
    monkeypatch.setenv(ovr.CACHE_ENV_VAR, str(tmp_path / "cache"))
    stock = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert stock.info["openvino_kernel"] == f"stock operations (turned off by {native_kernel.DISABLE_ENV_VAR}=0)"
    assert "MSDeformAttn" not in {op.get_type_name() for op in stock.runtime._model.get_ops()}

    x = torch.randn((1, 3, 160, 224), generator=torch.Generator().manual_seed(3))
    for a, b in zip(native.runtime.infer(x), stock.runtime.infer(x), strict=True):
        assert float(np.abs(a - b).max()) < 1e-3 * max(1.0, float(np.abs(b).max()))
    rgb = np.asarray(Image.open(golden_images["astronaut"]).convert("RGB"))
    np.testing.assert_array_equal(native.parse(rgb).labels, stock.parse(rgb).labels)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_without_a_compiler_openvino_runs_the_stock_operations(tiny_model_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(native_kernel.DIR_ENV_VAR, str(tmp_path / "native"))
    monkeypatch.setenv(ovr.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    ovr._log_once.cache_clear()
    with caplog.at_level(logging.WARNING):
        parser = HumanParser.load(tiny_model_dir, runtime="auto")
    assert parser.runtime.name == "openvino"
    assert parser.info["openvino_kernel"].startswith("stock operations (no C++ compiler found")
    (message,) = _warnings(caplog)  # one line, which says what it costs and what would help
    assert "without the native deformable-attention kernel" in message and "install g++" in message
    assert "slower" in message

    # The next start opens the cached conversion directly (no PyTorch network, no new attempt).
    again = HumanParser.load(tiny_model_dir, runtime="auto")
    assert again.runtime.name == "openvino" and again.runtime.from_cache


def _fake_compiler(tmp_path, exit_code: int):
    """A 'compiler' that counts its calls and fails like a broken toolchain."""
    calls = tmp_path / "calls"
    script = tmp_path / "fake-c++"
    script.write_text(f"#!/bin/sh\necho x >> '{calls}'\necho 'fatal error: simulated' >&2\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, calls


@pytest.mark.skipif(os.name == "nt", reason="a shell script stands in for the compiler")
def test_a_failed_build_is_remembered_not_retried_at_every_start(tmp_path, monkeypatch):
    monkeypatch.setenv(native_kernel.DIR_ENV_VAR, str(tmp_path / "native"))
    script, calls = _fake_compiler(tmp_path, exit_code=1)
    monkeypatch.setenv("CXX", str(script))
    kernel, why = native_kernel.find(build=False)
    assert kernel is None and why == native_kernel.NOT_BUILT  # a build would be tried
    kernel, why = native_kernel.find(build=True)
    assert kernel is None and "the compiler failed: fatal error: simulated" in why
    assert native_kernel.find(build=True) == (None, why)
    assert calls.read_text().count("x") == 1
    # No half-written library is left behind.
    assert not [p for p in (tmp_path / "native").rglob("*") if p.suffix in (".so", ".tmp", ".dylib")]


def test_a_kernel_that_fails_is_marked_and_openvino_runs_without_it(tiny_model_dir, tmp_path, monkeypatch, caplog):
    kernel = _kernel_or_skip()
    native_dir = tmp_path / "native"
    # A private copy of the session's build, so marking it broken does not touch the others.
    target = native_dir / kernel.path.parent.name / kernel.path.name
    target.parent.mkdir(parents=True)
    target.write_bytes(kernel.path.read_bytes())
    monkeypatch.setenv(native_kernel.DIR_ENV_VAR, str(native_dir))
    monkeypatch.setenv(ovr.CACHE_ENV_VAR, str(tmp_path / "cache"))
    real_convert = ovr.convert

    def convert_fails_with_the_kernel(net, kernel=None):
        if kernel is not None:
            raise RuntimeError("simulated kernel failure")
        return real_convert(net)

    monkeypatch.setattr(ovr, "convert", convert_fails_with_the_kernel)
    with caplog.at_level(logging.WARNING):
        parser = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert parser.runtime.name == "openvino"
    assert parser.info["openvino_kernel"].startswith("stock operations (it failed here: simulated kernel failure")
    (message,) = _warnings(caplog)
    assert "simulated kernel failure" in message and "runs without it" in message

    found, why = native_kernel.find(build=True, context=ovr._network_source_digest())
    assert found is None and "failed before" in why and "simulated kernel failure" in why
    # Held against this kernel with this code only: another version of the app tries it again.
    assert native_kernel.find(build=True, context="the next version")[0] is not None
    caplog.clear()
    again = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert again.runtime.from_cache and again.info["openvino_kernel"].startswith("stock operations")


def test_tracing_the_native_op_needs_no_compiler_stack():
    """The packaged app leaves out torch._inductor and torch._dynamo (build_exe.spec); tracing
    the network's native op for the conversion must work without them."""
    code = textwrap.dedent('''
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[:2] in (["torch", "_inductor"], ["torch", "_dynamo"]):
                    raise ImportError(f"No module named {name!r} (left out of the build)")
        sys.meta_path.insert(0, Block())
        import torch
        import desktop.engine.network.pixel_decoder  # registers m2fp::ms_deform_attn

        class Attention(torch.nn.Module):
            def forward(self, *args):
                return torch.ops.m2fp.ms_deform_attn(*args)

        args = (torch.randn(1, 10, 2, 4), torch.randn(1, 10, 2, 16), torch.rand(1, 10, 2, 8),
                torch.rand(1, 10, 2), torch.tensor([[2, 3], [2, 2]]))
        traced = torch.jit.trace(Attention(), args, check_trace=False)
        assert "m2fp::ms_deform_attn" in str(traced.graph), traced.graph
        print("traced")
    ''')
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "traced" in done.stdout, done.stderr[-2000:]


def test_the_openvino_form_is_only_for_tracing(tiny_model_dir):
    """The PyTorch runtime must never run the traced-for-OpenVINO form, even after a failed trace."""
    from desktop.engine.config import load_config
    from desktop.engine.network.pixel_decoder import EncoderLayer, MSDeformAttn, openvino_form
    from desktop.engine.parser import build_network

    net = build_network(load_config(tiny_model_dir))
    flags = lambda: {(type(m).__name__, getattr(m, "native_sampling", None), getattr(m, "clamp_ffn", None))  # noqa: E731
                     for m in net.modules() if isinstance(m, MSDeformAttn | EncoderLayer)}
    plain = flags()
    assert plain == {("MSDeformAttn", False, None), ("EncoderLayer", None, False)}
    with pytest.raises(RuntimeError), openvino_form(net, native_sampling=True):
        assert flags() == {("MSDeformAttn", True, None), ("EncoderLayer", None, True)}
        raise RuntimeError("trace failed")
    assert flags() == plain


def test_a_failure_is_told_on_one_short_line():
    long = RuntimeError("Couldn't get TorchScript module by tracing.\nException:\nNo module named 'x'\n" + "advice " * 100)
    text = ovr._brief(long)
    assert "\n" not in text and len(text) <= 300
    assert text.startswith("Couldn't get TorchScript module by tracing. Exception: No module named 'x'")
