"""desktop.pipeline and what it relies on: the pipelined batch writes what the sequential one
writes, in the same order, overlaps decoding with the network, holds a bounded number of photos,
stops cleanly; OpenVINO's streams and its on-disk cache of compiled models."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from batch_runs import assert_same_outputs, run_cli
from imagefiles import save_rgb, small_copy, truncated_copy
from PIL import Image

import desktop.cli as cli
from desktop.pipeline import Outcome, parse_jobs


@pytest.fixture(scope="module")
def photos(golden_images, tmp_path_factory) -> Path:
    """Three small photos of two sizes and one truncated file in the middle."""
    folder = tmp_path_factory.mktemp("photos")
    for i, (stem, path) in enumerate(sorted(golden_images.items())):
        small_copy(path, folder / f"p{i}_{stem}.png", 64 if i % 2 else 48)
    truncated_copy(folder / "p1_astronaut_crop.png", folder / "p2b_broken.png")
    return folder


def test_pipelined_batch_writes_what_the_sequential_one_writes(photos, tiny_model_dir, tmp_path, capsys):
    base = ["--model", tiny_model_dir, "--runtime", "torch", "--threads", "2", "--formats", "labels,color,json"]
    code_seq, out_seq, err_seq = run_cli([photos, "--out", tmp_path / "seq", "--sequential", *base], capsys)
    code_pipe, out_pipe, err_pipe = run_cli([photos, "--out", tmp_path / "pipe", *base], capsys)
    assert code_seq == code_pipe == 1  # the broken file
    assert "3 parsed, 0 skipped, 1 failed" in out_seq and "3 parsed, 0 skipped, 1 failed" in out_pipe
    assert err_seq == err_pipe and "p2b_broken.png" in err_pipe  # the same failure, one line

    def order(out: str) -> list[str]:
        return [line.split("] ", 1)[1].split(":")[0] for line in out.splitlines() if line.startswith("[")]

    assert order(out_seq) == order(out_pipe)  # the same order
    assert_same_outputs(tmp_path / "seq", tmp_path / "pipe")


class StagedDouble:
    """A parser with the staged API over the session's tiny parser, recording what runs when."""

    def __init__(self, parser, streams: int = 1):
        self.parser, self.streams, self.info = parser, streams, parser.info
        self.events: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.loaded = {i: threading.Event() for i in range(100)}

    def log(self, what: str, index: int) -> None:
        with self.lock:
            self.events.append((what, index))

    def prepare_input(self, rgb):
        return self.parser.prepare_input(rgb)

    def start_network(self, pending):
        index = len([e for e in self.events if e[0] == "start"])
        self.log("start", index)
        wait = self.parser.start_network(pending)
        if index == 0:  # image 0's network runs until image 1 is decoded: overlap, or a timeout
            assert self.loaded[1].wait(10), "the next image was not decoded while the network ran"
        return wait

    def finish(self, pending, notes=None):
        return self.parser.finish(pending, notes=notes)


def _jobs(n: int) -> list[int]:
    return list(range(n))


def test_decoding_overlaps_the_network_and_memory_stays_bounded(tiny_parser, small_rgb):
    double = StagedDouble(tiny_parser)
    held, most = set(), [0]

    def load(i):
        with double.lock:
            held.add(i)
            most[0] = max(most[0], len(held))
        double.log("load", i)
        double.loaded[i].set()
        time.sleep(0.01)
        return _Image(small_rgb)

    def write(i, image, result, seconds):
        double.log("write", i)
        with double.lock:
            held.discard(i)
        return f"image {i}"

    got = [(job, outcome.result()) for job, outcome in parse_jobs(_jobs(8), double, load=load, write=write)]
    assert got == [(i, f"image {i}") for i in range(8)]  # every image, in order
    assert most[0] <= double.streams + 2  # at most two photos beyond the one in the network
    writes = [i for what, i in double.events if what == "write"]
    assert writes == list(range(8))


class _Image:
    def __init__(self, rgb):
        self.rgb, self.notes = rgb, []


@pytest.fixture(scope="module")
def small_rgb(golden_images) -> np.ndarray:
    im = Image.open(next(iter(golden_images.values()))).convert("RGB")
    return np.asarray(im.resize((40, 30)))


def test_a_failure_in_any_stage_is_one_failed_outcome(tiny_parser, small_rgb):
    def load(i):
        if i == 1:
            raise OSError("cannot read image 1")
        return _Image(small_rgb)

    def write(i, image, result, seconds):
        if i == 3:
            raise OSError("disk full")
        return "ok"

    outcomes = list(parse_jobs(_jobs(5), tiny_parser, load=load, write=write))
    assert [job for job, _ in outcomes] == [0, 1, 2, 3, 4]
    errors = {job: str(o.error) for job, o in outcomes if o.error is not None}
    assert errors == {1: "cannot read image 1", 3: "disk full"}
    with pytest.raises(OSError, match="disk full"):
        outcomes[3][1].result()


def test_closing_the_batch_stops_every_thread_and_keeps_outputs_whole(tiny_parser, small_rgb, tmp_path):
    written: list[int] = []

    def write(i, image, result, seconds):
        time.sleep(0.05)
        written.append(i)
        return "ok"

    batch = parse_jobs(_jobs(50), tiny_parser, load=lambda i: _Image(small_rgb), write=write)
    first = next(batch)
    assert first[0] == 0 and first[1].result() == "ok"
    batch.close()  # what Ctrl+C in the command line's loop does
    assert not [t for t in threading.enumerate() if t.name.startswith("m2fp-")]
    assert written[0] == 0 and len(written) <= 3  # nothing new started after the close


def test_keyboard_interrupt_in_a_stage_ends_the_batch_after_that_image(tiny_parser, small_rgb):
    def load(i):
        if i == 2:
            raise KeyboardInterrupt
        return _Image(small_rgb)

    seen = []
    with pytest.raises(KeyboardInterrupt):
        for job, outcome in parse_jobs(_jobs(6), tiny_parser, load=load, write=lambda *a: "ok"):
            seen.append(job)
            outcome.result()
    assert seen == [0, 1, 2]
    assert not [t for t in threading.enumerate() if t.name.startswith("m2fp-")]


def test_outcome_result_reraises_the_stage_error():
    assert Outcome(status="fine").result() == "fine"
    with pytest.raises(ValueError, match="bad"):
        Outcome(error=ValueError("bad")).result()


# -- OpenVINO: streams and the on-disk cache of compiled models -------------------------------

@pytest.fixture(scope="module")
def openvino_cache(tmp_path_factory):
    """A cache folder of this module's own (the tiny model is converted once for the module)."""
    pytest.importorskip("openvino")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("M2FP_CACHE_DIR", str(tmp_path_factory.mktemp("ov-cache")))
        yield


def _openvino(tiny_model_dir):
    from desktop.engine import HumanParser

    parser = HumanParser.load(tiny_model_dir, runtime="openvino", precision="exact", num_threads=2)
    assert parser.runtime.name == "openvino"
    return parser


@pytest.fixture
def openvino_parser(openvino_cache, tiny_model_dir):
    """A fresh tiny-model parser on OpenVINO (its own streams and compiled sizes)."""
    return _openvino(tiny_model_dir)


def test_two_streams_give_the_same_results_in_the_same_order(openvino_parser, golden_images):
    rgbs = [np.asarray(Image.open(p).convert("RGB").resize((96, 64))) for p in golden_images.values()] * 2
    images = [_Image(rgb) for rgb in rgbs]
    one = [openvino_parser.parse(im.rgb) for im in images]
    assert openvino_parser.use_streams(2) == 2 and openvino_parser.streams == 2
    results: list = []

    def write(i, image, result, seconds):
        results.append((i, result))
        return "ok"

    outcomes = [o.result() for _, o in parse_jobs(list(range(len(images))), openvino_parser,
                                                   load=lambda i: images[i], write=write)]
    assert outcomes == ["ok"] * len(images)
    assert [i for i, _ in results] == list(range(len(images)))
    assert openvino_parser.runtime.compiled.get_property("NUM_STREAMS") == 2
    for a, (_, b) in zip(one, results, strict=True):
        assert np.array_equal(a.labels, b.labels)
        assert [p.score for p in a.persons] == pytest.approx([p.score for p in b.persons], abs=1e-6)


def test_compiled_models_are_cached_on_disk_per_input_size(openvino_parser, tiny_model_dir, monkeypatch):
    import desktop.engine.openvino_runtime as ovr

    rt = openvino_parser.runtime
    rt.compile_for((160, 96))  # a size no other test compiles
    assert not rt.compiled.get_property("LOADED_FROM_CACHE")
    folder = rt._entry / ovr.COMPILED_DIR / "f32-160x96"
    assert list(folder.glob("*.blob"))

    later = _openvino(tiny_model_dir)
    later.runtime.compile_for((160, 96))  # a later start: read from the cache, not compiled
    assert later.runtime.compiled.get_property("LOADED_FROM_CACHE")

    monkeypatch.setattr(ovr, "KEEP_COMPILED", 2)
    for hw in ((32, 64), (64, 64), (96, 64)):
        later.runtime.compile_for(hw)
    kept = sorted(p.name for p in (rt._entry / ovr.COMPILED_DIR).iterdir())
    assert kept == ["f32-64x64", "f32-96x64"]  # the most recent sizes only


def test_a_damaged_compiled_model_is_compiled_again(openvino_parser, tiny_model_dir):
    import desktop.engine.openvino_runtime as ovr

    rgb = np.asarray(Image.new("RGB", (96, 64), (120, 80, 40)))
    expected = openvino_parser.parse(rgb).labels
    for blob in (openvino_parser.runtime._entry / ovr.COMPILED_DIR).rglob("*.blob"):
        blob.write_bytes(blob.read_bytes()[:1000])  # truncated, as by a crash while writing
    later = _openvino(tiny_model_dir)
    assert np.array_equal(later.parse(rgb).labels, expected)
    assert not later.runtime.compiled.get_property("LOADED_FROM_CACHE")  # compiled again


def test_ctrl_c_in_a_real_run_stops_soon_and_leaves_whole_outputs(golden_images, tiny_model_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    folder = tmp_path / "in"
    rgb = np.asarray(Image.open(next(iter(golden_images.values()))).convert("RGB").resize((64, 48)))
    for i in range(30):
        save_rgb(folder / f"p{i:02d}.png", np.roll(rgb, i, axis=1))
    out = tmp_path / "out"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "desktop.cli", str(folder), "--out", str(out), "--model",
                             str(tiny_model_dir), "--runtime", "torch", "--formats", "labels,json"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    for line in proc.stdout:  # wait until the batch is running
        if line.startswith("[2/"):
            break
    proc.send_signal(signal.SIGINT)
    t0 = time.perf_counter()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == cli.EXIT_INTERRUPTED, stderr
    assert time.perf_counter() - t0 < 20 and "Traceback" not in stdout + stderr
    assert "Interrupted" in stdout
    files = sorted(p.name for p in out.iterdir())
    assert not [n for n in files if n.startswith(".")]  # no temporary file left behind
    stems = {n.rsplit("_labels.png", 1)[0] if n.endswith(".png") else n[:-5] for n in files}
    for stem in stems:  # every image written is whole: both of its files, readable
        assert json.loads((out / f"{stem}.json").read_text())["image"]
        assert Image.open(out / f"{stem}_labels.png").size == (64, 48)
    assert 2 <= len(stems) < 30
