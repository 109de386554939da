"""The workspace's menu commands: open, recent, save as, attach earlier outputs, review report,
and the Review menu (verdict keys, next image needing attention, reviewer name).

Each command has a dialog form (what the menu calls) and a plain form taking the path (what
the dialog calls, and what the tests call). Anything that reads or writes many files (a copy
of the workspace, a report, attaching a folder of outputs) runs in a background thread and
reports back through the review controller's inbox; the workspace lock is held only around
each use of the workspace, so closing the window never waits for the whole job.
"""

from __future__ import annotations

import logging
import os
import threading
import tkinter as tk
from pathlib import Path
from tkinter import filedialog, messagebox

from desktop import APP_NAME
from desktop.app.session import State
from desktop.i18n import _, pgettext
from desktop.review.workspace import SUFFIX, WorkspaceError, workspaces_dir

log = logging.getLogger(__name__)


def _index_of(menu: tk.Menu, label: str) -> int | None:
    end = menu.index("end")
    for i in range(0 if end is None else end + 1):
        try:
            if menu.entrycget(i, "label") == label:
                return i
        except tk.TclError:  # separators have no label
            continue
    return None


class WorkspaceActions:
    def __init__(self, controller):
        self.c = controller
        self.window = controller.window
        self.root = controller.root
        self.job: threading.Thread | None = None

    # ------------------------------------------------------------------ menus
    def build_menus(self) -> None:
        win = self.window
        m = getattr(win, "file_menu", None)
        if m is not None:
            at = _index_of(m, _("Include subfolders"))
            at = (at + 1) if at is not None else 0
            self.recent_menu = tk.Menu(m, tearoff=False, postcommand=self._fill_recent)
            # After the separator below "Include subfolders", with one of their own before the
            # export commands (the separator was inserted after that one: two in a row, none below).
            m.insert_command(at + 1, label=_("Open workspace…"), command=self.ask_open)
            m.insert_cascade(at + 2, label=_("Recent workspaces"), menu=self.recent_menu)
            m.insert_command(at + 3, label=_("Save workspace as…"), command=self.ask_save_as)
            m.insert_command(at + 4, label=_("Attach parsed results from a folder…"), command=self.ask_attach)
            m.insert_command(at + 5, label=_("Close workspace"), command=self.c.close_workspace)
            m.insert_separator(at + 6)
            after = _index_of(m, _("Export all parsed images…"))
            if after is not None:
                m.insert_command(after + 1, label=_("Export review report…"), command=self.ask_report)
        bar = win.menubar
        review = tk.Menu(bar, tearoff=False)
        c = self.c
        review.add_command(label=_("Accept and go to the next not reviewed"), accelerator="Space",
                           command=c.accept_and_next)
        review.add_command(label=_("Accept"), accelerator="Y", command=lambda: c.set_verdict("accepted"))
        review.add_command(label=_("Needs fix"), accelerator="X", command=lambda: c.set_verdict("needs_fix"))
        review.add_command(label=_("Reject"), accelerator="R", command=lambda: c.set_verdict("rejected"))
        review.add_command(label=_("Back to not reviewed"), accelerator="U", command=lambda: c.set_verdict("not_reviewed"))
        review.add_separator()
        review.add_command(label=_("Next not reviewed"), accelerator="N", command=c.next_not_reviewed)
        review.add_command(label=_("Next needing attention"), accelerator="Shift+N", command=c.next_needing_attention)
        review.add_separator()
        review.add_command(label=_("Reviewer name…"), command=c.ask_reviewer)
        model_at = _index_of(bar, pgettext("menu", "Model"))
        if model_at is not None:
            bar.insert_cascade(model_at, label=pgettext("menu", "Review"), menu=review, underline=0)
        else:
            bar.add_cascade(label=pgettext("menu", "Review"), menu=review, underline=0)
        self.review_menu = review

    def _fill_recent(self) -> None:
        menu = self.recent_menu
        menu.delete(0, "end")
        recent = [p for p in self.c.settings.recent_workspaces if os.path.isfile(p)]
        for path in recent:
            menu.add_command(label=path, command=lambda p=path: self.c.open_workspace(p))
        if not recent:
            menu.add_command(label=_("(none yet)"), state="disabled")
        else:
            menu.add_separator()
            menu.add_command(label=_("Clear this list"), command=self._clear_recent)

    def _clear_recent(self) -> None:
        self.c.settings.recent_workspaces = []
        self.window.save_settings()

    # ------------------------------------------------------------------ open / save as
    def ask_open(self) -> None:
        path = filedialog.askopenfilename(parent=self.root, title=_("Open a review workspace"),
                                          initialdir=str(workspaces_dir()) if workspaces_dir().is_dir() else None,
                                          filetypes=[(_("Review workspaces"), f"*{SUFFIX}"), (_("All files"), "*")])
        if path:
            self.c.open_workspace(path)

    def ask_save_as(self) -> None:
        ws = self.c.workspace
        if ws is None:
            messagebox.showinfo(APP_NAME, _("No workspace is open: open a folder first."), parent=self.root)
            return
        roots = ws.roots()
        folder = str(roots[0].path) if roots and roots[0].found else None
        dest = filedialog.asksaveasfilename(
            parent=self.root, title=_("Save the workspace as"), defaultextension=SUFFIX, initialdir=folder,
            initialfile=self.c.display_name(ws).removesuffix(SUFFIX) + SUFFIX,
            filetypes=[(_("Review workspaces"), f"*{SUFFIX}")])
        if dest:
            self.save_as(dest)

    def save_as(self, dest: str | os.PathLike[str]) -> None:
        """Copy the workspace to ``dest`` (paths inside relative to it) and continue there."""
        c, ws = self.c, self.c.workspace
        if ws is None:
            return
        c.panel.flush()
        c._save_ui_state()
        self.window.set_status(_("Saving a copy of the workspace…"))

        def run() -> None:
            try:
                with c._lock:
                    if c.workspace is not ws:
                        return
                    saved = ws.save_copy(dest)
            except WorkspaceError as exc:
                c.inbox.put(("call", lambda e=exc: self._failed(_("The workspace could not be saved"), e)))
                return
            c.inbox.put(("call", lambda: self._saved_as(saved)))

        self._start(run, "workspace-save-as")

    def _saved_as(self, path: Path) -> None:
        if self.c.open_workspace(path):
            self.window.set_status(_('Workspace saved as "{path}"; you are now working in this copy.').format(path=path))

    # ------------------------------------------------------------------ report
    def ask_report(self) -> None:
        if self.c.workspace is None:
            messagebox.showinfo(APP_NAME, _("No workspace is open: there is nothing to report yet."), parent=self.root)
            return
        roots = self.c.workspace.roots()
        path = filedialog.asksaveasfilename(
            parent=self.root, title=_("Export the review report"), defaultextension=".csv",
            initialdir=str(roots[0].path) if roots and roots[0].found else None, initialfile="review-report.csv",
            filetypes=[(_("CSV (spreadsheets)"), "*.csv"), ("JSON", "*.json")])
        if path:
            self.export_report(path)

    def export_report(self, path: str | os.PathLike[str]) -> None:
        """The same rows as ``python -m desktop.cli report`` (CSV or JSON by the file's suffix)."""
        from desktop.review.report import write_report

        c, ws = self.c, self.c.workspace
        if ws is None:
            return
        c.panel.flush()

        def run() -> None:
            try:
                with c._lock:
                    if c.workspace is not ws:
                        return
                    write_report(ws, path)
            except (OSError, WorkspaceError) as exc:
                c.inbox.put(("call", lambda e=exc: self._failed(_("The review report could not be written"), e)))
                return
            c.inbox.put(("call", lambda: self.window.set_status(_('Review report written to "{path}".').format(path=path))))

        self._start(run, "review-report")

    # ------------------------------------------------------------------ attach outputs
    def ask_attach(self) -> None:
        if self.c.workspace is None:
            messagebox.showinfo(APP_NAME, _("Open the folder of photos first, then attach the folder of their "
                                            "results."), parent=self.root)
            return
        folder = filedialog.askdirectory(parent=self.root, mustexist=True,
                                         title=_("Folder of results written by this app (NAME.json and "
                                                 "NAME_labels.png)"))
        if folder:
            self.attach(folder)

    def attach(self, folder: str | os.PathLike[str]) -> None:
        """Store the results found in ``folder`` for this workspace's images (no parsing)."""
        from desktop.review.attach_outputs import attach_folder

        c, ws = self.c, self.c.workspace
        if ws is None or ws.read_only:
            self.window.set_status(_("Results can only be attached to a workspace that can be saved."), warn=True)
            return
        self.window.set_status(_('Reading the results in "{folder}"…').format(folder=folder))

        def progress(i: int, n: int, name: str) -> None:
            if i % 20 == 0:
                c.inbox.put(("call", lambda: self.window.set_status(
                    _("Reading results: {current} of {total} ({name})…").format(current=i + 1, total=n, name=name))))

        def run() -> None:
            try:
                summary = attach_folder(ws, folder, guard=lambda: c._lock, progress=progress,
                                        should_stop=lambda: c.workspace is not ws)
            except (OSError, WorkspaceError) as exc:
                c.inbox.put(("call", lambda e=exc: self._failed(_("The results could not be attached"), e)))
                return
            c.inbox.put(("call", lambda: self._attached(ws, summary)))

        self._start(run, "attach-outputs")

    def _attached(self, ws, summary) -> None:
        c, win = self.c, self.window
        if ws is not c.workspace:
            return
        keys = []
        for iid in summary.attached:
            entry = c._by_id.get(iid)
            if entry is None:
                continue
            if entry.state in (State.WAITING, State.FAILED):
                entry.state, entry.error = State.DONE, ""
            keys.append(entry.key)
            c._refresh_id(iid)
        if win.worker is not None and keys:
            win.worker.remove(keys)
            win._batch_total = max(0, win._batch_total - len(keys))
        current = win.images.get(win.current_key) if win.current_key else None
        if current is not None and current.key in keys:
            win.current_result = win.store.get(current.key)
            if win.canvas_view.rgb is not None:
                win.canvas_view.set_result(win.current_result)
            win._refresh_panels()
            win._refresh_entry_view(current)
        c._mark_other_models()
        c.update_counts()
        win._update_progress()
        win._update_actions()
        text = summary.describe()
        win.set_status(text, warn=bool(summary.failed))
        if summary.failed:
            details = "; ".join(f"{Path(p).name}: {why}" for p, why in summary.failed[:3])
            c.notices.show("attach", _("Attaching results: {summary} {details}").format(summary=text, details=details), "warning")

    # ------------------------------------------------------------------ helpers
    def _start(self, run, name: str) -> None:
        self.job = threading.Thread(target=run, name=name, daemon=True)
        self.job.start()

    def _failed(self, what: str, exc: BaseException) -> None:
        text = _("{problem}: {reason}").format(problem=what, reason=exc)
        self.window.set_status(text, warn=True)
        self.c.notices.show("action-failed", text, "error")
