"""Interchange formats: hand results to the tools annotation teams use (no tkinter).

- ``cihp``: ``cihp/{Category,Human,Instance}_ids/`` for M2FP, SCHP and CIHP_PGN training loaders;
- ``cvat``: ``cvat/annotations.xml`` for CVAT ("CVAT 1.1") and datumaro's ``cvat`` importer;
- ``cvat-mask``: ``cvat-mask/`` (labelmap, ImageSets, SegmentationClass/Object) for CVAT's
  "Segmentation mask 1.1" and datumaro's ``voc_segmentation``;
- ``coco``: ``coco/annotations/instances.json`` for pycocotools, CVAT ("COCO 1.0")
  and datumaro's ``coco_instances``;
- ``labelme``: ``labelme/NAME.json`` for labelme 5.4 and later.

Every writer takes the same input per image, :class:`ImageMaps` (the reviewer's label and
person maps plus the image's names), so model results and edited maps are written alike.

Use for a whole export (command line, window, workspace)::

    run = FormatRun(out_dir, {"cvat", "coco"}, class_names, palette)   # begins every writer
    for ...:
        run.add(ImageMaps.from_result(result, name="sub/a.jpg", stem="sub/a", image_path=p))
        # or, for edited maps: run.add(ImageMaps(labels, persons, name=..., stem=..., image_path=...))
    run.finish(order=[...stems...])   # writes annotations.xml, instances.json, lists

Readers (:func:`read_cihp`, :func:`read_cvat_mask`, :func:`read_labelme`) give back
:class:`ReadMaps` (``labels``, ``persons``, ``notes``) and raise :class:`FormatReadError`,
whose message names the file, for anything malformed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from desktop.formats.cihp import CihpWriter, cihp_stems, read_cihp
from desktop.formats.coco import CocoWriter
from desktop.formats.common import (
    FormatError,
    FormatLimitError,
    FormatReadError,
    FormatWriter,
    ImageMaps,
    ReadMaps,
)
from desktop.formats.cvat import CvatWriter
from desktop.formats.cvat_mask import CvatMaskWriter, cvat_mask_stems, read_cvat_mask
from desktop.formats.labelme import LabelmeWriter, read_labelme
from desktop.i18n import _

__all__ = [
    "INTERCHANGE_FORMATS",
    "WRITERS",
    "FormatError",
    "FormatLimitError",
    "FormatReadError",
    "FormatRun",
    "FormatWriter",
    "ImageMaps",
    "ReadMaps",
    "cihp_stems",
    "cvat_mask_stems",
    "read_cihp",
    "read_cvat_mask",
    "read_labelme",
]

#: Writer class of each interchange format, in the order they are listed and written.
WRITERS: dict[str, type[FormatWriter]] = {
    "cihp": CihpWriter,
    "cvat": CvatWriter,
    "cvat-mask": CvatMaskWriter,
    "coco": CocoWriter,
    "labelme": LabelmeWriter,
}
INTERCHANGE_FORMATS: tuple[str, ...] = tuple(WRITERS)


class FormatRun:
    """The interchange formats of one export run: begins, feeds and finishes their writers.

    ``add`` gives every writer the image and raises one :class:`FormatError` naming the
    formats that failed for it (the others still have it); the run goes on with the next
    image. ``finish`` should be called even after a cancel, so the folder-level files list
    the images exported so far.
    """

    def __init__(self, out_dir: str | os.PathLike[str], formats: Iterable[str], class_names: Sequence[str],
                 palette: np.ndarray, *, begin: bool = True):
        """The writers of the interchange formats among ``formats`` (other names, such as the
        per-image ``labels`` or ``json``, are ignored). With ``begin=False`` nothing is
        written until :meth:`begin` (enough for :meth:`has`)."""
        wanted = set(formats)
        self.writers: list[FormatWriter] = [cls(out_dir, class_names, palette) for name, cls in WRITERS.items()
                                            if name in wanted]
        if begin:
            self.begin()

    def begin(self) -> None:
        for writer in self.writers:
            writer.begin()

    def __bool__(self) -> bool:
        return bool(self.writers)

    def add(self, maps: ImageMaps) -> list[Path]:
        written: list[Path] = []
        problems: list[str] = []
        for writer in self.writers:
            try:
                written += writer.add_image(maps)
            except FormatError as exc:
                problems.append(str(exc))
            except OSError as exc:
                problems.append(_("The {format} files cannot be written: {reason}.").format(
                    format=writer.name, reason=exc.strerror or exc))
        if problems:
            raise FormatError(" ".join(problems))
        return written

    def has(self, stem: str) -> bool:
        """True when every format has this image's files from an earlier run."""
        return all(w.has_image(stem) for w in self.writers)

    def keep(self, stem: str) -> bool:
        """Include an image an earlier run wrote (not parsed again) in the folder-level files."""
        return all([w.keep_image(stem) for w in self.writers])

    def finish(self, order: Sequence[str] | None = None) -> list[Path]:
        """Finish every writer (one failing does not stop the others); raises one
        :class:`FormatError` listing what went wrong, after everything that could be written."""
        written: list[Path] = []
        problems: list[str] = []
        for writer in self.writers:
            try:
                written += writer.finish(order)
            except FormatError as exc:
                problems.append(str(exc))
            except OSError as exc:
                problems.append(_("The {format} files cannot be written: {reason}.").format(
                    format=writer.name, reason=exc.strerror or exc))
            problems += writer.problems
        if problems:
            raise FormatError(" ".join(problems))
        return written
