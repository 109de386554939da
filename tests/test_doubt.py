"""The doubt score: each check on maps built for it, the score's formula, storage and the JSON export."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from outputcheck import validate

import desktop.cli as cli
from desktop.imageio import load_image
from desktop.resources import default_class_names
from desktop.review import doubt as doubt_module
from desktop.review.doubt import Doubt, DoubtReason, doubt_of, doubt_of_maps, uncertain_mask
from desktop.review.maps import person_map_of, result_from_maps
from desktop.review.workspace import Workspace

NAMES = default_class_names()
ID = {n: i for i, n in enumerate(NAMES)}


def _person(labels, persons, pid, x0, *, face=True, hair=True, swap=False):
    """A 40-pixel-wide person at column x0: head on top, torso, an arm on each side.

    Facing the camera (``face``), the person's left arm is on the picture's right; ``swap``
    puts it on the wrong side."""
    view_right_is_left_arm = face  # seen from behind the sides turn round
    if swap:
        view_right_is_left_arm = not view_right_is_left_arm
    right_arm, left_of_picture_arm = (
        (ID["Left-arm"], ID["Right-arm"]) if view_right_is_left_arm else (ID["Right-arm"], ID["Left-arm"]))
    if hair:
        labels[0:3, x0 + 14 : x0 + 26] = ID["Hair"]
    if face:
        labels[3:12, x0 + 15 : x0 + 25] = ID["Face"]
    elif hair:
        labels[3:12, x0 + 15 : x0 + 25] = ID["Hair"]
    labels[14:40, x0 + 12 : x0 + 28] = ID["UpperClothes"]
    labels[14:40, x0 + 2 : x0 + 9] = left_of_picture_arm
    labels[14:40, x0 + 31 : x0 + 38] = right_arm
    labels[42:60, x0 + 12 : x0 + 28] = ID["Pants"]
    region = labels[:, x0 : x0 + 40]
    persons[:, x0 : x0 + 40][region != 0] = pid


def _maps(width=100, height=64):
    return np.zeros((height, width), np.uint8), np.zeros((height, width), np.uint16)


def _codes(d: Doubt) -> list[tuple[str, int | None, str | None]]:
    return sorted((r.code, r.person, r.class_name) for r in d.reasons)


def test_a_sound_image_has_no_doubt():
    labels, persons = _maps()
    _person(labels, persons, 1, 0)
    _person(labels, persons, 2, 50, face=False)  # seen from behind, arms where they should be
    d = doubt_of_maps(labels, persons, NAMES)
    assert d.score == 0.0 and d.reasons == () and d.uncertain_share is None


def test_two_face_regions_are_reported_not_a_speck():
    labels, persons = _maps()
    _person(labels, persons, 1, 0)
    _person(labels, persons, 2, 50)
    labels[50:53, 52:54] = ID["Face"]  # 6 pixels: a speck, not a face
    persons[50:53, 52:54] = 2
    assert _codes(doubt_of_maps(labels, persons, NAMES)) == []
    labels[44:56, 60:68] = ID["Face"]  # 96 pixels: a second face
    persons[44:56, 60:68] = 2
    d = doubt_of_maps(labels, persons, NAMES)
    assert _codes(d) == [("two-faces", 2, "Face")]
    reason = d.reasons[0]
    assert reason.details["areas"] == [96, 90] and "Person 2" in reason.message
    assert d.score == doubt_module.WEIGHTS["two-faces"]


@pytest.mark.parametrize("face", [True, False], ids=["facing", "from-behind"])
def test_swapped_arms_are_reported_according_to_the_view(face):
    labels, persons = _maps()
    _person(labels, persons, 1, 0, face=face)
    _person(labels, persons, 2, 50, face=face, swap=True)
    d = doubt_of_maps(labels, persons, NAMES)
    assert _codes(d) == [("arm-side", 2, "Left-arm"), ("arm-side", 2, "Right-arm")]
    left = next(r for r in d.reasons if r.class_name == "Left-arm")
    assert left.details["facing_camera"] is face
    # Facing the camera the left arm belongs on the picture's right; here it is on its left.
    assert left.details["side"] == ("left" if face else "right")
    assert ("faces the camera" if face else "from behind") in left.message


def test_no_face_no_hair_means_no_side_check():
    labels, persons = _maps()
    _person(labels, persons, 1, 0, face=False, hair=False, swap=True)
    assert _codes(doubt_of_maps(labels, persons, NAMES)) == []


def test_pixels_linked_to_no_person():
    labels, persons = _maps()
    _person(labels, persons, 1, 0)
    labels[50:60, 60:70] = ID["Hat"]  # 100 pixels, person 0
    d = doubt_of_maps(labels, persons, NAMES)
    assert _codes(d) == [("no-person", None, "Hat")]
    assert d.reasons[0].details["pixels"] == 100 and "no person" in d.reasons[0].message


def test_uncertain_pixels_with_the_runner_up():
    labels, persons = _maps()
    _person(labels, persons, 1, 0)
    _person(labels, persons, 2, 50)
    score = np.full(labels.shape, 240, np.uint8)
    second = np.full(labels.shape, 30, np.uint8)
    runner = np.full(labels.shape, ID["Coat"], np.uint8)
    # Person 2's picture-right arm (its Left-arm): margin 200 - 170 = 30 < 0.2 x 255; runner-up Right-arm.
    arm = (labels == ID["Left-arm"]) & (persons == 2)
    score[arm], second[arm], runner[arm] = 200, 170, ID["Right-arm"]
    # A background pixel with a small margin is not a person pixel: not counted.
    score[62, 99], second[62, 99] = 100, 99
    d = doubt_of_maps(labels, persons, NAMES, score_map=score, runner_up=runner, runner_up_score=second)
    labelled = int(np.count_nonzero(labels))
    assert d.uncertain_share == pytest.approx(round(int(arm.sum()) / labelled, 4))
    assert _codes(d) == [("uncertain-pixels", 2, "Left-arm")]
    r = d.reasons[0]
    assert r.weight == pytest.approx(arm.sum() / labelled)
    assert r.details["second_choice"] == "Right-arm" and "Right-arm" in r.message and "Person 2" in r.message
    np.testing.assert_array_equal(uncertain_mask(labels, score, second), arm)
    # Without the runner-up's score: a winning score below 0.5 is what counts.
    low = np.full(labels.shape, 250, np.uint8)
    low[arm] = 100
    d2 = doubt_of_maps(labels, persons, NAMES, score_map=low)
    assert _codes(d2) == [("uncertain-pixels", 2, "Left-arm")] and "second_choice" not in d2.reasons[0].details
    with pytest.raises(ValueError, match="differ in size"):
        doubt_of_maps(labels, persons, NAMES, score_map=low[:-1])


def test_scores_near_the_thresholds_from_a_model_result():
    labels, persons = _maps()
    _person(labels, persons, 1, 0)
    _person(labels, persons, 2, 50)
    base = result_from_maps(labels, persons)
    scores = {ID["Face"]: 0.55, ID["Hair"]: 0.45, ID["Pants"]: 0.7, ID["UpperClothes"]: 0.38}
    parts = [dataclasses.replace(p, score=scores.get(p.label, 0.9)) if p.person_id == 1 else p for p in base.parts]
    people = [dataclasses.replace(p, score=0.15 if p.id == 2 else 0.95) for p in base.persons]
    result = dataclasses.replace(base, parts=parts, persons=people)
    d = doubt_of(result, paste_threshold=0.5)
    assert _codes(d) == [("part-near-threshold", 1, "Face"), ("part-near-threshold", 1, "Hair"),
                         ("person-near-threshold", 2, None)]
    face = next(r for r in d.reasons if r.class_name == "Face")
    hair = next(r for r in d.reasons if r.class_name == "Hair")
    assert face.details["drawn"] is True and "just above" in face.message
    assert hair.details["drawn"] is False and "just below" in hair.message
    w = doubt_module.WEIGHTS
    expected = 1 - (1 - w["part-near-threshold"]) ** 2 * (1 - w["person-near-threshold"])
    assert d.score == pytest.approx(round(expected, 4))
    assert d.reasons[0].code == "person-near-threshold"  # heaviest first


def test_score_combines_the_weights():
    reasons = [DoubtReason("a", "m", 1, None, 0.5), DoubtReason("b", "m", 1, None, 0.2)]
    assert doubt_module._combine(reasons) == pytest.approx(1 - 0.5 * 0.8)
    assert doubt_module._combine([]) == 0.0


def test_doubt_of_a_real_result_and_its_journey_through_workspace_and_export(
        tmp_path, tiny_parser, golden_images, tiny_model_dir, monkeypatch, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    for stem, path in golden_images.items():
        Image.open(path).convert("RGB").resize((64, 48)).save(photos / f"{stem}.png")
    monkeypatch.setattr(cli, "_load_parser", lambda args: tiny_parser)
    ws_path = tmp_path / "w.m2fpws"
    code = cli.main([str(photos), "--workspace", str(ws_path), "--model", str(tiny_model_dir), "--runtime", "torch"])
    assert code == 0, capsys.readouterr()
    paste = tiny_parser.cfg.parsing_ins_score_thr
    with Workspace.open(ws_path) as ws:
        for record in ws.records():
            score, reasons = ws.doubt(record.id)
            assert record.doubt == score and score is not None
            result = tiny_parser.parse(load_image(record.path).rgb)
            expected = doubt_of(result, paste_threshold=paste)
            assert score == expected.score and reasons == expected.reasons_json()
            assert expected.reasons_json() == json.loads(json.dumps(expected.reasons_json()))
        some = ws.records()[0].id
        ws.set_doubt(some, None, [])  # as if parsed before doubt scores existed
    # A second run parses nothing, fills in the missing score, and exports carry the doubt.
    out = tmp_path / "out"
    code = cli.main([str(photos), "--workspace", str(ws_path), "--model", str(tiny_model_dir), "--runtime", "torch",
                     "--out", str(out), "--formats", "json"])
    assert code == 0
    with Workspace.open(ws_path, read_only=True) as ws:
        assert all(r.doubt is not None for r in ws.records())
        for record in ws.records():
            doc = json.loads((out / f"{record.path.stem}.json").read_text(encoding="utf-8"))
            validate(doc)
            score, reasons = ws.doubt(record.id)
            assert doc["doubt"] == {"score": score, "reasons": reasons}


def test_doubt_section_is_valid_json_schema(tiny_parser, golden_images):
    from desktop.export import result_to_json

    result = tiny_parser.parse(load_image(next(iter(golden_images.values()))).rgb)
    d = doubt_of(result, persons=person_map_of(result))
    doc = result_to_json(result, "photo.jpg", "0" * 64, doubt=d.as_json())
    validate(doc)
    assert doc["doubt"]["score"] == d.score and len(doc["doubt"]["reasons"]) == len(d.reasons)
