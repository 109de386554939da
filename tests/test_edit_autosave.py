"""The Tk-free parts of edit mode: the autosave worker and its running counts, the per-image
sessions and their memory bound, the differences drawing."""

from __future__ import annotations

import numpy as np
import pytest

from bench.edit_scene import draw_people
from desktop.app.edit_autosave import AutosaveWorker, RunningStats, SaveJob
from desktop.app.edit_session import EditSession, SessionCache, person_ids_of
from desktop.app.edit_view import HIGHLIGHT, changed_mask, difference_view
from desktop.review import edits, person_edits
from desktop.review.edit_core import Rect
from desktop.review.edit_stats import change_statistics
from desktop.review.workspace import Workspace

H, W = 240, 320


@pytest.fixture
def people():
    return draw_people(H, W, count=4, seed=2)


def random_edits(labels, persons, rng, n=40):
    """Brush strokes, fills, erasing, whole-person moves: rectangles of every size."""
    rects = []
    for i in range(n):
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        kind = i % 4
        if kind == 0:
            e = edits.brush(labels, persons, [(x, y), (x + rng.uniform(-40, 40), y + rng.uniform(-40, 40))],
                            rng.integers(1, 12), int(rng.integers(1, 20)), int(rng.integers(1, 6)))
        elif kind == 1:
            e = edits.erase(labels, persons, [(x, y)], rng.integers(1, 20))
        elif kind == 2:
            e = edits.fill(labels, persons, x, y, int(rng.integers(1, 20)), int(rng.integers(1, 6)))
        else:
            e = person_edits.swap_left_right(labels, persons, int(rng.integers(1, 5)))
        if not e.empty:
            rects.append(e.rect)
    return rects


def test_running_counts_equal_a_full_count_after_any_patches(people):
    model = (people[0].copy(), people[1].copy())
    labels, persons = people[0].copy(), people[1].copy()
    rng = np.random.default_rng(0)
    copy_l, copy_p = labels.copy(), persons.copy()
    stats = RunningStats(model, copy_l, copy_p)
    for _ in range(5):
        for rect in random_edits(labels, persons, rng, 12):
            sl = rect.slices
            stats.add(rect, copy_l[sl], copy_p[sl], -1)
            copy_l[sl], copy_p[sl] = labels[sl], persons[sl]
            stats.add(rect, copy_l[sl], copy_p[sl], 1)
        assert np.array_equal(copy_l, labels) and np.array_equal(copy_p, persons)
        assert stats.statistics() == change_statistics(*model, labels, persons)
        assert np.array_equal(stats.classes, np.bincount(labels.ravel(), minlength=256))
        assert stats.person_ids() == person_ids_of(persons)


def test_worker_saves_the_maps_from_rectangles_into_the_workspace(people, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        image_id = ws.add_images([_entry(image, tmp_path)])[0]
        model = (people[0].copy(), people[1].copy())
        labels, persons = people[0].copy(), people[1].copy()
        worker = AutosaveWorker()
        worker.start()
        try:
            job = dict(model=model, workspace=ws, image_id=image_id, class_names=None)
            worker.submit(SaveJob("a", 0, full=(labels.copy(), persons.copy()), save=False, **job))
            rng = np.random.default_rng(1)
            for version in range(1, 4):
                rects = random_edits(labels, persons, rng, 10)
                box = rects[0]
                for r in rects[1:]:
                    box = box.union(r)
                sl = box.slices
                worker.submit(SaveJob("a", version, patches=[(box, labels[sl].copy(), persons[sl].copy())], **job))
                assert worker.wait_idle(30)
                outcomes = _drain(worker)
                assert outcomes[-1].version == version and outcomes[-1].saved and outcomes[-1].error is None
                stored = ws.edited_maps(image_id)
                assert np.array_equal(stored.labels, labels) and np.array_equal(stored.persons, persons)
                assert stored.changes == change_statistics(*model, labels, persons).as_dict()
                assert outcomes[-1].person_ids == person_ids_of(persons)
            # Back to the model's maps: the image is no longer edited.
            worker.submit(SaveJob("a", 9, full=model, **job))
            assert worker.wait_idle(30)
            last = _drain(worker)[-1]
            assert not last.edited and last.saved and ws.edited_maps(image_id) is None
            # Changes sent just before the copy is dropped are saved first (all in one batch:
            # queued before the thread starts).
            later = AutosaveWorker()
            later.submit(SaveJob("a", 10, full=model, save=False, **job))
            one = (np.full((1, 1), 3, np.uint8), np.full((1, 1), 1, np.uint16))
            later.submit(SaveJob("a", 11, patches=[(Rect(0, 0, 1, 1), *one)], **job))
            later.forget("a")
            later.start()
            assert later.wait_idle(30) and later.stop()
            assert _drain(later)[-1].version == 11 and ws.edited_maps(image_id).labels[0, 0] == 3
            # Rectangles for an image the worker has no copy of: it asks for the maps again.
            worker.forget("a")
            worker.submit(SaveJob("a", 12, patches=[(Rect(0, 0, 1, 1), labels[:1, :1], persons[:1, :1])], **job))
            assert worker.wait_idle(30)
            assert _drain(worker)[-1].needs_full
        finally:
            assert worker.stop()


def test_a_failed_save_is_reported_as_a_sentence(people, tmp_path):
    ws = Workspace.open(tmp_path / "w.m2fpws")
    ws.close()
    worker = AutosaveWorker()
    worker.start()
    try:
        worker.submit(SaveJob("a", 1, (people[0], people[1]), workspace=ws, image_id=1,
                              full=(np.zeros_like(people[0]), np.zeros_like(people[1]))))
        assert worker.wait_idle(30)
        outcome = _drain(worker)[-1]
        assert not outcome.saved and outcome.error and "closed" in outcome.error
    finally:
        worker.stop()


def test_sessions_start_from_the_model_or_saved_edits_and_only_safe_ones_are_dropped(people):
    labels, persons = people
    fresh = EditSession.create("a", labels, persons)
    assert np.array_equal(fresh.labels, labels) and fresh.labels is not labels
    assert not fresh.model_labels.flags.writeable and not fresh.edited_now()
    edited_l = labels.copy()
    edited_l[:10] = 0
    saved = EditSession.create("b", labels, persons, (edited_l, persons * (edited_l != 0)))
    assert saved.edited and np.array_equal(saved.labels, edited_l)
    assert fresh.person_ids == (1, 2, 3, 4)

    one = fresh.nbytes
    cache = SessionCache(budget=int(one * 2.5))
    memory_only = EditSession.create("m", labels, persons)
    memory_only.history.record(edits.fill(memory_only.labels, memory_only.persons, 5, 5, 2, 1))
    memory_only.touched([Rect(0, 0, 10, 10)])
    memory_only.saved_version = memory_only.history.version  # counted, but kept in memory only
    for s in (memory_only, fresh, saved, EditSession.create("c", labels, persons)):
        cache.put(s)
    dropped = cache.evict(current="c")
    assert [s.key for s in dropped] == ["a", "b"]  # never the current one, never unsaved edits
    assert "m" in cache and "c" in cache


def test_difference_view_greys_the_unchanged_and_frames_the_changed():
    drawn = np.zeros((20, 20, 3), np.uint8)
    drawn[:] = (200, 40, 40)
    changed = np.zeros((20, 20), bool)
    changed[5:15, 5:15] = True
    out = difference_view(drawn, changed, thickness=2)
    assert (out[~changed].max(axis=1) == out[~changed].min(axis=1)).all()  # grey
    assert (out[5, 5:15] == HIGHLIGHT).all() and (out[6, 6:14] == HIGHLIGHT).all()  # a 2-pixel frame
    assert (out[7:13, 7:13] == (200, 40, 40)).all()  # the change itself, as drawn
    single = np.zeros((20, 20), bool)
    single[3, 3] = True
    assert (difference_view(drawn, single)[3, 3] == HIGHLIGHT).all()
    lab = np.zeros((4, 4), np.uint8)
    per = np.zeros((4, 4), np.uint16)
    lab2, per2 = lab.copy(), per.copy()
    lab2[0, 0], per2[1, 1] = 5, 2
    assert changed_mask(lab2, per2, lab, per).sum() == 2


def _entry(path, root):
    from desktop.imageio import ImageEntry

    return ImageEntry(path=path, root=root, relative=path.relative_to(root))


def _drain(worker):
    out = []
    while not worker.results.empty():
        out.append(worker.results.get_nowait())
    return out
