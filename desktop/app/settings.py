"""What the window remembers between runs, stored as a small JSON file.

The file lives in the user's config folder (``M2FP_CONFIG_DIR`` overrides it so tests and
portable installs can point elsewhere) and is always written atomically, so a crash while
saving never leaves half a file. A file that cannot be read is not fatal: we start from the
defaults, keep the broken file aside as ``settings.broken.json`` for inspection, and tell
the user in the status bar.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.atomic import atomic_write_text
from desktop.userdirs import user_dir

log = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "settings.json"
VIEW_MODES = ("overlay", "side_by_side", "labels", "photo")
EXPORT_FORMATS = ("labels", "color", "overlay", "json")


def config_dir() -> Path:
    """``M2FP_CONFIG_DIR`` if set, else platformdirs' user config folder for the app."""
    return user_dir("config", "M2FP_CONFIG_DIR")


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE_NAME


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
    export_only_visible: bool = False
    export_folder: str = ""
    model_dir: str = ""

    def validated(self) -> tuple[Settings, list[str]]:
        """A copy with every out-of-range value reset to its default, and what was reset."""
        defaults = Settings()
        fixed = dataclasses.replace(self)
        problems: list[str] = []

        def reset(name: str) -> None:
            setattr(fixed, name, getattr(defaults, name))
            problems.append(name)

        if not (0.0 <= float(fixed.opacity) <= 1.0):
            reset("opacity")
        if fixed.view_mode not in VIEW_MODES:
            reset("view_mode")
        if not all(isinstance(c, int) and 0 <= c < 256 for c in fixed.hidden_classes):
            reset("hidden_classes")
        if not all(f in EXPORT_FORMATS for f in fixed.export_formats):
            reset("export_formats")
        return fixed, problems


def _coerce(name: str, value: Any, default: Any) -> Any:
    """``value`` if it has the default's JSON type, else raise ``TypeError``."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list):
        ok = isinstance(value, list)
        value = list(value) if ok else value
    else:
        ok = True
    if not ok:
        raise TypeError(f"{name}: expected {type(default).__name__}, got {type(value).__name__}")
    return value


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """Read the settings; return them and a user-facing warning when we had to fall back.

    Never raises for a bad file: a missing file is a first start (no warning); an unreadable
    or malformed file gives the defaults and a warning, and is renamed aside so the next save
    does not silently destroy what the user may want to recover.
    """
    path = path or settings_path()
    if not path.exists():
        return Settings(), None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the file does not contain a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("Settings file %s is broken (%s); using defaults", path, exc)
        aside = _move_aside(path)
        where = f" (kept as {aside.name})" if aside else ""
        return Settings(), f"The settings file could not be read, so default settings are used{where}."

    defaults = Settings()
    values: dict[str, Any] = {}
    bad: list[str] = []
    for f in dataclasses.fields(Settings):
        if f.name not in data:
            continue
        try:
            values[f.name] = _coerce(f.name, data[f.name], getattr(defaults, f.name))
        except TypeError as exc:
            log.warning("Settings: %s", exc)
            bad.append(f.name)
    settings, reset = Settings(**values).validated()
    bad.extend(reset)
    if bad:
        log.warning("Settings: reset to defaults: %s", ", ".join(bad))
        return settings, "Some settings were invalid and were reset to their defaults: " + ", ".join(bad) + "."
    return settings, None


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
