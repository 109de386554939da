"""Loading the parsing model for the window: start, ready, failed, and the model dialog.

Apart from the window so main_window only composes parts. The model loads in the parse
worker thread (the window stays responsive); its outcome comes back as a ``ModelReady`` or
``ModelFailed`` message, which the window hands to :meth:`ModelLoading.ready` /
:meth:`ModelLoading.failed`. What others read stays on the window: ``model_state``
(``none``, ``loading``, ``ready``, ``missing``), ``model_info``, ``model_dialog``, ``worker``.

A settings warning from the start is repeated with the model's status (which would
otherwise overwrite it in the status bar before anyone read it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from tkinter import messagebox
from typing import TYPE_CHECKING

from desktop import APP_NAME
from desktop.app.model_dialog import ModelDialog
from desktop.app.session import State
from desktop.app.worker import ModelFailed, ModelReady, ParseWorker
from desktop.i18n import _

if TYPE_CHECKING:
    from desktop.app.main_window import MainWindow

log = logging.getLogger(__name__)


class ModelLoading:
    """The model's life in the window; ``startup_warning`` is shown again with its status."""

    def __init__(self, window: MainWindow, startup_warning: str | None = None):
        self.w = window
        self.startup_warning = startup_warning

    def start(self, model_dir: str | None = None) -> None:
        """Load the model in the parse worker thread (the window stays responsive)."""
        win = self.w
        if win.worker is not None:
            win.worker.stop()
            win.worker = None
        folder = model_dir if model_dir is not None else win.settings.model_dir
        if folder and not Path(folder).exists():
            log.warning("Remembered model folder %s is gone; searching the usual places", folder)
            folder = ""
        win.model_state = "loading"
        win.model_info = {}
        factory = win.parser_factory

        def loader(progress):
            return factory(folder or None, progress)

        win.worker = ParseWorker(loader, win.queue, win.load_image, win.store.put_first)
        win.worker.start()
        win.set_status(_("Loading the parsing model…"))
        win.progress_text.configure(text=_("Loading model"))
        win.progress.configure(mode="indeterminate")
        win.progress.start(15)
        win._show_progress(True, cancel=False)

    def ready(self, msg: ModelReady) -> None:
        win = self.w
        win.model_state = "ready"
        win.model_info = msg.info
        win.progress.stop()
        win._show_progress(False)
        name = msg.info.get("name", "model")
        detail = ", ".join(v for v in (msg.info.get("runtime"), msg.info.get("precision")) if v)
        seconds = f"{msg.seconds:.1f}"
        text = (_("Model ready: {name} ({detail}) in {seconds} s.").format(name=name, detail=detail, seconds=seconds)
                if detail else _("Model ready: {name} in {seconds} s.").format(name=name, seconds=seconds))
        win.set_status(self._with_startup_warning(text), warn=bool(self.startup_warning))
        self.startup_warning = None
        win.review.model_ready(msg.info)  # tells results of another model apart
        win.parse_remaining()

    def failed(self, msg: ModelFailed) -> None:
        win = self.w
        win.model_state = "missing"
        win.worker = None
        win.progress.stop()
        win._show_progress(False)
        win.set_status(self._with_startup_warning(
            _("No model: images can be viewed but not parsed. Model ▸ Choose model folder…")), warn=True)
        self.startup_warning = None
        for e in win.images:
            if e.state is State.PARSING:
                e.state = State.WAITING
                win.file_list.refresh(e)
        self.show_dialog("" if msg.not_found else msg.message, msg.target)

    def _with_startup_warning(self, text: str) -> str:
        return f"{text}  ⚠ {self.startup_warning}" if self.startup_warning else text

    def show_dialog(self, problem: str = "", target: str | None = None) -> None:
        win = self.w
        if win.model_dialog is not None and win.model_dialog.winfo_exists():
            win.model_dialog.lift()
            return
        try:
            from desktop.engine import default_model_dir, download_model, find_model_dir
        except ImportError as exc:  # engine not installed correctly: say so rather than crash
            messagebox.showerror(APP_NAME, _("The parsing engine cannot be loaded: {reason}").format(reason=exc),
                                 parent=win.root)
            return
        if target is None:
            try:
                target = str(default_model_dir())
            except Exception:  # noqa: BLE001
                target = None

        def validate(path: Path) -> Path:
            return Path(find_model_dir(path))

        win.model_dialog = ModelDialog(win.root, on_done=self._chosen, problem=problem, target=target,
                                       download=download_model, validate=validate)

    def _chosen(self, path: Path | None) -> None:
        win = self.w
        win.model_dialog = None
        if path is None:
            return
        win.settings.model_dir = str(path)
        win.save_settings()
        self.start(str(path))

