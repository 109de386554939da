"""How output files are named: a function of the image (and of its folder, by one rule),
never of the order in which images were listed or processed.

For an image ``NAME.ext`` the outputs are ``STEM_labels.png``, ``STEM_color.png``,
``STEM_overlay.png`` and ``STEM.json`` in the output folder (mirroring subfolders), where
STEM is:

1. ``NAME`` (the file name without its last extension);
2. ``NAME_ext`` (extension in lower case) when another image in the *same source folder*
   has the same NAME, ignoring case: ``a.png`` and ``a.jpg`` give ``a_png`` and ``a_jpg``,
   whichever was there first or is processed first. "Another image" is a file a folder scan
   would list: not hidden, and an image by its content or named like one;
3. when two images of one run would still get the same STEM in the same output folder
   (the same file name in two folders given separately, names that differ only in case),
   each of them gets ``_`` and 8 hex digits of the SHA-256 of its full path appended;
4. a STEM longer than :data:`MAX_STEM_BYTES` bytes is cut and ends with ``~`` and 8 hex
   digits of the SHA-256 of the whole STEM, so every output and temporary name fits the
   255-byte limit of file names.

Rule 3 is the only one that depends on the run, and only for images that would otherwise
overwrite each other's outputs. Before this rule the second of ``a.png``/``a.jpg`` to be
processed got ``a_png``/``a_jpg``, so the names depended on the order, and a resumed run
could take ``a.png``'s outputs for ``a.jpg``'s (issue 12).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from desktop.atomic import shorten_name
from desktop.imageio import IMAGE_EXTENSIONS, is_image_file

__all__ = ["MAX_STEM_BYTES", "SiblingIndex", "base_stem", "output_stems"]

#: Longest output stem in bytes: + "_overlay.png" (12) + the temporary name's ".", ".tmp-PID-TOKEN"
#: and suffix (at most 30) stays within 255.
MAX_STEM_BYTES = 200


def base_stem(name: str) -> str:
    """The file name without its last extension (``a.tar.gz`` -> ``a.tar``; ``README`` as is)."""
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and ext else name


def _digest(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()[:8]


def _fit(stem: str) -> str:
    if len(os.fsencode(stem)) <= MAX_STEM_BYTES:
        return stem
    return f"{shorten_name(stem, MAX_STEM_BYTES - 9)}~{_digest(stem)}"


class SiblingIndex:
    """Which names in a folder share a stem, from one listing per folder (cached)."""

    def __init__(self) -> None:
        self._folders: dict[str, dict[str, list[str]]] = {}

    def _groups(self, folder: Path) -> dict[str, list[str]]:
        key = os.path.abspath(folder)
        groups = self._folders.get(key)
        if groups is None:
            groups = {}
            try:
                with os.scandir(folder) as it:
                    for entry in it:
                        groups.setdefault(base_stem(entry.name).casefold(), []).append(entry.name)
            except OSError:
                pass
            self._folders[key] = groups
        return groups

    def shares_stem(self, path: Path) -> bool:
        """True when another image in ``path``'s folder has the same stem, ignoring case."""
        others = [n for n in self._groups(path.parent).get(base_stem(path.name).casefold(), []) if n != path.name]
        return any(_listed_as_image(path.parent / name) for name in others)


def _listed_as_image(path: Path) -> bool:
    """What a folder scan would list (see :func:`desktop.imageio.list_images`)."""
    if path.name.startswith("."):
        return False
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    return not path.is_dir() and is_image_file(path)


def _own_stem(path: Path, index: SiblingIndex) -> str:
    stem = base_stem(path.name)
    if stem != path.name and index.shares_stem(path):
        stem = f"{stem}_{path.name[len(stem) + 1:].lower()}"
    return stem


def output_stems(items: Sequence[tuple[Path, Path]], index: SiblingIndex | None = None) -> list[str]:
    """The output stem of each ``(source image, output folder)``, by the module's rules."""
    index = index or SiblingIndex()
    stems = [_own_stem(source, index) for source, _folder in items]
    groups: dict[tuple[str, str], list[int]] = {}
    for i, ((_source, folder), stem) in enumerate(zip(items, stems, strict=True)):
        groups.setdefault((os.path.normcase(os.path.abspath(folder)), _fit(stem).casefold()), []).append(i)
    for members in groups.values():
        if len(members) > 1:
            for i in members:
                stems[i] = f"{stems[i]}_{_digest(os.path.abspath(items[i][0]))}"
    return [_fit(stem) for stem in stems]
