"""labelme (5.4 and later) label files: ``labelme/NAME.json`` per image, one mask shape per part.

Each part (the pixels of one (person, class) pair) is a shape::

    {"label": "Hair", "shape_type": "mask", "group_id": 1, "description": "", "flags": {},
     "points": [[x1, y1], [x2, y2]], "mask": "<base64 PNG of the part cropped to its box>"}

- ``points`` are the box's first and last pixel (inclusive), as labelme reads them
  (``mask[y1:y2+1, x1:x2+1]``); the PNG is 8-bit grey with 0 and 1, as labelme writes it.
- ``group_id`` is the person; a part linked to no person has ``group_id`` null.
- ``imagePath`` is the photo's path relative to the JSON file (labelme opens it from there),
  ``imageData`` is null (the photo is not copied into the file). When the photo's location
  is not known, or it is on another drive than the export (Windows), ``imagePath`` is the
  photo's file name: put the JSON beside the photo to open it.

:func:`read_labelme` reads these files back, and files a team made or fixed in labelme:
``mask``, ``polygon``, ``rectangle`` and ``circle`` shapes are rasterised the way labelme
does (later shapes over earlier ones); lines and points cover no area and are skipped.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageDraw

from desktop.atomic import atomic_write_text
from desktop.formats.common import (
    DEFAULT_MAX_PIXELS,
    FormatError,
    FormatReadError,
    FormatWriter,
    ImageMaps,
    ReadMaps,
    check_stem,
    class_lookup,
    read_text,
    sound_persons,
)
from desktop.i18n import _, ngettext
from desktop.output_layout import make_output_dir

__all__ = ["LABELME_VERSION", "LabelmeWriter", "mask_to_b64", "read_labelme"]

#: The labelme version our files declare: the first with mask shapes.
LABELME_VERSION = "5.4.1"
_AREA_SHAPES = {"mask", "polygon", "rectangle", "circle"}
_LINE_SHAPES = {"line", "linestrip", "point", "points"}


def mask_to_b64(mask: np.ndarray) -> str:
    """A bool mask as labelme stores it: base64 of an 8-bit grey PNG holding 0 and 1."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class LabelmeWriter(FormatWriter):
    """Writes ``labelme/NAME.json`` per image (see the module docstring)."""

    name = "labelme"
    folder = "labelme"

    def _path(self, stem: str) -> Path:
        return self.root / f"{check_stem(stem)}.json"

    def _image_files(self, stem: str) -> list[Path]:
        return [self._path(stem)]

    def image_path_for(self, maps: ImageMaps, json_path: Path) -> str:
        """``imagePath``: the photo relative to the JSON's folder, '/'-separated; its name alone
        when no relative path exists."""
        fallback = PurePosixPath(maps.name).name
        if maps.image_path is None:
            return fallback
        try:
            rel = os.path.relpath(Path(maps.image_path).absolute(), json_path.parent.absolute())
        except ValueError:  # another drive (Windows)
            return fallback
        return Path(rel).as_posix()

    def _write_image(self, maps: ImageMaps) -> list[Path]:
        path = self._path(maps.stem)
        shapes = []
        for inst in maps.parts:
            if inst.label >= len(self.class_names):
                raise FormatError(_("{name} holds class id {label}, which has no name.").format(
                        name=maps.name, label=inst.label))
            x, y, w, h = inst.bbox
            shapes.append({
                "label": self.class_names[inst.label],
                "points": [[float(x), float(y)], [float(x + w - 1), float(y + h - 1)]],
                "group_id": int(inst.person) if inst.person else None,
                "description": "",
                "shape_type": "mask",
                "flags": {},
                "mask": mask_to_b64(inst.mask),
            })
        doc = {
            "version": LABELME_VERSION,
            "flags": {},
            "shapes": shapes,
            "imagePath": self.image_path_for(maps, path),
            "imageData": None,
            "imageHeight": maps.height,
            "imageWidth": maps.width,
        }
        make_output_dir(path.parent)
        atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
        return [path]


# --------------------------------------------------------------------------- reading

def _size(doc: dict, path: Path, max_pixels: int | None) -> tuple[int, int]:
    h, w = doc.get("imageHeight"), doc.get("imageWidth")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (h, w)):
        raise FormatReadError(path, _("it does not give the image size as whole numbers (imageHeight, "
                                      "imageWidth)."))
    if h <= 0 or w <= 0:
        raise FormatReadError(path, _("it gives an invalid image size ({w} x {h} pixels).").format(
                w=w, h=h))
    if max_pixels and w * h > max_pixels:
        raise FormatReadError(path, _("its image is too large ({w} x {h} = {pixels} pixels, above the "
                                      "limit of {max_pixels}).").format(
                w=w, h=h, pixels=f"{w * h:,}", max_pixels=f"{max_pixels:,}"))
    return h, w


def _points(shape: dict, where: str, path: Path) -> list[tuple[float, float]]:
    pts = shape.get("points")
    if not isinstance(pts, list) or not pts:
        raise FormatReadError(path, _("{where} has no points.").format(where=where))
    out = []
    for p in pts:
        if not (isinstance(p, list) and len(p) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)):
            raise FormatReadError(path, _("{where} has a point that is not two numbers: {point}.").format(
                    where=where, point=str(p)[:40]))
        out.append((float(p[0]), float(p[1])))
    return out


def _decode_mask(shape: dict, box_h: int, box_w: int, where: str, path: Path) -> np.ndarray:
    data = shape.get("mask")
    if not isinstance(data, str):
        raise FormatReadError(path, _("{where} is a mask shape without its mask image.").format(
                where=where))
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise FormatReadError(path, _("{where} has a mask that is not base64 text.").format(
                where=where)) from None
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.size != (box_w, box_h):
                raise FormatReadError(path, _("{where} has a {mask_w} x {mask_h} mask for a {box_w} x "
                                              "{box_h} box.").format(
                        where=where, mask_w=im.size[0], mask_h=im.size[1], box_w=box_w, box_h=box_h))
            im.load()
            arr = np.asarray(im.convert("L") if im.mode not in ("1", "L", "P") else im)
    except FormatReadError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise FormatReadError(path, _("{where} has a mask that is not a readable image.").format(
                where=where)) from None
    if arr.ndim != 2:
        raise FormatReadError(path, _("{where} has a mask that is not a single-channel image.").format(
                where=where))
    return arr.astype(bool)


def _window(xs: Sequence[float], ys: Sequence[float], h: int, w: int, pad: float = 0.0):
    x0 = max(0, math.floor(min(xs) - pad) - 1)
    y0 = max(0, math.floor(min(ys) - pad) - 1)
    x1 = min(w, math.ceil(max(xs) + pad) + 2)
    y1 = min(h, math.ceil(max(ys) + pad) + 2)
    return x0, y0, x1, y1


def _rasterise(kind: str, pts: list[tuple[float, float]], h: int, w: int, where: str, path: Path):
    """(mask window, x0, y0) of a polygon/rectangle/circle as labelme's ``shape_to_mask``
    draws it (Pillow, outline and fill), drawn only over the shape's box, not the image."""
    if kind == "polygon" and len(pts) < 3:
        raise FormatReadError(path, _("{where} is a polygon with fewer than 3 points.").format(where=where))
    if kind in ("rectangle", "circle") and len(pts) != 2:
        raise FormatReadError(path, _("{where} is a {kind} without exactly 2 points.").format(
                where=where, kind=kind))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    if kind == "circle":
        (cx, cy), (px, py) = pts
        d = math.hypot(cx - px, cy - py)
        x0, y0, x1, y1 = _window([cx], [cy], h, w, pad=d)
    else:
        x0, y0, x1, y1 = _window(xs, ys, h, w)
    if x1 <= x0 or y1 <= y0:
        return None, 0, 0
    canvas = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(canvas)
    local = [(x - x0, y - y0) for x, y in pts]
    if kind == "polygon":
        draw.polygon(local, outline=1, fill=1)
    elif kind == "rectangle":
        (ax, ay), (bx, by) = local
        draw.rectangle(((min(ax, bx), min(ay, by)), (max(ax, bx), max(ay, by))), outline=1, fill=1)
    else:
        (cx, cy), _radius = local
        draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
    return np.asarray(canvas, dtype=bool), x0, y0


def read_labelme(json_path: str | os.PathLike[str], class_names: Sequence[str], *,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ReadMaps:
    """The maps of one labelme label file (ours, or one made or fixed in labelme).

    Shape labels are matched to class names case-insensitively; ``group_id`` is the person
    (null: no person). Raises :class:`FormatReadError` naming the file for anything malformed
    (unknown label, mask not matching its box, missing size...). The photo is not opened.
    """
    path = Path(json_path)
    try:
        doc = json.loads(read_text(path))
    except ValueError as exc:
        raise FormatReadError(path, _("it is not valid JSON ({reason}).").format(reason=exc)) from None
    except RecursionError:
        raise FormatReadError(path, _("it is not valid JSON (nested too deeply).")) from None
    if not isinstance(doc, dict):
        raise FormatReadError(path, _("it is not a labelme label file (no JSON object at the top)."))
    h, w = _size(doc, path, max_pixels)
    shapes = doc.get("shapes")
    if not isinstance(shapes, list):
        raise FormatReadError(path, _('it is not a labelme label file (no "shapes" list).'))
    lookup = class_lookup(class_names)
    try:
        labels = np.zeros((h, w), dtype=np.uint8)
        persons = np.zeros((h, w), dtype=np.uint16)
    except (MemoryError, ValueError):
        raise FormatReadError(path, _("there is not enough memory for its {w} x {h} image.").format(
                w=w, h=h)) from None
    notes: list[str] = []
    skipped = 0
    for number, shape in enumerate(shapes, start=1):
        where = _("shape {number}").format(number=number)
        if not isinstance(shape, dict):
            raise FormatReadError(path, _("{where} is not a JSON object.").format(where=where))
        label = shape.get("label")
        if not isinstance(label, str):
            raise FormatReadError(path, _("{where} has no label.").format(where=where))
        where = _('shape {number} ("{label}")').format(number=number, label=label[:40])
        kind = shape.get("shape_type") or "polygon"
        if kind in _LINE_SHAPES:
            skipped += 1
            continue
        if kind not in _AREA_SHAPES:
            raise FormatReadError(path, _('{where} has the shape type "{kind}", which this app cannot '
                                          "read.").format(where=where, kind=str(kind)[:30]))
        if label.casefold() not in lookup:
            raise FormatReadError(path, _('{where} uses the label "{label}", which is not one of the '
                                          "classes ({class_names}).").format(
                    where=where, label=label[:40], class_names=', '.join(class_names[1:])))
        cls = lookup[label.casefold()]
        group = shape.get("group_id")
        if group is not None and (not isinstance(group, int) or isinstance(group, bool) or not 0 <= group <= 65535):
            raise FormatReadError(path, _("{where} has the group_id {group}, not a person number "
                                          "0..65535.").format(where=where, group=str(group)[:20]))
        person = int(group or 0)
        pts = _points(shape, where, path)
        if kind == "mask":
            if len(pts) != 2:
                raise FormatReadError(path, _("{where} is a mask without exactly 2 box corners.").format(
                        where=where))
            x0, y0 = int(pts[0][0]), int(pts[0][1])
            bx1, by1 = int(pts[1][0]), int(pts[1][1])
            if not (0 <= x0 <= bx1 < w and 0 <= y0 <= by1 < h):
                raise FormatReadError(path, _("{where} has a box ({x0}, {y0})-({bx1}, {by1}) outside the "
                                              "{w} x {h} image.").format(
                        where=where, x0=x0, y0=y0, bx1=bx1, by1=by1, w=w, h=h))
            window = _decode_mask(shape, by1 - y0 + 1, bx1 - x0 + 1, where, path)
        else:
            window, x0, y0 = _rasterise(kind, pts, h, w, where, path)
            if window is None:
                continue
        wh, ww = window.shape
        labels[y0 : y0 + wh, x0 : x0 + ww][window] = cls
        persons[y0 : y0 + wh, x0 : x0 + ww][window] = person
    if skipped:
        notes.append(ngettext("{n} line or point shape skipped: it covers no area",
                              "{n} line or point shapes skipped: they cover no area", skipped).format(n=skipped))
    persons = sound_persons(labels, persons, notes, path)
    return ReadMaps(labels, persons, notes)
