"""The CIHP dataset layout, as M2FP (``datasets/README.md``), SCHP and CIHP_PGN read it.

For an image with output name ``NAME`` (``sub/photo`` for ``sub/photo.jpg``)::

    cihp/Category_ids/NAME.png   8-bit grey: class id per pixel (0 background)
    cihp/Human_ids/NAME.png      grey: person id per pixel (0 none, then 1..N)
    cihp/Instance_ids/NAME.png   grey: part instance id per pixel (0 none)
    cihp/Instance_ids/NAME.txt   one row per part: "instance_id category_id human_id"

The instance id of person ``h``'s part of class ``c`` is ``c + 20 x (h - 1)``, as in the
released CIHP data (20 = the number of classes, background included; a model with more
classes uses its number of classes, so ids never collide). Person ids are
written as they are (1..N for a model result; an edited map keeps its own numbers).

**Parts linked to no person** (person 0: the model found the part but no person under it)
keep their class in ``Category_ids``, get 0 in ``Human_ids`` and 0 in ``Instance_ids``, and
have no row in ``NAME.txt``. That is how M2FP's and SCHP's loaders see pixels of no person
already: labelled, but part of no human instance (M2FP builds instances from ``Human_ids`` x
``Category_ids`` and skips human 0). Nothing is lost: reading the layout back gives the same
maps.

**Large ids.** The released files are 8-bit. When an image has more than 255 persons, or an
instance id above 255 (more than 12 persons), that file is written as a 16-bit grey PNG
instead (Pillow, OpenCV with ``IMREAD_UNCHANGED`` and NumPy read it as is); every other file
stays 8-bit.

The photos themselves are not copied: the loaders expect them in ``Images/`` beside these
folders (``Images/NAME.jpg``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from desktop.atomic import atomic_write_text
from desktop.formats.common import (
    DEFAULT_MAX_PIXELS,
    FormatReadError,
    FormatWriter,
    ImageMaps,
    ReadMaps,
    check_label_ids,
    check_stem,
    read_index_png,
    sound_persons,
    write_index_png,
)
from desktop.i18n import _
from desktop.output_layout import make_output_dir

__all__ = ["CihpWriter", "cihp_stems", "instance_ids", "read_cihp"]

CATEGORY_DIR, HUMAN_DIR, INSTANCE_DIR = "Category_ids", "Human_ids", "Instance_ids"
#: The CIHP instance-id stride: the number of classes of the released data, background included.
CIHP_STRIDE = 20


def instance_ids(labels: np.ndarray, persons: np.ndarray, stride: int = CIHP_STRIDE) -> np.ndarray:
    """(H, W) int32: ``class + stride x (person - 1)`` where a part belongs to a person, else 0."""
    out = labels.astype(np.int32) + stride * (persons.astype(np.int32) - 1)
    out[(persons == 0) | (labels == 0)] = 0
    return out


class CihpWriter(FormatWriter):
    """Writes ``cihp/`` (see the module docstring); one set of files per image, nothing per run."""

    name = "cihp"
    folder = "cihp"

    def _paths(self, stem: str) -> dict[str, Path]:
        rel = check_stem(stem)
        return {
            "category": self.root / CATEGORY_DIR / f"{rel}.png",
            "human": self.root / HUMAN_DIR / f"{rel}.png",
            "instance": self.root / INSTANCE_DIR / f"{rel}.png",
            "rows": self.root / INSTANCE_DIR / f"{rel}.txt",
        }

    def _image_files(self, stem: str) -> list[Path]:
        return list(self._paths(stem).values())

    def _write_image(self, maps: ImageMaps) -> list[Path]:
        paths = self._paths(maps.stem)
        labels, persons = maps.labels, maps.persons
        persons = np.where(labels == 0, 0, persons).astype(np.uint16)
        stride = max(CIHP_STRIDE, len(self.class_names))
        inst = instance_ids(labels, persons, stride)
        # An instance id gives its class and person back (class < stride), so the rows come
        # from the distinct ids alone: one 1-D unique instead of a unique over row triples.
        ids = np.unique(inst[inst > 0]).tolist()
        text = "".join(f"{i} {i % stride} {i // stride + 1}\n" for i in ids)
        for key in ("category", "human", "instance", "rows"):
            make_output_dir(paths[key].parent)
        write_index_png(labels, paths["category"])
        write_index_png(persons, paths["human"])
        write_index_png(inst, paths["instance"])
        atomic_write_text(paths["rows"], text)
        return list(paths.values())


def cihp_stems(root: str | os.PathLike[str]) -> list[str]:
    """The output names (``sub/photo``) of every image in a CIHP folder, from ``Category_ids``."""
    base = Path(root) / CATEGORY_DIR
    if not base.is_dir():
        raise FormatReadError(base, _("the folder does not exist (a CIHP folder holds Category_ids/)."))
    return sorted(p.relative_to(base).with_suffix("").as_posix() for p in base.rglob("*.png")
                  if not p.name.startswith("."))


def read_cihp(root: str | os.PathLike[str], stem: str, class_names: Sequence[str], *,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ReadMaps:
    """The maps of image ``stem`` from a CIHP folder ``root`` (``Category_ids`` required,
    ``Human_ids`` optional: without it every part belongs to no person, and a note says so).

    ``Instance_ids`` is not needed (it follows from the other two) and is not read.
    Raises :class:`FormatReadError` naming the file for anything malformed.
    """
    rel = check_stem(stem)
    base = Path(root)
    cat_path = base / CATEGORY_DIR / f"{rel}.png"
    labels = read_index_png(cat_path, max_pixels)
    check_label_ids(labels, len(class_names), cat_path)
    notes: list[str] = []
    human_path = base / HUMAN_DIR / f"{rel}.png"
    if human_path.is_file():
        persons = read_index_png(human_path, max_pixels)
        if persons.shape != labels.shape:
            raise FormatReadError(human_path, _("its size ({width} x {height}) differs from {name}'s "
                                                "({label_width} x {label_height}).").format(
                width=persons.shape[1], height=persons.shape[0], name=cat_path.name, label_width=labels.shape[1],
                label_height=labels.shape[0]))
        persons = sound_persons(labels, persons.astype(np.uint16), notes, human_path)
    else:
        persons = np.zeros(labels.shape, dtype=np.uint16)
        notes.append(_("no {folder}/{name}.png: the parts are linked to no person").format(folder=HUMAN_DIR, name=rel))
    return ReadMaps(np.ascontiguousarray(labels, dtype=np.uint8), persons, notes)
