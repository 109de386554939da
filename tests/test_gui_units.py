"""The GUI's non-visual parts (no display needed): result store, worker, session, settings, entry point."""

from __future__ import annotations

import json
import logging
import queue
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from desktop.app.result_store import ResultStore, pack_result, unpack_result
from desktop.app.session import ImageList, State, short_reason
from desktop.app.settings import Settings, load_settings, save_settings
from desktop.app.worker import ImageFailed, ImageParsed, ImageStarted, ModelReady, ParseWorker, WorkerIdle
from desktop.engine.result import ParsingResult, Part, Person, mask_bbox
from desktop.imageio import load_image


def synthetic_result(h=120, w=160, persons=3, parts_per_person=4, seed=0) -> ParsingResult:
    rng = np.random.default_rng(seed)
    labels = np.zeros((h, w), np.uint8)
    person_list, part_list = [], []
    pid_part = 0
    for p in range(persons):
        mask = np.zeros((h, w), bool)
        x0 = int(rng.integers(0, w - 40))
        y0 = int(rng.integers(0, h - 60))
        mask[y0:y0 + 60, x0:x0 + 40] = True
        ids = []
        for k in range(parts_per_person):
            pid_part += 1
            pm = np.zeros((h, w), bool)
            pm[y0 + 15 * k:y0 + 15 * (k + 1), x0:x0 + 40] = True
            label = int(rng.integers(1, 20))
            labels[pm] = label
            part_list.append(Part(pid_part, label, f"c{label}", 0.9, pm, mask_bbox(pm), int(pm.sum()), p + 1))
            ids.append(pid_part)
        person_list.append(Person(p + 1, 0.9 - 0.1 * p, mask, mask_bbox(mask), int(mask.sum()), tuple(ids)))
    from desktop.resources import default_class_names, palette

    return ParsingResult(labels, person_list, part_list, default_class_names(), palette().copy(),
                         timings={"total": 0.1}, model={"name": "synthetic"}, notes=["n"])


def assert_same(a: ParsingResult, b: ParsingResult) -> None:
    assert np.array_equal(a.labels, b.labels) and a.labels.dtype == b.labels.dtype
    assert len(a.persons) == len(b.persons) and len(a.parts) == len(b.parts)
    for p, q in zip(a.persons, b.persons, strict=True):
        assert (p.id, p.score, tuple(p.bbox), p.area, tuple(p.part_ids)) == (q.id, q.score, tuple(q.bbox), q.area,
                                                                             tuple(q.part_ids))
        assert np.array_equal(p.mask, q.mask)
    for p, q in zip(a.parts, b.parts, strict=True):
        assert (p.id, p.label, p.name, p.score, p.person_id) == (q.id, q.label, q.name, q.score, q.person_id)
        assert np.array_equal(p.mask, q.mask)
    assert a.class_names == b.class_names and np.array_equal(a.palette, b.palette)
    assert a.timings == b.timings and a.model == b.model and a.notes == b.notes


# -- result store ----------------------------------------------------------------------
def test_pack_unpack_is_lossless_and_compact(tiny_parser, golden_images):
    result = tiny_parser.parse(load_image(golden_images["astronaut"]).rgb)
    blob = pack_result(result)
    # Far smaller than the label map and full-size masks the result stands for.
    full_size = result.labels.nbytes + result.labels.size * (len(result.persons) + len(result.parts))
    assert len(blob) * 10 < full_size
    assert len(blob) < result.nbytes()
    assert_same(result, unpack_result(blob))
    # A bbox that does not cover its mask: the mask is kept whole all the same.
    bad = synthetic_result()
    p = bad.parts[0]
    bad.parts[0] = Part(p.id, p.label, p.name, p.score, p.mask, (0, 0, 1, 1), p.area, p.person_id)
    assert_same(bad, unpack_result(pack_result(bad)))


def test_store_stays_within_budget_for_a_thousand_results(tmp_path):
    one = synthetic_result()
    size = one.nbytes()
    store = ResultStore(hot_budget=10 * size, cold_budget=50 * len(pack_result(one)), spill_dir=tmp_path)
    for i in range(1000):
        store.put(f"img{i}", synthetic_result(seed=i))
    assert len(store) == 1000
    assert store.memory_bytes <= 10 * size + 51 * len(pack_result(one)) * 2
    assert store.tier("img999") == "hot" and store.tier("img0") == "disk"
    assert {store.tier(f"img{i}") for i in range(1000)} == {"hot", "cold", "disk"}
    for i in (0, 500, 985, 999):
        assert_same(synthetic_result(seed=i), store.get(f"img{i}"))
    spill = list(tmp_path.iterdir())
    assert spill
    store.close()
    assert not any(p.exists() for p in spill)
    assert store.get("img0") is None


def test_store_replace_and_discard():
    store = ResultStore(hot_budget=1, cold_budget=10**9)
    store.put("a", synthetic_result(seed=1))
    store.put("b", synthetic_result(seed=2))
    assert store.tier("a") == "cold" and store.tier("b") == "hot"
    store.put("a", synthetic_result(seed=3))
    assert store.tier("a") == "hot"
    assert_same(store.get("a"), synthetic_result(seed=3))
    store.discard("a")
    assert "a" not in store and store.get("a") is None


# -- worker ----------------------------------------------------------------------------
def drain(q: queue.Queue, until, timeout=60.0):
    out = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            msg = q.get(timeout=0.1)
        except queue.Empty:
            continue
        out.append(msg)
        if until(msg):
            return out
    raise AssertionError(f"timed out; got {[type(m).__name__ for m in out]}")


def test_parse_worker_priority_failures_and_cancel(tiny_parser, golden_images, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(golden_images["grace_hopper"].read_bytes()[:2000])
    keys = [str(golden_images["astronaut"]), str(broken), str(golden_images["grace_hopper"]),
            str(golden_images["astronaut_crop"])]
    q: queue.Queue = queue.Queue()
    store = ResultStore()
    worker = ParseWorker(lambda progress: tiny_parser, q, load_image, store.put)
    worker.start()
    drain(q, lambda m: isinstance(m, ModelReady))
    worker.prioritize(keys[3])
    worker.enqueue(keys)
    msgs = drain(q, lambda m: isinstance(m, WorkerIdle))
    started = [m.key for m in msgs if isinstance(m, ImageStarted)]
    assert started[0] == keys[3], "the selected image is parsed first"
    assert sorted(started) == sorted(keys)
    failed = [m for m in msgs if isinstance(m, ImageFailed)]
    assert [m.key for m in failed] == [str(broken)] and "truncated" in failed[0].message
    parsed = [m for m in msgs if isinstance(m, ImageParsed)]
    assert len(parsed) == 3 and all(m.key in store for m in parsed)
    assert msgs[-1] == WorkerIdle(cancelled=False, remaining=0)

    # Cancel while busy: the current image is finished, the rest stays queued.
    worker.enqueue(keys * 1)  # re-parse all
    drain(q, lambda m: isinstance(m, ImageStarted))
    worker.cancel()
    msgs = drain(q, lambda m: isinstance(m, WorkerIdle))
    assert msgs[-1].cancelled and msgs[-1].remaining == 3
    assert not any(isinstance(m, ImageStarted) for m in msgs)
    time.sleep(0.3)
    assert q.empty() and worker.paused
    worker.resume()
    msgs = drain(q, lambda m: isinstance(m, WorkerIdle))
    assert sum(isinstance(m, ImageStarted) for m in msgs) == 3
    worker.stop()
    worker.join(5)
    assert not worker.is_alive()


# -- session ---------------------------------------------------------------------------
def test_image_list_navigation(tmp_path):
    paths = [tmp_path / n for n in ("a.png", "b.png", "c.png")]
    images = ImageList()
    added = images.add(paths + [paths[0]], root=tmp_path)
    assert [e.display_name for e in added] == ["a.png", "b.png", "c.png"]
    a, b, c = added
    assert images.neighbour(a.key, -1) is a and images.neighbour(a.key, 1) is b and images.neighbour(c.key, 1) is c
    a.reviewed = True
    c.state = State.FAILED
    assert images.next_not_reviewed(a.key) is b
    b.reviewed = True
    assert images.next_not_reviewed(b.key) is None
    assert images.common_root() == tmp_path.resolve()


def test_short_reason_drops_the_path():
    p = Path("/x/y.jpg")
    assert short_reason('"/x/y.jpg" is truncated or corrupt.', p) == "truncated or corrupt"
    assert len(short_reason("a" * 200, p)) == 48


# -- settings --------------------------------------------------------------------------
def test_settings_round_trip_and_unwritable_folder(tmp_path):
    path = tmp_path / "cfg" / "settings.json"
    s = Settings(opacity=0.3, view_mode="photo", hidden_classes=[0, 4], export_formats=["json"])
    assert save_settings(s, path)
    assert json.loads(path.read_text())["view_mode"] == "photo"
    loaded, warning = load_settings(path)
    assert warning is None and loaded == s
    assert not list(path.parent.glob(".*tmp*")), "no temporary file left behind"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert save_settings(s, blocker / "settings.json") is False
    missing, warning = load_settings(tmp_path / "none.json")
    assert missing == Settings() and warning is None


# -- entry point and logging -----------------------------------------------------------
def test_main_delegates_arguments_to_the_cli(monkeypatch):
    import desktop.__main__ as entry
    import desktop.app
    import desktop.cli

    calls = []
    monkeypatch.setattr(desktop.cli, "main", lambda argv: calls.append(("cli", list(argv))) or 3)
    monkeypatch.setattr(desktop.app, "run", lambda paths=(): calls.append(("gui", list(paths))) or 0)
    assert entry.main(["photo.jpg", "-o", "out"]) == 3
    assert entry.main([]) == 0
    assert entry.main(["--gui", "a.jpg"]) == 0
    assert calls == [("cli", ["photo.jpg", "-o", "out"]), ("gui", []), ("gui", ["a.jpg"])]


def test_windowed_build_without_std_streams(monkeypatch, tmp_path):
    from desktop.app import logging_setup

    monkeypatch.setenv("M2FP_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    logging_setup.ensure_std_streams()
    assert sys.stdout is not None and sys.stderr is not None
    print("hello from a windowed build")
    sys.stdout.flush()
    assert "hello" in (tmp_path / "logs" / "console.log").read_text()


def test_logging_goes_to_the_log_folder(monkeypatch, tmp_path):
    from desktop.app import logging_setup

    monkeypatch.setenv("M2FP_LOG_DIR", str(tmp_path))
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = logging_setup.setup_logging()
        assert path == tmp_path / "m2fp-desktop.log"
        logging.getLogger("desktop.test").warning("something to keep")
        for h in root.handlers:
            h.flush()
        assert "something to keep" in path.read_text()
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
                h.close()


@pytest.mark.parametrize("mode", ["overlay", "labels", "photo", "side_by_side"])
def test_settings_accept_every_view_mode(mode):
    assert Settings(view_mode=mode).validated()[1] == []


def test_a_packed_result_keeps_its_uncertain_pixels(tiny_parser, golden_images):
    """An older image's doubt view still shows the model's uncertain pixels once the session
    store has packed it (the confidence provider itself is not kept: too large)."""
    from desktop.review.uncertain_store import full_uncertain_mask, stored_uncertain_mask

    result = tiny_parser.parse(load_image(golden_images["astronaut"]).rgb)
    fresh = full_uncertain_mask(result)
    fresh = fresh.full() if hasattr(fresh, "full") else np.asarray(fresh, dtype=bool)
    assert fresh.any()
    back = unpack_result(pack_result(result))
    assert back.confidence is None
    kept = stored_uncertain_mask(back)
    assert np.array_equal(kept.full(), fresh)
