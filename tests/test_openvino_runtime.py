"""The OpenVINO runtime: precision, per-size compilation, the conversion cache, and falling back to PyTorch.

Golden parity on this runtime (exact precision) is in test_parity.py, which runs every test
on both runtimes. Speed is measured by bench/bench_runtimes.py, not here.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image

ov = pytest.importorskip("openvino")

from desktop.engine import HumanParser, native_kernel  # noqa: E402
from desktop.engine import openvino_runtime as ovr  # noqa: E402

ATOL = 1e-3  # as the golden parity tests
# bfloat16 keeps 8 bits of mantissa. On the tiny model's three photos the fast semantic map agrees
# with exact on 97.4-97.8 % of pixels and instance scores move by at most 0.025 (measured); the
# bounds leave room for other CPUs' kernels while still failing on a wrong or garbage result.
FAST_PIXEL_AGREEMENT = 0.95
FAST_SCORE_TOL = 0.05

pytestmark = pytest.mark.slow


def _rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder of this test's own: the next load converts."""
    monkeypatch.setenv(ovr.CACHE_ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache" / "openvino"


def _compiled(parser: HumanParser) -> ov.CompiledModel:
    """The runtime's compiled model (compiled for a small input if no image was parsed yet)."""
    rt = parser.runtime
    if rt.compiled is None:
        rt.infer(torch.zeros((1, 3, *ovr.CHECK_HW)))
    return rt.compiled


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- precision and threads -------------------------------------------------------------------


def test_exact_runs_float32_on_the_cpu_with_the_parsers_threads(tiny_openvino_parser):
    rt = tiny_openvino_parser.runtime
    assert rt.name == "openvino" and rt.precision == "exact (f32)"
    compiled = _compiled(tiny_openvino_parser)
    # Set explicitly: on CPUs with bf16 OpenVINO's default would be bf16.
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert compiled.get_property("INFERENCE_NUM_THREADS") == int(tiny_openvino_parser.info["threads"])
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert list(compiled.get_property("EXECUTION_DEVICES")) == ["CPU"]
    info = tiny_openvino_parser.info
    assert info["runtime"] == "openvino" and info["precision"] == "exact (f32)" and info["openvino"]


def test_threads_follow_num_threads(tiny_model_dir):
    parser = HumanParser.load(tiny_model_dir, runtime="openvino", num_threads=1)
    assert _compiled(parser).get_property("INFERENCE_NUM_THREADS") == 1


def test_fast_reports_what_runs_and_agrees_with_exact(tiny_model_dir, tiny_openvino_parser, golden_images):
    fast = HumanParser.load(tiny_model_dir, runtime="openvino", precision="fast")
    bf16 = ovr.cpu_has_bf16()
    expected = ov.Type.bf16 if bf16 else ov.Type.f32
    assert _compiled(fast).get_property("INFERENCE_PRECISION_HINT") == expected
    assert fast.info["precision"] == ("fast (bf16)" if bf16 else "fast (f32: this CPU has no bf16)")

    for name, path in golden_images.items():
        rgb = _rgb(path)
        exact, quick = tiny_openvino_parser.parse(rgb), fast.parse(rgb)
        agreement = (exact.labels == quick.labels).mean()
        assert agreement >= FAST_PIXEL_AGREEMENT, f"{name}: fast semantic map agrees on {agreement:.4f} of pixels"
        assert len(quick.persons) == len(exact.persons), name
        for a, b in zip(exact.persons, quick.persons, strict=True):  # both sorted by score
            assert abs(a.score - b.score) <= FAST_SCORE_TOL, f"{name}: person {a.score:.4f} vs {b.score:.4f}"
        # Every part clear of the 0.1 keep-threshold has a same-class counterpart with a close score.
        for part in exact.parts:
            if part.score < 0.1 + FAST_SCORE_TOL:
                continue
            diffs = [abs(part.score - q.score) for q in quick.parts if q.label == part.label]
            assert diffs and min(diffs) <= FAST_SCORE_TOL, f"{name}: class {part.label} score {part.score:.4f}"


# -- input sizes ------------------------------------------------------------------------------


def test_one_converted_model_serves_every_size(tiny_openvino_parser, tiny_parser):
    """The converted model has a dynamic input; each padded size is compiled when it first
    comes, reused while it repeats, and agrees with PyTorch at every size."""
    rt = tiny_openvino_parser.runtime
    shape = rt._model.input(0).get_partial_shape()
    assert shape[0] == 1 and shape[1] == 3
    g = torch.Generator().manual_seed(1)
    # Portrait, landscape, square, and the largest (1333 px long side, padded): none equal to
    # the 192x256 trace input.
    for hw in [(640, 640), (640, 864), (992, 640), (640, 1344), (224, 160)]:
        x = torch.randn((1, 3, *hw), generator=g)
        logits, masks = rt.infer(x)
        assert rt.compiled_hw == hw and "compile" in rt.timings, hw
        assert rt.compiled.input(0).get_shape() == [1, 3, *hw]
        ref_logits, ref_masks = tiny_parser.runtime.infer(x)
        assert masks.shape == ref_masks.shape == (ref_logits.shape[0], hw[0] // 4, hw[1] // 4)
        np.testing.assert_allclose(logits, ref_logits, atol=ATOL, rtol=0, err_msg=str(hw))
        np.testing.assert_allclose(masks, ref_masks, atol=ATOL, rtol=0, err_msg=str(hw))
        again, _ = rt.infer(x)  # the same size again: no new compilation, the same answer
        assert rt.timings == {} and rt.compiled_hw == hw
        np.testing.assert_array_equal(again, logits)


def test_result_timings_say_when_a_size_was_compiled(tiny_model_dir, golden_images):
    parser = HumanParser.load(tiny_model_dir, runtime="openvino")
    rgb = _rgb(golden_images["astronaut"])
    first, second = parser.parse(rgb), parser.parse(rgb)
    assert 0 < first.timings["compile"] <= first.timings["forward"]
    assert "compile" not in second.timings
    other = parser.parse(_rgb(golden_images["grace_hopper"]))  # another padded size
    assert other.timings["compile"] > 0


# -- the cache ---------------------------------------------------------------------------------


def test_second_load_uses_the_cache(tiny_model_dir, fresh_cache, monkeypatch, golden_images):
    progress: list[tuple[str, float | None]] = []
    first = HumanParser.load(tiny_model_dir, runtime="openvino", progress=lambda t, f: progress.append((t, f)))
    assert first.runtime.name == "openvino" and not first.runtime.from_cache
    assert first.info["openvino_model"].startswith("converted in")
    assert any("Converting the model for OpenVINO" in text for text, _ in progress)
    fractions = [f for _, f in progress if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    entries = [p for p in fresh_cache.iterdir()]
    assert len(entries) == 1, entries  # no temporary folder left behind
    entry = entries[0]
    assert entry.name == ovr.cache_key(tiny_model_dir, native_kernel.find(build=False)[0])
    assert {"model.xml", "model.bin", "meta.json"} <= {p.name for p in entry.iterdir()}
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["verified"]["f32"] == ovr.cpu_identity(ov.Core())  # the self-check passed and is recorded

    def no_conversion(*args):
        raise AssertionError("the second load converted the model again")

    def no_network(*args):
        raise AssertionError("the second load built the PyTorch network")

    monkeypatch.setattr(ovr, "convert", no_conversion)
    monkeypatch.setattr(HumanParser, "_load_network", staticmethod(no_network))
    progress.clear()
    second = HumanParser.load(tiny_model_dir, runtime="openvino", progress=lambda t, f: progress.append((t, f)))
    assert second.runtime.name == "openvino" and second.runtime.from_cache
    assert second.info["openvino_model"] == f"cached in {entry}"
    assert not any("Converting" in text for text, _ in progress)
    rgb = _rgb(golden_images["astronaut"])
    np.testing.assert_array_equal(first.parse(rgb).labels, second.parse(rgb).labels)


def test_cache_key_covers_content_and_versions(tiny_model_dir, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    key = ovr.cache_key(tiny_model_dir)
    assert ovr.cache_key(copy) == key  # content, not the path

    state = torch.load(copy / "pytorch_model.pt", weights_only=True)
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = state["model"][name] + 1e-3
    torch.save(state, copy / "pytorch_model.pt")
    weights_changed = ovr.cache_key(copy)
    assert weights_changed != key

    text = (copy / "configuration.json").read_text(encoding="utf-8")
    (copy / "configuration.json").write_text(text.replace('"parsing_ins_score_thr": 0.3', '"parsing_ins_score_thr": 0.35'),
                                             encoding="utf-8")
    assert ovr.cache_key(copy) not in (key, weights_changed)

    # A model converted with one build of the native kernel is never run with another.
    with_kernel = ovr.cache_key(tiny_model_dir, native_kernel.Kernel(tmp_path / "k.so", "ab" * 32))
    other_kernel = ovr.cache_key(tiny_model_dir, native_kernel.Kernel(tmp_path / "k.so", "cd" * 32))
    assert len({key, with_kernel, other_kernel}) == 3

    monkeypatch.setattr(ov, "get_version", lambda: "2099.0.0-test")
    assert ovr.cache_key(tiny_model_dir) != key


def test_damaged_cache_is_converted_again(tiny_model_dir, fresh_cache, caplog):
    HumanParser.load(tiny_model_dir, runtime="openvino")
    (entry,) = fresh_cache.iterdir()
    (entry / "model.bin").write_bytes(b"\0" * 100)  # truncated weights
    with caplog.at_level(logging.WARNING):
        parser = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert parser.runtime.name == "openvino" and not parser.runtime.from_cache
    assert any("cannot be used" in m and "converting the model again" in m for m in _warnings(caplog))
    assert (entry / "model.bin").stat().st_size > 100


def test_unwritable_cache_still_runs_openvino(tiny_model_dir, tmp_path, monkeypatch, caplog):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "openvino").write_text("a file where the cache folder should be")
    monkeypatch.setenv(ovr.CACHE_ENV_VAR, str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING):
        parser = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert parser.runtime.name == "openvino"
    assert any("Cannot cache the converted model" in m for m in _warnings(caplog))


def test_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(ovr.CACHE_ENV_VAR, str(tmp_path))
    assert ovr.cache_root() == tmp_path / "openvino"
    monkeypatch.delenv(ovr.CACHE_ENV_VAR)
    import platformdirs

    assert ovr.cache_root() == ovr.Path(platformdirs.user_cache_dir("m2fp-desktop", appauthor=False)) / "openvino"


def test_prune_keeps_the_most_recently_used(tmp_path):
    import os
    import time

    now = time.time()
    for i in range(5):
        entry = tmp_path / f"entry{i}"
        entry.mkdir()
        (entry / ovr.META_NAME).write_text("{}")
        os.utime(entry / ovr.META_NAME, (now - 100 * i, now - 100 * i))
    stale, running = tmp_path / "entry9.tmp-1-aa", tmp_path / "entry8.tmp-2-bb"
    stale.mkdir()
    running.mkdir()
    os.utime(stale, (now - 2 * 24 * 3600, now - 2 * 24 * 3600))
    ovr._prune(tmp_path, keep=tmp_path / "entry4")
    # The entry in use plus the KEEP_ENTRIES - 1 most recent others; a fresh temporary folder
    # may be another process's conversion in progress.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry0", "entry1", "entry4", "entry8.tmp-2-bb"]


# -- falling back to PyTorch ------------------------------------------------------------------


def test_conversion_failure_falls_back_to_torch(tiny_model_dir, fresh_cache, monkeypatch, caplog, golden_images):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated conversion failure")

    monkeypatch.setattr(ov, "convert_model", broken)
    with caplog.at_level(logging.WARNING):
        parser = HumanParser.load(tiny_model_dir, runtime="auto")
    assert parser.runtime.name == "torch" and parser.info["runtime"] == "torch"
    messages = _warnings(caplog)
    assert len(messages) == 1 and "OpenVINO runtime failed" in messages[0]
    assert "simulated conversion failure" in messages[0] and "PyTorch" in messages[0]
    assert parser.parse(_rgb(golden_images["astronaut"])).labels.shape == (512, 512)


@pytest.mark.parametrize("failure", ["raises", "garbage"])
def test_failure_at_first_inference_falls_back_to_torch(failure, tiny_model_dir, fresh_cache, monkeypatch, caplog):
    """A CPU plugin that crashes or computes nonsense is caught by the warm-up inside ``create``
    (which runs after a conversion) and nothing is recorded as checked."""
    original = ovr.OpenVinoRuntime.infer

    def bad_infer(self, images):
        if failure == "raises":
            raise RuntimeError("simulated CPU plugin failure")
        logits, masks = original(self, images)
        return logits, np.full_like(masks, np.nan)

    monkeypatch.setattr(ovr.OpenVinoRuntime, "infer", bad_infer)
    with caplog.at_level(logging.WARNING):
        parser = HumanParser.load(tiny_model_dir, runtime="auto")
    assert parser.runtime.name == "torch"
    messages = _warnings(caplog)
    assert len(messages) == 1 and "OpenVINO runtime failed" in messages[0]
    if failure == "garbage":
        assert "mask logits differ from PyTorch" in messages[0]
    for entry in fresh_cache.iterdir():
        assert "verified" not in json.loads((entry / "meta.json").read_text())


def test_failure_on_a_later_image_switches_to_torch(tiny_model_dir, fresh_cache, monkeypatch, caplog, golden_images):
    """On a start from a checked cache OpenVINO is trusted; if it fails anyway (a new size that
    does not compile, a plugin crash), that image and the rest are parsed with PyTorch."""
    HumanParser.load(tiny_model_dir, runtime="openvino")  # converts, checks, records
    parser = HumanParser.load(tiny_model_dir, runtime="auto")
    assert parser.runtime.name == "openvino" and parser.runtime.from_cache
    rgb = _rgb(golden_images["astronaut"])
    expected = HumanParser.load(tiny_model_dir, runtime="torch").parse(rgb)

    def broken_compile(self, hw):
        raise RuntimeError("simulated compile failure")

    monkeypatch.setattr(ovr.OpenVinoRuntime, "compile_for", broken_compile)
    with caplog.at_level(logging.WARNING):
        got = parser.parse(rgb)
        again = parser.parse(rgb)
    messages = _warnings(caplog)
    assert len(messages) == 1 and "OpenVINO runtime failed on a 640x640 input" in messages[0]
    assert "simulated compile failure" in messages[0] and "PyTorch" in messages[0]
    assert parser.runtime.name == "torch" and parser.info["runtime"] == "torch"
    assert got.model["runtime"] == "torch"
    np.testing.assert_array_equal(got.labels, expected.labels)
    np.testing.assert_array_equal(again.labels, expected.labels)


def test_missing_openvino_falls_back_to_torch(tiny_model_dir, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "openvino", None)  # "import openvino" raises ImportError
    monkeypatch.delitem(sys.modules, "desktop.engine.openvino_runtime")
    with caplog.at_level(logging.WARNING):
        auto = HumanParser.load(tiny_model_dir, runtime="auto")
    assert auto.runtime.name == "torch" and not _warnings(caplog)  # auto: PyTorch is a normal choice
    with caplog.at_level(logging.WARNING):
        asked = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert asked.runtime.name == "torch"
    assert any("OpenVINO runtime is not available" in m for m in _warnings(caplog))


def test_next_start_compiles_the_last_size_while_idle(tiny_model_dir, fresh_cache, golden_images):
    """The cache remembers the last input size; ``warm_up`` (which the app runs while the user
    picks photos) compiles it, so the first photo of that size does not wait for a compile."""
    first = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert first.warm_up() == 0  # nothing parsed with this model yet
    rgb = _rgb(golden_images["grace_hopper"])
    expected = first.parse(rgb)
    size = first.runtime.compiled_hw
    assert size == first.input_size(rgb.shape[1], rgb.shape[0])

    second = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert second.runtime.compiled is None
    assert second.warm_up() > 0 and second.runtime.compiled_hw == size
    assert second.warm_up() == 0  # already done
    got = second.parse(rgb)
    assert "compile" not in got.timings
    np.testing.assert_array_equal(got.labels, expected.labels)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_weights_file_pages_are_not_kept_after_compiling(tiny_model_dir, fresh_cache):
    from tests.test_memory import resident_kib

    parser = HumanParser.load(tiny_model_dir, runtime="openvino")
    parser.runtime.compile_for((160, 224))
    weights = parser.runtime._entry / "model.bin"
    # Compiling read every weight through the memory map; those pages are given back (the
    # full model's inference then reads back 11 of 230 MB; the tiny model's, most of its 2 MB).
    assert resident_kib(weights) * 1024 < 0.5 * weights.stat().st_size, (resident_kib(weights), weights.stat().st_size)
