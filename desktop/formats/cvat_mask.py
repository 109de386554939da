"""CVAT's "Segmentation mask 1.1" (``cvat-mask/``): the PASCAL VOC segmentation layout CVAT
imports and exports, read by datumaro's ``voc_segmentation`` importer::

    cvat-mask/labelmap.txt                      "name:r,g,b::" per class, background first
    cvat-mask/ImageSets/Segmentation/default.txt  one output name per line (sub/photo)
    cvat-mask/SegmentationClass/NAME.png        class colours (our palette), indexed PNG
    cvat-mask/SegmentationObject/NAME.png       one object per part, VOC instance colours
    cvat-mask/ObjectPersons/NAME.txt            ours: "object_id class_id person_id" rows

- Object ids are 1..K, one per part (the pixels of one (person, class) pair), in order of
  person then class. VOC colours objects from a 256-colour table whose 0 is background and
  255 is "void", so one image holds at most 254 parts: an image with more is refused for
  this format (with a message) and the other formats still get it.
- The format itself has no notion of persons: CVAT imports the objects as separate masks,
  and the person link would be lost. ``ObjectPersons/NAME.txt`` keeps it beside the masks
  (CVAT and datumaro ignore the folder); :func:`read_cvat_mask` uses it when present.
  Parts linked to no person are objects with person 0 there.
- ``labelmap.txt`` lists ``background`` (0,0,0) and every class in id order, so a class's
  line number is its id, as datumaro numbers them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from desktop.atomic import atomic_write_text
from desktop.formats.common import (
    DEFAULT_MAX_PIXELS,
    FormatLimitError,
    FormatReadError,
    FormatWriter,
    ImageMaps,
    ReadMaps,
    check_stem,
    class_lookup,
    colours_to_ids,
    read_text,
    sound_persons,
    write_index_png,
)
from desktop.i18n import _
from desktop.output_layout import make_output_dir

__all__ = ["CvatMaskWriter", "cvat_mask_stems", "read_cvat_mask", "voc_colormap"]

LABELMAP = "labelmap.txt"
SUBSET_DIR = Path("ImageSets") / "Segmentation"
CLASS_DIR, OBJECT_DIR, PERSONS_DIR = "SegmentationClass", "SegmentationObject", "ObjectPersons"
MAX_OBJECTS = 254


def voc_colormap(n: int = 256) -> np.ndarray:
    """PASCAL VOC's colour table (bit-interleaved), (n, 3) uint8: object ``i`` has colour ``i``."""
    ids = np.arange(n)
    cmap = np.zeros((n, 3), dtype=np.int64)
    for shift in range(7, -1, -1):
        for c in range(3):
            cmap[:, c] |= ((ids >> c) & 1) << shift
        ids = ids >> 3
    return cmap.astype(np.uint8)


class CvatMaskWriter(FormatWriter):
    """Writes ``cvat-mask/`` (see the module docstring)."""

    name = "cvat-mask"
    folder = "cvat-mask"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        colours = [tuple(int(v) for v in self.palette[i]) for i in range(len(self.class_names))]
        #: Why this model's classes cannot be written in this format (each image then fails
        #: with this sentence; the other formats go on).
        self.refusal: str | None = None
        if len(set(colours)) != len(colours) or len(colours) > 256:
            self.refusal = _("The Segmentation mask format needs a different colour for every class, and this "
                             "model's palette repeats some.")
        elif any(":" in n or "\n" in n for n in self.class_names):
            self.refusal = _("The Segmentation mask format cannot hold class names with ':' in them.")

    def _paths(self, stem: str) -> dict[str, Path]:
        rel = check_stem(stem)
        return {"class": self.root / CLASS_DIR / f"{rel}.png", "object": self.root / OBJECT_DIR / f"{rel}.png",
                "persons": self.root / PERSONS_DIR / f"{rel}.txt"}

    def _image_files(self, stem: str) -> list[Path]:
        return list(self._paths(stem).values())

    def labelmap_text(self) -> str:
        lines = ["# label:color_rgb:parts:actions"]
        for i, name in enumerate(self.class_names):
            r, g, b = (int(v) for v in self.palette[i])
            lines.append(f"{'background' if i == 0 else name}:{r},{g},{b}::")
        return "\n".join(lines) + "\n"

    def begin(self) -> None:
        super().begin()
        if self.refusal is None:
            atomic_write_text(self.root / LABELMAP, self.labelmap_text())

    def _write_image(self, maps: ImageMaps) -> list[Path]:
        if self.refusal is not None:
            raise FormatLimitError(self.refusal)
        parts = maps.parts
        if len(parts) > MAX_OBJECTS:
            raise FormatLimitError(
                _("{name} has {count} parts, more than the {limit} a Segmentation mask file can "
                  "hold; it was left out of the cvat-mask export (the other formats have it).").format(
                        name=maps.name, count=len(parts), limit=MAX_OBJECTS))
        objects = np.zeros(maps.labels.shape, dtype=np.uint8)
        rows = []
        for obj, inst in enumerate(parts, start=1):
            x, y, w, h = inst.bbox
            objects[y : y + h, x : x + w][inst.mask] = obj
            rows.append(f"{obj} {inst.label} {inst.person}\n")
        paths = self._paths(maps.stem)
        for p in paths.values():
            make_output_dir(p.parent)
        write_index_png(maps.labels, paths["class"], self.palette[: len(self.class_names)])
        write_index_png(objects, paths["object"], voc_colormap())
        atomic_write_text(paths["persons"], "".join(rows))
        return list(paths.values())

    def finish(self, order: Sequence[str] | None = None) -> list[Path]:
        target = self.root / SUBSET_DIR / "default.txt"
        make_output_dir(target.parent)
        atomic_write_text(target, "".join(f"{s}\n" for s in self._ordered(order)))
        if self.refusal is not None:
            return [target]
        atomic_write_text(self.root / LABELMAP, self.labelmap_text())
        return [self.root / LABELMAP, target]


# --------------------------------------------------------------------------- reading

def cvat_mask_stems(root: str | os.PathLike[str]) -> list[str]:
    """The item names listed in ``ImageSets/Segmentation/*.txt`` (each subset file, in order)."""
    folder = Path(root) / SUBSET_DIR
    if not folder.is_dir():
        raise FormatReadError(folder, _("the folder does not exist (a Segmentation mask export holds "
                                        "ImageSets/Segmentation/)."))
    stems: list[str] = []
    for listing in sorted(folder.glob("*.txt")):
        for line in read_text(listing).splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                stems.append(line)  # the whole line: names may hold spaces (datumaro reads it so)
    return list(dict.fromkeys(stems))


def _parse_labelmap(path: Path, class_names: Sequence[str]) -> dict[tuple[int, int, int], int | str]:
    """Colour -> our class id (or the unknown label's name, refused only if a pixel uses it)."""
    lookup = class_lookup(class_names)
    colours: dict[tuple[int, int, int], int | str] = {}
    for number, raw in enumerate(read_text(path, 1 << 20).splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) != 4:
            raise FormatReadError(path, _("line {number} has {count} ':'-separated fields instead of 4 "
                                          "(name:r,g,b:parts:actions).").format(
                    number=number, count=len(fields)))
        name, colour = fields[0].strip(), fields[1].strip()
        try:
            rgb = tuple(int(v) for v in colour.split(","))
        except ValueError:
            rgb = ()
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise FormatReadError(path, _('line {number} gives the label "{name}" the colour "{colour}", '
                                          "which is not three numbers 0..255.").format(
                    number=number, name=name, colour=colour))
        if rgb in colours:
            raise FormatReadError(path, _('line {number} gives "{name}" a colour another label already '
                                          "has.").format(number=number, name=name))
        colours[rgb] = lookup.get(name.casefold(), name)  # type: ignore[assignment]
    return colours


def _class_map(path: Path, max_pixels: int | None, colours: dict, labelmap: Path) -> np.ndarray:
    known = {c: v for c, v in colours.items() if isinstance(v, int)}
    names = {c: v for c, v in colours.items() if isinstance(v, str)}

    def unknown(colour: tuple[int, int, int]) -> str:
        if colour in names:
            return _('it has pixels of the label "{label}", which is not one of the classes this app '
                     "knows.").format(label=names[colour])
        return _("it has pixels of the colour {colour}, which {name} does not list.").format(
                colour=colour, name=labelmap.name)

    return colours_to_ids(path, max_pixels, known, unknown)


_VOC_OBJECTS = {tuple(int(v) for v in c): i for i, c in enumerate(voc_colormap())}


def _object_map(path: Path, max_pixels: int | None) -> np.ndarray:
    return colours_to_ids(path, max_pixels, _VOC_OBJECTS,
                          lambda colour: _("it has pixels of the colour {colour}, which is not a VOC "
                                           "object colour.").format(colour=colour))


def _object_persons(path: Path) -> np.ndarray:
    """Object id -> person id table (256 entries) from ``ObjectPersons/NAME.txt``."""
    table = np.zeros(256, dtype=np.uint16)
    for number, raw in enumerate(read_text(path, 1 << 20).splitlines(), start=1):
        if not raw.strip():
            continue
        fields = raw.split()
        try:
            obj, _cls, person = (int(v) for v in fields)
        except ValueError:
            raise FormatReadError(path, _('line {number} ("{line}") is not three whole numbers (object '
                                          "class person).").format(
                    number=number, line=raw.strip()[:60])) from None
        if not 1 <= obj <= 255 or not 0 <= person <= 65535:
            raise FormatReadError(path, _("line {number} names object {obj} or person {person}, outside "
                                          "1..255 and 0..65535.").format(
                    number=number, obj=obj, person=person))
        table[obj] = person
    return table


def read_cvat_mask(root: str | os.PathLike[str], stem: str, class_names: Sequence[str], *,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ReadMaps:
    """The maps of item ``stem`` from a Segmentation mask folder (ours or CVAT's export).

    Classes come from ``SegmentationClass`` through ``labelmap.txt`` (by label name, so a
    CVAT task's label order does not matter). Persons come from ``ObjectPersons`` when it is
    there (our exports); otherwise every part belongs to no person and a note says so.
    Raises :class:`FormatReadError` naming the file for anything malformed.
    """
    rel = check_stem(stem)
    base = Path(root)
    labelmap = base / LABELMAP
    colours = _parse_labelmap(labelmap, class_names)
    class_path = base / CLASS_DIR / f"{rel}.png"
    labels = _class_map(class_path, max_pixels, colours, labelmap)
    notes: list[str] = []
    object_path = base / OBJECT_DIR / f"{rel}.png"
    persons_path = base / PERSONS_DIR / f"{rel}.txt"
    if object_path.is_file() and persons_path.is_file():
        objects = _object_map(object_path, max_pixels)
        if objects.shape != labels.shape:
            raise FormatReadError(object_path, _("its size ({width} x {height}) differs from {name}'s "
                                                 "({label_width} x {label_height}).").format(
                width=objects.shape[1], height=objects.shape[0], name=class_path.name, label_width=labels.shape[1],
                label_height=labels.shape[0]))
        persons = _object_persons(persons_path)[objects]
        persons = sound_persons(labels, persons, notes, object_path)
    else:
        persons = np.zeros(labels.shape, dtype=np.uint16)
        notes.append(_("this Segmentation mask export records no persons: every part belongs to no person"))
    return ReadMaps(labels, persons, notes)
