"""The list of images the user opened and what we know about each (no Tk here).

Kept separate from the widgets so the navigation rules ("next not reviewed", skipping
duplicates, names relative to the opened folder) can be tested without a display.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from desktop.i18n import N_, _, ngettext, pgettext

#: What the list's state column says of a parsed image, by verdict (the icon says it too); translated where shown.
_VERDICT_WORDS = {"not_reviewed": N_("done"), "accepted": N_("accepted"), "needs_fix": N_("needs fix"),
                  "rejected": N_("rejected")}


class State(enum.Enum):
    WAITING = "waiting"
    PARSING = "parsing"
    DONE = "done"
    FAILED = "failed"


@dataclass
class ImageEntry:
    """One opened image. ``key`` (the absolute path as text) identifies it everywhere."""

    path: Path
    display_name: str
    state: State = State.WAITING
    error: str = ""
    exported: bool = False
    persons: int | None = None
    seconds: float | None = None
    notes: tuple[str, ...] = ()
    #: The review, mirrored from the workspace (desktop.review.workspace): the verdict's
    #: stable value ("not_reviewed", "accepted", "needs_fix", "rejected"), whether the image
    #: changed on disk since that verdict, whether its result came from another model than
    #: the one loaded, whether the reviewer edited its maps; ``image_id`` is its row there.
    verdict: str = "not_reviewed"
    changed: bool = False
    other_model: bool = False
    edited: bool = False
    image_id: int | None = None
    doubt: float | None = None
    #: Agreement with an opened annotation (issue 16): mIoU and pixel accuracy, 0..1.
    miou: float | None = None
    pixel_accuracy: float | None = None

    @property
    def key(self) -> str:
        return str(self.path)

    @property
    def reviewed(self) -> bool:
        """Has a verdict (any but "not reviewed")."""
        return self.verdict != "not_reviewed"

    @reviewed.setter
    def reviewed(self, value: bool) -> None:
        self.verdict = "accepted" if value else "not_reviewed"

    def status_text(self) -> str:
        """Short state for the file list, e.g. ``"done · 2 persons"`` or ``"failed: ..."``."""
        if self.state is State.FAILED:
            return (_("failed: {reason}").format(reason=short_reason(self.error, self.path)) if self.error
                    else pgettext("image state", "failed"))
        if self.state is State.PARSING:
            return _("parsing…")
        if self.state is State.WAITING:
            return pgettext("image state", "waiting")
        people = ""
        if self.persons is not None:
            people = " · " + ngettext("{n} person", "{n} persons", self.persons).format(n=self.persons)
        flags = "".join(" · " + text for on, text in ((self.changed, _("changed on disk")), (self.other_model,
                        _("other model")), (self.edited, _("edited"))) if on)
        from desktop.app.entry_figures import list_figures  # doubt and agreement (issue 16)

        return _(_VERDICT_WORDS.get(self.verdict, "done")) + people + flags + list_figures(self)


def short_reason(message: str, path: Path | None = None, limit: int = 48) -> str:
    """The gist of an error for a list cell: without the file's path, at most ``limit`` chars.

    ``'"/a/b.jpg" is truncated or corrupt (...)'`` becomes ``"truncated or corrupt (...)"``;
    the full message stays available in the tooltip and the status bar.
    """
    text = " ".join(message.split())
    if path is not None:
        # The Chinese messages quote the path with “” and end with 。 (else the cell showed the path).
        for prefix in (f'"{path}" ', f"{path}: ", f"{path} ", f"“{path}”", f"{path}："):
            if text.startswith(prefix):
                text = text[len(prefix):]
                break
    for verb in ("is ", "was "):
        if text.startswith(verb):
            text = text[len(verb):]
            break
    text = text.rstrip(".。")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def image_key(path: str | os.PathLike[str]) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):  # a link loop (RuntimeError before Python 3.13)
        return os.path.abspath(path)


class ImageList:
    """Ordered, duplicate-free list of :class:`ImageEntry`."""

    def __init__(self) -> None:
        self._entries: list[ImageEntry] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def __getitem__(self, i: int) -> ImageEntry:
        return self._entries[i]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def get(self, key: str) -> ImageEntry | None:
        i = self._index.get(key)
        return None if i is None else self._entries[i]

    def index_of(self, key: str | None) -> int | None:
        return None if key is None else self._index.get(key)

    def add(self, paths: list[Path], root: Path | None = None) -> list[ImageEntry]:
        """Append the paths not already listed; names are shown relative to ``root``."""
        added = []
        for p in paths:
            try:
                path = Path(p).resolve()
            except (OSError, RuntimeError):  # a link loop (RuntimeError before Python 3.13): listed as failed
                path = Path(os.path.abspath(p))
            key = str(path)
            if key in self._index:
                continue
            name = path.name
            if root is not None:
                try:
                    name = path.relative_to(root.resolve()).as_posix()
                except ValueError:
                    name = path.name
            entry = ImageEntry(path=path, display_name=name)
            self._index[key] = len(self._entries)
            self._entries.append(entry)
            added.append(entry)
        return added

    def extend(self, entries: list[ImageEntry]) -> list[ImageEntry]:
        """Append ready-made entries (a workspace's images: their paths are already the
        workspace's, no file-system lookups) whose keys are not listed yet; returns those."""
        added = []
        for entry in entries:
            if entry.key in self._index:
                continue
            self._index[entry.key] = len(self._entries)
            self._entries.append(entry)
            added.append(entry)
        return added

    def clear(self) -> None:
        self._entries.clear()
        self._index.clear()

    def neighbour(self, key: str | None, step: int) -> ImageEntry | None:
        """The entry ``step`` places away (clamped to the list), or the first one."""
        if not self._entries:
            return None
        i = self.index_of(key)
        if i is None:
            return self._entries[0]
        j = min(max(i + step, 0), len(self._entries) - 1)
        return self._entries[j]

    def next_not_reviewed(self, key: str | None) -> ImageEntry | None:
        """The next entry after ``key`` (wrapping around) that is not reviewed yet."""
        n = len(self._entries)
        if n == 0:
            return None
        start = self.index_of(key)
        start = -1 if start is None else start
        for k in range(1, n + 1):
            entry = self._entries[(start + k) % n]
            if not entry.reviewed and entry.state is not State.FAILED:
                return entry
        return None

    def counts(self) -> dict[State, int]:
        out = {s: 0 for s in State}
        for e in self._entries:
            out[e.state] += 1
        return out

    def common_root(self) -> Path | None:
        """Deepest folder containing every image (used to mirror subfolders on export)."""
        if not self._entries:
            return None
        try:
            return Path(os.path.commonpath([str(e.path.parent) for e in self._entries]))
        except ValueError:  # different drives on Windows
            return None
