"""What the window remembers between runs, stored as a small JSON file.

The file lives in the user's config folder (``M2FP_CONFIG_DIR`` overrides it so tests and
portable installs can point elsewhere) and is always written atomically, so a crash while
saving never leaves half a file. A file that cannot be read is not fatal: we start from the
defaults, keep the broken file aside as ``settings.broken.json`` for inspection, and tell
the user in the status bar.

Whatever the file holds, reading it is fast and bounded, and the app starts: a file larger
than :data:`MAX_FILE_BYTES` (ours is under 2 KB) is not parsed at all; nesting too deep for
the JSON parser counts as a broken file; a UTF-8 byte-order mark (Notepad adds one) is
accepted. Each field is then checked on its own against :data:`FIELD_RULES` (type, range,
length), and an invalid field falls back to its default alone, keeping the others.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.atomic import atomic_write_text
from desktop.i18n import SUPPORTED as LANGUAGES
from desktop.i18n import _
from desktop.userdirs import user_dir

log = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "settings.json"
VIEW_MODES = ("overlay", "side_by_side", "labels", "photo")
EXPORT_FORMATS = ("labels", "color", "overlay", "json")
#: The interchange formats a user may also tick (desktop.formats.INTERCHANGE_FORMATS, spelled
#: out here because that package loads NumPy and pycocotools, which settings must not wait for).
INTERCHANGE_EXPORT_FORMATS = ("cihp", "cvat", "cvat-mask", "coco", "labelme")
#: A settings file above this size is not ours (ours is under 2 KB) and is not parsed.
MAX_FILE_BYTES = 1 << 20
#: Longest folder path kept (Windows' long paths reach 32,767 characters; 4,096 is Linux's limit).
MAX_PATH_CHARS = 4096
#: Class ids are 0..255 (the label map is 8-bit), so at most 256 can be hidden.
MAX_CLASS_ID = 255
# Tk's "WIDTHxHEIGHT+X+Y" (X and Y may be negative: "+-8+-8" on Windows).
_GEOMETRY = re.compile(r"(\d{1,5})x(\d{1,5})([+-]-?\d{1,6})([+-]-?\d{1,6})")


def config_dir() -> Path:
    """``M2FP_CONFIG_DIR`` if set, else platformdirs' user config folder for the app."""
    return user_dir("config", "M2FP_CONFIG_DIR")


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE_NAME


# --------------------------------------------------------------------------- field rules
# Each rule returns the value to keep (normalised) or raises ValueError saying why not.

def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _opacity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a number")
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError("expected a number between 0 and 1")
    return value


def _view_mode(value: Any) -> str:
    if value not in VIEW_MODES:  # also refuses non-strings
        raise ValueError(f"expected one of {', '.join(VIEW_MODES)}")
    return value


def _geometry(value: Any) -> str:
    """Syntax only: where the window may go depends on today's screens (window_placement)."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("expected a short text")
    match = _GEOMETRY.fullmatch(value) if value else None
    if value and not (match and int(match[1]) > 0 and int(match[2]) > 0):
        raise ValueError('expected a window geometry like "1200x800+40+30"')
    return value


def _folder(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_PATH_CHARS:
        raise ValueError(f"expected a folder path of at most {MAX_PATH_CHARS} characters")
    if "\x00" in value:
        raise ValueError("a folder path cannot hold a NUL character")
    return value


def _class_ids(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_CLASS_ID + 1:
        raise ValueError(f"expected a list of at most {MAX_CLASS_ID + 1} class ids")
    if not all(type(c) is int and 0 <= c <= MAX_CLASS_ID for c in value):
        raise ValueError(f"expected class ids between 0 and {MAX_CLASS_ID}")
    return list(dict.fromkeys(value))


def _export_formats(value: Any) -> list[str]:
    if not isinstance(value, list) or not 0 < len(value) <= 4 * len(EXPORT_FORMATS):
        raise ValueError("expected a short, non-empty list of export formats")
    known = EXPORT_FORMATS + INTERCHANGE_EXPORT_FORMATS
    if not all(isinstance(f, str) and f in known for f in value):
        raise ValueError(f"expected formats among {', '.join(known)}")
    return list(dict.fromkeys(value))


#: How many recently opened workspaces File ▸ Recent workspaces lists.
MAX_RECENT = 10
MAX_NAME_CHARS = 200


def _recent(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 4 * MAX_RECENT:
        raise ValueError(f"expected a list of at most {MAX_RECENT} workspace paths")
    return list(dict.fromkeys(_folder(v) for v in value if v))[:MAX_RECENT]


def _language(value: Any) -> str:
    """``""`` (follow the operating system) or one of the languages the app speaks."""
    if value != "" and value not in LANGUAGES:  # also refuses non-strings
        raise ValueError(f"expected \"\" (the system's language) or one of {', '.join(LANGUAGES)}")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS or any(ord(ch) < 32 for ch in value):
        raise ValueError(f"expected a name of at most {MAX_NAME_CHARS} characters on one line")
    return value.strip()


#: The rule every field must pass (checked when read, and by :meth:`Settings.validated`).
FIELD_RULES: dict[str, Callable[[Any], Any]] = {
    "geometry": _geometry,
    "zoomed": _bool,
    "last_folder": _folder,
    "recursive": _bool,
    "opacity": _opacity,
    "view_mode": _view_mode,
    "outline": _bool,
    "hidden_classes": _class_ids,
    "export_formats": _export_formats,
    "export_only_visible": _bool,
    "export_folder": _folder,
    "model_dir": _folder,
    "reviewer": _name,
    "last_workspace": _folder,
    "recent_workspaces": _recent,
    "language": _language,
}


@dataclass
class Settings:
    """Every remembered choice. Field defaults are what a first start looks like."""

    geometry: str = ""
    zoomed: bool = False
    last_folder: str = ""
    recursive: bool = False
    opacity: float = 0.55
    view_mode: str = "overlay"
    outline: bool = False
    # Hidden rather than visible classes, so a class the user never touched stays visible.
    hidden_classes: list[int] = field(default_factory=lambda: [0])
    export_formats: list[str] = field(default_factory=lambda: list(EXPORT_FORMATS))
    # Kept for files written by earlier versions; no longer read: the export starts from
    # "everything" in each session, so a filter is never carried over unseen (review issue).
    export_only_visible: bool = False
    export_folder: str = ""
    model_dir: str = ""
    # The name written with verdicts (empty: the operating system's user name).
    reviewer: str = ""
    # The workspace reopened at start, and File ▸ Recent workspaces (newest first).
    last_workspace: str = ""
    recent_workspaces: list[str] = field(default_factory=list)
    # View ▸ Language: "" follows the operating system; "en" or "zh_CN" (takes effect at the next start).
    language: str = ""

    def validated(self) -> tuple[Settings, list[str]]:
        """A copy with every invalid value reset to its default, and the names of those reset."""
        values, problems = _apply_rules(dataclasses.asdict(self))
        return Settings(**values), problems


assert set(FIELD_RULES) == {f.name for f in dataclasses.fields(Settings)}, "every setting needs a rule"


def _apply_rules(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The known fields of ``data`` that pass their rule; the names of those that did not."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, rule in FIELD_RULES.items():
        if name not in data:
            continue
        try:
            values[name] = rule(data[name])
        except ValueError as exc:
            log.warning("Settings: %s: %s", name, exc)
            problems.append(name)
    return values, problems


def load_settings(path: Path | None = None, *, set_aside: bool = True) -> tuple[Settings, str | None]:
    """Read the settings; return them and a user-facing warning when we had to fall back.

    Never raises for a bad file: a missing file is a first start (no warning); an unreadable
    or malformed file gives the defaults and a warning, and is renamed aside so the next save
    does not silently destroy what the user may want to recover. Readers that never save
    (the command line) pass ``set_aside=False``: the app then still finds the broken file
    and tells the user about it at its next start.
    """
    path = path or settings_path()
    try:
        data = _read_json_object(path)
    except FileNotFoundError:
        return Settings(), None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
        log.warning("Settings file %s is broken (%s); using defaults", path, exc)
        aside = _move_aside(path) if set_aside else None
        if aside:
            return Settings(), _("The settings file could not be read, so default settings are used (kept as "
                                 "{name}).").format(name=aside.name)
        return Settings(), _("The settings file could not be read, so default settings are used.")

    values, bad = _apply_rules(data)
    settings = Settings(**values)
    if bad:
        log.warning("Settings: reset to defaults: %s", ", ".join(bad))
        return settings, _("Some settings were invalid and were reset to their defaults: {names}.").format(
            names=", ".join(bad))
    return settings, None


def _read_json_object(path: Path) -> dict[str, Any]:
    """The file's JSON object; raises FileNotFoundError when there is no file, OSError or
    ValueError (UnicodeDecodeError, JSONDecodeError are ValueErrors) or RecursionError
    when it is not a small JSON object. Reads at most :data:`MAX_FILE_BYTES` + 1 bytes."""
    if not path.exists():
        raise FileNotFoundError(path)
    if not path.is_file():  # a folder, or a pipe that would block the start-up
        raise ValueError("it is not a regular file")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"it is larger than {MAX_FILE_BYTES:,} bytes")
    data = json.loads(raw.decode("utf-8-sig"))  # a BOM (Notepad's) is not an error
    if not isinstance(data, dict):
        raise ValueError("the file does not contain a JSON object")
    return data


def _move_aside(path: Path) -> Path | None:
    aside = path.with_name(path.stem + ".broken" + path.suffix)
    try:
        os.replace(path, aside)
    except OSError:
        return None
    return aside


def save_settings(settings: Settings, path: Path | None = None) -> bool:
    """Write the settings atomically; return ``False`` (and log) if the folder is not writable.

    Losing a preference is not worth interrupting the user, so this never raises ``OSError``.
    """
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(dataclasses.asdict(settings), indent=2, sort_keys=True) + "\n"
        atomic_write_text(path, text)
    except OSError as exc:
        log.warning("Cannot save settings to %s: %s", path, exc)
        return False
    return True
