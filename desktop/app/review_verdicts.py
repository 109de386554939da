"""Verdicts, notes, the reviewer's name and the list's order (part of the review controller).

Everything here runs on the window's thread and writes one tiny transaction at a time (a
verdict takes about a millisecond: bench/bench_review_window.py). A key never silently
undoes a verdict: giving an image the verdict it has changes nothing, Space ("accept and
go on") leaves "needs fix" and "rejected" alone, and a changed verdict is said in the
status bar with what it was before.
"""

from __future__ import annotations

from desktop import APP_NAME
from desktop.app.list_view import needs_attention, next_matching
from desktop.app.session import ImageEntry, State
from desktop.app.verdict_panel import badge_for
from desktop.i18n import _, ngettext
from desktop.review.workspace import Status, Workspace, WorkspaceError, workspaces_dir


def verdict_word(value: str) -> str:
    """A verdict as the user reads it, in the app's language (looked up when shown, never at import)."""
    return Status(value).label


class VerdictCommands:
    """Mixed into :class:`desktop.app.review_controller.ReviewController` (uses its state)."""

    # ================================================================== the image shown
    def image_selected(self, key: str) -> None:
        """The window shows another image: its review in the panel, the place remembered."""
        entry = self.window.images.get(key)
        if entry is not None:
            self._show_entry(entry)
        if self._pending_view is not None and self._pending_view[0] != key:
            self._pending_view = None
        self._save_ui_state_soon()
        self.update_title()

    def _current(self) -> ImageEntry | None:
        win = self.window
        return win.images.get(win.current_key) if win.current_key else None

    def _show_entry(self, entry: ImageEntry) -> None:
        ws = self.workspace
        note, detail = "", ""
        self.panel.flush()  # a note being typed is saved before the panel is refilled
        if entry.image_id is not None and ws is not None:
            try:
                rec = ws.record(entry.image_id)
                note = ws.note(entry.image_id) if rec.has_note else ""
                if rec.reviewer and rec.reviewed_at and rec.status is not Status.NOT_REVIEWED:
                    detail = _("{verdict} by {reviewer}, {time}").format(verdict=rec.status.label, reviewer=rec.reviewer,
                                                                         time=_local_time(rec.reviewed_at))
            except (WorkspaceError, KeyError):
                pass
        if entry.other_model:
            detail += ("\n" if detail else "") + _("Result of another model (see the notice above the image).")
        self.panel.show(entry.image_id if ws is not None else None, entry.verdict, note, detail=detail,
                        changed=entry.changed, can_accept=entry.state is State.DONE)
        if not self.read_only:
            self.panel.set_writable(True, can_accept=entry.state is State.DONE)

    # ================================================================== verdicts
    def set_verdict(self, value: str) -> bool:
        """Give the image shown this verdict; the same verdict again changes nothing.
        Returns whether the image has it afterwards."""
        win = self.window
        entry = self._current()
        if entry is None:
            return False
        label = verdict_word(value)
        ws = self.workspace
        if ws is None or entry.image_id is None:
            win.set_status(_("This image is not in a workspace, so a verdict cannot be saved for it."), warn=True)
            return False
        if ws.read_only:
            win.set_status(_("The workspace is read-only, so the verdict was not changed (the notice above the image "
                             "says why)."), warn=True)
            return False
        if value == Status.ACCEPTED.value and entry.state is not State.DONE:
            why = {State.FAILED: _('"{name}" cannot be accepted: it could not be parsed (press R to reject it).'),
                   State.PARSING: _('"{name}" cannot be accepted: it is being parsed.'),
                   State.WAITING: _('"{name}" cannot be accepted: it is not parsed yet.')}[entry.state]
            win.set_status(why.format(name=entry.display_name))
            return False
        if entry.verdict == value and not entry.changed:
            win.set_status(_('"{name}" is already marked "{verdict}".').format(name=entry.display_name, verdict=label))
            return True
        old = entry.verdict
        try:
            rec = ws.set_verdict(entry.image_id, value)
        except WorkspaceError as exc:
            self.notices.show("save-failed", _("The verdict could not be saved: {reason}").format(reason=exc), "error")
            return False
        self._apply_record(entry, rec)
        win.file_list.refresh(entry)
        win._refresh_entry_view(entry)
        self._show_entry(entry)
        self.update_counts()
        if old == value:
            win.set_status(_('"{name}": "{verdict}" confirmed after the image changed.').format(
                name=entry.display_name, verdict=label))
        elif old == Status.NOT_REVIEWED.value:
            win.set_status(_('"{name}": {verdict}.').format(name=entry.display_name, verdict=label))
        else:
            win.set_status(_('"{name}": changed from "{old}" to "{verdict}".').format(
                name=entry.display_name, old=verdict_word(old), verdict=label))
        return True

    def accept_and_next(self) -> None:
        """Space: accept the image shown and go to the next one not reviewed. An image with
        another verdict keeps it (a key never silently undoes a verdict)."""
        entry = self._current()
        if entry is None:
            return
        if entry.verdict in (Status.NEEDS_FIX.value, Status.REJECTED.value) and not entry.changed:
            self.window.set_status(_('"{name}" is marked "{verdict}": Space does not change that. Press Y to accept '
                                     'it, or N for the next image not reviewed.').format(
                name=entry.display_name, verdict=verdict_word(entry.verdict)))
            return
        if not self.set_verdict(Status.ACCEPTED.value):
            return
        self.next_not_reviewed()

    def next_not_reviewed(self) -> None:
        self._go_next(lambda e: e.verdict == Status.NOT_REVIEWED.value and e.state is not State.FAILED,
                      _("Every image is reviewed."),
                      lambda n: ngettext(
                          "No other image not reviewed in the list as filtered; {n} more is hidden by the filter.",
                          "No other image not reviewed in the list as filtered; {n} more are hidden by the filter.",
                          n).format(n=n),
                      _("This is the only image left not reviewed."))

    def next_needing_attention(self) -> None:
        self._go_next(needs_attention, _("No image needs attention: all reviewed, none changed or failed."),
                      lambda n: ngettext(
                          "No other image needing attention in the list as filtered; {n} more is hidden by the filter.",
                          "No other image needing attention in the list as filtered; {n} more are hidden by the "
                          "filter.", n).format(n=n),
                      _("This is the only image left needing attention."))

    def _go_next(self, test, all_done: str, filtered, only_left: str) -> None:
        win = self.window
        if not len(win.images):
            win.set_status(_("No images open."))
            return
        order = win.file_list.visible_keys()
        key = next_matching(order, win.current_key, lambda k: (e := win.images.get(k)) is not None and test(e))
        if key is None:
            shown = set(order)
            hidden = sum(1 for e in win.images if test(e) and e.key not in shown and e.key != win.current_key)
            current = self._current()
            if hidden:
                win.set_status(filtered(hidden))
            elif current is not None and test(current):
                win.set_status(only_left)
            else:
                win.set_status(all_done)
            return
        win.select(key)

    def key_bindings(self) -> dict[str, object]:
        """Plain keys for the window's key table (see the README's keys and Help ▸ Shortcuts)."""
        return {
            "space": self.accept_and_next,
            "y": lambda: self.set_verdict(Status.ACCEPTED.value),
            "x": lambda: self.set_verdict(Status.NEEDS_FIX.value),
            "r": lambda: self.set_verdict(Status.REJECTED.value),
            "u": lambda: self.set_verdict(Status.NOT_REVIEWED.value),
            "n": self.next_not_reviewed,
        }

    def extra_key_sequences(self) -> dict[str, object]:
        """Keys with a modifier (more specific than the plain ones, so Tk picks them first)."""
        return {"<Shift-KeyPress-N>": self.next_needing_attention}

    # ================================================================== notes and reviewer
    def save_note(self, image_id: int, text: str) -> None:
        ws = self.workspace
        if ws is None or ws.read_only:
            self.panel.note_saved(False, _("Not saved: the workspace is read-only."))
            return
        try:
            rec = ws.set_note(image_id, text)
        except (WorkspaceError, KeyError) as exc:
            self.panel.note_saved(False, _("Not saved!"))
            self.notices.show("save-failed", _("The note could not be saved: {reason}").format(reason=exc), "error")
            return
        self.panel.note_saved(True)
        entry = self._by_id.get(image_id)
        if entry is not None:
            self._apply_record(entry, rec)

    def ask_reviewer(self) -> None:
        from tkinter import simpledialog

        name = simpledialog.askstring(APP_NAME, _("Your name, written with every verdict, note and edit:"),
                                      initialvalue=self.reviewer, parent=self.root)
        if name is not None:
            self.set_reviewer(name)

    def set_reviewer(self, name: str) -> None:
        name = " ".join(name.split())[:200]
        self.settings.reviewer = name
        if self.workspace is not None:
            self.workspace.reviewer = self.reviewer
        self.panel.set_reviewer(self.reviewer)
        self.window.save_settings()

    # ================================================================== the list
    def apply_view(self) -> None:
        """Sort and filter the list as the controls say (the image shown stays listed)."""
        win = self.window
        if self._restoring:
            return
        view = self.controls.view
        ordered = view.apply(win.images, keep=win.current_key)
        win.file_list.show_only([e.key for e in ordered])
        self.controls.set_shown(len(ordered), len(win.images))
        if win.current_key is not None:
            win.file_list.select(win.current_key)
        self._save_ui_state_soon()

    def update_counts(self) -> None:
        """Verdict counts in the status bar (coalesced: many changes, one count)."""
        if self._counts_after is None:
            self._counts_after = self.root.after_idle(self._count_now)

    def _count_now(self) -> None:
        self._counts_after = None
        counts = {s.value: 0 for s in Status}
        changed = 0
        for e in self.window.images:
            counts[e.verdict] = counts.get(e.verdict, 0) + 1
            changed += e.changed
        self.counts.set_counts(counts, changed, visible=len(self.window.images) > 0)

    def entry_shown(self, entry: ImageEntry) -> None:
        """The window redrew the state of the image shown (parsed, failed...)."""
        self.panel.set_writable(not self.read_only, can_accept=entry.state is State.DONE)

    def badge(self, entry: ImageEntry) -> str:
        return badge_for(entry)

    @staticmethod
    def display_name(ws: Workspace) -> str:
        """How the window names a workspace: its folder's name for a default one (their file
        names end in a hash), else its file name."""
        if ws.path.parent == workspaces_dir():
            return ws.path.stem.rsplit("-", 1)[0]
        return ws.path.name

    def update_title(self) -> None:
        ws = self.workspace
        parts = []
        entry = self._current()
        if entry is not None:
            parts.append(entry.display_name)
        if ws is not None:
            parts.append(self.display_name(ws))
        title = " — ".join(parts + [APP_NAME])
        if ws is not None and ws.read_only:
            title = _("{title} (read-only)").format(title=title)
        self.root.title(title)


def _local_time(stamp: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp
