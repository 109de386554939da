"""The main window: wires the file list, the image view and the side panels to the workers.

Everything here runs in the Tk main thread. Long work happens elsewhere:

- the :class:`ParseWorker` thread loads the model and parses images (selected one first);
- :class:`BackgroundJob` threads scan folders and export;
- the :class:`PhotoLoader` thread decodes photos for display.

They all post plain messages on ``self.queue``; :meth:`_poll_queue` drains it every few
milliseconds with ``after()``. No other thread ever calls Tk.

The window composes parts kept in their own modules: :mod:`.menu_bar`, :mod:`.toolbar`,
:mod:`.key_bindings`, :mod:`.model_loading` (start, ready, failed, the model dialog) and
:mod:`.status_texts` (hover, progress and list-footer texts), besides the panels and the
controllers (review, export, edit, doubt, annotations).
"""

from __future__ import annotations

import logging
import os
import queue
import time
import tkinter as tk
import traceback
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from tkinter import filedialog, messagebox, ttk
from typing import Any

import numpy as np

from desktop import APP_NAME
from desktop.app import settings as settings_mod
from desktop.app.about import AboutDialog, ShortcutsDialog
from desktop.app.annotation_controller import AnnotationController
from desktop.app.canvas_view import MODE_TITLES, MODES, CanvasView, HoverInfo
from desktop.app.class_panel import ClassPanel
from desktop.app.doubt_panel import DoubtController
from desktop.app.edit_controller import EditController
from desktop.app.entry_badges import waiting_badge
from desktop.app.export_controller import ExportController
from desktop.app.export_dialog import ExportDialog
from desktop.app.file_list import FileList
from desktop.app.key_bindings import bind_keys
from desktop.app.logging_setup import log_file
from desktop.app.menu_bar import build_menu_bar
from desktop.app.model_dialog import ModelDialog
from desktop.app.model_loading import ModelLoading
from desktop.app.person_panel import PersonPanel
from desktop.app.quitting import QUIT_WAIT_SECONDS, wait_for_threads
from desktop.app.result_store import ResultStore
from desktop.app.review_controller import ReviewController
from desktop.app.review_store import ReviewStore
from desktop.app.session import ImageEntry, ImageList, State
from desktop.app.settings import Settings
from desktop.app.side_panel import SidePanel
from desktop.app.status_bar import StatusBar
from desktop.app.status_texts import batch_progress_text, hover_text, list_summary
from desktop.app.theme import COLORS, unit
from desktop.app.thread_priority import usable_cores
from desktop.app.toolbar import build_toolbar
from desktop.app.worker import (
    BackgroundJob,
    ImageFailed,
    ImageParsed,
    ImageStarted,
    JobFinished,
    JobProgress,
    ModelFailed,
    ModelProgress,
    ModelReady,
    ParseWorker,
    PhotoLoaded,
    WorkerIdle,
    describe_error,
)
from desktop.i18n import _, ngettext, pgettext
from desktop.resources import default_class_names, palette

log = logging.getLogger(__name__)

POLL_MS = 30
PHOTO_CACHE_BYTES = 400 * 1024 * 1024
PHOTO_CACHE_ITEMS = 4

ParserFactory = Callable[[str | None, Callable[[str, "float | None"], None]], Any]


def default_parser_factory(model_dir: str | None, progress: Callable[[str, float | None], None]) -> Any:
    """Load the real engine on every core; the worker runs at a lower priority (thread_priority)."""
    from desktop.engine import HumanParser

    return HumanParser.load(model_dir or None, num_threads=usable_cores(), progress=progress)


class MainWindow:
    """The application window. ``root`` may be a plain ``tk.Tk`` or a tkinterdnd2 one."""

    def __init__(
        self,
        root: tk.Tk,
        settings: Settings,
        *,
        settings_warning: str | None = None,
        parser_factory: ParserFactory | None = None,
        dnd: bool = False,
        store: ResultStore | None = None,
        load_image: Callable[[Path], Any] | None = None,
        autostart_model: bool = True,
    ):
        from desktop.app.shared_decode import SharedDecoder
        from desktop.imageio import load_image as default_load_image

        self.root = root
        self.settings = settings
        self.parser_factory = parser_factory or default_parser_factory
        # The photo loader (display) and the parse worker share one decode of a photo.
        self.load_image = SharedDecoder(load_image or default_load_image)
        self.store = store or ReviewStore()  # results also go to the review workspace (review_controller)
        self.queue: queue.Queue = queue.Queue()
        self.images = ImageList()
        self.current_key: str | None = None
        self._photos: OrderedDict[str, np.ndarray] = OrderedDict()
        self._photo_errors: dict[str, str] = {}
        self.current_result = None
        self.worker: ParseWorker | None = None
        #: Background threads still busy when the window closed (run() then exits without finalizing).
        self.stuck_threads: list = []
        self.model_state = "none"  # none | loading | ready | missing
        self.model_info: dict[str, str] = {}
        self.model_dialog: ModelDialog | None = None
        self.export_dialog: ExportDialog | None = None
        self.export_job: BackgroundJob | None = None
        self.scan_job: BackgroundJob | None = None
        self._scan_requests: list[tuple[list[str], bool]] = []
        self._batch_total = 0
        self._batch_done = 0
        self._batch_seconds: list[float] = []
        self._last_error_dialog = 0.0
        self._save_after: str | None = None
        self._closing = False
        self._subfolders_skipped = False
        self.dnd_enabled = dnd
        self._poll_after: str | None = None

        from desktop.app.worker import PhotoLoader

        self.photo_loader = PhotoLoader(self.queue, self.load_image)
        self.class_names = default_class_names()
        self.palette = palette()

        root.title(APP_NAME)
        root.report_callback_exception = self.report_callback_exception
        root.protocol("WM_DELETE_WINDOW", self.close)
        self.u = unit(root)
        build_menu_bar(self)  # menu_bar: File, Parse, View (language), Model, Help
        self._build_layout()
        self.review = ReviewController(self)  # workspace, verdicts, notes, list sort/filter: before the keys
        self.exporter = ExportController(self)
        bind_keys(self)  # key_bindings: after the review controller (its verdict keys)
        self.edit = EditController(self)  # edit mode: its toolbar button, bar, keys and autosave
        self.doubt = DoubtController(self)  # issue 16: doubt score and reasons, the "doubt" view
        self.annotations = AnnotationController(self)  # issue 16: File ▸ Open annotations…, comparison
        self._restore_geometry()
        if dnd:
            self._enable_dnd()

        self.canvas_view.set_options(mode=settings.view_mode, opacity=settings.opacity, outline=settings.outline,
                                     visible=self.class_panel.visible_array())
        self.canvas_view.set_message(
            _("Open an image or a folder to start\n\nFile ▸ Open images… (Ctrl+O), File ▸ Open folder… "
              "(Ctrl+Shift+O), or drop files here") if dnd else
            _("Open an image or a folder to start\n\nFile ▸ Open images… (Ctrl+O), File ▸ Open folder… "
              "(Ctrl+Shift+O)"))
        self._update_actions()
        # Shown now, and again with the model's status so it is not overwritten unseen.
        self.models = ModelLoading(self, settings_warning)  # model_loading: start, ready, failed, dialog
        if settings_warning:
            self.set_status(settings_warning, warn=True)
        self._poll_after = root.after(POLL_MS, self._poll_queue)
        if autostart_model:
            root.after(50, self.start_model)

    # ================================================================== layout
    def _build_layout(self) -> None:
        root, u = self.root, self.u
        pad = max(4, u // 3)
        outer = ttk.Frame(root)
        outer.pack(fill="both", expand=True)
        self.outer = outer

        build_toolbar(self, outer, pad)  # toolbar: self.buttons

        # -- status bar (packed before the body so it keeps its height when space is short) --
        status = self.status_bar = StatusBar(outer, unit=u, cancel_command=self.cancel_parsing)
        status.pack(fill="x", side="bottom")
        ttk.Separator(outer, orient="horizontal").pack(fill="x", side="bottom")
        self.status_label, self.hover_label, self.zoom_label = status.message, status.hover_label, status.zoom_label
        self.progress, self.progress_text, self.progress_cancel = (status.progress, status.progress_text,
                                                                   status.progress_cancel)

        # -- body: files | image | side panel --
        body = ttk.PanedWindow(outer, orient="horizontal")
        body.pack(fill="both", expand=True)
        self.body = body
        self.file_list = FileList(body, on_select=self.select, may_move_sash=lambda: not self.edit.active)
        body.add(self.file_list, weight=0)

        center = ttk.Frame(body)
        self.canvas_view = CanvasView(center, background=COLORS.canvas, text_color=COLORS.canvas_text,
                                      on_hover=self._on_hover, on_view_change=self._on_view_change)
        self.canvas_view.pack(fill="both", expand=True)
        body.add(center, weight=1)

        side = SidePanel(body, background=COLORS.surface, padding=(pad * 2, pad * 2))
        body.add(side, weight=0)
        self.side = side
        inner = side.upper.inner

        # What this image is (size, persons, parse time): first, so it is never scrolled away.
        self.info_label = ttk.Label(inner, text="", style="SideValueMuted.TLabel", justify="left",
                                    wraplength=u * 14)
        self.info_label.pack(anchor="w", fill="x", pady=(0, u // 3))
        ttk.Label(inner, text=pgettext("panel", "View"), style="SideHeading.TLabel").pack(anchor="w")
        modes = ttk.Frame(inner, style="Side.TFrame")
        modes.pack(fill="x", pady=(u // 4, 0))
        for i, mode in enumerate(MODES):
            ttk.Radiobutton(modes, text=_(MODE_TITLES[mode]), value=mode, variable=self.view_mode,
                            style="Side.TRadiobutton", command=self._view_mode_changed, takefocus=False).grid(
                row=i // 2, column=i % 2, sticky="w", padx=(0, u))
        op_row = ttk.Frame(inner, style="Side.TFrame")
        op_row.pack(fill="x", pady=(u // 2, 0))
        ttk.Label(op_row, text=_("Opacity"), style="Side.TLabel").pack(side="left")
        self.opacity_label = ttk.Label(op_row, text="", style="SideValue.TLabel", width=5, anchor="e")
        self.opacity_label.pack(side="right")
        self.opacity_var = tk.DoubleVar(root, value=round(self.settings.opacity * 100))
        self.opacity_scale = ttk.Scale(op_row, from_=0, to=100, variable=self.opacity_var, orient="horizontal",
                                       command=lambda _v: self._opacity_changed(), takefocus=False)
        self.opacity_scale.pack(side="left", fill="x", expand=True, padx=(u // 2, u // 4))
        ttk.Checkbutton(inner, text=_("Outline only (class borders)"), variable=self.outline_var,
                        style="Side.TCheckbutton", command=self._outline_changed, takefocus=False).pack(
            anchor="w", pady=(u // 4, 0))
        self._update_opacity_label()

        ttk.Separator(inner, orient="horizontal", style="Side.TSeparator").pack(fill="x", pady=u // 2)
        self.class_panel = ClassPanel(inner, self.class_names, self.palette, hidden=self.settings.hidden_classes,
                                      on_change=self._classes_changed)
        self.class_panel.pack(fill="x")
        self.person_panel = PersonPanel(side.lower, on_change=self._persons_changed)
        self.person_panel.pack(fill="both", expand=True)

    def _restore_geometry(self) -> None:
        from desktop.app.window_placement import restore_geometry

        restore_geometry(self.root, self.settings.geometry, zoomed=self.settings.zoomed)

    # ================================================================== status
    def set_status(self, text: str, warn: bool = False) -> None:
        self.status_bar.set_message(text, warn)
        if warn:
            log.warning("Status: %s", text)

    def _on_hover(self, info: HoverInfo | None) -> None:
        self.hover_label.configure(text=hover_text(info))

    def _on_view_change(self) -> None:
        cv = self.canvas_view
        self.zoom_label.configure(text=f"{cv.scale * 100:.0f} %" if cv.rgb is not None else "")

    def _show_progress(self, visible: bool, cancel: bool = True) -> None:
        self.status_bar.show_progress(visible, cancel)

    def _update_progress(self) -> None:
        if self.model_state == "loading":
            return
        if self._batch_total <= 0 or self.worker is None:
            self._show_progress(False)
            return
        done, total = self._batch_done, self._batch_total
        self.progress_text.configure(text=batch_progress_text(done, total, self._batch_seconds, self.worker.paused))
        self.progress.configure(mode="determinate", maximum=max(1, total), value=done)
        self._show_progress(True)

    def _update_actions(self) -> None:
        """Enable or disable toolbar buttons to match what can be done now."""
        has_images = len(self.images) > 0
        entry = self.images.get(self.current_key) if self.current_key else None
        waiting = any(e.state is State.WAITING for e in self.images)
        busy = self.worker is not None and self.worker.busy
        states = {
            # While the model loads, waiting images are parsed by themselves: nothing to press.
            "parse": waiting and self.model_state not in ("none", "loading") and not (busy and not self.worker.paused),
            "cancel": self.worker is not None and self._batch_total > 0 and not self.worker.paused,
            "prev": has_images, "next": has_images, "next_todo": has_images,
            "reviewed": entry is not None and entry.state is State.DONE,
            "fit": self.canvas_view.rgb is not None, "zoom100": self.canvas_view.rgb is not None,
            "export": any(e.state is State.DONE for e in self.images) and self.export_job is None,
        }
        for name, enabled in states.items():
            self.buttons[name].state(["!disabled"] if enabled else ["disabled"])
        if entry is not None and entry.state is State.WAITING:  # the model loaded, or parsing was cancelled
            self._refresh_entry_view(entry)
        self.progress_cancel.state(["!disabled"] if states["cancel"] else ["disabled"])
        self.file_list.set_summary(list_summary(self.images, self._subfolders_skipped))

    # ================================================================== errors
    def report_callback_exception(self, exc_type, exc, tb) -> None:
        """Tk calls this for an exception in any callback: log it, tell the user, keep going."""
        log.error("Unexpected error in the window:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        message = describe_error(exc) if isinstance(exc, BaseException) else str(exc)
        try:
            self.set_status(_("Error: {message}").format(message=message), warn=True)
        except tk.TclError:
            return
        now = time.monotonic()
        if now - self._last_error_dialog > 10 and not os.environ.get("M2FP_NO_ERROR_DIALOGS"):
            self._last_error_dialog = now
            messagebox.showerror(APP_NAME, _("Something went wrong:\n\n{message}\n\nDetails were written to the log "
                                             "file:\n{path}").format(message=message, path=log_file()),
                                 parent=self.root)

    # ================================================================== model (model_loading)
    def start_model(self, model_dir: str | None = None) -> None:
        self.models.start(model_dir)

    def show_model_dialog(self, problem: str = "", target: str | None = None) -> None:
        self.models.show_dialog(problem, target)

    # ================================================================== opening images
    def ask_open_files(self) -> None:
        paths = filedialog.askopenfilenames(
            parent=self.root, title=_("Open images"), initialdir=self.settings.last_folder or None,
            filetypes=[(_("Images"), "*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp *.gif *.JPG *.JPEG *.PNG"),
                       (_("All files"), "*")])
        if paths:
            self.open_paths(list(paths))

    def ask_open_folder(self) -> None:
        folder = filedialog.askdirectory(parent=self.root, title=_("Open a folder of images"),
                                         initialdir=self.settings.last_folder or None, mustexist=True)
        if folder:
            self.open_paths([folder])

    def handle_drop_data(self, data: str) -> None:
        """Open what was dropped (tkdnd gives a Tcl list of paths, braces around spaces)."""
        paths = [p for p in self.root.tk.splitlist(data) if p]
        if paths:
            self.open_paths(paths)

    def _enable_dnd(self) -> None:
        try:
            from tkinterdnd2 import DND_FILES

            for widget in (self.outer, self.canvas_view.canvas, self.file_list.tree):
                widget.drop_target_register(DND_FILES)
                widget.dnd_bind("<<Drop>>", self._on_drop)
        except Exception:  # noqa: BLE001 - DnD is a convenience; the menus still work
            log.exception("Drag and drop could not be enabled")
            self.dnd_enabled = False

    def _on_drop(self, event) -> str:
        self.handle_drop_data(event.data)
        return getattr(event, "action", "copy")

    def open_paths(self, paths: list[str], recursive: bool | None = None) -> None:
        """Open files and folders (a folder opens its review workspace): review_controller."""
        self.review.open_paths(paths, recursive)

    def _queue_for_parsing(self, keys: list[str]) -> None:
        """Hand ``keys`` to the worker; they join the running batch, or start a new one."""
        w = self.worker
        if not keys or w is None or self.model_state != "ready":
            return  # queued later, when the model is ready (parse_remaining)
        if w.paused or self._batch_total == 0:
            # A new batch: after Cancel, only what is asked now is parsed (F5 for the rest).
            w.remove(None)
            self._batch_total, self._batch_done, self._batch_seconds = 0, 0, []
            new = list(dict.fromkeys(keys))
        else:
            queued = w.queued_keys()
            new = [k for k in dict.fromkeys(keys) if k not in queued]
        self._batch_total += len(new)
        w.enqueue(new)
        w.prioritize(self.current_key)
        self._update_progress()
        self._update_actions()

    def parse_remaining(self) -> None:
        """Queue every waiting image (F5); also the way to resume after Cancel."""
        if self.model_state == "missing":
            self.show_model_dialog("")
            return
        self._queue_for_parsing([e.key for e in self.images if e.state is State.WAITING])

    def retry_failed(self) -> None:
        failed = [e for e in self.images if e.state is State.FAILED]
        for e in failed:
            e.state, e.error = State.WAITING, ""
            self.file_list.refresh(e)
        self.parse_remaining()

    def cancel_parsing(self) -> None:
        """Stop after the image being parsed; the rest stay "waiting" (F5 resumes)."""
        if self.worker is None or self._batch_total == 0:
            return
        self.worker.cancel()
        self.set_status(_("Cancelling: the image being parsed is finished first…"))
        self._update_progress()
        self._update_actions()

    def clear_images(self) -> None:
        if self.worker is not None:
            self.worker.remove(None)
            if self.worker.busy:
                self.worker.cancel()
        self.images.clear()
        self._subfolders_skipped = False
        self.file_list.clear()
        self.store.clear()
        self._photos.clear()
        self.current_key = None
        self.current_result = None
        self._batch_total = self._batch_done = 0
        self.canvas_view.show(None)
        self.class_panel.set_counts(None)
        self.person_panel.set_persons(None)
        self.info_label.configure(text="")
        self._update_title()
        self._update_progress()
        self._update_actions()

    # ================================================================== navigation
    def select(self, key: str) -> None:
        """Show image ``key`` (parsing it next if it is waiting)."""
        entry = self.images.get(key)
        if entry is None:
            return
        changed = key != self.current_key
        self.current_key = key
        self.file_list.select(key)
        if self.worker is not None:
            self.worker.prioritize(key)
        if changed:
            self.current_result = self.store.get(key) if entry.state is State.DONE else None
            rgb = self._photos.get(key)
            if rgb is not None:
                self._photos.move_to_end(key)
                self.canvas_view.show(rgb, self.current_result)
            else:
                self.canvas_view.show(None)
                self.canvas_view.set_message(_("Loading…"))
                self.photo_loader.request(key)
            self._refresh_panels()
        self._refresh_entry_view(entry)
        self.review.image_selected(key)  # its verdict and note in the panel; the title
        self._update_actions()

    def go(self, step: int) -> None:
        """The next or previous image in the list as shown (sorted and filtered)."""
        key = self.file_list.neighbour(self.current_key, step)
        if key is not None:
            self.select(key)

    def _update_title(self) -> None:
        self.review.update_title()  # image, its place in the list, workspace

    def _refresh_entry_view(self, entry: ImageEntry) -> None:
        """Badge and message over the image for the current entry's state."""
        self.review.entry_shown(entry)  # the review panel follows its state (Accept needs a result)
        cv = self.canvas_view
        if entry.state is State.WAITING:
            w = self.worker
            cv.set_badge(waiting_badge(self.model_state, w is not None and entry.key in w.queued_keys(),
                                       w is not None and w.paused))
        elif entry.state is State.PARSING:
            cv.set_badge(_("Parsing…"))
        elif entry.state is State.FAILED:
            cv.set_badge(_("Failed: {reason}").format(reason=entry.error) if cv.rgb is not None else "")
            if cv.rgb is None:
                cv.set_message(_("This image could not be parsed.\n\n{reason}").format(reason=entry.error))
        else:
            cv.set_badge(self.review.badge(entry))  # the verdict, "changed since review"

    def _refresh_panels(self) -> None:
        result = self.current_result
        entry = self.images.get(self.current_key) if self.current_key else None
        if result is None:
            self.class_panel.set_counts(None)
            self.person_panel.set_persons(None)
        else:
            self.class_panel.set_counts(result.class_pixel_counts())
            self.person_panel.set_persons([(p.id, p.score) for p in result.persons])
        self.canvas_view.set_options(hidden_persons=set(), solo_person=None)
        lines = []
        if entry is not None:
            first = []
            rgb = self.canvas_view.rgb
            if rgb is not None:
                first.append(f"{rgb.shape[1]} × {rgb.shape[0]} px")
            if entry.seconds is not None:
                first.append(_("parsed in {seconds} s").format(seconds=f"{entry.seconds:.1f}"))
            lines.append(" · ".join(first))
            if result is not None:
                lines.append(_("{persons}, {parts}").format(
                    persons=ngettext("{n} person", "{n} persons", len(result.persons)).format(n=len(result.persons)),
                    parts=ngettext("{n} part", "{n} parts", len(result.parts)).format(n=len(result.parts))))
            lines.extend(entry.notes)
        self.info_label.configure(text="\n".join(line for line in lines if line))

    # ================================================================== display options
    def _view_mode_changed(self) -> None:
        mode = self.view_mode.get()
        self.settings.view_mode = mode
        self.canvas_view.set_options(mode=mode)
        self._save_settings_soon()

    def cycle_view_mode(self) -> None:
        i = MODES.index(self.view_mode.get()) if self.view_mode.get() in MODES else 0
        self.view_mode.set(MODES[(i + 1) % len(MODES)])
        self._view_mode_changed()
        self.set_status(_("View: {mode}").format(mode=_(MODE_TITLES[self.view_mode.get()])))

    def set_view_mode(self, mode: str) -> None:
        self.view_mode.set(mode)
        self._view_mode_changed()

    def _outline_changed(self) -> None:
        self.settings.outline = bool(self.outline_var.get())
        self.canvas_view.set_options(outline=self.settings.outline)
        self._save_settings_soon()

    def toggle_outline(self) -> None:
        self.outline_var.set(not self.outline_var.get())
        self._outline_changed()

    def _update_opacity_label(self) -> None:
        self.opacity_label.configure(text=f"{self.opacity_var.get():.0f} %")

    def _opacity_changed(self) -> None:
        value = min(1.0, max(0.0, float(self.opacity_var.get()) / 100.0))
        self.settings.opacity = round(value, 3)
        self._update_opacity_label()
        self.canvas_view.set_options(opacity=value)
        self._save_settings_soon()

    def set_opacity(self, value: float) -> None:
        self.opacity_var.set(round(min(1.0, max(0.0, value)) * 100))
        self._opacity_changed()

    def nudge_opacity(self, delta: float) -> None:
        self.set_opacity(self.settings.opacity + delta)

    def _classes_changed(self) -> None:
        self.settings.hidden_classes = self.class_panel.hidden_ids()
        self.canvas_view.set_options(visible=self.class_panel.visible_array())
        self._save_settings_soon()

    def _persons_changed(self) -> None:
        self.canvas_view.set_options(hidden_persons=self.person_panel.hidden, solo_person=self.person_panel.solo)

    # ================================================================== worker messages
    def _poll_queue(self) -> None:
        """Drain the workers' messages (bounded per tick so a flood cannot stall the window)."""
        self._poll_after = None
        deadline = time.perf_counter() + 0.05
        try:
            while time.perf_counter() < deadline:
                try:
                    msg = self.queue.get_nowait()
                except queue.Empty:
                    break
                try:
                    self._handle(msg)
                except Exception:  # noqa: BLE001 - one bad message must not stop the polling
                    self.report_callback_exception(*_exc_info())
        finally:
            if not self._closing:
                self._poll_after = self.root.after(POLL_MS, self._poll_queue)

    def _handle(self, msg: object) -> None:
        if isinstance(msg, ImageStarted):
            entry = self.images.get(msg.key)
            if entry is not None:
                entry.state = State.PARSING
                self.file_list.refresh(entry)
                if msg.key == self.current_key:
                    self._refresh_entry_view(entry)
            self._update_progress()
        elif isinstance(msg, ImageParsed):
            self._image_parsed(msg)
        elif isinstance(msg, ImageFailed):
            self._image_failed(msg)
        elif isinstance(msg, WorkerIdle):
            self._worker_idle(msg)
        elif isinstance(msg, PhotoLoaded):
            self._photo_loaded(msg)
        elif isinstance(msg, ModelProgress):
            self.set_status(_("Loading the parsing model: {stage}").format(stage=msg.stage))
            if msg.fraction is not None:
                self.progress.stop()
                self.progress.configure(mode="determinate", maximum=1.0, value=msg.fraction)
        elif isinstance(msg, ModelReady):
            self.models.ready(msg)
        elif isinstance(msg, ModelFailed):
            self.models.failed(msg)
        elif isinstance(msg, JobProgress):
            if msg.job == "export" and self.export_dialog is not None and self.export_dialog.winfo_exists():
                self.export_dialog.show_progress(msg.done, msg.total or 0, msg.text)
        elif isinstance(msg, JobFinished):
            if msg.job == "scan":
                self.review.scan_finished(msg)
            elif msg.job == "export":
                self.exporter.finished(msg)
        self._update_actions()

    def _remember_photo(self, key: str, rgb: np.ndarray) -> None:
        self._photos[key] = rgb
        self._photos.move_to_end(key)
        total = sum(a.nbytes for a in self._photos.values())
        while len(self._photos) > 1 and (len(self._photos) > PHOTO_CACHE_ITEMS or total > PHOTO_CACHE_BYTES):
            _, old = self._photos.popitem(last=False)
            total -= old.nbytes

    def _image_parsed(self, msg: ImageParsed) -> None:
        entry = self.images.get(msg.key)
        if entry is None:  # list cleared meanwhile
            self.store.discard(msg.key)
            return
        entry.state = State.DONE
        entry.error = ""
        entry.persons = len(msg.result.persons)
        entry.seconds = msg.seconds
        entry.notes = tuple(msg.notes) + tuple(n for n in msg.result.notes if n not in msg.notes)
        self.file_list.refresh(entry)
        self._batch_done += 1
        self._batch_seconds.append(msg.seconds)
        if msg.key == self.current_key:
            self._remember_photo(msg.key, msg.rgb)
            self.current_result = msg.result
            if self.canvas_view.rgb is not None and self.canvas_view.rgb.shape == msg.rgb.shape:
                self.canvas_view.set_result(msg.result)
            else:
                self.canvas_view.show(msg.rgb, msg.result)
            self._refresh_panels()
            self._refresh_entry_view(entry)
        self._update_progress()

    def _image_failed(self, msg: ImageFailed) -> None:
        entry = self.images.get(msg.key)
        if entry is None:
            return
        entry.state = State.FAILED
        entry.error = msg.message
        self.review.image_failed(msg.key, msg.message)
        self.file_list.refresh(entry)
        self._batch_done += 1
        self.set_status(f"{entry.display_name}: {msg.message}", warn=True)
        if msg.key == self.current_key:
            self._refresh_entry_view(entry)
        self._update_progress()

    def _worker_idle(self, msg: WorkerIdle) -> None:
        counts = self.images.counts()
        if msg.cancelled:
            waiting = counts[State.WAITING]
            self.set_status(ngettext("Parsing cancelled. {n} image is not parsed yet: press Parse (F5) to continue.",
                                     "Parsing cancelled. {n} images are not parsed yet: press Parse (F5) to continue.",
                                     waiting).format(n=waiting))
        else:
            text = _("Parsing finished: {n} done.").format(n=counts[State.DONE])
            if counts[State.FAILED]:
                text = _("Parsing finished: {n} done, {failed} failed (hover over them in the list to see why).").format(
                    n=counts[State.DONE], failed=counts[State.FAILED])
            self.set_status(text, warn=bool(counts[State.FAILED]))
        self._batch_total = self._batch_done = 0
        self._batch_seconds = []
        self._update_progress()
        entry = self.images.get(self.current_key) if self.current_key else None
        if entry is not None:
            self._refresh_entry_view(entry)

    def _photo_loaded(self, msg: PhotoLoaded) -> None:
        entry = self.images.get(msg.key)
        if entry is None:
            return
        if msg.rgb is None:
            self._photo_errors[msg.key] = msg.error or ""
            if msg.key == self.current_key:
                self.canvas_view.show(None)
                self.canvas_view.set_message(_("This image cannot be shown.\n\n{reason}").format(reason=msg.error))
                self._refresh_entry_view(entry)
            return
        self._remember_photo(msg.key, msg.rgb)
        if msg.key == self.current_key and self.canvas_view.rgb is None:
            if self.current_result is None and entry.state is State.DONE:
                self.current_result = self.store.get(msg.key)
            self.canvas_view.show(msg.rgb, self.current_result)
            self._refresh_panels()
            self._refresh_entry_view(entry)

    # ================================================================== export
    def open_export_dialog(self, scope: str = "current") -> None:
        """The export dialog (export_controller: edited results, review in the JSON, "as shown")."""
        self.exporter.open_dialog(scope)

    # ================================================================== dialogs
    def show_about(self) -> None:
        AboutDialog(self.root, self.model_info, self.settings.model_dir or None, str(log_file()))

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.root)

    # ================================================================== settings / closing
    def _recursive_changed(self) -> None:
        self.settings.recursive = bool(self.recursive_var.get())
        self._save_settings_soon()

    def _save_settings_soon(self) -> None:
        """Save a moment after the last change (a crash then loses at most a second)."""
        if self._save_after is not None:
            self.root.after_cancel(self._save_after)
        self._save_after = self.root.after(1500, self.save_settings)

    def save_settings(self) -> bool:
        self._save_after = None
        root = self.root
        try:
            zoomed = root.state() == "zoomed" or bool(root.attributes("-zoomed"))
        except tk.TclError:
            zoomed = False
        self.settings.zoomed = zoomed
        if not zoomed and root.state() == "normal":
            self.settings.geometry = root.wm_geometry()
        return settings_mod.save_settings(self.settings)

    def unexported_count(self) -> int:
        return sum(1 for e in self.images if e.state is State.DONE and not e.exported)

    def close(self, force: bool = False) -> None:
        """Quit: everything is in the workspace already; flush what is pending, stop the threads."""
        if self._closing:
            return
        if not force:
            if self.export_job is not None and not messagebox.askyesno(
                    APP_NAME, _("An export is still running. Quit anyway? (Files already written are complete.)"),
                    parent=self.root):
                return
            n = self.review.unsaved_count()  # only without a workspace that can be saved
            if n and not messagebox.askyesno(
                    APP_NAME, ngettext(
                        "{n} parsed image is not saved in a workspace (it could not be opened or is read-only): its "
                        "result will be lost when the application closes.\n\nQuit anyway?",
                        "{n} parsed images are not saved in a workspace (it could not be opened or is read-only): their "
                        "results will be lost when the application closes.\n\nQuit anyway?", n).format(n=n),
                    icon="warning", parent=self.root):
                return
            if not self.annotations.confirm_close():  # corrected annotations not saved (issue 16)
                return
        self._closing = True
        self.edit.close()  # saves pending corrections: before the workspace closes
        if self._save_after is not None:
            self.root.after_cancel(self._save_after)
            self._save_after = None
        try:
            self.save_settings()
        except Exception:  # noqa: BLE001 - never block quitting
            log.exception("Saving settings on exit failed")
        if self.worker is not None:
            self.worker.stop()
        for job in (self.export_job, self.scan_job):
            if job is not None:
                job.cancel()
        self.photo_loader.stop()
        # A parse in flight finishes and is saved before the workspace closes; the window is
        # hidden meanwhile. Threads still busy after the wait are ended by run() (quitting.py).
        try:
            self.root.withdraw()
            self.root.update_idletasks()
        except tk.TclError:
            pass
        self.stuck_threads = wait_for_threads(
            (self.worker, self.export_job, self.scan_job, self.photo_loader.thread), QUIT_WAIT_SECONDS)
        self.review.shutdown()  # the note being typed, the place in the list; closes the workspace
        if self._poll_after is not None:
            try:
                self.root.after_cancel(self._poll_after)
            except tk.TclError:
                pass
        self.store.close()
        self.root.destroy()


def _exc_info():
    import sys

    return sys.exc_info()

