"""CVAT for images 1.1 (``cvat/annotations.xml``): one ``<mask>`` per part, the person as its group.

What CVAT reads ("Upload annotations", format *CVAT 1.1*) and datumaro's ``cvat`` importer
too::

    <annotations>
      <version>1.1</version>
      <meta><task>… <labels><label><name>Hair</name><color>#ff0000</color><type>any</type>…
      <image id="0" name="sub/photo.jpg" width="640" height="480">
        <mask label="Hair" occluded="0" rle="0, 12, 3, …" left="40" top="10" width="25"
              height="18" z_order="0" group_id="1"/>

- A part is the pixels of one (person, class) pair; its mask is CVAT's RLE over its box:
  run lengths in row order (left to right, then down), starting with a run of 0s (which may
  be empty), as CVAT's own exporter writes them.
- ``group_id`` is the person: CVAT shows a person's parts as one group. A part linked to
  no person (person 0) is written without ``group_id`` (CVAT's "no group").
- Every class but background is declared in ``<meta>`` (type ``any``, so a team can fix
  masks with polygons or brushes), with our palette's colour.
- Images are matched by ``name``: the image's path relative to the folder that was opened.

The file is assembled in :meth:`CvatWriter.finish` from one fragment per image, streaming.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import XMLGenerator

import numpy as np

from desktop.atomic import atomic_path
from desktop.formats.common import FormatError, FormatWriter, Fragments, ImageMaps, hex_colour
from desktop.i18n import _

__all__ = ["CvatWriter", "cvat_rle"]

ANNOTATIONS = "annotations.xml"
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def cvat_rle(mask: np.ndarray) -> list[int]:
    """CVAT's mask RLE: run lengths over ``mask`` in row order, starting with a run of 0s."""
    flat = np.ascontiguousarray(mask, dtype=bool).ravel()
    if flat.size == 0:
        return []
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], edges, [flat.size])))
    if flat[0]:
        counts = np.concatenate(([0], counts))
    return [int(c) for c in counts]


class CvatWriter(FormatWriter):
    """Writes ``cvat/annotations.xml`` (see the module docstring)."""

    name = "cvat"
    folder = "cvat"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fragments = Fragments(self.root / ".fragments")

    def _image_files(self, stem: str) -> list[Path]:
        return [self.fragments.path(stem)]

    def _write_image(self, maps: ImageMaps) -> list[Path]:
        import json

        if _XML_BAD.search(maps.name):
            raise FormatError(_("The file name {name} holds characters an XML file cannot hold; rename "
                                "the photo to export it for CVAT.").format(name=f"{maps.name!r}"))
        shapes = []
        for inst in maps.parts:
            if inst.label >= len(self.class_names):
                raise FormatError(_("{name} holds class id {label}, which has no name.").format(
                    name=maps.name, label=inst.label))
            x, y, w, h = inst.bbox
            shapes.append([self.class_names[inst.label], inst.person, x, y, w, h,
                           ", ".join(map(str, cvat_rle(inst.mask)))])
        head = {"name": maps.name, "width": maps.width, "height": maps.height}
        self.fragments.put(maps.stem, [json.dumps(head, ensure_ascii=False), json.dumps(shapes)])
        return []

    def finish(self, order: Sequence[str] | None = None) -> list[Path]:
        stems = self._ordered(order)
        target = self.root / ANNOTATIONS
        with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            xml = XMLGenerator(fh, "utf-8", short_empty_elements=True)
            xml.startDocument()
            xml.startElement("annotations", {})
            self._text(xml, 1, "version", "1.1")
            self._meta(xml, len(stems))  # images whose piece is damaged are left out
            frame = -1
            for stem in stems:
                try:
                    head = self.fragments.json_line(stem, 0)
                    shapes = self.fragments.json_line(stem, 1)
                except (FormatError, OSError) as exc:
                    self.problems.append(_("{stem} was left out of {file}: {reason}").format(
                        stem=stem, file=ANNOTATIONS, reason=exc))
                    continue
                frame += 1
                xml.ignorableWhitespace("\n  ")
                xml.startElement("image", {"id": str(frame), "name": str(head["name"]),
                                           "width": str(int(head["width"])), "height": str(int(head["height"]))})
                for label, person, x, y, w, h, rle in shapes:
                    attrs = {"label": str(label), "occluded": "0", "rle": str(rle), "left": str(int(x)),
                             "top": str(int(y)), "width": str(int(w)), "height": str(int(h)), "z_order": "0"}
                    if int(person):
                        attrs["group_id"] = str(int(person))
                    xml.ignorableWhitespace("\n    ")
                    xml.startElement("mask", attrs)
                    xml.endElement("mask")
                xml.ignorableWhitespace("\n  ")
                xml.endElement("image")
            xml.ignorableWhitespace("\n")
            xml.endElement("annotations")
            xml.endDocument()
            fh.write("\n")
        return [target]

    def _text(self, xml: XMLGenerator, level: int, tag: str, text: str) -> None:
        xml.ignorableWhitespace("\n" + "  " * level)
        xml.startElement(tag, {})
        xml.characters(text)
        xml.endElement(tag)

    def _meta(self, xml: XMLGenerator, size: int) -> None:
        ws = xml.ignorableWhitespace
        ws("\n  ")
        xml.startElement("meta", {})
        ws("\n    ")
        xml.startElement("task", {})
        self._text(xml, 3, "name", "M2FP human parsing export")
        self._text(xml, 3, "size", str(size))
        self._text(xml, 3, "mode", "annotation")
        ws("\n      ")
        xml.startElement("labels", {})
        for i, name in self._label_names():
            ws("\n        ")
            xml.startElement("label", {})
            self._text(xml, 5, "name", name)
            self._text(xml, 5, "color", hex_colour(self.palette[i]))
            self._text(xml, 5, "type", "any")
            ws("\n          ")
            xml.startElement("attributes", {})
            xml.endElement("attributes")
            ws("\n        ")
            xml.endElement("label")
        ws("\n      ")
        xml.endElement("labels")
        ws("\n    ")
        xml.endElement("task")
        ws("\n  ")
        xml.endElement("meta")
