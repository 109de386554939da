"""The command line with review workspaces: parse once, reuse, report, export what was reviewed."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from imagefiles import save_rgb
from outputcheck import check_export, validate
from PIL import Image

import desktop.cli as cli
from desktop.export import FORMATS, output_paths
from desktop.imageio import load_image
from desktop.review.maps import person_map_of
from desktop.review.workspace import Status, Workspace

REAL_LOAD = cli._load_parser


_PARSED: dict[bytes, object] = {}  # the tiny model's result per image, computed once per session


class CountingParser:
    """The session's tiny parser, counting parse calls; ``precision`` changes what it says it
    ran. A photo is really parsed once per session (parsing is the slow part, not under test)."""

    def __init__(self, parser, precision: str = "exact"):
        self.parser = parser
        self.info = {**parser.info, "precision": precision}
        self.class_names = parser.class_names
        self.palette = parser.palette
        self.parsed: list[bytes] = []
        self.results: dict[bytes, object] = {}

    def input_size(self, width, height):
        return self.parser.input_size(width, height)

    def parse(self, rgb, notes=None):
        key = rgb.tobytes()
        if key not in _PARSED:
            _PARSED[key] = self.parser.parse(rgb, notes=notes)
        result = dataclasses.replace(_PARSED[key], timings=dict(_PARSED[key].timings), notes=list(notes or []),
                                     model=dict(self.info))
        self.parsed.append(rgb.tobytes())
        self.results[rgb.tobytes()] = result
        return result


@pytest.fixture
def photos(tmp_path, golden_images) -> Path:
    folder = tmp_path / "photos"
    for stem, path in golden_images.items():
        im = Image.open(path).convert("RGB")
        save_rgb(folder / f"{stem}.png", np.asarray(im.resize((48, max(8, round(48 * im.height / im.width))))))
    return folder


@pytest.fixture
def run(tiny_model_dir, tiny_parser, capsys, monkeypatch):
    """Run ``main`` in-process: (exit code, stdout, stderr, parser used or None)."""

    def _run(*args, precision: str = "exact", model: bool = True):
        used: list[CountingParser] = []

        def load(parsed_args):
            assert Path(parsed_args.model) == tiny_model_dir and parsed_args.runtime == "torch"
            used.append(CountingParser(tiny_parser, precision))
            return used[-1]

        argv = [str(a) for a in args]
        if model:
            argv += ["--model", str(tiny_model_dir), "--runtime", "torch", "--precision", precision]
        monkeypatch.setattr(cli, "_load_parser", load)
        code = cli.main(argv)
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, out + err
        return code, out, err, (used[0] if used else None)

    return _run


def test_second_run_parses_nothing_and_a_changed_image_is_parsed_again(tmp_path, run, photos):
    ws_path = tmp_path / "night.m2fpws"
    code, out, _err, parser = run(photos, "--workspace", ws_path)
    assert code == 0 and "3 parsed, 0 reused" in out and len(parser.parsed) == 3

    code, out, _err, parser = run(photos, "--workspace", ws_path)
    assert code == 0 and "0 parsed, 3 reused from the workspace" in out
    assert parser is None  # the model was not even loaded

    with Workspace.open(ws_path) as ws:
        ids = {r.name: r.id for r in ws.records()}
        ws.set_verdict(ids["astronaut.png"], Status.ACCEPTED, note="good")
    rgb = np.asarray(Image.open(photos / "astronaut.png"))
    save_rgb(photos / "astronaut.png", rgb[:, ::-1].copy())  # new content
    code, out, _err, parser = run(photos, "--workspace", ws_path)
    assert code == 0 and "1 parsed, 2 reused" in out
    assert parser.parsed == [load_image(photos / "astronaut.png").rgb.tobytes()]
    with Workspace.open(ws_path) as ws:
        record = ws.record(ids["astronaut.png"])
        assert record.changed_since_review and record.status is Status.ACCEPTED and record.has_result


def test_results_of_another_model_are_reported_and_parsed_again(tmp_path, run, photos):
    ws_path = tmp_path / "w.m2fpws"
    run(photos, "--workspace", ws_path)
    code, out, _err, parser = run(photos, "--workspace", ws_path, precision="fast")
    assert code == 0 and "3 parsed" in out and len(parser.parsed) == 3
    assert "3 images had results from another model" in out and "(torch, exact)" in out
    code, out, _err, parser = run(photos, "--workspace", ws_path, precision="fast")
    assert "0 parsed, 3 reused" in out and parser is None
    with Workspace.open(ws_path) as ws:
        assert len(ws.models()) == 2


def test_workspace_with_out_writes_outputs_for_reused_images_too(tmp_path, run, photos):
    ws_path = tmp_path / "w.m2fpws"
    _code, _out, _err, parser = run(photos, "--workspace", ws_path)
    out = tmp_path / "out"
    code, stdout, _err, second = run(photos, "--workspace", ws_path, "--out", out)
    assert code == 0 and second is None and "3 reused" in stdout
    for name in ("astronaut.png", "grace_hopper.png"):
        image = load_image(photos / name)
        result = parser.results[image.rgb.tobytes()]
        doc = check_export(result, image, output_paths(Path(name).stem, out, FORMATS))
        assert doc["review"]["status"] == "not_reviewed" and doc["review"]["edited"] is None


def test_report_lists_every_image_as_csv_and_json(tmp_path, run, photos, monkeypatch):
    ws_path = tmp_path / "w.m2fpws"
    run(photos, "--workspace", ws_path)
    with Workspace.open(ws_path, reviewer="eve") as ws:
        ids = {r.name: r.id for r in ws.records()}
        ws.set_verdict(ids["grace_hopper.png"], Status.NEEDS_FIX, note='hat, "not hair"\nsecond line')
        ws.set_verdict(ids["astronaut.png"], Status.ACCEPTED)
        base = ws.load_result(ids["astronaut.png"])
        labels = base.labels.copy()
        labels[0, 0] = 4
        persons = person_map_of(base)
        persons[0, 0] = 1
        ws.save_edits(ids["astronaut.png"], labels, persons)
    code, out, err, parser = run("report", ws_path, model=False)
    assert code == 0 and parser is None, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["path"] for r in rows] == ["astronaut.png", "astronaut_crop.png", "grace_hopper.png"]
    assert list(rows[0]) == ["path", "status", "note", "reviewer", "reviewed_at", "persons", "edited", "model",
                             "changed_since_review"]
    assert rows[2]["status"] == "needs_fix" and rows[2]["note"] == 'hat, "not hair"\nsecond line'
    assert rows[2]["reviewer"] == "eve" and rows[2]["reviewed_at"]
    assert rows[0]["edited"] == "yes" and rows[1]["edited"] == "no" and rows[1]["status"] == "not_reviewed"
    assert rows[1]["model"].endswith("(torch, exact)") and rows[1]["persons"].isdigit()
    code, out, _err, _parser = run("report", ws_path, "--format", "json", model=False)
    doc = json.loads(out)
    assert [r["status"] for r in doc["images"]] == ["accepted", "not_reviewed", "needs_fix"]
    assert doc["images"][0]["edited"] is True and doc["images"][1]["reviewer"] is None
    code, _out, err, _parser = run("report", tmp_path / "missing.m2fpws", model=False)
    assert code == 2 and "does not exist" in err


def test_export_writes_edited_maps_without_parsing(tmp_path, run, photos):
    ws_path = tmp_path / "w.m2fpws"
    run(photos, "--workspace", ws_path)
    with Workspace.open(ws_path, reviewer="fay") as ws:
        ids = {r.name: r.id for r in ws.records()}
        iid = ids["grace_hopper.png"]
        base = ws.load_result(iid)
        labels, persons = base.labels.copy(), person_map_of(base)
        labels[:, :10] = 9
        persons[:, :10] = 1
        ws.save_edits(iid, labels, persons)
        ws.set_verdict(iid, Status.ACCEPTED, note="fixed the pants")
        ws.set_verdict(ids["astronaut.png"], Status.REJECTED)
    out = tmp_path / "export"
    code, stdout, err, parser = run("export", ws_path, "--out", out, "--formats", "labels,json,overlay",
                                    model=False)
    assert code == 0 and parser is None, err
    assert "3 exported" in stdout
    written = np.asarray(Image.open(out / "grace_hopper_labels.png"))
    assert np.array_equal(written, labels)
    doc = json.loads((out / "grace_hopper.json").read_text(encoding="utf-8"))
    validate(doc)
    assert doc["review"]["status"] == "accepted" and doc["review"]["note"] == "fixed the pants"
    edited = doc["review"]["edited"]
    assert edited["reviewer"] == "fay" and edited["pixels_changed"] == int(np.count_nonzero(
        (labels != base.labels) | (persons != person_map_of(base))))
    assert {c["name"] for c in edited["changes"]["classes"]} >= {"Pants"}
    assert sum(p["area"] for p in doc["parts"]) == int(np.count_nonzero(labels))
    assert (out / "grace_hopper_overlay.png").is_file()
    unedited = json.loads((out / "astronaut.json").read_text(encoding="utf-8"))
    validate(unedited)
    assert unedited["review"]["status"] == "rejected" and unedited["review"]["edited"] is None
    # Only some statuses; a missing photo costs its overlay, not its export.
    (photos / "astronaut.png").unlink()
    out2 = tmp_path / "export2"
    code, stdout, _err, _parser = run("export", ws_path, "--out", out2, "--status", "rejected", model=False)
    assert code == 0 and "without the overlay" in stdout
    assert sorted(p.name for p in out2.iterdir() if p.is_file()) == ["astronaut.json", "astronaut_color.png",
                                                                      "astronaut_labels.png"]


def test_a_folder_named_like_a_command_is_still_an_input(tmp_path, run, photos, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report").mkdir()
    save_rgb(tmp_path / "report" / "p.png", np.asarray(Image.open(photos / "astronaut.png")))
    code, out, _err, parser = run("report", "--out", tmp_path / "o")
    assert code == 0 and "1 parsed" in out and (tmp_path / "o" / "p.json").is_file()
    run(photos, "--workspace", tmp_path / "w.m2fpws")
    code, out, _err, _parser = run("report", "w.m2fpws", model=False)  # a workspace file: the command
    assert code == 0 and out.startswith("path,status")


def test_workspace_arguments_are_checked(tmp_path, run, photos):
    code, _out, err, _parser = run(photos)
    assert code == 2 and "--out DIR" in err and "--workspace FILE" in err
    with Workspace.open(tmp_path / "held.m2fpws"):
        code, _out, err, parser = run(photos, "--workspace", tmp_path / "held.m2fpws")
    assert code == 2 and "open in another window" in err and parser is None
    (tmp_path / "bad.m2fpws").write_text("not a workspace")
    code, out, err, _parser = run(photos, "--workspace", tmp_path / "bad.m2fpws")
    assert code == 0 and "set aside" in err and "3 parsed" in out
