"""Edit mode of the window: correcting the parsing with the mouse, with undo and autosave.

The controller owns, per image, an :class:`~desktop.app.edit_session.EditSession` (the
model's maps, the edited maps and their :class:`~desktop.review.edit_history.EditHistory`),
runs the Tk-free operations of :mod:`desktop.review.edits` and :mod:`desktop.review.person_edits`
on the current one, and after each operation:

- redraws only the changed rectangles (:func:`desktop.app.edit_redraw.redraw_region`);
- marks them for the autosave (:mod:`desktop.app.edit_saving`), which sends a copy of just
  those rectangles to the :class:`~desktop.app.edit_autosave.AutosaveWorker` ``AUTOSAVE_MS``
  after the first unsent change (also in the middle of a long stroke), so a crash loses at
  most about a second; the worker saves the maps into the workspace
  (``window.review.workspace``) off the Tk thread. Going to another image, switching
  workspaces and quitting save what is pending first.

Without a workspace (``window.review`` absent or its ``workspace`` None) the edits live in
memory only and the edit bar says so; with a read-only workspace, edit mode stays off and
says why. An operation that cannot be done (:class:`~desktop.review.edit_core.EditError`)
is a sentence in the status bar.

The window calls nothing here except :meth:`close` (and :meth:`flush` before switching
workspaces): the controller hears of every new image or result from the canvas's
``result_listeners``, adds its own toolbar button and keys, and shows its bar above the photo.
"""

from __future__ import annotations

import logging
import tkinter as tk
from collections.abc import Callable
from tkinter import messagebox, ttk
from typing import Any

import cv2
import numpy as np

from desktop import APP_NAME
from desktop.app.edit_actions import EditActions
from desktop.app.edit_autosave import SaveOutcome
from desktop.app.edit_panel import VIEW_TITLES, VIEWS, EditPanel
from desktop.app.edit_redraw import redraw_region
from desktop.app.edit_saving import AUTOSAVE_MS, EditSaving
from desktop.app.edit_session import LEFT_HISTORY_BYTES, EditSession, SessionCache
from desktop.app.edit_tools import TOOL_BY_NAME, TOOLS, PointerTools, next_size
from desktop.app.widgets import Tooltip
from desktop.i18n import N_, _, ngettext
from desktop.review import edits
from desktop.review.edit_core import Edit, EditError, Rect
from desktop.review.maps import person_map_of

log = logging.getLogger(__name__)

__all__ = ["EditController", "AUTOSAVE_MS", "KIND_TITLES"]

DEFAULT_CLASS = 5  # UpperClothes: the most common correction target in the CIHP classes
DEFAULT_SIZE = 15

#: What an undo step was, for the status bar ("Undone: fill.").
KIND_TITLES = {
    "brush": N_("brush stroke"), "erase": N_("eraser stroke"), "fill": N_("fill"), "polygon": N_("polygon fill"),
    "relabel": N_("relabel"), "move": N_("move to another person"), "new_person": N_("new person"),
    "merge": N_("merge of two persons"), "delete_person": N_("deletion of a person"), "swap": N_("left/right swap"),
    "revert": N_("revert to the model's result"),
}


class EditController(EditActions):
    """Edit mode, tools, undo/redo, views and autosave of the main window (``window.edit``)."""

    def __init__(self, window: Any) -> None:
        self.w = window
        self.root: tk.Tk = window.root
        self.cv = window.canvas_view
        self.sessions = SessionCache()
        self.session: EditSession | None = None
        self.active = False
        self.view = "edited"
        self.tool = "brush"
        self.label = DEFAULT_CLASS
        self.person = 1
        self.size = DEFAULT_SIZE
        self.relabel_popup: tk.Menu | None = None
        self._tool_before_picker = "brush"
        self._stroke_failed = False
        self._swatches: dict[int, tk.PhotoImage] = {}
        self.edit_var = tk.BooleanVar(self.root, value=False)
        self.saving = EditSaving(self.root, self.sessions, self._class_names, self._saved)
        self._add_toolbar_button()
        self.panel = EditPanel(self.cv.master, self, self._class_names(), self._palette())
        self.tools = PointerTools(self.cv, self)
        self._bind_keys()
        self.cv.result_listeners.append(self._result_changed)
        self.panel.refresh()

    # ================================================================== window wiring
    def _add_toolbar_button(self) -> None:
        bar = self.w.buttons["export"].master
        ttk.Separator(bar, orient="vertical").pack(side="left", fill="y", padx=max(4, self.w.u // 3))
        self.button = ttk.Checkbutton(bar, text=_("✎ Edit"), variable=self.edit_var, style="Toolbutton",
                                      command=lambda: self.set_active(self.edit_var.get()), takefocus=False)
        self.button.pack(side="left")
        Tooltip(self.button, self._button_tip)

    def _button_tip(self) -> str:
        reason = self.read_only_reason()
        if reason:
            return _("Editing is not possible: {reason}").format(reason=reason)
        return _("Correct the parsing with a brush, fill, relabel and person tools (E).")

    def _bind_keys(self) -> None:
        root = self.root
        mod = "Command" if root.tk.call("tk", "windowingsystem") == "aqua" else "Control"

        def key(func: Callable[[], object], edit_only: bool = True, plain: bool = True):
            def run(event: tk.Event) -> str | None:
                if not self._key_target_ok(event) or (edit_only and not self.active):
                    return None
                if plain and event.state & 0x4:  # Control held: not ours
                    return None
                func()
                return "break"

            return run

        root.bind("<KeyPress-e>", key(self.toggle, edit_only=False))
        for letter in ("c", "C"):
            root.bind(f"<KeyPress-{letter}>", key(self.cycle_view, edit_only=False))
        for tool in TOOLS:
            for name in tool.keys:
                root.bind(f"<KeyPress-{name}>", key(lambda t=tool.name: self.choose_tool(t), edit_only=name != "E"))
        root.bind("<KeyPress-comma>", key(lambda: self.step_size(-1)))
        root.bind("<KeyPress-period>", key(lambda: self.step_size(1)))
        root.bind(f"<{mod}-z>", key(self.undo, edit_only=False, plain=False))
        root.bind(f"<{mod}-Z>", key(self.redo, edit_only=False, plain=False))
        root.bind(f"<{mod}-y>", key(self.redo, edit_only=False, plain=False))

    def _key_target_ok(self, event: tk.Event) -> bool:
        widget = event.widget
        try:
            if widget.winfo_toplevel() is not self.root:
                return False
        except (AttributeError, tk.TclError):
            return False
        return not isinstance(widget, (tk.Entry, ttk.Entry, tk.Text, ttk.Spinbox, ttk.Combobox))

    def status(self, text: str, warn: bool = False) -> None:
        self.w.set_status(text, warn=warn)

    def focus_canvas(self) -> None:
        self.cv.canvas.focus_set()

    def _class_names(self) -> tuple[str, ...]:
        result = self.cv.result
        return tuple(result.class_names) if result is not None else tuple(self.w.class_names)

    def _palette(self) -> np.ndarray:
        result = self.cv.result
        return np.asarray(result.palette if result is not None else self.w.palette)

    # ================================================================== workspace
    def _review(self) -> Any:
        return getattr(self.w, "review", None)

    def workspace(self) -> Any:
        review = self._review()
        return getattr(review, "workspace", None) if review is not None else None

    def read_only_reason(self) -> str | None:
        """Why edits cannot be saved (a read-only workspace), or None."""
        review, ws = self._review(), self.workspace()
        if ws is None:
            return None
        if getattr(review, "read_only", False) or getattr(ws, "read_only", False):
            return getattr(ws, "read_only_reason", None) or _("The workspace is open read-only.")
        return None

    def _image_id(self, key: str, ws: Any) -> int | None:
        if ws is None:
            return None
        entry = self.w.images.get(key)
        if entry is None:
            return None
        try:
            return self._review().image_id_for(entry.path)
        except Exception:  # noqa: BLE001 - an image the workspace cannot name is edited in memory
            log.exception("No workspace id for %s", key)
            return None

    def note(self) -> str:
        """What the edit bar warns about, or ''."""
        reason = self.read_only_reason()
        if reason:
            return _("Editing is off: {reason}").format(reason=reason)
        if self.cv.result is None:
            return _("This image is not parsed yet: it can be corrected once it is parsed.")
        s = self.session
        if (s is not None and s.workspace is None) or (s is None and self.workspace() is None):
            return _("Corrections are kept in memory only, because no workspace is open: "
                     "they are lost when the application closes.")
        return ""

    # ================================================================== edit mode
    def toggle(self) -> None:
        self.set_active(not self.active)

    def set_active(self, on: bool) -> None:
        """Turn edit mode on or off (the toolbar toggle and E)."""
        on = bool(on)
        if on:
            reason = self.read_only_reason()
            if reason:
                self.edit_var.set(False)
                self.status(_("Editing is not possible: {reason}").format(reason=reason), warn=True)
                return
        if on == self.active:
            self.edit_var.set(on)
            return
        self.active = on
        self.edit_var.set(on)
        if on:
            self.panel.pack(side="top", fill="x", before=self.cv)
            self._attach(create=True)
            self.focus_canvas()
            self.status(_("Edit mode: {tip}").format(tip=_(TOOL_BY_NAME[self.tool].tip)))
        else:
            self.tools.reset()
            self.panel.pack_forget()
            self.saving.send_all()
            self.status(_("Edit mode is off."))
        self.tools.place_items()
        self.panel.refresh()

    def can_start_session(self) -> bool:
        return self.cv.result is not None and self.cv.rgb is not None and self.read_only_reason() is None

    def choose_tool(self, name: str) -> None:
        """A tool's key: that tool, turning edit mode on if needed (Shift+E)."""
        if not self.active:
            self.set_active(True)
            if not self.active:
                return
        self.set_tool(name)

    def set_tool(self, name: str) -> None:
        if name not in TOOL_BY_NAME:
            raise ValueError(f"unknown tool {name!r}")
        if name == "picker" and self.tool != "picker":
            self._tool_before_picker = self.tool
        if name != "polygon" and self.tools.polygon:
            self.tools.reset()
        self.tool = name
        self.tools.place_items()
        self.panel.refresh()
        self.status(_(TOOL_BY_NAME[name].tip))

    def set_label(self, label: int) -> None:
        self.label = int(label)
        self.panel.refresh()

    def set_person(self, person: int) -> None:
        self.person = int(person)
        self.panel.refresh()

    def set_size(self, size: int) -> None:
        self.size = max(1, int(size))
        self.tools.place_items()
        self.panel.refresh()

    def step_size(self, steps: int) -> None:
        self.set_size(next_size(self.size, steps))
        self.status(ngettext("Brush size: {n} pixel.", "Brush size: {n} pixels.", self.size).format(n=self.size))

    @property
    def radius(self) -> float:
        return (self.size - 1) / 2

    def person_ids(self) -> list[int]:
        """Persons of the current image the reviewer can choose."""
        s = self.session
        if s is not None:
            return s.all_person_ids()
        result = self.cv.result
        return sorted(p.id for p in result.persons) if result is not None else []

    # ================================================================== images and views
    def _result_changed(self) -> None:
        """The canvas shows another image or result: attach that image's session, if any."""
        key = self.w.current_key
        prev = self.session
        if prev is not None and (prev.key != key or self.cv.result is None):
            self._leave(prev)
        self.tools.reset()
        self._attach(create=self.active)
        # After the window's own panel refresh (which shows the model's counts and persons).
        self.root.after_idle(self._sync_panels)

    def _attach(self, create: bool) -> None:
        key, result = self.w.current_key, self.cv.result
        self.session = None
        if key is not None and result is not None and self.cv.rgb is not None:
            self.session = self._session_for(key, create=create)
        if self.active and self.session is not None:
            self.saving.prime(self.session)
        self._apply_view()
        self.panel.refresh()

    def _leave(self, s: EditSession) -> None:
        """The reviewer left an image: save what is pending, keep a smaller undo history."""
        self.saving.leave(s)
        s.history.trim(LEFT_HISTORY_BYTES)
        self.session = None
        self._evict()

    def _session_for(self, key: str, create: bool) -> EditSession | None:
        result = self.cv.result
        shape = result.labels.shape
        ws = self.workspace()
        s = self.sessions.get(key)
        if s is not None and s.shape == shape and (s.workspace is ws or s.unsaved or not s.stored):
            self.sessions.touch(key)
            if s.workspace is None and ws is not None and not self.read_only_reason():
                self._adopt(s, ws)
            return s
        if s is not None:  # another size (the photo changed) or another workspace: start again
            self.saving.send(s)
            self.saving.forget(s)
            self.sessions.pop(key)
        image_id = self._image_id(key, ws)
        stored = None
        if image_id is not None:
            try:
                stored = ws.edited_maps(image_id)
            except Exception as exc:  # noqa: BLE001 - shown, and the image opens as parsed
                self.status(_("The saved corrections of this image cannot be read: {reason}").format(reason=exc),
                            warn=True)
            if stored is not None and stored.labels.shape != shape:
                log.warning("Saved edits of %s are %s, the photo is %s: ignored", key, stored.labels.shape, shape)
                stored = None
        if stored is None and not create:
            return None
        model = self._model_result(result, ws, image_id, stored)
        try:
            base_id = stored.base_result_id if stored is not None else (
                ws.result_id_for(image_id) if image_id is not None else None)
        except Exception:  # noqa: BLE001 - provenance only
            base_id = None
        s = EditSession.create(key, model.labels, person_map_of(model),
                               None if stored is None else (stored.labels, stored.persons),
                               image_id=image_id, workspace=ws if image_id is not None else None,
                               base_result_id=base_id)
        if stored is not None:
            s.class_counts = _class_counts(s.labels)
        self.sessions.put(s)
        self._evict()
        return s

    def _adopt(self, s: EditSession, ws: Any) -> None:
        """Corrections kept in memory get a workspace that now has their image: saved there."""
        image_id = self._image_id(s.key, ws)
        if image_id is None:
            return
        s.workspace, s.image_id = ws, image_id
        try:
            s.base_result_id = ws.result_id_for(image_id)
        except Exception:  # noqa: BLE001 - provenance only
            s.base_result_id = None
        if s.edited_now():
            s.sent_version = -1  # the next autosave stores them
            self.saving.changed()

    @staticmethod
    def _model_result(result: Any, ws: Any, image_id: int | None, stored: Any) -> Any:
        """The model's result to compare with: the one the edits were made from, when stored."""
        if stored is None or ws is None:
            return result
        try:
            base = (ws.load_result_by_id(stored.base_result_id) if stored.base_result_id is not None
                    else ws.load_result(image_id))
        except Exception:  # noqa: BLE001 - fall back to the result shown
            log.exception("The model result of image %s cannot be read", image_id)
            base = None
        return base if base is not None and base.labels.shape == result.labels.shape else result

    def _evict(self) -> None:
        current = self.session.key if self.session is not None else None
        for s in self.sessions.evict(current):
            self.saving.forget(s)

    def set_view(self, view: str) -> None:
        """Show the edited maps, the differences from the model's, or the model's result."""
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}")
        self.view = view
        self._apply_view()
        self.panel.refresh()
        if self.session is None:
            self.status(_("This image has no corrections: the model's result is shown."))
        else:
            self.status(_("Showing: {view}.").format(view=_(VIEW_TITLES[view])))

    def cycle_view(self) -> None:
        """C: edited, differences, model's result (an image without corrections keeps its view)."""
        if self.session is None:
            self.status(_("This image has no corrections: the model's result is shown."))
            return
        self.set_view(VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)])

    def _apply_view(self) -> None:
        s, cv = self.session, self.cv
        if s is None:
            maps, compare = None, None
        elif self.view == "model":
            maps, compare = (s.model_labels, s.model_persons), None
        elif self.view == "differences":
            maps, compare = (s.labels, s.persons), (s.model_labels, s.model_persons)
        else:
            maps, compare = (s.labels, s.persons), None
        same = (maps is None and cv.maps is None) or (
            maps is not None and cv.maps is not None and maps[0] is cv.maps[0]
            and (compare is None) == (cv.compare_to is None))
        if not same:
            cv.set_maps(maps, compare)

    def _sync_panels(self) -> None:
        """Class shares and the persons list of the edited maps (the window shows the model's)."""
        s = self.session
        if s is None or s.class_counts is None:  # not edited yet: the model's figures are right
            return
        names = self._class_names()
        self.w.class_panel.set_counts(s.class_counts[: len(names)])
        ids = list(s.person_ids)
        panel = self.w.person_panel
        if list(panel.visible_vars) != ids:  # rebuilding the rows resets hide/solo: only on a change
            result = self.cv.result
            scores = {p.id: float(p.score) for p in result.persons} if result is not None else {}
            panel.set_persons([(pid, scores.get(pid, 1.0)) for pid in ids])
            if self.cv.hidden_persons or self.cv.solo_person is not None:
                self.cv.set_options(hidden_persons=set(), solo_person=None)

    # ================================================================== running operations
    def _ready(self) -> EditSession | None:
        """The current image's session, ready to edit, or None (and the reason said)."""
        if not self.active:
            return None
        reason = self.read_only_reason()
        if reason:
            self.status(_("Editing is not possible: {reason}").format(reason=reason), warn=True)
            return None
        if self.session is None:
            if not self.can_start_session():
                self.status(_("This image is not parsed yet: it can be corrected once it is parsed."))
                return None
            self._attach(create=True)
        if self.view == "model":
            self.view = "edited"
            self._apply_view()
            self.panel.refresh()
            self.status(_("Switched to the edited view: corrections are made there, not on the model's result."))
        return self.session

    def _run(self, op: Callable[[np.ndarray, np.ndarray], Any], quiet_nothing: bool = False) -> Edit | None:
        s = self._ready()
        if s is None:
            return None
        try:
            out = op(s.labels, s.persons)
        except EditError as exc:
            self.status(str(exc))
            return None
        edit = out[0] if isinstance(out, tuple) else out
        if s.history.record(edit):
            self._changed(s, [edit.rect], edit)
        elif not quiet_nothing and not s.history.in_stroke:
            self.status(_("Nothing to change here."))
        return edit

    def _changed(self, s: EditSession, rects: list[Rect], edit: Edit | None = None) -> None:
        """The maps of ``s`` changed inside ``rects``: redraw, schedule the save, update the bar."""
        rects = [r for r in rects if not r.empty]
        s.touched(rects)
        if edit is not None and not edit.empty:
            new = {int(p) for p in np.flatnonzero(np.bincount(edit.new_persons))} - {0} - set(s.person_ids)
            if new:
                s.person_ids = tuple(sorted({*s.person_ids, *new}))
                s.extra_persons -= new
        if s is self.session and rects:
            redraw_region(self.cv, rects)
        self.saving.changed()
        if not s.history.in_stroke:
            self.panel.refresh()

    # -- brush and eraser (one undo step per stroke)
    def begin_stroke(self) -> bool:
        s = self._ready()
        if s is None:
            return False
        s.history.begin_stroke("erase" if self.tool == "eraser" else "brush")
        self._stroke_failed = False
        return True

    def paint(self, points: list[tuple[float, float]]) -> None:
        s = self.session
        if s is None or not s.history.in_stroke or self._stroke_failed:
            return
        try:
            if self.tool == "eraser":
                edit = edits.erase(s.labels, s.persons, points, self.radius)
            else:
                edit = edits.brush(s.labels, s.persons, points, self.radius, self.label, self.person)
        except EditError as exc:
            self._stroke_failed = True  # said once per stroke, not on every motion event
            self.status(str(exc))
            return
        if s.history.record(edit):
            self._changed(s, [edit.rect], edit)

    def end_stroke(self) -> None:
        s = self.session
        if s is not None and s.history.in_stroke:
            s.history.end_stroke()
            self._sync_panels()
            self.panel.refresh()

    # ================================================================== undo, redo, revert
    def undo(self) -> None:
        self._step(undo=True)

    def redo(self) -> None:
        self._step(undo=False)

    def _step(self, undo: bool) -> None:
        s = self.session
        self.tools.reset()
        if s is None or not (s.history.can_undo if undo else s.history.can_redo):
            self.status(_("Nothing to undo.") if undo else _("Nothing to redo."))
            return
        kind = s.history.undo_kind if undo else s.history.redo_kind
        rects = s.history.undo() if undo else s.history.redo()
        if self.view == "model":
            self.view = "edited"
            self._apply_view()
        self._changed(s, rects)
        title = _(KIND_TITLES[kind]) if kind in KIND_TITLES else str(kind)
        self.status((_("Undone: {action}.") if undo else _("Redone: {action}.")).format(action=title))

    def revert(self) -> None:
        """Put the model's result back for this image (asks first; an undoable step)."""
        s = self.session
        if s is None or not s.edited_now():
            self.status(_("This image has no corrections to revert."))
            return
        if not messagebox.askyesno(APP_NAME, _("Put back the model's result for this image?\n\nYour corrections "
                                   "to it are removed (Ctrl+Z brings them back while the application is open)."),
                                   icon="warning", parent=self.root):
            return
        self.revert_now()

    def revert_now(self) -> None:
        s = self.session
        if s is None:
            return
        self.tools.reset()
        rects = s.history.revert_to_model(s.model_labels, s.model_persons)
        if self.view == "model":
            self.view = "edited"
            self._apply_view()
        if rects:
            self._changed(s, rects)
        self.status(_("The model's result is back for this image (Ctrl+Z undoes it)."))

    # ================================================================== saving
    def _saved(self, s: EditSession | None, o: SaveOutcome) -> None:
        """The worker's answer for one image (see :class:`EditSaving`)."""
        if o.error:
            entry = self.w.images.get(o.key)
            name = entry.display_name if entry is not None else o.key
            self.status(_("The corrections of {name} could not be saved yet ({reason}); trying again.").format(
                name=name, reason=o.error), warn=True)
            return
        self._mark_list(o.key, o.edited)
        if s is not None and s is self.session and not s.history.in_stroke:  # after the stroke, not during it
            self._sync_panels()
            self.panel.refresh()

    def _mark_list(self, key: str, edited: bool) -> None:
        """The file list marks edited images (``ImageEntry.edited``)."""
        entry = self.w.images.get(key)
        if entry is not None and getattr(entry, "edited", None) != edited:
            entry.edited = edited
            self.w.file_list.refresh(entry)

    def is_edited(self, key: str) -> bool:
        """Whether the image's maps differ from the model's, as far as the app knows now."""
        s = self.sessions.get(key)
        return bool(s is not None and s.edited_now())

    def pending(self) -> bool:
        """Changes not yet confirmed saved (or counted, without a workspace) by the worker."""
        return self.saving.pending()

    def flush(self, wait: bool = True, timeout: float = 30.0) -> bool:
        """Save every pending change now; with ``wait``, block until done. Call it before a
        workspace is closed or switched. True when nothing is left pending."""
        return self.saving.flush(wait, timeout)

    def close(self) -> None:
        """The window is closing: save everything pending, stop the worker."""
        try:
            self.tools.reset()
        except Exception:  # noqa: BLE001 - never block quitting
            log.exception("Closing the edit tools failed")
        self.saving.close()


def _class_counts(labels: np.ndarray) -> np.ndarray:
    """Pixels per class id (OpenCV's histogram: a few ms at 12 megapixels, unlike np.bincount)."""
    return cv2.calcHist([labels], [0], None, [256], [0, 256]).ravel().astype(np.int64)
