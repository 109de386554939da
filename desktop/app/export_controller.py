"""Export from the window: the dialog, the plan, the background job, the outcome.

Two rules the reviewers asked for (review issue, items 8 and 9):

- **What is exported is what the workspace holds**: the reviewer's edited maps where an
  image was edited, the model's result elsewhere (:meth:`ReviewController.effective_result`),
  and every JSON carries the image's review (status, note, reviewer, edits).
- **Export is what you see, said in words.** The colour and overlay images show either
  everything (the default, in every new session) or "as shown: 17 of 19 classes, person 2
  only": the dialog spells the rule out before anything is written, so a class hidden in an
  earlier session never silently thins an export. Person choices belong to the image on
  screen, so for "all parsed images" only the class choice applies (the dialog says so).

The window keeps ``export_dialog``, ``export_job`` and ``last_export`` (tests and the quit
check read them); this module sets them.
"""

from __future__ import annotations

from tkinter import messagebox

from desktop import APP_NAME
from desktop.app.export_dialog import ExportDialog, ExportRequest
from desktop.app.session import State
from desktop.app.worker import BackgroundJob, JobFinished, describe_error
from desktop.export_run import ExportItem, count_existing, plan_export, run_export
from desktop.i18n import _, ngettext
from desktop.output_layout import default_export_folder


class ExportController:
    def __init__(self, window):
        self.window = window
        #: "As shown" chosen in this session (never read from the settings: item 9).
        self.as_shown = False

    # ------------------------------------------------------------------ the rule in words
    def shown_rule(self, scope: str) -> str:
        """"17 of 19 classes, person 2 only" for the window's current class and person choices."""
        win = self.window
        visible = win.class_panel.visible_array()
        n = len(visible) - 1  # the background is never coloured: not counted
        shown = int(visible[1:].sum())
        classes = _("every class") if shown == n else ngettext("{shown} of {n} class", "{shown} of {n} classes",
                                                               n).format(shown=shown, n=n)
        hidden, solo = set(win.person_panel.hidden), win.person_panel.solo
        if not hidden and solo is None:
            persons = _("every person")
        elif scope != "current":
            persons = _("every person (hiding persons applies to the image on screen only)")
        elif solo is not None:
            persons = _("person {id} only").format(id=solo)
        else:
            listed = ", ".join(str(p) for p in sorted(hidden))
            persons = ngettext("person {ids} hidden", "persons {ids} hidden", len(hidden)).format(ids=listed)
        return _("{classes}, {persons}").format(classes=classes, persons=persons)

    # ------------------------------------------------------------------ dialog
    def open_dialog(self, scope: str = "current") -> None:
        win = self.window
        if win.export_dialog is not None and win.export_dialog.winfo_exists():
            win.export_dialog.lift()
            return
        parsed = [e for e in win.images if e.state is State.DONE]
        if not parsed:
            messagebox.showinfo(APP_NAME, _("There is nothing to export yet: no image has been parsed."),
                                parent=win.root)
            return
        current = win.images.get(win.current_key) if win.current_key else None
        current_name = current.display_name if current is not None and current.state is State.DONE else None
        s = win.settings
        folder = s.export_folder or (str(default_export_folder(s.last_folder)) if s.last_folder else "")
        win.export_dialog = ExportDialog(
            win.root, folder=folder, formats=s.export_formats, only_visible=self.as_shown,
            scope=scope if current_name else "all", current_name=current_name, parsed_count=len(parsed),
            on_start=self.start, on_cancel=self.cancel, shown_rule=self.shown_rule)

    def plan(self, request: ExportRequest) -> list[ExportItem]:
        """What to write where (:func:`desktop.export_run.plan_export`): one layout rule for
        "this image" and "all images", mirroring subfolders of the open images' root."""
        win = self.window
        if request.scope == "current":
            entry = win.images.get(win.current_key) if win.current_key else None
            chosen = {entry.key} if entry is not None and entry.state is State.DONE else set()
        else:
            chosen = {e.key for e in win.images if e.state is State.DONE}
        images = [(e.key, e.path, e.display_name) for e in win.images]
        return plan_export(images, chosen, request.folder, win.images.common_root())

    def start(self, request: ExportRequest) -> None:
        from desktop.export import ExportOptions

        win = self.window
        if getattr(win, "edit", None) is not None:
            win.edit.flush()  # corrections of the last moments reach the workspace before it is read
        plan = self.plan(request)
        if not plan:
            win.export_dialog.show_finished(_("Nothing to export."), None, error=True)
            return
        existing = count_existing(plan, request.formats, request.folder)
        if existing and not messagebox.askyesno(
                APP_NAME, ngettext("{n} file already exists in the chosen folder and will be replaced. Continue?",
                                   "{n} files already exist in the chosen folder and will be replaced. Continue?",
                                   existing).format(n=existing),
                parent=win.export_dialog):
            return
        win.settings.export_folder = str(request.folder)
        win.settings.export_formats = list(request.formats)
        self.as_shown = request.only_visible
        win.save_settings()
        hidden, solo = frozenset(), None
        if request.only_visible and request.scope == "current":
            hidden, solo = frozenset(win.person_panel.hidden), win.person_panel.solo
        options = ExportOptions(formats=frozenset(request.formats), opacity=win.settings.opacity,
                                visible_classes=win.class_panel.visible_array() if request.only_visible else None,
                                hidden_persons=hidden, solo_person=solo)
        review, load = win.review, win.load_image
        edited: dict[str, tuple] = {}

        def get_result(key: str):
            found = review.effective_result(key)
            if found is None:
                return None
            result, is_edited = found
            if is_edited:
                maps = review.edited_maps(key)
                if maps is not None:
                    edited[key] = (maps.labels, maps.persons)
            return result

        def run(report, cancel):
            return run_export(plan, request.folder, options, get_result=get_result, load_image=load, report=report,
                              cancel=cancel, describe=describe_error,
                              maps_of=lambda item, _r: edited.pop(item.image_key, None),
                              review_of=lambda item: review.review_info(item.image_key))

        win.export_job = BackgroundJob("export", run, win.queue)
        win.export_dialog.show_running()
        win.export_job.start()
        win._update_actions()

    def cancel(self) -> None:
        if self.window.export_job is not None:
            self.window.export_job.cancel()

    def finished(self, msg: JobFinished) -> None:
        win = self.window
        win.export_job = None
        dialog = win.export_dialog if win.export_dialog is not None and win.export_dialog.winfo_exists() else None
        if msg.error:
            text = _("Export failed: {reason}").format(reason=msg.error)
            win.set_status(text, warn=True)
            if dialog:
                dialog.show_finished(text, None, error=True)
            return
        value = msg.value or {}
        for key in value.get("keys", []):
            entry = win.images.get(key)
            if entry is not None:
                entry.exported = True
        n_ok, failures = len(value.get("keys", [])), value.get("failures", [])
        total, n_files = value.get("total", 0), len(value.get("written", []))
        text = ngettext("Exported {done} of {n} image ({files} files) to {folder}.",
                        "Exported {done} of {n} images ({files} files) to {folder}.", total).format(
            done=n_ok, n=total, files=n_files, folder=value.get("folder"))
        if msg.cancelled:
            text = _("Export cancelled. {summary}").format(summary=text)
        if failures:
            text += "\n" + "\n".join(f"{name}: {why}" for name, why in failures[:5])
            if len(failures) > 5:
                text += "\n" + _("… and {n} more (see the log file).").format(n=len(failures) - 5)
        win.last_export = value
        win.set_status(text.splitlines()[0], warn=bool(failures))
        if dialog:
            dialog.show_finished(text, value.get("folder"), error=bool(failures))
