"""First start without a model: explain, then download it or let the user pick a folder.

The download runs in a :class:`BackgroundJob` (never in the GUI thread) and reports through
this dialog's own queue; Cancel sets the job's event and the engine stops at the next chunk.
The folder the user ends up with is handed to ``on_done(path)``; the window remembers it
in the settings. When the download fails (no network, say), the message says where the two
files can be put by hand, and an "Open this folder" button creates and shows that folder.
"""

from __future__ import annotations

import logging
import queue
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import filedialog, ttk

from desktop.app.about import MODEL_LICENSE_TEXT
from desktop.app.dialogs import Dialog
from desktop.app.export_dialog import open_folder
from desktop.app.theme import COLORS
from desktop.app.worker import BackgroundJob, JobFinished, JobProgress
from desktop.i18n import _

log = logging.getLogger(__name__)


class ModelDialog(Dialog):
    """Offers "Download" and "Choose folder…"; calls ``on_done(path or None)`` once."""

    def __init__(
        self,
        master: tk.Misc,
        *,
        on_done: Callable[[Path | None], None],
        problem: str = "",
        searched: list[str] | None = None,
        target: str | None = None,
        download: Callable[..., Path] | None = None,
        validate: Callable[[Path], Path] | None = None,
    ):
        super().__init__(master, _("Model needed"))
        self._on_done = on_done
        self._download = download
        self._validate = validate
        self._job: BackgroundJob | None = None
        self._queue: queue.Queue = queue.Queue()
        self._finished = False
        self.target = target
        u = self.u
        b = self.body
        wrap = u * 30

        ttk.Label(b, text=_("The parsing model is not installed yet"), style="Heading.TLabel").pack(anchor="w")
        ttk.Label(
            b,
            text=_(
                "To find people and their body parts, the application needs the M2FP model "
                "(two files: configuration.json and pytorch_model.pt, a few hundred megabytes). "
                "Download it once from ModelScope (an internet connection is needed), or choose "
                "a folder where you already have it. Your choice is remembered."
            ),
            wraplength=wrap,
            justify="left",
        ).pack(anchor="w", pady=(u // 3, 0))
        if problem:
            ttk.Label(b, text=problem, wraplength=wrap, justify="left", foreground=COLORS.error).pack(
                anchor="w", pady=(u // 2, 0))
        if target:
            ttk.Label(b, text=_("The download goes to:\n{folder}").format(folder=target), wraplength=wrap,
                      justify="left",
                      style="Muted.TLabel").pack(anchor="w", pady=(u // 2, 0))
        ttk.Label(b, text=_(MODEL_LICENSE_TEXT), wraplength=wrap, justify="left", style="Muted.TLabel").pack(
            anchor="w", pady=(u // 2, 0))

        self.progress_frame = ttk.Frame(b)
        self.progress = ttk.Progressbar(self.progress_frame, mode="indeterminate", length=u * 20)
        self.progress.pack(fill="x")
        self.progress_text = ttk.Label(self.progress_frame, text="", style="Muted.TLabel", wraplength=wrap)
        self.progress_text.pack(anchor="w", pady=(u // 4, 0))
        # Shown after a failed download: the folder the message tells the user to put the files in.
        self.open_target_button = ttk.Button(self.progress_frame, text=_("Open this folder"), command=self.open_target)

        row = self.button_row()
        self.close_button = ttk.Button(row, text=_("Not now"), command=self.close)
        self.close_button.pack(side="right")
        self.choose_button = ttk.Button(row, text=_("Choose folder…"), command=self.choose_folder)
        self.choose_button.pack(side="right", padx=(0, u // 2))
        self.download_button = ttk.Button(row, text=_("Download"), style="Accent.TButton", command=self.start_download)
        self.download_button.pack(side="right", padx=(0, u // 2))
        if download is None:
            self.download_button.state(["disabled"])
        self.present()
        self.download_button.focus_set()

    # -- choose a folder ----------------------------------------------------------------
    def choose_folder(self, folder: str | Path | None = None) -> None:
        """Ask for a folder (or use ``folder``), check it holds a model, and finish."""
        if folder is None:
            start = self.target if self.target and Path(self.target).is_dir() else None
            folder = filedialog.askdirectory(parent=self, title=_("Folder containing the M2FP model"), mustexist=True,
                                             initialdir=start)
            if not folder:
                return
        path = Path(folder)
        if self._validate is not None:
            try:
                path = self._validate(path)
            except Exception as exc:  # noqa: BLE001 - show any reason the folder is not usable
                self.progress_frame.pack(fill="x", pady=(self.u // 2, 0))
                self.progress_text.configure(text=str(exc), foreground=COLORS.error)
                return
        self._finish(path)

    # -- download -----------------------------------------------------------------------
    def start_download(self) -> None:
        if self._download is None or self._job is not None:
            return
        target = Path(self.target) if self.target else None
        download = self._download

        def run(report, cancel):
            def progress(stage: str, fraction: float | None = None) -> None:
                report(0, None, stage, fraction)

            return download(target, progress=progress, cancel=cancel)

        self.open_target_button.pack_forget()
        self._job = BackgroundJob("download", run, self._queue)
        self.progress_frame.pack(fill="x", pady=(self.u // 2, 0))
        self.progress.configure(mode="indeterminate")
        self.progress.start(12)
        self.progress_text.configure(text=_("Connecting…"), foreground=COLORS.muted)
        self.download_button.state(["disabled"])
        self.choose_button.state(["disabled"])
        self.close_button.configure(text=_("Cancel download"), command=self.cancel_download)
        self._job.start()
        self.after(100, self._poll)

    def cancel_download(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.progress_text.configure(text=_("Cancelling…"))
            self.close_button.state(["disabled"])

    def _poll(self) -> None:
        if not self.winfo_exists():
            return
        try:
            while True:
                msg = self._queue.get_nowait()
                if isinstance(msg, JobProgress):
                    if msg.fraction is not None:
                        self.progress.stop()
                        self.progress.configure(mode="determinate", maximum=1.0, value=msg.fraction)
                        self.progress_text.configure(text=_("{stage} ({percent} %)").format(
                            stage=msg.text, percent=f"{msg.fraction * 100:.0f}"))
                    else:
                        self.progress_text.configure(text=msg.text)
                elif isinstance(msg, JobFinished):
                    self._download_finished(msg)
                    return
        except queue.Empty:
            pass
        self.after(100, self._poll)

    def _download_finished(self, msg: JobFinished) -> None:
        self._job = None
        self.progress.stop()
        self.close_button.state(["!disabled"])
        self.close_button.configure(text=_("Not now"), command=self.close)
        self.download_button.state(["!disabled"])
        self.choose_button.state(["!disabled"])
        if msg.cancelled:
            self.progress.configure(mode="determinate", value=0)
            self.progress_text.configure(text=_("Download cancelled."), foreground=COLORS.muted)
            return
        if msg.error:
            self.progress.configure(mode="determinate", value=0)
            self.progress_text.configure(text=msg.error, foreground=COLORS.error)
            if self.target:
                self.open_target_button.pack(anchor="w", pady=(self.u // 4, 0))
            return
        self._finish(Path(msg.value))

    def open_target(self) -> None:
        """Create the download folder and show it, for the user to put the two files in by hand."""
        if not self.target:
            return
        folder = Path(self.target)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.progress_text.configure(text=_("The folder {folder} cannot be created: {reason}.").format(
                folder=folder, reason=exc.strerror or exc), foreground=COLORS.error)
            return
        open_folder(folder)

    # -- end ----------------------------------------------------------------------------
    def _finish(self, path: Path | None) -> None:
        if self._finished:
            return
        self._finished = True
        super().close()
        self._on_done(path)

    def close(self) -> None:
        if self._job is not None:
            self.cancel_download()
            return
        self._finish(None)
