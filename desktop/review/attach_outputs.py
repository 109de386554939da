"""Attach a folder of this app's outputs to a workspace: review earlier batch runs without parsing.

A team that ran ``python -m desktop.cli photos/ --out results/`` last month has, for each
photo, ``NAME.json`` (persons and parts with their masks, scores, links, model, timings) and
``NAME_labels.png`` (the label map). Together they are the whole parsing result, losslessly
(scores rounded to 6 digits), so reviewing those photos needs no hour of parsing: this module
reads them back into :class:`~desktop.engine.result.ParsingResult` objects and stores them in
the workspace as results of the model the JSON names.

Which photo an output belongs to is what the output itself records (``image.file`` and the
SHA-256 of the photo's bytes, :mod:`desktop.provenance`): an output is attached only to a
workspace image with that file name *and* that content, so an output of an older version of a
photo is never shown over the new one. Outputs are files from elsewhere: every size is
checked before anything is allocated (the JSON's length, the PNG's declared size, the number
of instances), and a bad file is one line in the summary, never a crash.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from desktop.engine.result import ParsingResult, Part, Person
from desktop.i18n import _, ngettext, pgettext
from desktop.imageio import sha256_file
from desktop.review.model_key import ModelIdentity
from desktop.review.result_codec import DecodeLimits
from desktop.review.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["AttachSummary", "OutputError", "attach_folder", "find_outputs", "read_output"]

#: A JSON output larger than this is not ours (a 1080p photo with 40 persons gives ~2 MB).
MAX_JSON_BYTES = 256 * 1024 * 1024
LABELS_SUFFIX = "_labels.png"


class OutputError(Exception):
    """An output file that cannot be read back, told as a sentence."""


@dataclass
class AttachSummary:
    attached: list[int] = field(default_factory=list)  # image ids that got a result
    already: int = 0  # outputs of images given a result by an earlier output of this run
    unmatched: list[str] = field(default_factory=list)  # outputs of photos not in the workspace
    failed: list[tuple[str, str]] = field(default_factory=list)  # (output, why)

    def describe(self) -> str:
        n = len(self.attached)
        parts = [ngettext("{n} result attached", "{n} results attached", n).format(n=n)]
        if self.already:
            parts.append(ngettext("{n} duplicate skipped", "{n} duplicates skipped", self.already).format(
                n=self.already))
        if self.unmatched:
            n = len(self.unmatched)
            parts.append(ngettext("{n} output of a photo not in this workspace (or of another version of it)",
                                  "{n} outputs of photos not in this workspace (or of another version of them)",
                                  n).format(n=n))
        if self.failed:
            n = len(self.failed)
            parts.append(ngettext("{n} output could not be read", "{n} outputs could not be read", n).format(n=n))
        # Translators: joins the parts of the summary ("3 results attached, 1 duplicate skipped").
        return _("{summary}.").format(summary=pgettext("list of counts", ", ").join(parts))


def find_outputs(folder: str | os.PathLike[str]) -> list[Path]:
    """Every ``NAME.json`` under ``folder`` that has its ``NAME_labels.png`` beside it."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = set(filenames)
        for name in sorted(filenames):
            if name.endswith(".json") and not name.startswith(".") and name[:-5] + LABELS_SUFFIX in names:
                found.append(Path(dirpath) / name)
    return found


def _read_json(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise OutputError(_("it is larger than {size} MB").format(size=MAX_JSON_BYTES // (1024 * 1024)))
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise OutputError(_("it cannot be read ({reason})").format(reason=exc.strerror or exc)) from None
    except (ValueError, RecursionError) as exc:
        raise OutputError(_("it is not valid JSON ({reason})").format(reason=exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("image"), dict):
        raise OutputError(_("it is not a parsing result of this app (no image section)"))
    return doc


def _mask(rle: object, h: int, w: int, where: str) -> np.ndarray:
    if not (isinstance(rle, dict) and isinstance(rle.get("counts"), str) and rle.get("size") == [h, w]):
        raise OutputError(_("{where} has no mask of the image's size").format(where=where))
    try:
        with warnings.catch_warnings():  # pycocotools' NumPy 2 "copy keyword" deprecation: harmless here
            warnings.simplefilter("ignore", DeprecationWarning)
            return mask_utils.decode({"size": [h, w], "counts": rle["counts"].encode("ascii")}).astype(bool)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise OutputError(_("{where} has an unreadable mask ({reason})").format(where=where, reason=exc)) from None


def _box(value: object, where: str) -> tuple[int, int, int, int]:
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) for v in value)):
        raise OutputError(_("{where} has no valid box").format(where=where))
    return tuple(value)  # type: ignore[return-value]


def read_output(json_path: str | os.PathLike[str], limits: DecodeLimits | None = None
                ) -> tuple[dict, ParsingResult]:
    """``NAME.json`` and its ``NAME_labels.png`` as (the JSON's ``image`` section, the result).
    Raises :class:`OutputError` saying what is wrong."""
    from desktop.formats.common import FormatError, read_index_png
    from desktop.resources import default_class_names, palette

    limits = limits or DecodeLimits()
    path = Path(json_path)
    doc = _read_json(path)
    image = doc["image"]
    w, h = image.get("width"), image.get("height")
    if not (isinstance(w, int) and isinstance(h, int) and 0 < w and 0 < h and w * h <= limits.max_pixels):
        raise OutputError(_("it declares an invalid or too large image size ({w} x {h})").format(w=w, h=h))
    persons_doc, parts_doc = doc.get("persons", []), doc.get("parts", [])
    if not (isinstance(persons_doc, list) and isinstance(parts_doc, list)):
        raise OutputError(_("its persons or parts are not lists"))
    if len(persons_doc) + len(parts_doc) > limits.max_instances:
        raise OutputError(_("it lists more than {limit} persons and parts").format(limit=limits.max_instances))
    model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
    names = model.get("class_names")
    class_names = tuple(str(n) for n in names) if isinstance(names, list) and 0 < len(names) <= 256 else \
        default_class_names()
    try:
        labels = read_index_png(path.with_name(path.name[:-5] + LABELS_SUFFIX), limits.max_pixels)
    except FormatError as exc:
        raise OutputError(str(exc)) from None
    if labels.shape != (h, w) or labels.dtype != np.uint8:
        raise OutputError(_("its label map is {width} x {height}, not {w} x {h}").format(
            width=labels.shape[1], height=labels.shape[0], w=w, h=h))
    if labels.size and int(labels.max()) >= len(class_names):
        raise OutputError(_("its label map holds class {label}, beyond the {count} classes").format(
            label=int(labels.max()), count=len(class_names)))
    try:
        person_where, part_where = _("person {number}"), _("part {number}")
        persons = [Person(id=int(p["id"]), score=float(p["score"]),
                          mask=_mask(p.get("mask"), h, w, person_where.format(number=i + 1)),
                          bbox=_box(p["bbox"], person_where.format(number=i + 1)), area=int(p["area"]),
                          part_ids=tuple(int(x) for x in p.get("part_ids", [])))
                   for i, p in enumerate(persons_doc)]
        parts = [Part(id=int(p["id"]), label=int(p["class_id"]), name=str(p.get("class_name", "")),
                      score=float(p["score"]), mask=_mask(p.get("mask"), h, w, part_where.format(number=i + 1)),
                      bbox=_box(p["bbox"], part_where.format(number=i + 1)), area=int(p["area"]),
                      person_id=None if p.get("person_id") is None else int(p["person_id"]))
                 for i, p in enumerate(parts_doc)]
    except (KeyError, TypeError, ValueError) as exc:
        raise OutputError(_("a person or part is incomplete ({reason})").format(reason=exc)) from None
    pal = np.zeros((len(class_names), 3), dtype=np.uint8)
    base = palette()
    pal[: min(len(base), len(pal))] = base[: len(pal)]
    for c in doc.get("classes", []) if isinstance(doc.get("classes"), list) else []:
        if isinstance(c, dict) and isinstance(c.get("id"), int) and 0 <= c["id"] < len(pal) \
                and isinstance(c.get("color"), list) and len(c["color"]) == 3:
            pal[c["id"]] = [int(v) & 255 for v in c["color"]]
    timings = doc.get("timings") if isinstance(doc.get("timings"), dict) else {}
    notes = doc.get("notes") if isinstance(doc.get("notes"), list) else []
    result = ParsingResult(
        labels=labels, persons=persons, parts=parts, class_names=class_names, palette=pal,
        timings={str(k): float(v) for k, v in timings.items() if isinstance(v, (int, float))},
        model={str(k): str(v) for k, v in model.items() if k != "class_names" and isinstance(v, (str, int, float))},
        notes=[str(n) for n in notes])
    return image, result


def _identity(result: ParsingResult) -> ModelIdentity:
    """The model an output names (its weights' hash, runtime, precision)."""
    m = result.model
    return ModelIdentity(m.get("weights_sha256") or "unknown", m.get("runtime") or "torch",
                         (m.get("precision") or "exact").split()[0].lower(), m.get("name") or "")


def attach_folder(ws: Workspace, folder: str | os.PathLike[str], *,
                  should_stop: Callable[[], bool] | None = None,
                  progress: Callable[[int, int, str], None] | None = None,
                  guard: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> AttachSummary:
    """Store in ``ws`` the results found in ``folder`` for its images that have none yet (see
    the module docstring). Reads and hashes files: call from a worker thread. ``guard()`` is
    entered around every use of ``ws`` (the window passes a lock so the workspace is never
    closed in the middle of one); ``should_stop`` is asked inside it."""
    summary = AttachSummary()
    outputs = find_outputs(folder)
    stop = should_stop or (lambda: False)
    by_name: dict[str, list] = {}
    with guard():
        if stop():
            return summary
        for rec in ws.records():
            if not rec.has_result:
                by_name.setdefault(rec.path.name, []).append(rec)
    hashed: dict[int, tuple[str, int, int] | None] = {}

    def content(rec) -> tuple[str, int, int] | None:
        if rec.id not in hashed:
            try:
                st = os.stat(rec.path)
                with guard():
                    sha, size, mtime = ws.file_state(rec.id)
                if sha is None or (size, mtime) != (st.st_size, st.st_mtime_ns):
                    sha = sha256_file(rec.path)
                hashed[rec.id] = (sha, st.st_size, st.st_mtime_ns)
            except OSError:
                hashed[rec.id] = None
        return hashed[rec.id]

    done: set[int] = set()
    for i, out in enumerate(outputs):
        if stop():
            break
        if progress is not None:
            progress(i, len(outputs), out.name)
        try:
            doc = _read_json(out)
        except OutputError as exc:
            summary.failed.append((str(out), str(exc)))
            continue
        name, digest = doc["image"].get("file"), doc["image"].get("sha256")
        match = None
        for rec in by_name.get(name, []) if isinstance(name, str) else []:
            state = content(rec)
            if state is not None and state[0] == digest:
                match = (rec, state)
                break
        if match is None:
            summary.unmatched.append(str(out))
            continue
        rec, (sha, size, mtime) = match
        if rec.id in done:
            summary.already += 1
            continue
        try:
            _image, result = read_output(out, ws.limits)
        except OutputError as exc:
            summary.failed.append((str(out), str(exc)))
            continue
        with guard():
            if stop():
                break
            ws.store_result(rec.id, result, _identity(result), sha256=sha, size=size, mtime_ns=mtime)
        done.add(rec.id)
        summary.attached.append(rec.id)
    return summary
