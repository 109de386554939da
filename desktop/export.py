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
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin
from pycocotools import mask as mask_utils

from desktop import APP_ID, __version__
from desktop.atomic import atomic_path, atomic_write_text
from desktop.engine.result import ParsingResult
from desktop.imageio import LoadedImage, sha256_file
from desktop.render import blend, color_map

__all__ = [
    "FORMATS",
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
#: Output kinds, in the order they are written and listed.
FORMATS: tuple[str, ...] = ("labels", "color", "overlay", "json")
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

    def __post_init__(self) -> None:
        self.formats = frozenset(self.formats)
        unknown = self.formats - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))} (choose from {', '.join(FORMATS)})")
        if not 0.0 <= float(self.opacity) <= 1.0:
            raise ValueError(f"opacity must be between 0 and 1, not {self.opacity}")


def parse_formats(text: str) -> frozenset[str]:
    """``"labels,json"`` -> ``{"labels", "json"}``; ``"all"`` -> every format. Raises ValueError."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not names:
        raise ValueError("no export format given")
    if names == ["all"]:
        return frozenset(FORMATS)
    unknown = sorted(set(names) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(unknown)} (choose from {', '.join(FORMATS)})")
    return frozenset(names)


def output_paths(name_stem: str, out_dir: str | os.PathLike[str], formats: Iterable[str]) -> dict[str, Path]:
    """Where each requested format of image ``name_stem`` goes, in :data:`FORMATS` order."""
    wanted = set(formats)
    out = Path(out_dir)
    return {fmt: out / f"{name_stem}{_SUFFIX[fmt]}" for fmt in FORMATS if fmt in wanted}


# --------------------------------------------------------------------------- JSON

def encode_mask(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a 2-D bool mask, JSON-ready (``counts`` as str)."""
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
    model: dict = {}
    for key, value in (result.model or {}).items():
        model[str(key)] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
    model["class_names"] = list(result.class_names)
    return model


def result_to_json(result: ParsingResult, image_path: str | os.PathLike[str], sha256: str) -> dict:
    """The ``NAME.json`` document for one result (see ``resources/parsing-result.schema.json``)."""
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
        for c in result.classes_present()
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
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": APP_ID, "version": __version__},
        "image": {
            "file": Path(image_path).name,
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


# --------------------------------------------------------------------------- images

def write_labels_png(labels: np.ndarray, palette: np.ndarray, path: str | os.PathLike[str],
                     class_names: Iterable[str] | None = None) -> None:
    """Indexed PNG whose pixel values are the class ids, with the palette padded to 256 colours."""
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    h, w = labels.shape
    im = Image.frombytes("P", (w, h), labels.tobytes())
    table = np.zeros((256, 3), dtype=np.uint8)
    pal = np.asarray(palette, dtype=np.uint8)[:256, :3]
    table[: len(pal)] = pal
    im.putpalette(table.ravel().tolist(), rawmode="RGB")
    info = PngImagePlugin.PngInfo()
    if class_names is not None:
        info.add_text("classes", json.dumps(list(class_names)))
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG", pnginfo=info)


def _write_rgb_png(rgb: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(tmp, format="PNG")


def export_result(
    result: ParsingResult,
    image: LoadedImage,
    out_dir: str | os.PathLike[str],
    options: ExportOptions | None = None,
    *,
    stem: str | None = None,
    sha256: str | None = None,
) -> list[Path]:
    """Write the requested outputs of one image into ``out_dir`` (created if needed).

    ``stem`` defaults to the input's file stem; ``sha256`` of the input file is computed
    when not given. Returns the written paths in :data:`FORMATS` order. Raises OSError when
    a file cannot be written (no partial file is left behind).
    """
    options = options or ExportOptions()
    if image.rgb.shape[:2] != result.labels.shape:
        raise ValueError(
            f"the image ({image.width} x {image.height}) and its parsing "
            f"({result.width} x {result.height}) differ in size"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = output_paths(stem or image.path.stem, out, options.formats)
    visible = options.visible_classes
    for fmt, path in paths.items():
        if fmt == "labels":
            write_labels_png(result.labels, result.palette, path, result.class_names)
        elif fmt == "color":
            _write_rgb_png(color_map(result.labels, result.palette, visible), path)
        elif fmt == "overlay":
            _write_rgb_png(blend(image.rgb, result.labels, result.palette, options.opacity, visible), path)
        elif fmt == "json":
            digest = sha256 or sha256_file(image.path)
            doc = result_to_json(result, image.path, digest)
            atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return list(paths.values())
