"""Writing a :class:`~desktop.engine.result.ParsingResult` to files (CLI and GUI share this).

For an input ``NAME.ext`` the outputs are:

- ``NAME_labels.png``: indexed PNG, pixel value = class id, the class palette embedded
  (so it opens as a coloured image yet stays machine-readable);
- ``NAME_color.png``: the colour map alone (RGB);
- ``NAME_overlay.png``: the photo with the colour map blended in;
- ``NAME.json``: instances, classes, model and timings, described by
  ``resources/parsing-result.schema.json`` (masks as COCO compressed RLE).

Every file goes through :mod:`desktop.atomic`, so an interrupted export never leaves a
half-written file that a later ``--skip-existing`` run would mistake for a finished one.

The formats of annotation tools and datasets (CIHP, CVAT, COCO, labelme) are written by
:mod:`desktop.formats` under their own subfolders; :data:`ALL_FORMATS` names them all.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from desktop import APP_ID, __version__
from desktop.atomic import atomic_path, atomic_write_text
from desktop.engine.masks import RunMask
from desktop.engine.result import ParsingResult
from desktop.formats import INTERCHANGE_FORMATS
from desktop.imageio import LoadedImage, sha256_file
from desktop.model_summary import exported_model_info
from desktop.output_layout import make_output_dir
from desktop.png_stream import STRIP_ROWS, strips_of, write_png
from desktop.provenance import png_text, source_name
from desktop.render import blend, color_map

__all__ = [
    "ALL_FORMATS",
    "FORMATS",
    "INTERCHANGE_FORMATS",
    "SCHEMA_VERSION",
    "ExportOptions",
    "encode_mask",
    "export_result",
    "output_paths",
    "parse_formats",
    "result_to_json",
    "write_labels_png",
]

SCHEMA_VERSION = "1.0"
#: Per-image output kinds, in the order they are written and listed.
FORMATS: tuple[str, ...] = ("labels", "color", "overlay", "json")
#: Everything ``--formats`` accepts: the per-image outputs, then the interchange formats
#: (CIHP, CVAT, COCO, labelme: :mod:`desktop.formats`), which :class:`desktop.formats.FormatRun`
#: writes under their own subfolders of the export folder.
ALL_FORMATS: tuple[str, ...] = FORMATS + INTERCHANGE_FORMATS
_SUFFIX = {"labels": "_labels.png", "color": "_color.png", "overlay": "_overlay.png", "json": ".json"}


@dataclass
class ExportOptions:
    """What to write.

    ``visible_classes`` (a (num_classes,) bool array, or ``None`` for all) restricts the
    colour and overlay images, like the GUI's "only visible classes"; the label PNG and
    the JSON always hold everything (they are data, not pictures).
    """

    formats: frozenset[str] = field(default_factory=lambda: frozenset(FORMATS))
    opacity: float = 0.5
    visible_classes: np.ndarray | None = None
    #: The window's person filter for "as shown" (review issue): these persons' pixels, or
    #: all but ``solo_person``'s, are left uncoloured in the colour and overlay images.
    hidden_persons: frozenset[int] = frozenset()
    solo_person: int | None = None

    def __post_init__(self) -> None:
        self.formats = frozenset(self.formats)
        unknown = self.formats - set(ALL_FORMATS)
        if unknown:
            raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))} "
                             f"(choose from {', '.join(ALL_FORMATS)})")
        if not 0.0 <= float(self.opacity) <= 1.0:
            raise ValueError(f"opacity must be between 0 and 1, not {self.opacity}")


def parse_formats(text: str) -> frozenset[str]:
    """``"labels,cihp"`` -> ``{"labels", "cihp"}``; ``"all"`` -> every format, interchange
    formats included. Raises ValueError."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not names:
        raise ValueError("no export format given")
    if names == ["all"]:
        return frozenset(ALL_FORMATS)
    unknown = sorted(set(names) - set(ALL_FORMATS))
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(unknown)} (choose from {', '.join(ALL_FORMATS)})")
    return frozenset(names)


def output_paths(name_stem: str, out_dir: str | os.PathLike[str], formats: Iterable[str]) -> dict[str, Path]:
    """Where each requested format of image ``name_stem`` goes, in :data:`FORMATS` order."""
    wanted = set(formats)
    out = Path(out_dir)
    return {fmt: out / f"{name_stem}{_SUFFIX[fmt]}" for fmt in FORMATS if fmt in wanted}


# --------------------------------------------------------------------------- JSON

def encode_mask(mask: RunMask | np.ndarray) -> dict:
    """COCO compressed RLE of a mask (a :class:`RunMask`, spelled from its runs, or a 2-D bool
    array), JSON-ready (``counts`` as str)."""
    if isinstance(mask, RunMask):
        return mask.coco_rle()
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    counts = rle["counts"]
    return {
        "size": [int(rle["size"][0]), int(rle["size"][1])],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
    }


def _num(value: float, digits: int = 6) -> float:
    """A JSON-safe float (NaN/inf would make invalid JSON) rounded to keep files small."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else 0.0


def _model_section(result: ParsingResult) -> dict:
    """The model by name and weights hash, how it ran, and the class names: no path of this
    machine (the model folder, the OpenVINO cache) ever goes into an export."""
    model: dict = dict(exported_model_info(result.model))
    model["class_names"] = list(result.class_names)
    return model


def result_to_json(result: ParsingResult, image_path: str | os.PathLike[str], sha256: str,
                   review: dict | None = None, doubt: dict | None = None) -> dict:
    """The ``NAME.json`` document for one result (see ``resources/parsing-result.schema.json``).

    ``review``: the image's review in a workspace (:meth:`Workspace.review_info`: status,
    note, reviewer, time, edit provenance), written as the optional ``review`` section.
    ``doubt``: the model result's doubt score and reasons (:meth:`desktop.review.doubt.Doubt.as_json`,
    or a workspace's stored ``{"score", "reasons"}``), written as the optional ``doubt`` section."""
    total = max(result.width * result.height, 1)
    counts = result.class_pixel_counts()
    palette = np.asarray(result.palette, dtype=np.uint8)
    classes = [
        {
            "id": int(c),
            "name": result.class_names[c],
            "color": [int(v) for v in palette[c][:3]],
            "pixels": int(counts[c]),
            "fraction": _num(counts[c] / total),
        }
        for c in np.flatnonzero(counts)  # the classes present (one counting pass)
    ]
    persons = [
        {
            "id": int(p.id),
            "score": _num(p.score),
            "bbox": [int(v) for v in p.bbox],
            "area": int(p.area),
            "mask": encode_mask(p.mask),
            "part_ids": [int(i) for i in p.part_ids],
        }
        for p in result.persons
    ]
    parts = [
        {
            "id": int(p.id),
            "class_id": int(p.label),
            "class_name": p.name,
            "score": _num(p.score),
            "person_id": None if p.person_id is None else int(p.person_id),
            "bbox": [int(v) for v in p.bbox],
            "area": int(p.area),
            "mask": encode_mask(p.mask),
        }
        for p in result.parts
    ]
    doc = {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": APP_ID, "version": __version__},
        "image": {
            "file": source_name(image_path),  # non-UTF-8 bytes of a name as \xNN
            "width": result.width,
            "height": result.height,
            "sha256": sha256,
        },
        "model": _model_section(result),
        "classes": classes,
        "persons": persons,
        "parts": parts,
        "timings": {str(k): max(_num(v), 0.0) for k, v in (result.timings or {}).items()},
        "notes": [str(n) for n in result.notes],
    }
    if review is not None:
        doc["review"] = review
    if doubt is not None:
        doc["doubt"] = doubt
    return doc


# --------------------------------------------------------------------------- images

def write_labels_png(labels: np.ndarray, palette: np.ndarray, path: str | os.PathLike[str],
                     class_names: Iterable[str] | None = None, text: dict[str, str] | None = None) -> None:
    """Indexed PNG whose pixel values are the class ids, with the palette padded to 256 colours,
    written in strips (``text``: more text chunks, e.g. :func:`desktop.provenance.png_text`)."""
    labels = np.asarray(labels)
    h, w = labels.shape
    chunks = {"classes": json.dumps(list(class_names))} if class_names is not None else {}
    chunks.update(text or {})
    with atomic_path(path) as tmp:
        write_png(tmp, w, h, (s.astype(np.uint8, copy=False) for s in strips_of(labels)), palette=palette, text=chunks)


def _write_rgb_png(path: Path, height: int, width: int, strips: Iterable[np.ndarray],
                   text: dict[str, str] | None = None) -> None:
    """An RGB PNG from (rows, width, 3) strips (see :mod:`desktop.png_stream`)."""
    with atomic_path(path) as tmp:
        write_png(tmp, width, height, strips, text=text)


def _rows(height: int) -> Iterable[slice]:
    """The row ranges the colour and overlay images are drawn in: a strip at a time, so a large
    photo never has a full-size colour or 16-bit blending buffer."""
    for y in range(0, height, STRIP_ROWS):
        yield slice(y, min(y + STRIP_ROWS, height))


def export_result(
    result: ParsingResult,
    image: LoadedImage,
    out_dir: str | os.PathLike[str],
    options: ExportOptions | None = None,
    *,
    stem: str | None = None,
    sha256: str | None = None,
    review: dict | None = None,
    doubt: dict | None = None,
) -> list[Path]:
    """Write the requested outputs of one image into ``out_dir`` (created if needed).

    ``stem`` defaults to the input's file stem; ``sha256`` of the input file is computed
    when not given; ``review`` and ``doubt`` go into the JSON (see :func:`result_to_json`). Returns the
    written paths in :data:`FORMATS` order. Raises OSError when a file cannot be written (no
    partial file is left behind).
    """
    options = options or ExportOptions()
    if image.rgb.shape[:2] != result.labels.shape:
        raise ValueError(
            f"the image ({image.width} x {image.height}) and its parsing "
            f"({result.width} x {result.height}) differ in size"
        )
    out = make_output_dir(out_dir)  # marked as ours when created: folder scans skip it
    paths = output_paths(stem or image.path.stem, out, options.formats)
    visible = options.visible_classes
    digest = sha256 or sha256_file(image.path)
    shown = None  # pixels that may be coloured (the person filter), None = all
    if (options.hidden_persons or options.solo_person is not None) and {"color", "overlay"} & set(paths):
        from desktop.render import person_filter

        # The view's own rule (canvas_view): a pixel belongs to the highest-scoring person covering it.
        shown = person_filter(result.person_map(), options.hidden_persons, options.solo_person)
    text = png_text(image.path, digest)  # every output names its source (desktop.provenance)
    for fmt, path in paths.items():
        if fmt == "labels":
            write_labels_png(result.labels, result.palette, path, result.class_names, text)
        elif fmt == "color":
            def colours(rows: slice) -> np.ndarray:
                strip = color_map(result.labels[rows], result.palette, visible)
                if shown is not None:
                    strip[~shown[rows]] = 0
                return strip

            _write_rgb_png(path, result.height, result.width, map(colours, _rows(result.height)), text)
        elif fmt == "overlay":
            def blended(rows: slice) -> np.ndarray:
                return blend(image.rgb[rows], result.labels[rows], result.palette, options.opacity, visible,
                             None if shown is None else shown[rows])

            _write_rgb_png(path, result.height, result.width, map(blended, _rows(result.height)), text)
        elif fmt == "json":
            doc = result_to_json(result, image.path, digest, review, doubt)
            atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return list(paths.values())
