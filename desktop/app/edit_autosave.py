"""Autosave of the reviewer's edits: a worker thread that keeps a copy of the maps and saves it.

Why a copy of its own, fed with changed rectangles: the window edits the maps in place on
every pointer motion, so the worker can never read them directly (it would save a half-done
brush event). Copying both maps whole on the window's thread costs ~30 ms at 12 megapixels,
too much to do every few hundred milliseconds while a stroke goes on; copying the rectangle
changed since the last save costs what the edit cost. So the first job of an image carries
full copies, later jobs carry only the changed rectangles, and the worker patches its copy in
order (jobs are handled first come, first served, so the copy always equals the window's maps
at the version the job names).

For each image whose copy changed, the worker then has the provenance (pixels changed per
class, as :func:`desktop.review.edit_stats.change_statistics` counts them), the class pixel
counts and the person ids (for the side panels, so the window never scans 12 million pixels
itself), kept up to date patch by patch (:class:`RunningStats`) and, when
the image belongs to a workspace, stores the maps with
:meth:`desktop.review.workspace.Workspace.save_edits` (one SQLite transaction: a crash never
leaves a half-saved edit). No Tk here: results are posted on a queue the window polls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from desktop.review.edit_core import Rect
from desktop.review.edit_stats import ChangeStatistics, ClassChange

log = logging.getLogger(__name__)

__all__ = ["SaveJob", "SaveOutcome", "AutosaveWorker", "RunningStats"]


@dataclass
class SaveJob:
    """The maps of one image at ``version``: full copies, or rectangles changed since the last job.

    ``model`` is the pair of the model's maps (read only, shared with the window: never
    written by anyone). ``workspace`` None keeps the edit in memory (statistics only).
    """

    key: str
    version: int
    model: tuple[np.ndarray, np.ndarray]
    workspace: Any | None = None
    image_id: int | None = None
    base_result_id: int | None = None
    class_names: tuple[str, ...] | None = None
    full: tuple[np.ndarray, np.ndarray] | None = None
    patches: list[tuple[Rect, np.ndarray, np.ndarray]] = field(default_factory=list)
    save: bool = True  # False: only take the copy (made before the first edit, off the stroke's path)


@dataclass(frozen=True)
class SaveOutcome:
    """What the worker did for one image at ``version``.

    ``saved``: written to the workspace (False in memory-only mode or on error);
    ``edited``: the maps differ from the model's; ``error``: a sentence for the status bar,
    or None; ``needs_full``: the worker has no copy of this image (send full maps again).
    """

    key: str
    version: int
    saved: bool
    edited: bool
    changed_pixels: int
    class_counts: np.ndarray | None
    person_ids: tuple[int, ...]
    error: str | None = None
    needs_full: bool = False
    seconds: float = 0.0  # how long the save took (the window spaces its saves by it)


class RunningStats:
    """Pixel counts of an edited image kept up to date rectangle by rectangle.

    Why: the provenance (:func:`desktop.review.edit_stats.change_statistics`), the class
    shares and the person ids are sums over pixels, so replacing a rectangle of the maps
    changes them by what that rectangle held before and holds now. Counting the whole photo
    instead costs ~200 ms of CPU at 12 megapixels on every save, competing with the window
    for the cores while the reviewer paints. Counted once in full when the copy is made.
    """

    def __init__(self, model: tuple[np.ndarray, np.ndarray], labels: np.ndarray, persons: np.ndarray) -> None:
        self.model = model
        self.gained = np.zeros(256, np.int64)
        self.lost = np.zeros(256, np.int64)
        self.reassigned = np.zeros(256, np.int64)
        self.changed = 0
        self.relabelled = 0
        self.classes = np.zeros(256, np.int64)
        self.persons = np.zeros(65536, np.int64)
        self.add(Rect.of_shape(labels.shape), labels, persons, 1)

    def add(self, rect: Rect, labels: np.ndarray, persons: np.ndarray, sign: int) -> None:
        """Count (sign 1) or uncount (sign -1) the pixels of ``rect`` holding these values."""
        sl = rect.slices
        model_l, model_p = self.model[0][sl], self.model[1][sl]
        self.classes += sign * cv2.calcHist([np.ascontiguousarray(labels)], [0], None, [256], [0, 256]).ravel().astype(
            np.int64)
        self.persons += sign * np.bincount(persons.reshape(-1), minlength=65536)
        changed = (labels != model_l) | (persons != model_p)
        before, after = model_l[changed], labels[changed]
        rel = before != after
        self.gained += sign * np.bincount(after[rel], minlength=256)
        self.lost += sign * np.bincount(before[rel], minlength=256)
        self.reassigned += sign * np.bincount(after[~rel], minlength=256)
        self.changed += sign * int(before.size)
        self.relabelled += sign * int(np.count_nonzero(rel))

    def statistics(self) -> ChangeStatistics:
        per_class = {int(c): ClassChange(int(self.gained[c]), int(self.lost[c]), int(self.reassigned[c]))
                     for c in np.flatnonzero(self.gained + self.lost + self.reassigned).tolist()}
        return ChangeStatistics(self.changed, self.relabelled, self.changed - self.relabelled, per_class)

    def person_ids(self) -> tuple[int, ...]:
        return tuple(int(p) for p in np.flatnonzero(self.persons) if p != 0)


class _Copy:
    def __init__(self, job: SaveJob) -> None:
        assert job.full is not None
        self.labels = np.array(job.full[0], dtype=np.uint8, copy=True)
        self.persons = np.array(job.full[1], dtype=np.uint16, copy=True)
        self.stats = RunningStats(job.model, self.labels, self.persons)
        self.job = job

    def patch(self, rect: Rect, labels: np.ndarray, persons: np.ndarray) -> None:
        sl = rect.slices
        self.stats.add(rect, self.labels[sl], self.persons[sl], -1)
        self.labels[sl] = labels
        self.persons[sl] = persons
        self.stats.add(rect, self.labels[sl], self.persons[sl], 1)


class AutosaveWorker(threading.Thread):
    """Applies :class:`SaveJob` s in order and saves; :attr:`results` receives :class:`SaveOutcome` s."""

    def __init__(self) -> None:
        super().__init__(name="edit-autosave", daemon=True)
        self.jobs: queue.Queue[SaveJob | str | None] = queue.Queue()
        self.results: queue.Queue[SaveOutcome] = queue.Queue()
        self._copies: dict[str, _Copy] = {}
        self._pending = 0  # items submitted and not yet done
        self._done = threading.Condition()

    # -- called from the window's thread -------------------------------------------------------
    def submit(self, job: SaveJob) -> None:
        self._put(job)

    def forget(self, key: str) -> None:
        """Drop the copy of an image (after its last save): frees its memory."""
        self._put(f"forget:{key}")

    def _put(self, item: SaveJob | str | None) -> None:
        with self._done:
            self._pending += 1
        self.jobs.put(item)

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def wait_idle(self, timeout: float) -> bool:
        """Block until every job submitted so far is done (True) or ``timeout`` seconds passed."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Finish the jobs already submitted, then end the thread; True if it ended in time."""
        self._put(None)
        if self.is_alive():
            self.join(timeout)
        return not self.is_alive()

    # -- the thread ----------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            item = self.jobs.get()
            batch = [item]
            while True:  # everything queued meanwhile: patch all, save each image once
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            touched: dict[str, SaveJob] = {}
            stop = False
            for it in batch:
                if it is None:
                    stop = True
                elif isinstance(it, str):  # forget a copy, once what was sent before is saved
                    key = it.partition(":")[2]
                    if key in touched:
                        self.results.put(self._save(touched.pop(key)))
                    self._copies.pop(key, None)
                else:
                    outcome = self._apply(it)
                    if outcome is not None:
                        self.results.put(outcome)
                        touched.pop(it.key, None)
                    elif it.save:
                        touched[it.key] = it
            for job in touched.values():
                self.results.put(self._save(job))
            with self._done:
                self._pending -= len(batch)
                self._done.notify_all()
            if stop:
                return

    def _apply(self, job: SaveJob) -> SaveOutcome | None:
        """Bring the copy to the job's version; an outcome only when that is impossible."""
        if job.full is not None:
            self._copies[job.key] = _Copy(job)
        copy = self._copies.get(job.key)
        if copy is None:
            return SaveOutcome(job.key, job.version, False, False, 0, None, (), None, needs_full=True)
        copy.job = job
        for rect, lab, per in job.patches:
            copy.patch(rect, lab, per)
        return None

    def _save(self, job: SaveJob) -> SaveOutcome:
        copy = self._copies[job.key]
        start = time.perf_counter()
        try:
            stats = copy.stats.statistics()
            counts = copy.stats.classes.copy()
            person_ids = copy.stats.person_ids()
            saved = False
            if job.workspace is not None and job.image_id is not None:
                job.workspace.save_edits(job.image_id, copy.labels, copy.persons,
                                         changes=stats.as_dict(job.class_names),
                                         base_result_id=job.base_result_id)
                saved = True
            return SaveOutcome(job.key, job.version, saved, stats.edited, stats.changed_pixels, counts,
                               person_ids, seconds=time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - a failed save is reported and retried, never fatal
            log.warning("Saving the edits of %s failed: %s", job.key, exc, exc_info=not _is_expected(exc))
            return SaveOutcome(job.key, job.version, False, True, 0, None, (), error=_describe(exc))


def _is_expected(exc: BaseException) -> bool:
    from desktop.review.workspace import WorkspaceError

    return isinstance(exc, (WorkspaceError, OSError))


def _describe(exc: BaseException) -> str:
    from desktop.review.workspace import WorkspaceError

    if isinstance(exc, WorkspaceError):
        return str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"
