"""COCO instances (``coco/annotations/instances.json``): one file for the run, masks as
compressed RLE. pycocotools, detectron2, CVAT's "Upload annotations" (COCO 1.0) and datumaro's
``coco_instances`` importer take the JSON file itself (datumaro wants it inside a folder named
``annotations``, so it can find the dataset's root).

- ``categories``: every class but background, with its own id (1..19 for CIHP's classes:
  never 0, which CVAT and datumaro take for "no label"), and one more category, ``Person``
  (id = number of classes, 20), for the persons themselves.
- ``annotations``: one per part (the pixels of one (person, class) pair) and one per person
  (every labelled pixel of that person, category ``Person``). Each has ``segmentation`` as
  COCO compressed RLE over the whole image (``pycocotools.mask.decode`` reads it), ``bbox``
  ``[x, y, w, h]``, ``area`` (pixels), ``iscrowd`` 0 and the person link as an attribute,
  ``"attributes": {"person": k}`` (CVAT and datumaro keep ``attributes``). A part linked to
  no person has ``{"person": 0}`` and no Person annotation covers it.
- ``images``: ``file_name`` is the image's path relative to the folder that was opened;
  ids are 1..N in export order.

Assembled in :meth:`CocoWriter.finish` from one fragment per image in two streaming passes
(images, then annotations), so memory holds one image's annotations at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from desktop import __version__
from desktop.atomic import atomic_path
from desktop.formats.common import FormatError, FormatWriter, Fragments, ImageMaps
from desktop.formats.cvat import cvat_rle
from desktop.i18n import _
from desktop.output_layout import make_output_dir
from desktop.review.maps import MapInstance

__all__ = ["CocoWriter", "coco_rle"]

INSTANCES = "annotations/instances.json"


def coco_rle(inst: MapInstance, height: int, width: int) -> dict:
    """COCO compressed RLE of a part over the whole (height, width) image.

    Built from the part's columns only (height x box width), never a full-image mask:
    COCO runs go down the columns, so the columns left and right of the box are plain runs
    of 0s added to the first and last counts.
    """
    x, y, bw, bh = inst.bbox
    strip = np.zeros((height, bw), dtype=bool)
    strip[y : y + bh, :] = inst.mask
    counts = cvat_rle(strip.T)  # the transpose's row order is the strip's column order
    counts[0] += x * height
    tail = (width - x - bw) * height
    if tail:
        if len(counts) % 2 == 1:  # the last run is of 0s
            counts[-1] += tail
        else:
            counts.append(tail)
    rle = mask_utils.frPyObjects({"counts": counts, "size": [height, width]}, height, width)
    raw = rle["counts"]
    return {"size": [int(height), int(width)], "counts": raw.decode("ascii") if isinstance(raw, bytes) else str(raw)}


class CocoWriter(FormatWriter):
    """Writes ``coco/instances.json`` (see the module docstring)."""

    name = "coco"
    folder = "coco"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fragments = Fragments(self.root / ".fragments")
        self.person_category = len(self.class_names)
        taken = {n.casefold() for n in self.class_names}
        self.person_name = "Person" if "person" not in taken else "Person (whole)"

    def _image_files(self, stem: str) -> list[Path]:
        return [self.fragments.path(stem)]

    def categories(self) -> list[dict]:
        cats = [{"id": i, "name": n, "supercategory": "part"} for i, n in self._label_names()]
        cats.append({"id": self.person_category, "name": self.person_name, "supercategory": "person"})
        return cats

    def _write_image(self, maps: ImageMaps) -> list[Path]:
        anns = []
        for inst in maps.instances:
            if inst.label >= len(self.class_names):
                raise FormatError(_("{name} holds class id {label}, which has no name.").format(
                    name=maps.name, label=inst.label))
            anns.append({
                "category_id": self.person_category if inst.label == 0 else int(inst.label),
                "segmentation": coco_rle(inst, maps.height, maps.width),
                "area": int(inst.area),
                "bbox": [int(v) for v in inst.bbox],
                "iscrowd": 0,
                "attributes": {"person": int(inst.person)},
            })
        image = {"file_name": maps.name, "width": maps.width, "height": maps.height}
        self.fragments.put(maps.stem, [json.dumps(image, ensure_ascii=False), json.dumps(anns)])
        return []

    def finish(self, order: Sequence[str] | None = None) -> list[Path]:
        stems = self._ordered(order)
        target = self.root / INSTANCES
        make_output_dir(target.parent)
        with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            head = {"info": {"description": "M2FP human parsing export", "version": __version__},
                    "licenses": [], "categories": self.categories()}
            fh.write(json.dumps(head, ensure_ascii=False)[:-1])  # leave the object open
            fh.write(',\n"images": [')
            listed: list[str] = []
            for stem in stems:
                try:
                    image = {"id": len(listed) + 1, **self.fragments.json_line(stem, 0)}
                    self.fragments.json_line(stem, 1)  # fails now, not after the image is listed
                except (FormatError, OSError, TypeError) as exc:
                    self.problems.append(_("{stem} was left out of {file}: {reason}").format(
                        stem=stem, file=INSTANCES, reason=exc))
                    continue
                fh.write(("\n" if not listed else ",\n") + json.dumps(image, ensure_ascii=False))
                listed.append(stem)
            fh.write('],\n"annotations": [')
            ann_id = 0
            for image_id, stem in enumerate(listed, start=1):
                for ann in self.fragments.json_line(stem, 1):
                    ann_id += 1
                    doc = {"id": ann_id, "image_id": image_id, **ann}
                    fh.write(("\n" if ann_id == 1 else ",\n") + json.dumps(doc))
            fh.write("]}\n")
        return [target]
