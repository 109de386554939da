"""Where exports go and what they hold: one layout, marked output folders that scans skip, an
export folder beside the photos, no path of this machine in a JSON, and the interchange
formats from the command line (``--formats labels,json,cihp,coco``, ``--skip-existing``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from imagefiles import pattern, save_rgb
from PIL import Image

from desktop import cli
from desktop.imageio import list_images
from desktop.model_summary import exported_model_info, weights_sha256
from desktop.output_layout import (
    OUTPUT_MARKER,
    default_export_folder,
    is_output_folder,
    make_output_dir,
    plan_outputs,
)


def test_export_folder_is_proposed_beside_the_photos_not_inside(tmp_path):
    photos = tmp_path / "holiday photos"
    assert default_export_folder(photos) == tmp_path / "holiday photos_parsing"
    assert photos not in default_export_folder(photos).parents


def test_only_folders_we_create_are_marked(tmp_path):
    existing = tmp_path / "mine"
    existing.mkdir()
    make_output_dir(existing / "a" / "b")
    assert not is_output_folder(existing)  # a user's folder is never marked
    assert is_output_folder(existing / "a") and is_output_folder(existing / "a" / "b")
    assert (existing / "a" / OUTPUT_MARKER).read_text().startswith("This folder was created")


def test_folder_scans_skip_our_output_folders(tmp_path):
    photos = tmp_path / "photos"
    save_rgb(photos / "a.png", pattern(16, 12))
    save_rgb(photos / "trip" / "b.png", pattern(16, 12))
    out = make_output_dir(photos / "parsing")
    save_rgb(out / "a_labels.png", pattern(16, 12))
    save_rgb(out / "trip" / "b_overlay.png", pattern(16, 12))
    found = [e.relative.as_posix() for e in list_images([photos], recursive=True)]
    assert found == ["a.png", "trip/b.png"]
    (entry,) = list_images([out], recursive=True)  # named directly: one clear failed entry
    assert not entry.ok and OUTPUT_MARKER in entry.error and "not searched" in entry.error


def test_one_layout_for_this_image_and_all_images(tmp_path):
    root = tmp_path / "photos"
    paths = [save_rgb(root / "a.jpg", pattern(8, 8)), save_rgb(root / "a.png", pattern(8, 8)),
             save_rgb(root / "x" / "c.png", pattern(8, 8))]
    everything = plan_outputs(paths, root, tmp_path / "out")
    for i, path in enumerate(paths):
        assert plan_outputs([path], root, tmp_path / "out") == [everything[i]]
    assert everything == [(PurePosixPath(), "a_jpg"), (PurePosixPath(), "a_png"), (PurePosixPath("x"), "c")]


def test_exported_model_info_names_the_model_by_name_and_weights_hash(tiny_model_dir):
    weights = tiny_model_dir / "pytorch_model.pt"
    info = {"name": "m2fp", "source": str(tiny_model_dir), "found_in": "chosen folder", "runtime": "openvino",
            "precision": "exact", "openvino_model": f"cached in {Path.home()}/.cache/x", "openvino": "2025.1",
            "openvino_kernel": "stock operations (no compiler in /usr/bin)", "threads": "2"}
    out = exported_model_info(info)
    assert out == {"name": "m2fp", "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                   "runtime": "openvino", "precision": "exact", "openvino": "2025.1"}
    assert weights_sha256(tiny_model_dir / "nowhere") is None
    assert "weights_sha256" not in exported_model_info({"name": "x", "source": "/gone"})


def _cli(tmp_path, *extra) -> int:
    return cli.main([str(tmp_path / "in"), "--recursive", "--out", str(tmp_path / "out"), "--model",
                     str(Path(__file__).parent / "data" / "m2fp-tiny" / "model"), "--runtime", "torch", "--quiet",
                     *extra])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, golden_images):
    tmp = tmp_path_factory.mktemp("cli-formats")
    src = golden_images["astronaut_crop"]
    (tmp / "in" / "sub").mkdir(parents=True)
    (tmp / "in" / "sub" / src.name).write_bytes(src.read_bytes())
    code = _cli(tmp, "--formats", "labels,json,cihp,coco")
    return tmp, code


def test_cli_writes_interchange_formats_beside_the_per_image_files(cli_run):
    tmp, code = cli_run
    out = tmp / "out"
    assert code == 0
    assert (out / "sub" / "astronaut_crop_labels.png").is_file() and (out / "sub" / "astronaut_crop.json").is_file()
    cat = np.asarray(Image.open(out / "cihp" / "Category_ids" / "sub" / "astronaut_crop.png"))
    np.testing.assert_array_equal(cat, np.asarray(Image.open(out / "sub" / "astronaut_crop_labels.png")))
    coco = json.loads((out / "coco" / "annotations" / "instances.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == ["sub/astronaut_crop.png"]
    assert not (out / "cvat").exists() and not (out / "labelme").exists()  # only what was asked


def test_exports_hold_no_path_of_this_machine(cli_run, tiny_model_dir):
    tmp, _ = cli_run
    doc = json.loads((tmp / "out" / "sub" / "astronaut_crop.json").read_text())
    assert doc["model"]["weights_sha256"] == hashlib.sha256((tiny_model_dir / "pytorch_model.pt").read_bytes()).hexdigest()
    texts = [p.read_text(encoding="utf-8") for p in (tmp / "out").rglob("*") if p.suffix in (".json", ".xml", ".txt")]
    for marker in (str(tmp), str(tiny_model_dir), str(Path.home())):
        assert not any(marker in t for t in texts)


def test_cli_skip_existing_resumes_the_interchange_formats(cli_run):
    tmp, _ = cli_run
    out = tmp / "out"
    coco = out / "coco" / "annotations" / "instances.json"
    before = coco.read_text()
    coco.unlink()
    assert _cli(tmp, "--formats", "labels,json,cihp,coco", "--skip-existing") == 0
    assert coco.read_text() == before  # assembled again from the kept piece, nothing parsed
    human = out / "cihp" / "Human_ids" / "sub" / "astronaut_crop.png"
    human.unlink()
    labels = out / "sub" / "astronaut_crop_labels.png"
    stamp = labels.stat().st_mtime_ns
    assert _cli(tmp, "--formats", "labels,json,cihp,coco", "--skip-existing") == 0
    assert human.is_file() and labels.stat().st_mtime_ns != stamp  # a missing format file: parsed again
