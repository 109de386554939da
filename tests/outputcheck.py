"""Checks shared by the export and CLI tests: a written set of outputs is complete and self-consistent."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from desktop.engine.result import ParsingResult, mask_bbox
from desktop.imageio import sha256_file
from desktop.render import color_map
from desktop.resources import resource_path

SCHEMA = json.loads(resource_path("parsing-result.schema.json").read_text(encoding="utf-8"))


def decode_rle(rle: dict) -> np.ndarray:
    """pycocotools decode (it warns about NumPy 2's copy keyword; harmless here)."""
    counts = rle["counts"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode({"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts})


def validate(doc: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


def check_export(result: ParsingResult, image, paths: dict[str, Path]) -> dict:
    """Everything that must hold for a written set of outputs; returns the JSON document."""
    labels_png = Image.open(paths["labels"])
    assert labels_png.mode == "P" and labels_png.size == (result.width, result.height)
    assert np.array_equal(np.asarray(labels_png), result.labels)
    pal = np.array(labels_png.getpalette(), dtype=np.uint8).reshape(-1, 3)
    assert len(pal) == 256
    assert np.array_equal(pal[: len(result.palette)], result.palette) and not pal[len(result.palette):].any()
    assert json.loads(labels_png.info["classes"]) == list(result.class_names)

    color = np.asarray(Image.open(paths["color"]))
    assert np.array_equal(color, color_map(result.labels, result.palette))
    overlay = np.asarray(Image.open(paths["overlay"]))
    assert overlay.shape == image.rgb.shape

    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    validate(doc)
    assert doc["image"] == {
        "file": image.path.name, "width": result.width, "height": result.height, "sha256": sha256_file(image.path),
    }
    counts = np.bincount(result.labels.ravel(), minlength=result.num_classes)
    assert [c["id"] for c in doc["classes"]] == [int(i) for i in np.flatnonzero(counts)]
    for c in doc["classes"]:
        assert c["pixels"] == counts[c["id"]] and c["name"] == result.class_names[c["id"]]
        assert c["color"] == result.palette[c["id"]].tolist()
        assert c["fraction"] == pytest.approx(counts[c["id"]] / result.labels.size, abs=1e-6)
    assert sum(c["pixels"] for c in doc["classes"]) == result.labels.size

    assert len(doc["persons"]) == len(result.persons) and len(doc["parts"]) == len(result.parts)
    for entry, person in zip(doc["persons"], result.persons, strict=True):
        decoded = decode_rle(entry["mask"])
        assert np.array_equal(decoded.astype(bool), person.full_mask())
        assert entry["bbox"] == list(person.bbox) == list(mask_bbox(decoded))
        assert entry["area"] == person.area == int(decoded.sum())
        assert entry["part_ids"] == list(person.part_ids)
    for entry, part in zip(doc["parts"], result.parts, strict=True):
        decoded = decode_rle(entry["mask"])
        assert np.array_equal(decoded.astype(bool), part.full_mask())
        assert entry["class_id"] == part.label and entry["class_name"] == result.class_names[part.label]
        assert entry["person_id"] == part.person_id and entry["area"] == int(decoded.sum())
        assert entry["bbox"] == list(mask_bbox(decoded))
    assert doc["model"]["class_names"] == list(result.class_names)
    assert set(result.timings) <= set(doc["timings"])  # the CLI adds "decode"
    assert doc["notes"] == result.notes
    return doc
