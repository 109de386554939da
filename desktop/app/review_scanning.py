"""Opening files and folders into the review workspace (part of the review controller).

A folder opens *its* workspace (one saved inside it, else the default one in the user data
folder); files join the workspace already open. Folders are scanned, and the new images added
to the workspace, in a background job (10,000 files take seconds); the window then lists them
from the workspace's rows, so a photo is named and keyed the same way in the list, in the
reports and in the exports.
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop.app.session import ImageEntry, State
from desktop.app.worker import BackgroundJob, JobFinished
from desktop.i18n import _, ngettext
from desktop.review.workspace import ImageRecord, find_workspace


class FolderOpening:
    """Mixed into :class:`desktop.app.review_controller.ReviewController` (uses its state)."""

    # ================================================================== opening
    def open_paths(self, paths: list[str], recursive: bool | None = None) -> None:
        """Open files and folders: a folder brings its own workspace, files join the open one."""
        win = self.window
        recursive = bool(win.recursive_var.get()) if recursive is None else recursive
        first = Path(paths[0])
        self.settings.last_folder = str(first if first.is_dir() else first.parent)
        win._save_settings_soon()
        target = self._workspace_target(paths)
        if target is not None:
            self.open_workspace(target, scan=(list(paths), recursive))
            return
        if win.scan_job is not None:
            win._scan_requests.append((list(paths), recursive))
            return
        self._start_scan(list(paths), recursive)

    def _workspace_target(self, paths: list[str]) -> Path | None:
        """The workspace to switch to for ``paths``, or None to add them to the open one."""
        folders = [Path(p) for p in paths if os.path.isdir(p)]
        ws = self.workspace
        if folders:
            folder = Path(os.path.abspath(folders[0]))
            if ws is not None and any(_inside(folder, r.path) for r in ws.roots()):
                return None
            return find_workspace(folder)
        if ws is not None:
            return None
        return find_workspace(Path(os.path.abspath(paths[0])).parent)

    def _start_scan(self, paths: list[str], recursive: bool) -> None:
        from desktop.imageio import list_images
        from desktop.output_layout import is_output_folder

        win, ws = self.window, self.workspace

        def scan(report, cancel):
            report(0, None, _("Looking for images…"))
            skipped_subfolders = False
            if not recursive:
                for p in paths:
                    try:
                        if Path(p).is_dir() and any(c.is_dir() and not c.name.startswith(".")
                                                    and not is_output_folder(c) for c in Path(p).iterdir()):
                            skipped_subfolders = True
                            break
                    except OSError:
                        pass
            found = list_images(paths, recursive=recursive)
            records: dict[int, ImageRecord] = {}
            ids: list[int | None] = [None] * len(found)
            if ws is not None and not ws.read_only:
                ok = [i for i, e in enumerate(found) if e.ok]
                with self._lock:
                    if self.workspace is ws:
                        for i, iid in zip(ok, ws.add_images([found[i] for i in ok]), strict=True):
                            ids[i] = iid
                        wanted = {i for i in ids if i is not None}
                        records = {r.id: r for r in ws.records() if r.id in wanted}
            return paths, found, skipped_subfolders, ws, ids, records

        win.set_status(_("Looking for images…"))
        win.scan_job = BackgroundJob("scan", scan, win.queue)
        win.scan_job.start()

    def scan_finished(self, msg: JobFinished) -> None:
        win = self.window
        win.scan_job = None
        if msg.error:
            win.set_status(_("Could not open: {reason}").format(reason=msg.error), warn=True)
        else:
            paths, found, skipped_subfolders, ws, ids, records = msg.value
            if ws is self.workspace:
                self._add_found(paths, found, ids, records)
                # Said in the list footer, which stays (the status bar is soon overwritten).
                win._subfolders_skipped = skipped_subfolders
                if skipped_subfolders:
                    win.set_status(win.status_label.cget("text") + "  "
                                   + _("Subfolders were not included (File ▸ Include subfolders)."))
        if win._scan_requests:
            paths, recursive = win._scan_requests.pop(0)
            self._start_scan(paths, recursive)

    def _add_found(self, paths: list[str], found: list, ids: list[int | None],
                   records: dict[int, ImageRecord]) -> None:
        win = self.window
        if not found:
            win.set_status(_("No images found in {folders}.").format(
                folders=", ".join(Path(p).name or str(p) for p in paths)),
                           warn=True)
            return
        new_entries: list[ImageEntry] = []
        problems = []
        known = 0
        for item, iid in zip(found, ids, strict=True):
            if iid is not None:
                rec = records.get(iid)
                if rec is None or iid in self._by_id:  # already listed
                    known += 1
                    continue
                entry = self._entry_from(rec)
                added = win.images.extend([entry])
                if added:
                    self._track(entry)
            else:
                added = win.images.add([Path(item.path)], root=Path(item.root))
                for entry in added:
                    if not item.ok:
                        entry.state = State.FAILED
                        entry.error = item.error
                        problems.append(item.error)
            known += 1 - len(added)
            new_entries.extend(added)
        win.file_list.add_in_chunks(new_entries, on_done=self.apply_view)
        waiting = [e.key for e in new_entries if e.state is State.WAITING]
        restored, self._just_restored = self._just_restored, False
        if new_entries or not restored:
            n = len(new_entries)
            text = ngettext("Added {n} image.", "Added {n} images.", n).format(n=n)
            if known:
                text += " " + ngettext("{n} was already in the list.", "{n} were already in the list.",
                                       known).format(n=known)
            if problems:
                text += " " + ngettext("{n} could not be opened.", "{n} could not be opened.",
                                       len(problems)).format(n=len(problems))
            win.set_status(text, warn=bool(problems))
        # else: the workspace's own message stays ("opened: 40 images, 38 with their results ready").
        if win.current_key is None and new_entries:
            win.select(new_entries[0].key)
        elif new_entries and len(new_entries) == len(found) and len(paths) == 1 and Path(paths[0]).is_file():
            win.select(new_entries[0].key)
        win._queue_for_parsing(waiting)
        self.update_counts()
        win._update_actions()

    def _track(self, entry: ImageEntry) -> None:
        if entry.image_id is not None:
            self._ids[entry.key] = entry.image_id
            self._by_id[entry.image_id] = entry

    def _entry_from(self, rec: ImageRecord) -> ImageEntry:
        entry = ImageEntry(path=rec.path, display_name=rec.name)
        self._apply_record(entry, rec)
        if rec.has_result:
            entry.state = State.DONE
        elif rec.error:
            entry.state, entry.error = State.FAILED, rec.error
        return entry

    def _apply_record(self, entry: ImageEntry, rec: ImageRecord) -> None:
        entry.image_id = rec.id
        entry.verdict = rec.status.value
        entry.changed = rec.changed_since_review
        entry.edited = rec.edited
        entry.doubt = rec.doubt
        entry.miou, entry.pixel_accuracy = rec.miou, rec.pixel_accuracy
        if rec.has_result:
            entry.persons, entry.seconds = rec.persons, rec.parse_seconds
            entry.other_model = self.model is not None and rec.model_key != self.model.key
        else:
            entry.other_model = False


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


