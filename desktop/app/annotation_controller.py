"""Existing annotations in the window (issue 16): open, compare, correct, save.

``window.annotations``. File ▸ Open annotations… takes a CIHP root (``Images/`` and
``Category_ids/``) or a folder of photos and a folder of label images
(:class:`desktop.review.annotations.AnnotationSet`). The annotations are matched to the
window's images by path, else by file name (without extension, when unambiguous); when
none of the window's images has one, the annotated photos are opened (joining the
workspace like any folder).

- **Figures in the list.** A background thread compares every matched image that has a
  model result (pixel accuracy, mIoU: :mod:`desktop.review.compare`), stores them in the
  workspace (``set_comparison``) and the list shows and sorts by them ("Agreement (worst
  first)"); images parsed later are compared as their results arrive. A file that cannot be
  used (missing, wrong size, unknown colour...) is one line in a notice, never a stop.
- **Views.** Annotation (its classes over the photo), Model (the usual overlay) and
  Disagreement (the pixels where they differ, in the annotation class's colour) with the
  per-class counts in the side panel (:mod:`desktop.app.compare_view`).
- **Correcting.** "Take the model's region" then a click on a disagreement gives that
  connected region the model's classes (and persons) in the annotation
  (:func:`desktop.review.annotation_edits.take_model_region`), recorded in an
  :class:`~desktop.review.edit_history.EditHistory` (Undo/Redo); not taking keeps the
  annotation. "Save corrected annotation" writes it in the layout it came from into a new
  folder (``NAME_corrected`` beside the original); saving over the original needs the
  user's explicit confirmation. Corrections not yet saved stay in memory while the reviewer
  moves between images, and a notice offers to save them.

The model's maps compared are the model's result (not the reviewer's edits in edit mode):
the annotation review asks "where do the annotators and the model disagree?". Edit mode is
turned off while taking regions (the two tools would share the mouse).
"""

from __future__ import annotations

import logging
import os
import threading
import tkinter as tk
from dataclasses import dataclass
from pathlib import Path
from tkinter import filedialog, messagebox
from typing import Any

import numpy as np

from desktop.app.compare_view import (
    ANNOTATION_MODE,
    DISAGREEMENT_MODE,
    ComparePanel,
    annotation_picture,
    count_lines,
    disagreement_picture,
)
from desktop.app.session import State
from desktop.i18n import _, ngettext
from desktop.review.annotation_edits import model_persons_for_annotation, take_model_region
from desktop.review.annotations import AnnotatedImage, Annotation, AnnotationError, AnnotationSet
from desktop.review.compare import agreement, confusion_matrix
from desktop.review.edit_history import EditHistory

log = logging.getLogger(__name__)

__all__ = ["AnnotationController"]

#: How often images opened or parsed after the annotations are looked for (ms).
PENDING_POLL_MS = 1000
#: Problems listed in the notice (all are in the log).
NOTICE_LINES = 6
CLICK_SLOP = 4  # screen pixels a click may move and still be a click (not a pan)


@dataclass
class _Open:
    """One image's annotation being looked at (and maybe corrected)."""

    key: str
    aset: AnnotationSet
    item: AnnotatedImage
    source: Annotation
    labels: np.ndarray
    persons: np.ndarray
    history: EditHistory
    model_labels: np.ndarray
    model_persons: np.ndarray | None
    saved_version: int = 0

    @property
    def dirty(self) -> bool:
        return self.history.version != self.saved_version


class AnnotationController:
    def __init__(self, window: Any) -> None:
        self.w = window
        self.root: tk.Tk = window.root
        self.cv = window.canvas_view
        self.set: AnnotationSet | None = None
        self._by_path: dict[str, AnnotatedImage] = {}
        self._by_stem: dict[str, AnnotatedImage | None] = {}
        self.current: _Open | None = None
        self._kept: dict[str, _Open] = {}  # corrected, not saved yet
        self.problems: dict[str, str] = {}  # image key or file -> sentence
        self._done: set[str] = set()  # keys compared (or failed) for the open set
        self._unmatched: set[str] = set()  # keys without an annotation in the open set
        self._busy = False
        self._pending_after: str | None = None
        self._press: tuple[int, int] | None = None
        self.dest_root: Path | None = None
        self.panel = ComparePanel(window.side.upper.inner, unit=window.u, view_mode=window.view_mode,
                                  on_mode=self.set_mode, on_take=self._take_toggled, on_undo=self.undo,
                                  on_redo=self.redo, on_save=self.save, on_save_as=self.save_as)
        self.cv.extra_modes[ANNOTATION_MODE] = self._annotation_sample
        self.cv.extra_modes[DISAGREEMENT_MODE] = self._disagreement_sample
        self.cv.result_listeners.append(self._image_changed)
        menu = getattr(window, "file_menu", None)
        if menu is not None:
            menu.insert_command(_menu_index(menu), label=_("Open annotations…"), command=self.ask_open)
        tag = "AnnotationTake"
        canvas = self.cv.canvas
        canvas.bindtags((tag, *canvas.bindtags()))
        canvas.bind_class(tag, "<ButtonPress-1>", self._on_press)
        canvas.bind_class(tag, "<ButtonRelease-1>", self._on_release)

    # ================================================================== opening
    def ask_open(self) -> None:
        """File ▸ Open annotations…: a CIHP folder, or a photo folder then a label folder."""
        first = filedialog.askdirectory(parent=self.root, title=_("Choose a CIHP folder (with Images and "
                                                                  "Category_ids), or a folder of photos"))
        if not first:
            return
        labels = None
        if not (Path(first, "Images").is_dir() and Path(first, "Category_ids").is_dir()):
            labels = filedialog.askdirectory(parent=self.root, title=_("Choose the folder of label images for "
                                                                       "these photos"))
            if not labels:
                return
        self.open(first, labels)

    def open(self, images_or_root: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None) -> bool:
        """Open annotations (see the module docstring); False (said in a notice) when impossible."""
        notices = self.w.review.notices
        try:
            aset = AnnotationSet.open(images_or_root, labels, recursive=bool(getattr(self.w.settings, "recursive",
                                                                                      False)),
                                      class_names=self.w.class_names)
        except AnnotationError as exc:
            notices.show("annotations", str(exc), "error")
            return False
        self._forget()
        self.set = aset
        for item in aset.items:
            self._by_path[_norm(item.path)] = item
            stem = Path(item.file).stem.casefold()
            self._by_stem[stem] = None if stem in self._by_stem else item
        self.problems = {str(path): f'"{path}": {why}' for path, why in aset.problems}
        if not any(self.item_for(e.key) is not None for e in self.w.images):
            self.w.open_paths([str(aset.images_root)])
        if not self.panel.winfo_manager():
            self.panel.pack(fill="x", after=self.w.doubt.last_widget())
        self.w.set_status(ngettext("Annotations opened: {n} photo in {source}.",
                                   "Annotations opened: {n} photos in {source}.", len(aset.items)).format(
            n=len(aset.items), source=aset.labels_root))
        self._image_changed()
        self._compare_pending()
        return True

    def _forget(self) -> None:
        if self.current is not None and self.current.dirty:  # kept for saving, never dropped
            self._kept[self.current.key] = self.current
        self._remind_unsaved()
        self.set = None
        self._by_path.clear()
        self._by_stem.clear()
        self._done.clear()
        self._unmatched.clear()
        if self._pending_after is not None:
            self.root.after_cancel(self._pending_after)
            self._pending_after = None
        self.current = None
        self.problems = {}
        self.dest_root = None
        self.w.review.notices.dismiss("annotation-problems")

    def item_for(self, key: str) -> AnnotatedImage | None:
        """The annotation of a listed image: same path, else the same file name (when unique)."""
        if self.set is None:
            return None
        item = self._by_path.get(_norm(key))
        if item is None:
            item = self._by_stem.get(Path(key).stem.casefold())
        return item

    # ================================================================== figures for the list
    def _compare_pending(self) -> None:
        """Compare, in a thread, every matched image with a result not compared yet; look again
        for images still being parsed a moment later."""
        self._pending_after = None
        if self.set is None or self.w._closing:
            return
        jobs = []
        if not self._busy:
            for e in self.w.images:
                if e.key in self._done or e.key in self._unmatched:
                    continue
                item = self.item_for(e.key)
                if item is None:
                    self._unmatched.add(e.key)
                elif e.state is State.DONE:
                    jobs.append((e.key, e.image_id, item))
                    self._done.add(e.key)
        if jobs:
            self._busy = True
            threading.Thread(target=self._compare_jobs, args=(self.set, jobs), name="annotation-compare",
                             daemon=True).start()
        # Looked at again while the annotations are open: images opened or parsed later are
        # compared too (entries already compared or without annotation cost a set look-up).
        self._pending_after = self.root.after(PENDING_POLL_MS, self._compare_pending)

    def _compare_jobs(self, aset: AnnotationSet, jobs: list[tuple[str, int | None, AnnotatedImage]]) -> None:
        review = self.w.review
        try:
            for key, iid, item in jobs:
                if self.set is not aset:
                    return
                with review._lock:  # a stored result is read from the workspace: not while it closes
                    if review.workspace is None and iid is not None:
                        return
                    result = self.w.store.get(key)
                if result is None:
                    continue
                h, w = result.labels.shape
                try:
                    ann = aset.load(item, image_size=(w, h))
                except AnnotationError as exc:
                    review.inbox.put(("call", lambda k=key, m=str(exc): self._problem(k, m)))
                    continue
                conf = confusion_matrix(ann.labels, result.labels, len(aset.class_names))
                fig = agreement(conf)
                del ann
                with review._lock:
                    ws = review.workspace
                    if iid is not None and ws is not None and not ws.read_only:
                        try:
                            ws.set_comparison(iid, aset.source, fig.pixel_accuracy, fig.miou, conf,
                                              {"file": item.file})
                        except Exception:  # noqa: BLE001 - the figures are shown anyway
                            log.warning("Comparison of %s not stored", key, exc_info=True)
                review.inbox.put(("call", lambda k=key, f=fig: self._compared(k, f)))
        finally:
            self._busy = False

    def _compared(self, key: str, fig) -> None:
        entry = self.w.images.get(key)
        if entry is None:
            return
        entry.miou, entry.pixel_accuracy = fig.miou, fig.pixel_accuracy
        self.w.file_list.refresh(entry)
        if self.w.review.controls.view.sort == "agreement":
            self.w.review.apply_view()

    def _problem(self, key: str, message: str) -> None:
        self.problems[key] = message
        log.warning("Annotation not used: %s", message)
        lines = list(self.problems.values())
        text = ngettext("{n} annotation cannot be used:", "{n} annotations cannot be used:", len(lines)).format(
            n=len(lines))
        text += "\n" + "\n".join(lines[:NOTICE_LINES])
        if len(lines) > NOTICE_LINES:
            text += "\n" + _("… and {n} more (see the log).").format(n=len(lines) - NOTICE_LINES)
        self.w.review.notices.show("annotation-problems", text, "warning")

    # ================================================================== the image shown
    def _image_changed(self) -> None:
        cur = self.current
        key = self.w.current_key
        if cur is not None and cur.key != key:
            if cur.dirty:
                self._kept[cur.key] = cur
                self._remind_unsaved()
            self.current = None
        if self.set is None:
            self._show_panel()
            return
        result, rgb = self.cv.result, self.cv.rgb
        if key is None or result is None or rgb is None:
            self.current = None
            self._show_panel()
            return
        if self.current is None or self.current.key != key:
            self.current = self._kept.pop(key, None) or self._load(key, result)
        self._show_panel()
        if self.cv.mode in (ANNOTATION_MODE, DISAGREEMENT_MODE):
            self.cv.request_redraw()

    def _load(self, key: str, result) -> _Open | None:
        item = self.item_for(key)
        if item is None or self.set is None:
            return None
        h, w = result.labels.shape
        try:
            ann = self.set.load(item, image_size=(w, h))
        except AnnotationError as exc:
            self._problem(key, str(exc))
            return None
        labels = ann.labels.copy()
        persons = ann.person_map().copy()
        model_persons = None
        if ann.persons is not None:
            from desktop.review.maps import person_map_of

            model_persons = model_persons_for_annotation(persons, person_map_of(result))
        return _Open(key, self.set, item, ann, labels, persons, EditHistory(labels, persons), result.labels, model_persons)

    def _show_panel(self) -> None:
        if self.set is None:
            self.panel.pack_forget()
            return
        cur = self.current
        if cur is None:
            why = _("This image has no annotation.")
            key = self.w.current_key
            if key is not None and key in self.problems:
                why = self.problems[key]
            elif key is not None and self.cv.result is None:
                why = _("The annotation is compared once the image is parsed.")
            self.panel.show(why)
            return
        conf = self.confusion()
        names = self.set.class_names
        summary = _("Annotation: {file}").format(file=cur.item.label_path.name)
        if cur.dirty:
            summary += "\n" + _("Corrected, not saved yet.")
        self.panel.show(summary, agreement(conf), count_lines(conf, names), editable=True,
                        can_undo=cur.history.can_undo, can_redo=cur.history.can_redo, dirty=cur.dirty)

    def confusion(self) -> np.ndarray | None:
        """The shown image's confusion matrix (annotation rows, model columns), as corrected."""
        cur = self.current
        if cur is None or self.set is None:
            return None
        return confusion_matrix(cur.labels, cur.model_labels, len(self.set.class_names))

    # ================================================================== views
    def set_mode(self, mode: str) -> None:
        """Annotation / Model / Disagreement (not kept in the settings: a look for a moment)."""
        self.w.view_mode.set(mode)
        self.cv.set_options(mode=mode)

    def _annotation_sample(self, sample) -> np.ndarray | None:
        cur = self.current
        if cur is None:
            return None
        lab = cur.labels.take(sample.ys, axis=0).take(sample.xs, axis=1)
        return annotation_picture(sample.photo, lab, self.w.palette, self.cv.opacity, self.cv.visible)

    def _disagreement_sample(self, sample) -> np.ndarray | None:
        cur = self.current
        if cur is None:
            return None
        ann = cur.labels.take(sample.ys, axis=0).take(sample.xs, axis=1)
        mod = cur.model_labels.take(sample.ys, axis=0).take(sample.xs, axis=1)
        return disagreement_picture(sample.photo, ann, mod, self.w.palette)

    # ================================================================== correcting
    @property
    def taking(self) -> bool:
        return bool(self.panel.take_var.get())

    def _take_toggled(self) -> None:
        if self.taking:
            edit = getattr(self.w, "edit", None)
            if edit is not None and edit.active:
                edit.set_active(False)
            if self.cv.mode not in (ANNOTATION_MODE, DISAGREEMENT_MODE):
                self.set_mode(DISAGREEMENT_MODE)
            self.w.set_status(_("Click a coloured region to give it the model's classes; Undo takes it back."))

    def _on_press(self, event: tk.Event) -> None:
        self._press = (event.x, event.y) if self.taking and self.current is not None else None

    def _on_release(self, event: tk.Event) -> None:
        press, self._press = self._press, None
        if press is None or abs(event.x - press[0]) > CLICK_SLOP or abs(event.y - press[1]) > CLICK_SLOP:
            return
        hit = self.cv.canvas_to_image(event.x, event.y)
        if hit is not None:
            self.take_at(hit[1], hit[2])

    def take_at(self, x: float, y: float) -> bool:
        """Take the model's region of disagreement under image point (x, y); True if anything changed."""
        cur = self.current
        if cur is None:
            return False
        h, w = cur.labels.shape
        if not (0 <= x < w and 0 <= y < h):
            return False
        edit = take_model_region(cur.labels, cur.persons, cur.model_labels, cur.model_persons, x, y)
        changed = cur.history.record(edit)
        if changed:
            self.w.set_status(ngettext("The model's region was taken: {n} pixel changed.",
                                       "The model's region was taken: {n} pixels changed.", edit.pixels).format(
                n=f"{edit.pixels:,}"))
        else:
            self.w.set_status(_("The annotation and the model agree there: nothing to take."))
        self._after_change()
        return changed

    def undo(self) -> None:
        if self.current is not None and self.current.history.undo():
            self._after_change()

    def redo(self) -> None:
        if self.current is not None and self.current.history.redo():
            self._after_change()

    def _after_change(self) -> None:
        self._show_panel()
        self.cv.request_redraw()

    # ================================================================== saving
    def save(self, dest_root: str | os.PathLike[str] | None = None, overwrite: bool = False) -> list[Path]:
        """Write the shown image's corrected annotation (default: the ``_corrected`` folder)."""
        cur = self.current
        if cur is None or self.set is None:
            return []
        return self._write(cur, dest_root if dest_root is not None else self.dest_root, overwrite)

    def save_as(self) -> None:
        cur = self.current
        if cur is None or self.set is None:
            return
        folder = filedialog.askdirectory(parent=self.root, title=_("Choose the folder for the corrected annotation"),
                                         initialdir=str(self.set.default_destination().parent))
        if not folder:
            return
        overwrite = False
        if _norm(folder) == _norm(self.set.labels_root):
            overwrite = messagebox.askyesno(
                _("Replace the original annotation?"),
                _("This is the folder of the original annotation. Saving here replaces the original file of "
                  '"{file}" for good. Replace it?').format(file=cur.item.file), icon="warning", default="no",
                parent=self.root)
            if not overwrite:
                return
        self.dest_root = Path(folder)
        self._write(cur, folder, overwrite)

    def save_all(self) -> None:
        """Save every corrected annotation kept in memory (the notice's button)."""
        for cur in list(self._kept.values()):
            if self._write(cur, self.dest_root, False):
                self._kept.pop(cur.key, None)
        if self.current is not None and self.current.dirty:
            self._write(self.current, self.dest_root, False)
        self._remind_unsaved()

    def _write(self, cur: _Open, dest_root, overwrite: bool) -> list[Path]:
        """Into the layout of the annotations ``cur`` came from (others may be open since)."""
        try:
            paths = cur.aset.write(cur.item, cur.labels, cur.persons, cur.source, dest_root=dest_root,
                                   overwrite=overwrite)
        except (AnnotationError, ValueError) as exc:
            self.w.review.notices.show("annotation-save", str(exc), "error")
            return []
        cur.saved_version = cur.history.version
        self.w.set_status(_('The corrected annotation of "{file}" was saved in "{folder}".').format(
            file=cur.item.file, folder=paths[0].parent if paths else ""))
        self._remind_unsaved()
        if cur is self.current:
            self._show_panel()
        return paths

    def _remind_unsaved(self) -> None:
        kept = [c for c in self._kept.values() if c.dirty]
        notices = self.w.review.notices
        if not kept:
            notices.dismiss("annotation-unsaved")
            return
        notices.show("annotation-unsaved", ngettext(
            "{n} corrected annotation is not saved yet.", "{n} corrected annotations are not saved yet.",
            len(kept)).format(n=len(kept)), "warning", actions=[(_("Save them"), self.save_all)])

    def confirm_close(self) -> bool:
        """Before quitting: offer to save corrected annotations not saved yet; False: stay."""
        n = self.unsaved_count()
        if not n:
            return True
        answer = messagebox.askyesnocancel(
            _("Corrected annotations not saved"),
            ngettext("{n} corrected annotation is not saved yet. Save it before quitting?",
                     "{n} corrected annotations are not saved yet. Save them before quitting?", n).format(n=n),
            icon="warning", parent=self.root)
        if answer is None:
            return False
        if answer:
            self.save_all()
            return self.unsaved_count() == 0
        return True

    def unsaved_count(self) -> int:
        """Corrected annotations not saved (the window may ask before closing)."""
        n = sum(1 for c in self._kept.values() if c.dirty)
        return n + (1 if self.current is not None and self.current.dirty else 0)


def _norm(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.abspath(os.fspath(path)))


def _menu_index(menu: tk.Menu) -> int:
    """Below the "Open folder…" entry of the File menu (else at the top)."""
    last = menu.index("end")
    for i in range(0 if last is None else last + 1):
        try:
            label = str(menu.entrycget(i, "label"))
        except tk.TclError:
            continue
        if "folder" in label.casefold() or "文件夹" in label:
            return i + 1
    return 0
