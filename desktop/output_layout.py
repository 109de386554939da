"""Where exported files go, and how our own output folders are told apart from photo folders.

Three rules every exporter (command line, window, workspace) shares:

- **One layout.** An image's outputs go to ``<export folder>/<its folder relative to the
  root>/<stem>…``, whether one image or all of them are exported, so the same image never
  lands in two places; the stem follows :mod:`desktop.output_names`.
- **Marked output folders.** Every folder the app *creates* for outputs holds a small hidden
  marker file (:data:`OUTPUT_MARKER`). Folder scans (:func:`desktop.imageio.list_images`)
  skip folders holding it, so reopening the photos with "Include subfolders" never adds our
  label maps and overlays as new photos. Folders that existed before (a user may export
  into their photo folder) are never marked: that would hide their photos.
- **Beside, not inside.** The proposed export folder for ``…/photos`` is
  ``…/photos_parsing``, next to the photos rather than in them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

__all__ = [
    "OUTPUT_MARKER",
    "default_export_folder",
    "is_output_folder",
    "make_output_dir",
    "plan_outputs",
]

#: Hidden file that marks a folder as one of our output folders (its content explains it).
OUTPUT_MARKER = ".m2fp-output"
_MARKER_TEXT = (
    "This folder was created by the M2FP human parsing app for its exported files.\n"
    "The app does not look for photos in folders holding this file.\n"
)


def is_output_folder(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds the output marker (never raises)."""
    try:
        return (Path(folder) / OUTPUT_MARKER).is_file()
    except OSError:
        return False


def _write_marker(folder: Path) -> None:
    from desktop.atomic import atomic_write_text

    with contextlib.suppress(OSError):  # a marker is a convenience, never a reason to fail an export
        atomic_write_text(folder / OUTPUT_MARKER, _MARKER_TEXT)


def make_output_dir(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and missing parents) and mark every folder created here.

    Raises OSError when the folder cannot be created (a file in the way, no permission).
    """
    target = Path(folder)
    missing: list[Path] = []
    probe = target
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    target.mkdir(parents=True, exist_ok=True)
    for created in missing:
        _write_marker(created)
    return target


def default_export_folder(photos_folder: str | os.PathLike[str]) -> Path:
    """``…/photos`` -> ``…/photos_parsing``: beside the photos, never inside them."""
    folder = Path(photos_folder)
    name = folder.name or "photos"
    return folder.parent / f"{name}_parsing"


def plan_outputs(paths: Sequence[Path], root: Path | None, export_folder: Path) -> list[tuple[PurePosixPath, str]]:
    """For each image path: (its output subfolder relative to ``export_folder``, its stem).

    The subfolder mirrors the image's folder below ``root`` (none when ``root`` is None or
    the image is not below it); the stem follows :mod:`desktop.output_names` (a function of
    the image and its folder, not of the order). So exporting one image writes exactly where
    exporting all of them would, and where the command line would.
    """
    from desktop.output_names import output_stems  # imported here: output_names imports imageio

    subs: list[PurePosixPath] = []
    for path in paths:
        sub = PurePosixPath()
        if root is not None:
            try:
                sub = PurePosixPath(Path(path).parent.relative_to(root).as_posix())
            except ValueError:
                pass
        subs.append(sub)
    stems = output_stems([(Path(p), Path(export_folder) / sub) for p, sub in zip(paths, subs, strict=True)])
    return list(zip(subs, stems, strict=True))
