"""The window hears of a parsed photo before what can wait is done (issue 13).

On a 48-megapixel photo the doubt score (a person map and confidence statistics at the
photo's size) took 12 s of the 15 s between the network and the overlay. The result itself
is still stored in the workspace before the window is told (a crash right after a parse
loses nothing); only what the workspace derives from it comes after.
"""

from __future__ import annotations

import queue
import time

from desktop.app.result_store import ResultStore
from desktop.app.review_store import ReviewStore
from desktop.app.worker import ModelReady, ParseWorker, WorkerIdle
from desktop.imageio import load_image


def _drain(q: queue.Queue, until, timeout: float = 120.0) -> list:
    out, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            msg = q.get(timeout=0.1)
        except queue.Empty:
            continue
        out.append(msg)
        if until(msg):
            return out
    raise AssertionError(f"timed out; got {[type(m).__name__ for m in out]}")


class _Log(queue.Queue):
    """The window's queue, logging what it was sent in one list with the backend's steps."""

    def __init__(self):
        super().__init__()
        self.log: list[str] = []

    def put(self, item, block=True, timeout=None):
        self.log.append(type(item).__name__)
        super().put(item, block, timeout)


class _Backend:
    def __init__(self, log: list[str]):
        self.log = log

    def save(self, key, result):
        self.log.append("stored")
        return lambda: self.log.append("finished")

    def load(self, key):
        return None


def test_the_result_is_stored_before_and_the_doubt_after_the_window_is_told(tiny_parser, golden_images):
    q = _Log()
    store = ReviewStore()
    store.backend = _Backend(q.log)
    worker = ParseWorker(lambda progress: tiny_parser, q, load_image, store.put_first)
    worker.start()
    try:
        _drain(q, lambda m: isinstance(m, ModelReady))
        key = str(golden_images["astronaut"])
        worker.enqueue([key])
        _drain(q, lambda m: isinstance(m, WorkerIdle))
    finally:
        worker.stop()
    assert key in store
    steps = [s for s in q.log if s in ("stored", "ImageParsed", "finished", "WorkerIdle")]
    assert steps == ["stored", "ImageParsed", "finished", "WorkerIdle"]


def test_put_still_does_everything_at_once():
    from tests.test_workspace import synthetic_result

    log: list[str] = []
    store = ReviewStore()
    store.backend = _Backend(log)
    store.put("a", synthetic_result())
    assert log == ["stored", "finished"] and "a" in store
    plain = ResultStore()
    assert plain.put_first("b", synthetic_result()) is None and "b" in plain
