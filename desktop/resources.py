"""Locate bundled resources (palette, class names, icons, samples).

Resources live in ``resources/`` at the project root. In a PyInstaller build they are
unpacked under ``sys._MEIPASS``; looking there first keeps one code path for both.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np


def resources_dir() -> Path:
    """The folder that holds ``classes.json``, icons and sample images."""
    bundle = getattr(sys, "_MEIPASS", None)
    candidates = []
    if bundle:
        candidates.append(Path(bundle) / "resources")
    candidates.append(Path(__file__).resolve().parent.parent / "resources")
    for candidate in candidates:
        if (candidate / "classes.json").is_file():
            return candidate
    from desktop.i18n import _

    raise FileNotFoundError(_("The application's resources folder is missing (looked in: {folders}). Reinstall the "
                              "application.").format(folders=", ".join(str(c) for c in candidates)))


def resource_path(*parts: str) -> Path:
    """Path of one bundled resource file."""
    return resources_dir().joinpath(*parts)


@functools.lru_cache(maxsize=1)
def _classes() -> tuple[tuple[str, ...], np.ndarray]:
    data = json.loads(resource_path("classes.json").read_text(encoding="utf-8"))
    entries = sorted(data["classes"], key=lambda c: c["id"])
    names = tuple(c["name"] for c in entries)
    palette = np.array([c["color"] for c in entries], dtype=np.uint8)
    palette.setflags(write=False)
    return names, palette


def default_class_names() -> tuple[str, ...]:
    """The 20 CIHP parsing label names, index = class id (0 is Background)."""
    return _classes()[0]


def palette() -> np.ndarray:
    """(20, 3) uint8 colour table, one fixed colour per class id (read-only)."""
    return _classes()[1]
