"""desktop.export and desktop.atomic: files are complete, self-consistent and schema-valid, or absent."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from imagefiles import pattern, save_rgb
from outputcheck import check_export, validate
from PIL import Image

import desktop.export as export
from desktop.atomic import atomic_path, atomic_write_bytes, atomic_write_text, temp_path_for
from desktop.engine.result import ParsingResult, Part, Person, mask_bbox
from desktop.export import ExportOptions, export_result, output_paths, parse_formats, result_to_json
from desktop.imageio import load_image
from desktop.output_layout import OUTPUT_MARKER
from desktop.render import blend, visibility
from desktop.resources import default_class_names, palette


def synthetic_result(h: int = 24, w: int = 32) -> ParsingResult:
    """Two people with a few parts; masks consistent with the label map."""
    labels = np.zeros((h, w), dtype=np.uint8)
    labels[2:10, 3:12] = 2     # Hair, person 1
    labels[10:20, 3:12] = 5    # UpperClothes, person 1
    labels[4:22, 18:28] = 13   # Face, person 2
    p1 = np.zeros((h, w), bool)
    p1[2:20, 3:12] = True
    p2 = np.zeros((h, w), bool)
    p2[4:22, 18:28] = True
    part_masks = [(labels == 2, 2, 1), (labels == 5, 5, 1), (labels == 13, 13, 2), (np.zeros((h, w), bool), 9, None)]
    names = default_class_names()
    parts = [
        Part(id=i + 1, label=lab, name=names[lab], score=0.9 - i * 0.1, mask=m, bbox=mask_bbox(m), area=int(m.sum()), person_id=pid)
        for i, (m, lab, pid) in enumerate(part_masks)
    ]
    persons = [
        Person(1, 0.95, p1, mask_bbox(p1), int(p1.sum()), (1, 2)),
        Person(2, 0.80, p2, mask_bbox(p2), int(p2.sum()), (3,)),
    ]
    return ParsingResult(
        labels=labels, persons=persons, parts=parts, class_names=names, palette=palette(),
        timings={"preprocess": 0.01, "forward": 0.2, "total": 0.25},
        model={"name": "synthetic", "source": "tests", "runtime": "none", "precision": "exact"},
        notes=["synthetic note"],
    )


@pytest.fixture
def photo(tmp_path):
    return load_image(save_rgb(tmp_path / "in" / "photo 1 é.png", pattern(32, 24)))


def test_export_synthetic_all_formats(tmp_path, photo):
    result = synthetic_result()
    out = tmp_path / "out" / "nested"
    written = export_result(result, photo, out)
    paths = output_paths("photo 1 é", out, export.FORMATS)
    assert written == list(paths.values())
    assert [p.name for p in written] == ["photo 1 é_labels.png", "photo 1 é_color.png", "photo 1 é_overlay.png", "photo 1 é.json"]
    doc = check_export(result, photo, paths)
    assert np.array_equal(np.asarray(Image.open(paths["overlay"])), blend(photo.rgb, result.labels, result.palette, 0.5))
    assert doc["parts"][3]["person_id"] is None and doc["parts"][3]["area"] == 0 and doc["parts"][3]["bbox"] == [0, 0, 0, 0]
    # No temp files left; the folder export_result created is marked as ours (folder scans skip it).
    assert sorted(p.name for p in out.iterdir()) == sorted([OUTPUT_MARKER, *(p.name for p in written)])


def test_export_real_parse(tmp_path, tiny_parser, golden_images):
    src = Image.open(golden_images["grace_hopper"]).convert("RGB").resize((48, 56))
    image = load_image(save_rgb(tmp_path / "gh.jpg", np.asarray(src), quality=95))
    result = tiny_parser.parse(image.rgb, notes=image.notes)
    assert result.persons and result.parts  # something real to encode
    paths = output_paths("gh", tmp_path / "out", export.FORMATS)
    export_result(result, image, tmp_path / "out", ExportOptions(opacity=0.3))
    doc = check_export(result, image, paths)
    assert doc["model"]["runtime"] == tiny_parser.info["runtime"]
    assert np.array_equal(np.asarray(Image.open(paths["overlay"])), blend(image.rgb, result.labels, result.palette, 0.3))


def test_visible_classes_restrict_pictures_not_data(tmp_path, photo):
    result = synthetic_result()
    vis = visibility([13], result.num_classes)
    paths = output_paths("photo 1 é", tmp_path, export.FORMATS)
    export_result(result, photo, tmp_path, ExportOptions(visible_classes=vis, opacity=1.0))
    color = np.asarray(Image.open(paths["color"]))
    assert (color[result.labels == 13] == result.palette[13]).all() and (color[result.labels != 13] == 0).all()
    overlay = np.asarray(Image.open(paths["overlay"]))
    assert np.array_equal(overlay[result.labels != 13], photo.rgb[result.labels != 13])
    assert np.array_equal(np.asarray(Image.open(paths["labels"])), result.labels)
    assert len(json.loads(paths["json"].read_text())["parts"]) == 4


def test_format_subset_writes_only_those(tmp_path, photo):
    written = export_result(synthetic_result(), photo, tmp_path, ExportOptions(formats={"labels", "json"}), stem="x")
    assert [p.name for p in written] == ["x_labels.png", "x.json"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["x.json", "x_labels.png"]


def test_export_refuses_mismatched_image(tmp_path, photo):
    small = load_image(save_rgb(tmp_path / "small.png", pattern(8, 8)))
    with pytest.raises(ValueError, match="differ in size"):
        export_result(synthetic_result(), small, tmp_path / "o")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_options_and_format_parsing():
    assert parse_formats("labels, JSON") == {"labels", "json"}
    assert parse_formats("all") == set(export.ALL_FORMATS)  # per-image and interchange formats
    with pytest.raises(ValueError, match="bogus"):
        parse_formats("labels,bogus")
    with pytest.raises(ValueError):
        ExportOptions(formats={"pdf"})
    with pytest.raises(ValueError):
        ExportOptions(opacity=1.5)


def test_json_is_strict_even_with_nan_scores(tmp_path, photo):
    result = synthetic_result()
    bad = result.persons[0]
    result.persons[0] = Person(bad.id, float("nan"), bad.mask, bad.bbox, bad.area, bad.part_ids)
    doc = result_to_json(result, photo.path, "0" * 64)
    validate(doc)
    json.dumps(doc, allow_nan=False)  # would raise on NaN


def test_schema_rejects_broken_documents(photo):
    doc = result_to_json(synthetic_result(), photo.path, "a" * 64)
    validate(doc)
    for mutate in (
        lambda d: d.pop("persons"),
        lambda d: d["image"].update(sha256="xyz"),
        lambda d: d["parts"][0]["mask"].pop("counts"),
        lambda d: d["persons"][0].update(bbox=[1, 2, 3]),
        lambda d: d.update(schema_version="0.9"),
    ):
        broken = json.loads(json.dumps(doc))
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


# --------------------------------------------------------------------------- atomic writes

def test_atomic_text_and_bytes(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "héllo\n")
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode()
    atomic_write_bytes(tmp_path / "a.txt", b"second")
    assert (tmp_path / "a.txt").read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_temp_name_is_hidden_beside_target_and_keeps_suffix(tmp_path):
    tmp = temp_path_for(tmp_path / "x_labels.png")
    assert tmp.parent == tmp_path and tmp.name.startswith(".x_labels.png.tmp-") and tmp.suffix == ".png"


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        Image.fromarray(pattern(8, 8)).save(tmp)
        assert tmp.exists() and not target.exists()
        raise RuntimeError("power cut")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_previous_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half of the new conte")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_failing_export_leaves_no_partial_output(tmp_path, photo, monkeypatch):
    def broken_write(path, *args, **kwargs):  # PNGs are streamed by desktop.png_stream.write_png
        Path(path).write_bytes(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "write_png", broken_write)
    with pytest.raises(OSError, match="No space"):
        export_result(synthetic_result(), photo, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == [OUTPUT_MARKER]  # no partial output
