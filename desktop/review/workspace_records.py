"""What a review workspace hands out: verdicts, records and the small values around them.

Split from :mod:`desktop.review.workspace` (which still exports every name here): the
dataclasses the window, the command line and reports receive, the limits a workspace keeps
to whatever a file declares, and the tolerant converters that read its rows (a hostile or
damaged file holds any type in any column; these never raise, they give ``None``/defaults).
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from desktop.i18n import pgettext

SUFFIX = ".m2fpws"
DATA_ENV_VAR = "M2FP_DATA_DIR"
#: A workspace lists at most this many images (a hostile file cannot make the list unbounded).
MAX_IMAGES = 200_000
NOTE_PREVIEW = 200
MAX_NOTE = 100_000
MAX_JSON = 1_000_000


class Status(str, enum.Enum):
    """A review verdict. The value is what the database, reports and JSON hold."""

    NOT_REVIEWED = "not_reviewed"
    ACCEPTED = "accepted"
    NEEDS_FIX = "needs_fix"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        """For people (translatable as a whole)."""
        return {"not_reviewed": pgettext("review verdict", "Not reviewed"),
                "accepted": pgettext("review verdict", "Accepted"),
                "needs_fix": pgettext("review verdict", "Needs fix"),
                "rejected": pgettext("review verdict", "Rejected")}[self.value]


class WorkspaceError(Exception):
    """A workspace problem, told as one sentence a user can act on."""


class WorkspaceReadOnlyError(WorkspaceError):
    """A write on a workspace opened read-only (the message says why it is read-only)."""


# --------------------------------------------------------------------------- records

@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One image as the list shows it (no result data: those load on demand).

    ``persons`` is the edited count when the image is edited, else the model's;
    ``model_key`` is the :attr:`ModelIdentity.key` of the stored result shown (compare with
    the loaded model's to tell "result of another model").
    """

    id: int
    name: str
    folder: Path
    rel: str
    status: Status
    note_preview: str
    has_note: bool
    reviewer: str | None
    reviewed_at: str | None
    changed_since_review: bool
    missing: bool
    error: str | None
    width: int | None
    height: int | None
    result_id: int | None
    model_key: str | None
    persons: int | None
    parse_seconds: float | None
    edited: bool
    doubt: float | None
    pixel_accuracy: float | None
    miou: float | None

    @property
    def path(self) -> Path:
        """Where the image file is expected now (its root folder as found on opening)."""
        return self.folder.joinpath(*self.rel.split("/"))

    @property
    def has_result(self) -> bool:
        return self.result_id is not None


@dataclass(frozen=True)
class FileCheck:
    """What :meth:`Workspace.check_files` found, as image ids."""

    unchanged: list[int] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)  # modification time changed, same content
    changed: list[int] = field(default_factory=list)  # new content: needs parsing
    flagged: list[int] = field(default_factory=list)  # changed and had a verdict or edit
    missing: list[int] = field(default_factory=list)
    unreadable: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class EncodedResult:
    """A result encoded for storage (:meth:`Workspace.encode`, safe in any thread)."""

    data: bytes
    width: int
    height: int
    persons: int
    parts: int
    parse_seconds: float | None


@dataclass(frozen=True)
class EditedMaps:
    """The reviewer's maps of one image and where they came from."""

    labels: np.ndarray  # (H, W) uint8
    persons: np.ndarray  # (H, W) uint16
    base_result_id: int | None  # the model result they were edited from
    editor: str | None
    edited_at: str
    pixels_changed: int
    changes: dict  # JSON-ready statistics (see desktop.review.edit_stats)


@dataclass(frozen=True)
class Comparison:
    """Agreement of the model (or the edit) with an existing annotation of one image."""

    source: str
    pixel_accuracy: float | None
    miou: float | None
    confusion: np.ndarray | None
    details: dict | None
    computed_at: str


@dataclass(frozen=True)
class RootInfo:
    id: int
    path: Path
    found: bool
    images: int

# --------------------------------------------------------------------------- row helpers

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _norm(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


def _rel_or_none(target: Path, start: Path) -> str | None:
    try:
        return Path(os.path.relpath(target, start)).as_posix()
    except ValueError:  # another drive (Windows)
        return None


def _json_or(text: Any, default: Any) -> Any:
    if not isinstance(text, str) or len(text) > MAX_JSON:
        return default
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return default


def _float_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int_or_none(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None
