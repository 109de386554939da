"""Attaching a folder of this app's outputs to a workspace (issue 14, item 6), and the window's
list rules (sort, filter, next needing attention) without a display."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop.app.list_view import ListView, filter_entries, needs_attention, next_matching, sort_entries
from desktop.app.session import ImageEntry, State
from desktop.export import ExportOptions, export_result
from desktop.imageio import load_image, sha256_file
from desktop.review.attach_outputs import attach_folder, find_outputs, read_output
from desktop.review.model_key import ModelIdentity
from desktop.review.workspace import Workspace


@pytest.fixture(scope="module")
def _made_once(tmp_path_factory, tiny_parser, golden_images):
    base = tmp_path_factory.mktemp("attach")
    photos = base / "photos"
    photos.mkdir()
    out = base / "out" / "sub"
    results = {}
    for src in golden_images.values():
        shutil.copy(src, photos / src.name)
        image = load_image(photos / src.name)
        result = tiny_parser.parse(image.rgb)
        results[src.name] = result
        export_result(result, image, out, ExportOptions(formats=frozenset({"labels", "json"})))
    return base, results


@pytest.fixture
def exported(_made_once, tmp_path):
    """Photos, and a folder of outputs written for them as the command line does (a fresh copy)."""
    base, results = _made_once
    for name in ("photos", "out"):
        shutil.copytree(base / name, tmp_path / name)
    return tmp_path / "photos", tmp_path / "out", results


def test_outputs_come_back_as_the_results_that_were_exported(exported):
    _photos, out, results = exported
    found = find_outputs(out)
    assert sorted(p.name for p in found) == ["astronaut.json", "astronaut_crop.json", "grace_hopper.json"]
    for path in found:
        image, back = read_output(path)
        original = results[image["file"]]
        assert np.array_equal(back.labels, original.labels)
        assert [(p.id, p.bbox, p.area, p.part_ids) for p in back.persons] == \
            [(p.id, tuple(p.bbox), p.area, tuple(p.part_ids)) for p in original.persons]
        assert [(p.id, p.label, p.person_id, p.area) for p in back.parts] == \
            [(p.id, p.label, p.person_id, p.area) for p in original.parts]
        for a, b in zip(back.persons + back.parts, original.persons + original.parts, strict=True):
            assert np.array_equal(a.full_mask(), b.full_mask())
            assert a.score == pytest.approx(b.score, abs=1e-6)
        assert back.class_names == original.class_names
        assert back.model["weights_sha256"] and back.model["runtime"] == "torch"


def test_attach_stores_results_only_for_the_photos_they_were_made_from(exported, tmp_path, golden_images):
    photos, out, results = exported
    # A photo that changed since its outputs were written: its outputs must not be attached.
    shutil.copy(golden_images["astronaut_crop"], photos / "astronaut.png")
    (out / "sub" / "broken.json").write_text("{ not json")
    (out / "sub" / "broken_labels.png").write_bytes(b"")
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        ws.add_paths([photos])
        summary = attach_folder(ws, out)
        assert len(summary.attached) == 2
        assert summary.unmatched == [str(out / "sub" / "astronaut.json")]
        assert [Path(p).name for p, _why in summary.failed] == ["broken.json"]
        by_name = {r.name: r for r in ws.records()}
        assert not by_name["astronaut.png"].has_result
        stored = ws.load_result(by_name["grace_hopper.jpg"].id)
        assert np.array_equal(stored.labels, results["grace_hopper.jpg"].labels)
        model = ModelIdentity(stored.model["weights_sha256"], "torch", "exact")
        assert by_name["grace_hopper.jpg"].model_key == model.key
        assert ws.file_state(by_name["grace_hopper.jpg"].id)[0] == sha256_file(photos / "grace_hopper.jpg")
        # Attaching again changes nothing: those images have results now.
        again = attach_folder(ws, out)
        assert again.attached == [] and len(again.unmatched) == 3


@pytest.mark.parametrize("change, why", [
    (lambda d: d["image"].update(width=100_000, height=100_000), "too large"),
    (lambda d: d.update(persons=[{"id": 1}] * 5000), "more than"),
    (lambda d: d["persons"][0].update(mask={"size": [1, 1], "counts": "0"}), "no mask"),
    (lambda d: d.pop("image"), "no image section"),
])
def test_hostile_outputs_are_refused_with_a_reason(exported, change, why):
    from desktop.review.attach_outputs import OutputError

    _photos, out, _results = exported
    path = out / "sub" / "astronaut.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(OutputError, match=why):
        read_output(path)


# --------------------------------------------------------------------------- the list's rules
def _entry(name: str, verdict: str = "not_reviewed", state: State = State.DONE, **kw) -> ImageEntry:
    e = ImageEntry(path=Path("/p") / name, display_name=name, state=state, verdict=verdict)
    for k, v in kw.items():
        setattr(e, k, v)
    return e


def test_list_sorts_filters_and_finds_what_needs_attention():
    entries = [_entry("img10.jpg", "accepted", persons=3, seconds=2.0),
               _entry("img2.jpg", "needs_fix", persons=1, seconds=5.0, edited=True),
               _entry("img1.jpg", state=State.FAILED, error="broken"),
               _entry("img3.jpg", "rejected", persons=2, seconds=1.0, changed=True),
               _entry("img4.jpg", state=State.WAITING)]
    names = lambda es: [e.display_name for e in es]  # noqa: E731
    assert names(sort_entries(entries)) == ["img1.jpg", "img2.jpg", "img3.jpg", "img4.jpg", "img10.jpg"]
    assert names(sort_entries(entries, "status")) == ["img1.jpg", "img4.jpg", "img2.jpg", "img3.jpg", "img10.jpg"]
    assert names(sort_entries(entries, "persons")) == ["img2.jpg", "img3.jpg", "img10.jpg", "img1.jpg", "img4.jpg"]
    assert names(sort_entries(entries, "parse_time", descending=True))[:3] == ["img2.jpg", "img10.jpg", "img3.jpg"]
    assert names(sort_entries(entries, "edited"))[0] == "img2.jpg"
    assert names(filter_entries(entries, "attention")) == ["img2.jpg", "img1.jpg", "img3.jpg", "img4.jpg"]
    assert [needs_attention(e) for e in entries] == [False, True, True, True, True]
    assert names(filter_entries(entries, "failed")) == ["img1.jpg"]
    assert names(filter_entries(entries, "all", "IMG1")) == ["img10.jpg", "img1.jpg"]
    assert names(filter_entries(entries, "accepted", keep=entries[1].key)) == ["img10.jpg", "img2.jpg"]
    view = ListView.from_state({"sort": "persons", "descending": True, "filter": "bogus", "search": 7})
    assert view.as_state() == {"sort": "persons", "descending": True, "filter": "all", "search": ""}
    order = ["a", "b", "c", "d"]
    assert next_matching(order, "c", lambda k: k in {"a", "c"}) == "a"
    assert next_matching(order, "c", lambda k: k == "c") is None
    assert next_matching(order, None, lambda k: k == "b") == "b"
