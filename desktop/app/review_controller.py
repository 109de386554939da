"""The window's review workspace: opening, restoring, saving every result, verdict and note.

Attached to the window as ``window.review``. Other window modules rely on three names:
``workspace`` (the open :class:`~desktop.review.workspace.Workspace`, or None),
:meth:`ReviewController.image_id_for` (a photo's row in it) and :attr:`read_only` (nothing
can be saved: no workspace, or one opened read-only).

What it does, and where it happens:

- **Opening.** Opening a folder opens *its* workspace (:func:`find_workspace`: one saved in
  the folder, else the default one in the user data folder, created when new); images
  opened while a workspace is open join it. Starting the app reopens the last workspace.
  The list, verdicts, notes and results come back without parsing (results are read from
  the workspace when an image is shown), then the image, view and list layout the user was
  on. Files are compared with what was stored in a background thread: an image changed on
  disk is parsed again and, if it had a verdict, flagged "changed since review".
- **Saving.** Results are stored by the parse worker's thread (its own connection) before
  the window is told about them; verdicts and notes are tiny transactions on the window's
  thread (well under 5 ms); the note is saved 0.3 s after typing stops. Nothing waits for
  a Save button, and closing the window only flushes what is pending.
- **Never in the way.** A workspace that cannot be opened or written is said once in a
  notice above the image; the window goes on working without saving rather than stopping.

Its parts: :mod:`.review_scanning` (opening files and folders), :mod:`.review_verdicts`
(verdicts, notes, navigation, the list's order), :mod:`.workspace_actions` (the menu
commands), :mod:`.verdict_panel`, :mod:`.list_controls`, :mod:`.notice_bar` (the widgets).
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import threading
import time
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import ttk

from desktop.app.doubt_panel import store_doubt_of
from desktop.app.list_controls import ListControls
from desktop.app.list_view import ListView
from desktop.app.notice_bar import NoticeBar
from desktop.app.review_scanning import FolderOpening
from desktop.app.review_store import ReviewStore
from desktop.app.review_verdicts import VerdictCommands
from desktop.app.session import ImageEntry, State, image_key
from desktop.app.verdict_icons import VerdictIcons
from desktop.app.verdict_panel import VerdictCounts, VerdictPanel, configure_styles
from desktop.engine.result import ParsingResult
from desktop.i18n import _, ngettext
from desktop.imageio import sha256_file
from desktop.review.model_key import ModelIdentity
from desktop.review.workspace import FileCheck, Workspace, WorkspaceError

log = logging.getLogger(__name__)

POLL_MS = 100
CHECK_SLICE = 4096  # images compared per hold of the lock (a stat each; a hash only when changed)
UI_STATE_DELAY_MS = 1000


class ReviewController(FolderOpening, VerdictCommands):
    """See the module docstring. Build it after the window's layout, before its key bindings."""

    def __init__(self, window):
        self.window = window
        self.root: tk.Tk = window.root
        self.settings = window.settings
        self.workspace: Workspace | None = None
        self.model: ModelIdentity | None = None
        #: Held while the workspace is switched or closed, and while a worker thread writes
        #: to it, so a result is never written to a workspace being closed.
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self._by_id: dict[int, ImageEntry] = {}
        self.inbox: queue.Queue = queue.Queue()
        self._ui_after: str | None = None
        self._counts_after: str | None = None
        self._pending_view: tuple[str, dict] | None = None
        self._restoring = False
        self._just_restored = False
        self._missing: set[int] = set()
        self.other_model_count = 0

        u = window.u
        configure_styles(self.root, u)
        self.icons = VerdictIcons(self.root, max(12, int(u * 0.95)))
        window.file_list.icon_for = self.icons.for_entry
        self.notices = NoticeBar(window.outer, unit=u)
        self.notices.pack(fill="x", before=window.body, padx=u // 3)
        self.controls = ListControls(window.file_list, unit=u, on_change=self.apply_view)
        self.controls.pack(fill="x", padx=u // 2, pady=(0, u // 4), before=window.file_list.tree.master)
        self.panel = VerdictPanel(window.side.upper.inner, unit=u, icons=self.icons, on_verdict=self.set_verdict,
                                  on_note=self.save_note, on_reviewer=self.ask_reviewer)
        self.panel.pack(fill="x", after=window.info_label, pady=(0, u // 2))
        ttk.Separator(window.side.upper.inner, orient="horizontal", style="Side.TSeparator").pack(
            fill="x", after=self.panel, pady=(0, u // 3))
        self.counts = VerdictCounts(window.status_bar, icons=self.icons, unit=u)
        self.counts.pack(side="right", before=window.status_bar.message)
        self.panel.set_reviewer(self.reviewer)
        if isinstance(window.store, ReviewStore):
            window.store.backend = self
        from desktop.app.workspace_actions import WorkspaceActions

        self.actions = WorkspaceActions(self)
        self.actions.build_menus()
        self._poll_after: str | None = self.root.after(POLL_MS, self._poll)

    # ================================================================== the shared API
    @property
    def read_only(self) -> bool:
        """Nothing can be saved: no workspace is open, or it was opened read-only."""
        ws = self.workspace
        return ws is None or ws.read_only

    def image_id_for(self, path: str | os.PathLike[str]) -> int | None:
        """The workspace row of the image at ``path`` (as listed in the window), or None."""
        key = str(path)
        iid = self._ids.get(key)
        if iid is None:
            iid = self._ids.get(image_key(path))
        if iid is None and self.workspace is not None:
            try:
                iid = self.workspace.find_image(path)
            except WorkspaceError:
                return None
        return iid

    @property
    def reviewer(self) -> str:
        from desktop.review.workspace_lock import current_user

        return self.settings.reviewer or current_user()

    # ================================================================== results (any thread)
    def save(self, key: str, result: ParsingResult) -> Callable[[], None] | None:
        """Store a result the parse worker just made (called in the worker's thread). Returns
        what is left to do once the window shows the result (its doubt score, then the "stored"
        notice): a person map and confidence statistics at the photo's size, 12 s of a
        48-megapixel photo's 15 (issue 13), which the reviewer need not wait for."""
        with self._lock:
            iid, ws = self._ids.get(key), self.workspace
            if iid is None or ws is None or ws.read_only:
                return
            try:
                sha, size, mtime = ws.file_state(iid)
            except (WorkspaceError, KeyError):
                sha = size = mtime = None
        try:  # the slow part (hashing, encoding) outside the lock
            model = _identity_of(result)
            st = os.stat(key)
            if sha is None or (st.st_size, st.st_mtime_ns) != (size, mtime):
                sha = sha256_file(key)
            encoded = Workspace.encode(result)
        except (OSError, KeyError, ValueError) as exc:
            log.warning("Result of %s not stored: %s", key, exc)
            self.inbox.put(("save_failed", ws, key, str(exc)))
            return
        with self._lock:
            if self.workspace is not ws or self._ids.get(key) != iid:
                return  # the workspace was closed or switched meanwhile
            try:
                ws.store_result(iid, encoded, model, sha256=sha, size=st.st_size, mtime_ns=st.st_mtime_ns)
            except (WorkspaceError, KeyError) as exc:
                log.warning("Result of %s not stored: %s", key, exc)
                self.inbox.put(("save_failed", ws, key, str(exc)))
                return

        def finish() -> None:
            store_doubt_of(self, ws, iid, result)  # issue 16: the list sorts by it, the panel says why
            self.inbox.put(("stored", ws, iid))

        return finish

    def load(self, key: str) -> ParsingResult | None:
        """The stored model result of a listed image (the view shows it: no parsing)."""
        iid, ws = self._ids.get(key), self.workspace
        if iid is None or ws is None:
            return None
        try:
            return ws.load_result(iid)
        except WorkspaceError as exc:
            log.warning("Stored result of %s cannot be read: %s", key, exc)
            return None

    def effective_result(self, key: str) -> tuple[ParsingResult, bool] | None:
        """What exports write: the reviewer's edited maps where edited, else the model's result
        (in memory, or stored). Any thread."""
        with self._lock:
            iid, ws = self._ids.get(key), self.workspace
            found = None
            if iid is not None and ws is not None:
                try:
                    found = ws.effective_result(iid)
                except WorkspaceError as exc:
                    log.warning("Workspace result of %s cannot be read: %s", key, exc)
        if found is not None:
            return found
        result = self.window.store.get(key)
        return None if result is None else (result, False)

    def edited_maps(self, key: str):
        """The reviewer's maps of a listed image (None: not edited). Any thread."""
        with self._lock:
            iid, ws = self._ids.get(key), self.workspace
            if iid is None or ws is None:
                return None
            try:
                return ws.edited_maps(iid)
            except WorkspaceError:
                return None

    def review_info(self, key: str) -> dict | None:
        """The image's review for its exported JSON (status, note, reviewer, edits)."""
        with self._lock:
            iid, ws = self._ids.get(key), self.workspace
            if iid is None or ws is None:
                return None
            try:
                return ws.review_info(iid)
            except (WorkspaceError, KeyError):
                return None

    # ================================================================== workspaces
    def open_workspace(self, path: str | os.PathLike[str], scan: tuple[list[str], bool] | None = None) -> bool:
        """Close the open workspace (everything is saved) and open ``path`` (created when new).
        Returns whether a workspace is open afterwards."""
        self._leave_workspace()
        path = Path(path)
        try:
            ws = Workspace.open(path, reviewer=self.reviewer)
        except WorkspaceError as exc:
            log.warning("Workspace %s cannot be opened: %s", path, exc)
            self.notices.show("workspace", _("{reason} The images are shown, but verdicts, notes and results cannot "
                                             "be saved.").format(reason=exc), "error")
            ws = None
        with self._lock:
            self.workspace = ws
        if ws is not None:
            self._remember(ws.path)
            self._show_open_notices(ws)
            self._restore(ws)
        self.update_title()
        if scan is not None:
            if self.window.scan_job is not None:  # a scan for the previous workspace is finishing
                self.window._scan_requests.append(scan)
            else:
                self._start_scan(*scan)
        self.window._update_actions()
        return ws is not None

    def reopen_last(self) -> None:
        """At start: the workspace the user had open last time, as they left it."""
        last = self.settings.last_workspace
        if not last:
            return
        if not os.path.isfile(last):
            self.notices.show("workspace", _('The workspace you had open last time, "{path}", is no longer there.').format(path=last),
                              "warning")
            self.settings.last_workspace = ""
            return
        self.open_workspace(last)

    def close_workspace(self) -> None:
        """File ▸ Close workspace: everything is saved; the window is emptied."""
        self._leave_workspace()
        self.settings.last_workspace = ""
        self.window.save_settings()
        self.update_title()

    def _leave_workspace(self) -> None:
        win = self.window
        self.panel.flush()
        edit = getattr(win, "edit", None)  # the corrections' autosave writes to the workspace too
        if edit is not None and self.workspace is not None:
            try:
                edit.flush(wait=True)
            except Exception:  # noqa: BLE001 - the edit module logs what it could not save
                log.exception("Saving the corrections before leaving the workspace failed")
        self._save_ui_state()
        win.clear_images()
        win._scan_requests.clear()  # folders queued for the old workspace
        with self._lock:
            self._ids.clear()
            self._by_id.clear()
        self.notices.clear()
        self._missing.clear()
        self._pending_view = None
        with self._lock:
            ws, self.workspace = self.workspace, None
        if ws is not None:
            ws.close()
        gc.unfreeze()  # the previous list's objects are ordinary garbage again
        self.panel.show(None)
        self.update_counts()

    def _remember(self, path: Path) -> None:
        s = self.settings
        text = str(path)
        s.last_workspace = text
        s.recent_workspaces = [text] + [p for p in s.recent_workspaces if p != text][:9]
        self.window._save_settings_soon()

    def _show_open_notices(self, ws: Workspace) -> None:
        for i, text in enumerate(ws.notices):
            self.notices.show(f"open-{i}", text, "warning")
        if ws.read_only:
            self.notices.show("read-only", _("Read-only. {reason}").format(reason=ws.read_only_reason), "warning", dismissible=False)
        self.panel.set_writable(not ws.read_only)
        self.panel.set_reviewer(self.reviewer, changeable=True)

    def _restore(self, ws: Workspace) -> None:
        """The workspace's images, as the user left them (results stay in the file until shown)."""
        win = self.window
        t0 = time.perf_counter()
        try:
            records = ws.records()
            state = ws.ui_state()
        except WorkspaceError as exc:
            self.notices.show("workspace", str(exc), "error")
            return
        entries = [self._entry_from(r) for r in records]
        added = win.images.extend(entries)
        for e in added:
            self._track(e)
        del records
        # Tens of thousands of long-lived objects now (entries, paths): a full garbage
        # collection walking them all took 50-100 ms, a visible stall, every few seconds while
        # the list filled. They hold no reference cycles (freed by reference counting when the
        # workspace closes), so they are moved out of the collector's sight.
        gc.collect(1)
        gc.freeze()
        view = ListView.from_state(state)
        self.controls.set_view(view)
        current = next((e.key for e in added if e.image_id == state.get("current")), None)
        ordered = view.apply(added, keep=current)
        shown = {e.key for e in ordered}
        rest = [e for e in added if e.key not in shown]
        self._restoring = True

        def filled() -> None:
            self._restoring = False
            if rest:  # rows the filter hides were listed too: hide them now
                self.apply_view()
            else:  # already in the order shown
                self.controls.set_shown(len(ordered), len(win.images))
            if win.current_key is not None:
                win.file_list.select(win.current_key)
            # Then compare the files (after the fill: a busy thread would slow the window meanwhile).
            if self.workspace is ws:
                self._check_files(ws, [e.image_id for e in added if e.image_id is not None])

        win.file_list.add_in_chunks(ordered + rest, on_done=filled)
        mode = state.get("view_mode")
        if isinstance(mode, str) and mode in _view_modes():
            win.set_view_mode(mode)
        width = state.get("list_width")
        if isinstance(width, int) and 80 <= width <= 2000:
            self.root.after_idle(lambda: _set_sash(win.body, width))
        if current is None and ordered:
            current = ordered[0].key
        if current is not None:
            if isinstance(state.get("view"), dict):
                self._pending_view = (current, state["view"])
            win.select(current)
        log.info("Workspace %s: %d images listed in %.3f s", ws.path, len(added), time.perf_counter() - t0)
        n_done = sum(1 for e in added if e.state is State.DONE)
        win.set_status(ngettext('Workspace "{name}" opened: {n} image, {done} with its result ready.',
                                'Workspace "{name}" opened: {n} images, {done} with their results ready.',
                                len(added)).format(name=self.display_name(ws), n=len(added), done=n_done))
        self._just_restored = True
        self._mark_other_models()
        win._queue_for_parsing([e.key for e in added if e.state is State.WAITING])
        self.update_counts()

    def _check_files(self, ws: Workspace, ids: list[int]) -> None:
        """Compare the listed images with their files, in a background thread."""
        if not ids:
            return

        def run() -> None:
            # In slices, under the lock: the workspace may be closed between two, never during one.
            for start in range(0, len(ids), CHECK_SLICE):
                with self._lock:
                    if self.workspace is not ws:
                        return
                    try:
                        check = ws.check_files(ids[start:start + CHECK_SLICE])
                    except WorkspaceError as exc:
                        log.warning("Checking the files of %s failed: %s", ws.path, exc)
                        return
                if check.changed or check.flagged or check.missing:
                    self.inbox.put(("checked", ws, check))

        threading.Thread(target=run, name="workspace-check", daemon=True).start()

    def _files_checked(self, check: FileCheck) -> None:
        win, ws = self.window, self.workspace
        if ws is None:
            return
        again = []
        for iid in check.changed:
            entry = self._by_id.get(iid)
            if entry is None:
                continue
            win.store.discard(entry.key)
            try:
                self._apply_record(entry, ws.record(iid))
            except (WorkspaceError, KeyError):
                pass
            if entry.state is not State.PARSING:
                entry.state, entry.error = State.WAITING, ""
            win.file_list.refresh(entry)
            again.append(entry.key)
            if entry.key == win.current_key:
                win.current_result = None
                win.canvas_view.show(None)
                win._photos.pop(entry.key, None)
                win.photo_loader.request(entry.key)
                self._show_entry(entry)
        if check.flagged:
            flagged = sum(1 for e in win.images if e.changed)
            self.notices.show("changed", ngettext(
                "{n} image changed on disk since it was reviewed: it is parsed again and its verdict is flagged "
                "until confirmed.",
                "{n} images changed on disk since they were reviewed: they are parsed again and their verdicts are "
                "flagged until confirmed.", flagged).format(n=flagged),
                "warning", actions=[(_("Show them"), lambda: self.controls.set_filter("changed"))])
        if check.missing:
            self._missing.update(check.missing)
            n_missing = len(self._missing)
            self.notices.show("missing", ngettext(
                "{n} image of this workspace is missing from its folder; its verdict and result are kept.",
                "{n} images of this workspace are missing from their folder; their verdicts and results are kept.",
                n_missing).format(n=n_missing), "warning")
        win._queue_for_parsing(again)
        self.update_counts()
        win._update_actions()

    # ================================================================== the model
    def model_ready(self, info: dict) -> None:
        """The parser is loaded: find its identity (hashing its files: in a thread) to tell
        results of another model apart."""
        info = dict(info)

        def run() -> None:
            try:
                identity = ModelIdentity.from_info(info)
            except (OSError, KeyError, ValueError) as exc:
                log.warning("The model's identity cannot be computed: %s", exc)
                return
            self.inbox.put(("model", identity))

        threading.Thread(target=run, name="model-identity", daemon=True).start()

    def _mark_other_models(self) -> None:
        """Flag the images whose stored result came from another model, and offer to parse them."""
        ws, win = self.workspace, self.window
        if ws is None or self.model is None:
            return
        try:
            keys = {r.id: r.model_key for r in ws.records()}
        except WorkspaceError:
            return
        flagged = []
        for e in win.images:
            mk = keys.get(e.image_id) if e.image_id is not None else None
            other = e.state is State.DONE and mk is not None and mk != self.model.key
            if other != e.other_model:
                e.other_model = other
                win.file_list.refresh(e)
            if other:
                flagged.append(e)
        self.other_model_count = len(flagged)
        if flagged:
            models = ws.models()
            names = sorted({models[k].describe() for k in {keys[e.image_id] for e in flagged} if k in models})
            self.notices.show(
                "other-model",
                ngettext("{n} image shows the result of another model ({models}), not of the one loaded "
                         "({loaded}). It is marked in the list.",
                         "{n} images show results of another model ({models}), not of the one loaded "
                         "({loaded}). They are marked in the list.", len(flagged)).format(
                    n=len(flagged), models=", ".join(names) or _("unknown"), loaded=self.model.describe()), "info",
                actions=[(_("Parse them again"), self.parse_other_models),
                         (_("Show them"), lambda: self.controls.set_filter("other_model"))])
        else:
            self.notices.dismiss("other-model")

    def parse_other_models(self) -> None:
        win = self.window
        keys = []
        for e in win.images:
            if e.other_model and e.state is State.DONE:
                e.state = State.WAITING
                e.other_model = False
                win.store.discard(e.key)
                win.file_list.refresh(e)
                keys.append(e.key)
        win._queue_for_parsing(keys)
        win._update_actions()

    # ================================================================== the worker's news
    def _poll(self) -> None:
        self._poll_after = None
        if self._closed_for_good():
            return
        deadline = time.perf_counter() + 0.03
        try:
            while time.perf_counter() < deadline:
                try:
                    msg = self.inbox.get_nowait()
                except queue.Empty:
                    break
                try:
                    self._handle(msg)
                except Exception:  # noqa: BLE001 - one bad message must not stop the polling
                    log.exception("Review message %r failed", msg[0])
            self._apply_pending_view()
        finally:
            if not self._closed_for_good():
                self._poll_after = self.root.after(POLL_MS, self._poll)

    def _closed_for_good(self) -> bool:
        return bool(getattr(self.window, "_closing", False))

    def _handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "stored":
            _, ws, iid = msg
            if ws is self.workspace:
                self._refresh_id(iid, parsed_now=True)
                self.update_counts()
        elif kind == "save_failed":
            _, ws, key, why = msg
            if ws is self.workspace:
                self.notices.show("save-failed", _("A result could not be saved in the workspace: {reason}").format(reason=why), "error")
        elif kind == "checked":
            _, ws, check = msg
            if ws is self.workspace:
                self._files_checked(check)
        elif kind == "model":
            self.model = msg[1]
            self._mark_other_models()
        elif kind == "call":
            msg[1]()

    def _refresh_id(self, iid: int, parsed_now: bool = False) -> None:
        win, ws = self.window, self.workspace
        entry = self._by_id.get(iid)
        if entry is None or ws is None:
            return
        try:
            rec = ws.record(iid)
        except (WorkspaceError, KeyError):
            return
        self._apply_record(entry, rec)
        if parsed_now:  # made by the model loaded now, whatever its identity says (a runtime fallback)
            entry.other_model = False
        win.file_list.refresh(entry)
        if entry.key == win.current_key:
            self._show_entry(entry)

    def image_failed(self, key: str, message: str) -> None:
        """Remember why an image failed (shown again after reopening; parsed again when it changes)."""
        iid, ws = self._ids.get(key), self.workspace
        if iid is not None and ws is not None and not ws.read_only:
            try:
                ws.record_failure(iid, message)
            except WorkspaceError as exc:
                log.warning("Failure of %s not recorded: %s", key, exc)

    # ================================================================== window state
    def _save_ui_state_soon(self) -> None:
        if self._ui_after is not None:
            self.root.after_cancel(self._ui_after)
        self._ui_after = self.root.after(UI_STATE_DELAY_MS, self._save_ui_state)

    def _save_ui_state(self) -> None:
        if self._ui_after is not None:
            try:
                self.root.after_cancel(self._ui_after)
            except tk.TclError:
                pass
            self._ui_after = None
        ws, win = self.workspace, self.window
        if ws is None or ws.read_only or self._restoring:
            return
        entry = self._current()
        state = {"current": entry.image_id if entry is not None else None, "view_mode": win.view_mode.get(),
                 **self.controls.view.as_state()}
        try:
            state["list_width"] = int(win.body.sashpos(0))
        except (tk.TclError, ValueError):
            pass
        cv = win.canvas_view
        if entry is not None and cv.rgb is not None and not cv._fitted:
            pw, ph = cv._pane_size()
            state["view"] = {"scale": round(cv.scale, 4), "x": round(cv.ox + pw / (2 * cv.scale) - 0.5, 1),
                             "y": round(cv.oy + ph / (2 * cv.scale) - 0.5, 1)}
        try:
            ws.set_ui_state(state)
        except (WorkspaceError, ValueError) as exc:
            log.warning("Window state not saved: %s", exc)

    def _apply_pending_view(self) -> None:
        pending, win = self._pending_view, self.window
        if pending is None or win.current_key != pending[0] or win.canvas_view.rgb is None:
            return
        self._pending_view = None
        view = pending[1]
        try:
            win.canvas_view.center_on(float(view["x"]), float(view["y"]), float(view["scale"]))
        except (KeyError, TypeError, ValueError):
            pass

    # ================================================================== closing
    def unsaved_count(self) -> int:
        """Parsed images whose results exist only in memory (no writable workspace)."""
        if not self.read_only:
            return 0
        return sum(1 for e in self.window.images if e.state is State.DONE)

    def shutdown(self) -> None:
        """Closing the window: save the pending note and the place, close the workspace."""
        try:
            self.panel.flush()
            self._save_ui_state()
        except Exception:  # noqa: BLE001 - never block quitting
            log.exception("Saving the review state on exit failed")
        with self._lock:
            ws, self.workspace = self.workspace, None
        if ws is not None:
            ws.close()
        for after in (self._poll_after, self._counts_after, self._ui_after):
            if after is not None:
                try:
                    self.root.after_cancel(after)
                except tk.TclError:
                    pass
        self._poll_after = self._counts_after = self._ui_after = None
        self.controls.cancel_pending()


# ---------------------------------------------------------------------------------------
def _identity_of(result: ParsingResult) -> ModelIdentity:
    """The identity of the model that made ``result`` (from its ``model`` section)."""
    info = result.model or {}
    if info.get("source"):
        return ModelIdentity.from_info(info)
    return ModelIdentity.from_info(info, weights_sha256=str(info.get("weights_sha256") or "unknown"))


def _view_modes() -> tuple[str, ...]:
    from desktop.app.canvas_view import MODES

    return tuple(MODES)


def _set_sash(body: ttk.PanedWindow, width: int) -> None:
    try:
        body.update_idletasks()
        body.sashpos(0, width)
    except tk.TclError:
        pass


