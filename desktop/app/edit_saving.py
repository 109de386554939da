"""When and what edit mode hands to the autosave worker, and what it does with the answers.

The window's side of the autosave (:mod:`desktop.app.edit_autosave` is the thread):

- the first change after a save starts a timer of ``AUTOSAVE_MS`` (longer, up to
  ``AUTOSAVE_MAX_MS``, when saves of a huge photo take long); when it fires, every image with
  unsent changes sends the rectangle they cover (also in the middle of a stroke), so a crash
  loses at most about a second of work;
- when edit mode opens an image, the worker gets its copy of the maps at once, before any
  stroke (so no stroke ever pays for copying the photo's maps);
- leaving an image sends what is pending and, if that image's edits go to a workspace,
  waits for the save (at most one save of that image: ~20 ms for a 2-megapixel photo): the
  workspace may be closed right after (another folder opened), and edits must reach it first;
- answers are collected every ``POLL_MS`` while the worker has work; a failed save is sent
  again after ``RETRY_MS``.
"""

from __future__ import annotations

import logging
import queue
import tkinter as tk
from collections.abc import Callable

from desktop.app.edit_autosave import AutosaveWorker, SaveJob, SaveOutcome
from desktop.app.edit_session import EditSession, SessionCache
from desktop.review.edit_core import EMPTY

log = logging.getLogger(__name__)

__all__ = ["EditSaving", "AUTOSAVE_MS", "POLL_MS", "RETRY_MS"]

#: The first unsent change goes to the autosave worker this long after it was made...
AUTOSAVE_MS = 250
#: ... or longer when saves take long (1.5 times the last one, a 12-megapixel photo's take
#: ~0.3 s), so that saving never takes most of a core while the reviewer paints; at most this
#: much, so that a change is saved within about a second.
AUTOSAVE_MAX_MS = 600
#: How often finished saves are collected while the worker has work.
POLL_MS = 40
#: A failed save is tried again after this long.
RETRY_MS = 3000
#: Longest wait for the worker when leaving an image or closing (a save of a huge photo).
LEAVE_WAIT_S = 10.0


class EditSaving:
    """Feeds the :class:`AutosaveWorker` from the sessions; ``on_saved(session, outcome)`` hears
    every answer (the session is None when it was dropped meanwhile)."""

    def __init__(self, root: tk.Misc, sessions: SessionCache, class_names: Callable[[], tuple[str, ...]],
                 on_saved: Callable[[EditSession | None, SaveOutcome], None]) -> None:
        self.root = root
        self.sessions = sessions
        self.class_names = class_names
        self.on_saved = on_saved
        self.worker: AutosaveWorker | None = None
        self._autosave_after: str | None = None
        self._poll_after: str | None = None
        self._retry_after: str | None = None
        self._last_save = 0.0  # seconds the worker took for the last save

    # -- what the controller calls ---------------------------------------------------------------
    def changed(self) -> None:
        """A session changed: its changes go to the worker at most ``AUTOSAVE_MS`` from now."""
        if self._autosave_after is None:
            delay = min(AUTOSAVE_MAX_MS, max(AUTOSAVE_MS, int(1500 * self._last_save)))
            self._autosave_after = self.root.after(delay, self.send_all)

    def send_all(self) -> None:
        if self._autosave_after is not None:
            self.root.after_cancel(self._autosave_after)
            self._autosave_after = None
        for s in self.sessions:
            self.send(s)

    def prime(self, s: EditSession) -> None:
        """Give the worker its copy of the maps now, so that the first autosave during a stroke
        sends a rectangle, not 3 bytes per pixel of the photo (~30 ms at 12 megapixels)."""
        if s.sent_full:
            return
        worker = self._worker()
        job = self._job(s)
        job.full, job.save = (s.labels.copy(), s.persons.copy()), False
        s.sent_full = True
        s.dirty = EMPTY
        worker.submit(job)

    def send(self, s: EditSession) -> None:
        """Hand the changes of ``s`` since the last copy to the worker."""
        if not s.unsent:
            return
        worker = self._worker()
        job = self._job(s)
        if not s.sent_full:
            job.full = (s.labels.copy(), s.persons.copy())
            s.sent_full = True
        elif not s.dirty.empty:
            sl = s.dirty.slices
            job.patches = [(s.dirty, s.labels[sl].copy(), s.persons[sl].copy())]
        s.dirty = EMPTY
        s.sent_version = s.history.version
        worker.submit(job)
        self._poll_soon()

    def leave(self, s: EditSession) -> None:
        """The reviewer left the image of ``s``: its pending changes are saved before returning
        (when they go to a workspace), and the worker drops its copy of the maps."""
        s.history.end_stroke()
        self.send(s)
        if self.worker is not None and s.sent_full:
            self.worker.forget(s.key)
            s.sent_full = False
        if s.unsaved and s.workspace is not None and self.worker is not None:
            self.worker.wait_idle(LEAVE_WAIT_S)
            self.drain()

    def forget(self, s: EditSession) -> None:
        """``s`` was dropped from memory: the worker drops its copy too."""
        if self.worker is not None and s.sent_full:
            self.worker.forget(s.key)
            s.sent_full = False

    def pending(self) -> bool:
        """Changes not yet confirmed saved (or counted, without a workspace) by the worker."""
        return any(s.unsaved for s in self.sessions)

    def flush(self, wait: bool = True, timeout: float = 30.0) -> bool:
        """Send every pending change now; with ``wait``, block until the worker is done.
        True when nothing is left pending (edits without a workspace count once counted)."""
        for s in self.sessions:
            s.history.end_stroke()
        self.send_all()
        if wait and self.worker is not None:
            self.worker.wait_idle(timeout)
            self.drain()
        return not self.pending()

    def close(self) -> None:
        """Save everything pending, stop the worker (the window is closing)."""
        try:
            self.flush(wait=True)
        except Exception:  # noqa: BLE001 - never block quitting; the log says what was not saved
            log.exception("Saving the corrections on exit failed")
        for after in (self._autosave_after, self._poll_after, self._retry_after):
            if after is not None:
                try:
                    self.root.after_cancel(after)
                except tk.TclError:
                    pass
        self._autosave_after = self._poll_after = self._retry_after = None
        if self.worker is not None:
            self.worker.stop()
            self.drain()

    # -- the worker and its answers ------------------------------------------------------------------
    def _job(self, s: EditSession) -> SaveJob:
        return SaveJob(s.key, s.history.version, (s.model_labels, s.model_persons), workspace=s.workspace,
                       image_id=s.image_id, base_result_id=s.base_result_id, class_names=self.class_names())

    def _worker(self) -> AutosaveWorker:
        if self.worker is None or not self.worker.is_alive():
            self.worker = AutosaveWorker()
            self.worker.start()
            for s in self.sessions:  # a new worker holds no copies
                s.sent_full = False
        return self.worker

    def _poll_soon(self) -> None:
        if self._poll_after is None:
            self._poll_after = self.root.after(POLL_MS, self._poll)

    def _poll(self) -> None:
        self._poll_after = None
        self.drain()
        if self.worker is not None and (self.worker.busy or not self.worker.results.empty()):
            self._poll_soon()

    def drain(self) -> None:
        """Handle every answer the worker has posted."""
        if self.worker is None:
            return
        while True:
            try:
                outcome = self.worker.results.get_nowait()
            except queue.Empty:
                return
            self._outcome(outcome)

    def _outcome(self, o: SaveOutcome) -> None:
        s = self.sessions.get(o.key)
        if o.needs_full:
            if s is not None:
                s.sent_full = False
                s.sent_version = -1
                self.changed()
            return
        if o.error:
            if s is not None:
                s.sent_version = -1  # send again: the worker's copy is already up to date
            if self._retry_after is None:
                self._retry_after = self.root.after(RETRY_MS, self._retry)
        elif o.seconds:
            self._last_save = o.seconds
        if not o.error and s is not None and o.version >= s.saved_version:
            s.saved_version = o.version
            s.edited = o.edited
            s.stored = (o.saved or not o.edited) and o.version == s.history.version
            s.person_ids = tuple(sorted(set(o.person_ids)))
            s.extra_persons -= set(s.person_ids)
            s.class_counts = o.class_counts
        self.on_saved(s, o)

    def _retry(self) -> None:
        self._retry_after = None
        self.send_all()
