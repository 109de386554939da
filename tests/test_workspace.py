"""The review workspace store: what a reviewer did survives anything, and foreign files cannot hurt.

Round trips are checked value for value; damaged, hostile, locked and read-only files with
real files and real processes (a second process holding the lock, one killed with SIGKILL in
the middle of its writes, one running as another user for a read-only folder).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from imagefiles import save_rgb
from PIL import Image

from desktop.engine.result import ParsingResult, Part, Person, mask_bbox
from desktop.imageio import list_images, sha256_file
from desktop.review import workspace_schema as schema
from desktop.review.listing import filter_records, next_needing_attention, sort_records
from desktop.review.maps import person_map_of
from desktop.review.model_key import ModelIdentity
from desktop.review.result_codec import (
    DecodeLimits,
    ResultDecodeError,
    decode_labels,
    decode_result,
    encode_result,
)
from desktop.review.workspace import (
    SUFFIX,
    Status,
    Workspace,
    WorkspaceError,
    WorkspaceReadOnlyError,
    default_workspace_path,
    find_workspace,
)

ROOT = Path(__file__).resolve().parent.parent
MODEL_A = ModelIdentity("a" * 64, "torch", "exact", "model A")
MODEL_B = ModelIdentity("a" * 64, "openvino", "fast", "model A")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --------------------------------------------------------------------------- helpers

def assert_same_result(a: ParsingResult, b: ParsingResult) -> None:
    """Every field equal, masks pixel for pixel, scores bit for bit."""
    assert np.array_equal(a.labels, b.labels) and a.labels.dtype == b.labels.dtype
    assert a.class_names == b.class_names
    assert np.array_equal(a.palette, b.palette) and a.palette.dtype == b.palette.dtype
    assert a.timings == b.timings and a.model == b.model and a.notes == b.notes
    assert len(a.persons) == len(b.persons) and len(a.parts) == len(b.parts)
    for x, y in zip(a.persons + a.parts, b.persons + b.parts, strict=True):
        assert type(x) is type(y)
        for name in x.__dataclass_fields__:
            u, v = getattr(x, name), getattr(y, name)
            if isinstance(u, np.ndarray):
                assert u.dtype == v.dtype and np.array_equal(u, v), name
            else:
                assert u == v and (not isinstance(u, float) or np.float64(u).tobytes() == np.float64(v).tobytes()), name


def synthetic_result(h: int = 40, w: int = 60, seed: int = 0) -> ParsingResult:
    """Two persons with parts, an empty part, a part linked to no one, a stale bbox."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((h, w), np.uint8)
    labels[5:30, 5:25] = 2
    labels[10:35, 30:55] = 5
    labels[0, w - 1] = 13  # touches the corner
    m1 = labels == 2
    m2 = labels == 5
    m3 = np.zeros((h, w), bool)
    m3[0, w - 1] = True
    empty = np.zeros((h, w), bool)
    names = tuple(f"class {i}" for i in range(20))
    parts = [
        Part(1, 2, names[2], float(rng.random()), m1, mask_bbox(m1), int(m1.sum()), 1),
        Part(2, 5, names[5], 0.1 + 0.2, m2, (0, 0, 3, 3), int(m2.sum()), 2),  # bbox deliberately wrong
        Part(3, 5, names[5], 0.7, m2.copy(), mask_bbox(m2), int(m2.sum()), 2),  # same mask as part 2
        Part(4, 13, names[13], np.float32(0.3), m3, mask_bbox(m3), 1, None),
        Part(5, 7, names[7], 0.05, empty, (0, 0, 0, 0), 0, 1),
    ]
    persons = [Person(1, 0.9, m1 | m3, mask_bbox(m1), int(m1.sum()), (1, 5)),
               Person(2, 1 / 3, m2, mask_bbox(m2), int(m2.sum()), (2, 3))]
    pal = (np.arange(60, dtype=np.uint8).reshape(20, 3) * 3)
    return ParsingResult(labels=labels, persons=persons, parts=parts, class_names=names, palette=pal,
                         timings={"decode": 0.01, "forward": 1.2345678901234567, "total": 2.0},
                         model={"name": "m", "runtime": "torch", "precision": "exact", "threads": "2"},
                         notes=["first frame of 3", "ünïcödé ✓"])


@pytest.fixture
def photos(tmp_path, golden_images) -> Path:
    folder = tmp_path / "photos"
    for stem, path in golden_images.items():
        im = Image.open(path).convert("RGB")
        save_rgb(folder / f"{stem}.png", np.asarray(im.resize((40, 30))))
    return folder


def add_with_results(ws: Workspace, folder: Path, model: ModelIdentity = MODEL_A) -> list[int]:
    ids = ws.add_images(list_images([folder]))
    for i, iid in enumerate(ids):
        rec = ws.record(iid)
        ws.store_result(iid, synthetic_result(30, 40, seed=i), model, sha256=sha256_file(rec.path))
    return ids


def run_python(code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


# --------------------------------------------------------------------------- codec

def test_real_result_round_trips_losslessly_and_compactly(tiny_parser, golden_images):
    result = tiny_parser.parse(np.asarray(Image.open(golden_images["grace_hopper"]).convert("RGB")))
    blob = encode_result(result)
    assert_same_result(result, decode_result(blob))
    assert np.array_equal(decode_labels(blob), result.labels)
    raw = result.labels.nbytes + sum(p.mask.nbytes for p in result.persons + result.parts)
    assert len(blob) < raw / 10
    assert blob.startswith(b"M2FPRES\x01")  # our container, never a pickle


def test_edge_cases_round_trip_and_identical_masks_are_stored_once():
    result = synthetic_result()
    blob = encode_result(result)
    back = decode_result(blob)
    assert_same_result(result, back)
    assert back.parts[1].bbox == (0, 0, 3, 3)  # kept as given, though the mask is elsewhere
    header = json.loads(blob[12 : 12 + int.from_bytes(blob[8:12], "little")])
    assert header["parts"][1]["mask"] == header["parts"][2]["mask"]  # parts 2 and 3 share one stored mask
    assert header["parts"][0]["mask"] != header["parts"][1]["mask"]


def _with_header(blob: bytes, change) -> bytes:
    n = int.from_bytes(blob[8:12], "little")
    header = json.loads(blob[12 : 12 + n])
    change(header)
    head = json.dumps(header).encode()
    return blob[:8] + len(head).to_bytes(4, "little") + head + blob[12 + n :]


@pytest.mark.parametrize("attack, expected", [
    (lambda h: h.update(height=100_000, width=10_000), "above the limit"),
    (lambda h: h.update(height=30_000, width=2_000, extra_arrays={f"x{i}": h["labels"] for i in range(10)}),
     "memory"),
    (lambda h: h["arrays"][h["persons"][0]["mask"]].update(runs=2 * 10**8), "memory"),
    (lambda h: h["arrays"][h["persons"][0]["mask"]].update(runs=3), "runs"),
    (lambda h: h["arrays"][h["parts"][0]["mask"]].update(box=[50, 30, 20, 20]), "outside"),
    (lambda h: h["arrays"][h["labels"]].update(shape=[4000, 4000]), "shape"),
    (lambda h: h.update(parts=[h["parts"][0]] * 5000), "at most"),
    (lambda h: h["arrays"][h["labels"]].update(len=10**9), "between"),
    (lambda h: h.update(palette={"dtype": "object", "values": []}), "palette"),
    (lambda h: h["persons"][0].update(score="0.9"), "not a number"),
])
def test_hostile_headers_are_refused_before_allocating(attack, expected):
    blob = _with_header(encode_result(synthetic_result()), attack)
    tracemalloc.start()
    try:
        with pytest.raises(ResultDecodeError, match=expected):
            decode_result(blob)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_masks_are_stored_as_runs_and_g4_masks_written_before_still_read(monkeypatch):
    """Masks are coded from their runs, never their pixels (a 48-megapixel photo's masks took
    a minute as G4 images); results stored before, with G4 masks, still read back the same."""
    import desktop.review.result_codec as codec

    result = synthetic_result(400, 300)
    blob = encode_result(result)
    header = json.loads(blob[12 : 12 + int.from_bytes(blob[8:12], "little")])
    masks = [header["arrays"][p["mask"]] for p in header["persons"] + header["parts"]]
    assert {m["codec"] for m in masks} == {"runs"}
    assert [m["runs"] for m in masks] == [p.mask.runs for p in result.persons + result.parts]
    assert_same_result(result, decode_result(blob))

    monkeypatch.setattr(codec, "RunMask", type("NotARunMask", (), {}))  # the encoder of before
    old = encode_result(result)
    monkeypatch.undo()
    header = json.loads(old[12 : 12 + int.from_bytes(old[8:12], "little")])
    assert {header["arrays"][p["mask"]].get("codec") for p in header["parts"]} == {"g4", None}  # None: empty
    assert_same_result(result, decode_result(old))


def test_damaged_and_foreign_blobs_are_refused():
    blob = encode_result(synthetic_result())
    for bad in (blob[: len(blob) // 2], b"not a result at all", b"M2FPRES\x09" + blob[8:], blob[:20],
                blob[:-3] + b"\x00\x01\x02", b"M2FPRES\x01" + (10).to_bytes(4, "little") + b"[[[[[[[[[["):
        with pytest.raises(ResultDecodeError):
            decode_result(bad)
    # A stream that inflates beyond what its header declares (a compression bomb) is cut off.
    import lzma

    bomb = lzma.compress(bytes(50_000_000), format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 1}])
    from desktop.review.result_codec import decode_array

    tracemalloc.start()
    try:
        with pytest.raises(ResultDecodeError, match="declares"):
            decode_array(bomb, "uint8", (100, 100))
        assert tracemalloc.get_traced_memory()[1] < 5 * 2**20
    finally:
        tracemalloc.stop()


def test_limits_are_the_callers():
    blob = encode_result(synthetic_result())
    with pytest.raises(ResultDecodeError, match="above the limit"):
        decode_result(blob, DecodeLimits(max_pixels=100))


# --------------------------------------------------------------------------- store basics

def test_results_verdicts_and_notes_survive_reopening(tmp_path, photos):
    path = tmp_path / "review.m2fpws"
    with Workspace.open(path, reviewer="alice") as ws:
        ids = add_with_results(ws, photos)
        assert ws.add_images(list_images([photos])) == ids  # nothing duplicated
        record = ws.set_verdict(ids[0], Status.NEEDS_FIX, note="left arm is the right arm")
        assert record.status is Status.NEEDS_FIX and record.reviewer == "alice" and record.reviewed_at
        ws.reviewer = "bob"
        ws.set_note(ids[1], "ok")
        ws.set_status(ids[1], "accepted")
        stored = [ws.load_result(i) for i in ids]
    assert sorted(os.listdir(tmp_path)) == ["photos", "review.m2fpws"]  # log and lock files folded away
    with Workspace.open(path) as ws:
        assert ws.reviewer  # the OS user by default
        records = {r.id: r for r in ws.records()}
        assert records[ids[0]].status is Status.NEEDS_FIX and records[ids[0]].note_preview == "left arm is the right arm"
        assert records[ids[1]].reviewer == "bob" and records[ids[1]].status is Status.ACCEPTED
        assert records[ids[2]].status is Status.NOT_REVIEWED and not records[ids[2]].has_note
        assert all(r.persons == 2 and r.model_key == MODEL_A.key and r.width == 40 for r in records.values())
        for iid, before in zip(ids, stored, strict=True):
            assert_same_result(before, ws.load_result(iid))
        assert ws.counts() == {"not_reviewed": 1, "accepted": 1, "needs_fix": 1, "rejected": 0, "total": 3,
                               "changed": 0, "edited": 0}
        assert records[ids[0]].path == photos / records[ids[0]].rel


def test_a_file_changed_on_disk_is_flagged_and_keeps_its_verdict(tmp_path, photos):
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        ids = add_with_results(ws, photos)
        a, b, c = (ws.record(i) for i in ids)
        ws.set_verdict(a.id, Status.ACCEPTED)
        os.utime(b.path, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, same content
        data = bytearray(a.path.read_bytes())
        save_rgb(a.path, np.asarray(Image.open(a.path))[::-1].copy())  # new content, same name
        assert a.path.read_bytes() != bytes(data)
        c.path.unlink()
        check = ws.check_files()
        assert check.changed == [a.id] and check.flagged == [a.id]
        assert check.touched == [b.id] and check.missing == [c.id]
        a2, b2, c2 = (ws.record(i) for i in ids)
        assert a2.changed_since_review and a2.status is Status.ACCEPTED and a2.result_id is None
        assert ws.load_result(a.id) is None  # the old content's result does not apply
        assert b2.result_id == b.result_id and not b2.changed_since_review
        assert c2.missing and c2.result_id == c.result_id
        # Parsing the new content and a new verdict clear the flag.
        ws.store_result(a.id, synthetic_result(30, 40), MODEL_A, sha256=sha256_file(a.path))
        assert ws.record(a.id).changed_since_review
        assert not ws.set_verdict(a.id, Status.REJECTED).changed_since_review


def test_results_of_another_model_are_kept_apart(tmp_path, photos):
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        ids = add_with_results(ws, photos, MODEL_A)
        assert ws.result_id_for(ids[0], MODEL_B) is None and ws.load_result(ids[0], MODEL_B) is None
        assert ws.load_result(ids[0], MODEL_A) is not None
        others = filter_records(ws.records(), model_key=MODEL_B.key, other_model=True)
        assert [r.id for r in others] == ids
        ws.store_result(ids[0], synthetic_result(30, 40, seed=9), MODEL_B, sha256=ws.file_state(ids[0])[0])
        assert ws.record(ids[0]).model_key == MODEL_B.key
        assert ws.result_id_for(ids[0], MODEL_A) is not None  # the earlier model's result stays
        assert set(ws.models()) == {MODEL_A.key, MODEL_B.key}


def test_listing_sorts_filters_and_finds_what_needs_attention(tmp_path):
    folder = tmp_path / "many"
    for name in ("img10.png", "img2.png", "IMG1.png", "b.png"):
        save_rgb(folder / name, np.zeros((4, 4, 3), np.uint8))
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        ids = ws.add_images(list_images([folder]))
        by_name = {ws.record(i).name: i for i in ids}
        ws.store_result(by_name["img2.png"], synthetic_result(4, 4), MODEL_A, sha256="1" * 64)
        ws.set_verdict(by_name["img2.png"], Status.ACCEPTED)
        ws.set_verdict(by_name["b.png"], Status.NEEDS_FIX)
        records = ws.records()
    assert [r.name for r in sort_records(records)] == ["b.png", "IMG1.png", "img2.png", "img10.png"]
    assert [r.name for r in sort_records(records, "status")] == ["IMG1.png", "img10.png", "b.png", "img2.png"]
    assert sort_records(records, "persons", descending=True)[0].name == "img2.png"
    assert sort_records(records, "parse_time")[-1].parse_seconds is None  # no value: last
    assert [r.name for r in filter_records(records, text="IMG")] == ["IMG1.png", "img2.png", "img10.png"]
    assert [r.name for r in filter_records(records, statuses=["needs_fix"])] == ["b.png"]
    assert [r.name for r in filter_records(records, parsed=True)] == ["img2.png"]
    ordered = sort_records(records)
    assert next_needing_attention(ordered, by_name["b.png"]).name == "IMG1.png"
    assert next_needing_attention(ordered, by_name["img10.png"]).name == "b.png"  # wraps around


def test_ten_thousand_images_list_quickly_without_result_data(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"p{i}.jpg").write_bytes(b"x")
    from desktop.imageio import ImageEntry

    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        ids = ws.add_images([ImageEntry(folder / f"p{i}.jpg", folder, Path(f"p{i}.jpg")) for i in range(10_000)])
        assert len(set(ids)) == 10_000
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        t = time.perf_counter()
        records = sort_records(ws.records())
        assert len(records) == 10_000 and records[1].name == "p1.jpg"
        assert time.perf_counter() - t < 10  # a generous bound for a shared machine; bench/ measures it


# --------------------------------------------------------------------------- edits, doubt, state

def test_edited_maps_are_stored_with_provenance_and_exported_as_a_result(tmp_path, photos):
    with Workspace.open(tmp_path / "w.m2fpws", reviewer="carol") as ws:
        ids = add_with_results(ws, photos)
        base = ws.load_result(ids[0])
        labels, persons = base.labels.copy(), person_map_of(base)
        labels[0:3, 0:3] = 9
        persons[0:3, 0:3] = 3  # a new person
        assert ws.save_edits(ids[0], labels, persons)
        edits = ws.edited_maps(ids[0])
        assert np.array_equal(edits.labels, labels) and np.array_equal(edits.persons, persons)
        assert edits.editor == "carol" and edits.pixels_changed == 9 and edits.base_result_id == ws.record(ids[0]).result_id
        assert {c["id"]: c["gained"] for c in edits.changes["classes"]}[9] == 9
        record = ws.record(ids[0])
        assert record.edited and record.persons == 3
        result, edited = ws.effective_result(ids[0])
        assert edited and np.array_equal(result.labels, labels) and {p.id for p in result.persons} == {1, 2, 3}
        assert ws.review_info(ids[0])["edited"]["pixels_changed"] == 9
        with pytest.raises(ValueError, match="inconsistent"):
            bad = persons.copy()
            bad[labels == 0] = 1
            ws.save_edits(ids[0], labels, bad)
        # Back to the model's maps: no longer edited.
        assert not ws.save_edits(ids[0], base.labels, person_map_of(base))
        assert ws.edited_maps(ids[0]) is None and not ws.record(ids[0]).edited
        ws.save_edits(ids[1], labels, persons)
        ws.discard_edits(ids[1])
        assert ws.effective_result(ids[1])[1] is False


def test_doubt_comparison_and_window_state(tmp_path, photos):
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        ids = add_with_results(ws, photos)
        reasons = [{"code": "two-faces", "message": "Person 2 has two face regions", "person": 2, "class": "Face"}]
        ws.set_doubt(ids[0], 0.8, reasons)
        confusion = np.arange(400, dtype=np.int64).reshape(20, 20)
        ws.set_comparison(ids[1], "annotations/Category_ids", 0.91, 0.55, confusion, {"iou": {"Hair": 0.5}})
        ws.set_ui_state({"image": ids[1], "view": "overlay", "list_width": 320})
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        assert ws.doubt(ids[0]) == (0.8, reasons)
        assert sort_records(ws.records(), "doubt", descending=True)[0].id == ids[0]
        comp = ws.comparison(ids[1])
        assert comp.miou == 0.55 and np.array_equal(comp.confusion, confusion) and comp.details == {"iou": {"Hair": 0.5}}
        assert ws.record(ids[1]).pixel_accuracy == 0.91
        assert ws.ui_state() == {"image": ids[1], "view": "overlay", "list_width": 320}
        ws.store_result(ids[0], synthetic_result(30, 40, seed=5), MODEL_A, sha256=ws.file_state(ids[0])[0])
        assert ws.doubt(ids[0]) == (None, [])  # a new parse clears the doubt of the old one


# --------------------------------------------------------------------------- where it lives

def test_default_location_is_found_again_by_folder(tmp_path, monkeypatch, photos):
    monkeypatch.setenv("M2FP_DATA_DIR", str(tmp_path / "data"))
    path = default_workspace_path(photos)
    assert path == default_workspace_path(photos / ".." / photos.name) and path.name.endswith(SUFFIX)
    assert path.parent == tmp_path / "data" / "workspaces"
    with Workspace.open_for_folder(photos) as ws:
        ids = add_with_results(ws, photos)
        ws.set_verdict(ids[0], Status.ACCEPTED)
    with Workspace.open_for_folder(photos) as ws:
        assert ws.path == path and ws.record(ids[0]).status is Status.ACCEPTED
    assert default_workspace_path(tmp_path / "other") != path
    beside = photos / "handed over.m2fpws"
    beside.write_bytes(b"")
    assert find_workspace(photos) == beside  # a workspace inside the folder wins


def test_saved_copy_keeps_working_when_moved_with_its_folder(tmp_path, photos):
    with Workspace.open(tmp_path / "w.m2fpws") as ws:
        ids = add_with_results(ws, photos)
        ws.set_verdict(ids[2], Status.REJECTED, note="blurred")
        copy = ws.save_copy(photos / "review")
    assert copy == photos / "review.m2fpws"
    moved = tmp_path / "elsewhere" / "job 1"
    moved.parent.mkdir()
    photos.rename(moved)
    with Workspace.open(moved / "review.m2fpws") as ws:
        assert not ws.notices
        records = {r.id: r for r in ws.records()}
        assert records[ids[2]].status is Status.REJECTED and records[ids[2]].path.parent == moved
        assert all(r.path.is_file() for r in records.values())
        assert ws.load_result(ids[2]) is not None
    with Workspace.open(tmp_path / "w.m2fpws") as ws:  # the original lost its folder: told, verdicts kept
        assert any("missing" in n for n in ws.notices)
        assert ws.record(ids[2]).status is Status.REJECTED


# --------------------------------------------------------------------------- locking and read-only

HOLDER = """
import sys, time
from desktop.review.workspace import Workspace, Status
ws = Workspace.open(sys.argv[1], reviewer="holder")
ids = ws.add_paths([sys.argv[2]])[0]
ws.set_verdict(ids[0], Status.ACCEPTED)
print("ready", flush=True)
time.sleep(120)
"""


def test_a_second_process_is_told_who_holds_the_workspace(tmp_path, photos):
    path = tmp_path / "shared.m2fpws"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(photos)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        with Workspace.open(path) as ws:
            assert ws.read_only and ws.holder is not None
            assert ws.holder.pid == child.pid and ws.holder.user and ws.holder.host
            assert str(child.pid) in ws.read_only_reason and "read-only" in ws.read_only_reason
            assert ws.records()[0].status is Status.ACCEPTED  # reads what the holder wrote
            with pytest.raises(WorkspaceReadOnlyError, match="another window"):
                ws.set_verdict(ws.records()[0].id, Status.REJECTED)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with Workspace.open(path) as ws:  # the dead holder's lock is gone with its process
        assert not ws.read_only
        assert ws.set_verdict(ws.records()[0].id, Status.REJECTED).status is Status.REJECTED


READ_ONLY_PROBE = """
import json, sys
from desktop.review.workspace import Workspace, Status, WorkspaceReadOnlyError
ws = Workspace.open(sys.argv[1])
out = {"read_only": ws.read_only, "reason": ws.read_only_reason, "statuses": [r.status.value for r in ws.records()]}
try:
    ws.set_note(ws.records()[0].id, "x")
except WorkspaceReadOnlyError as exc:
    out["refused"] = str(exc)
ws.close()
print(json.dumps(out))
"""


def test_a_read_only_folder_opens_read_only(photos):
    folder = Path(tempfile.mkdtemp(prefix="m2fp-ro-"))
    try:
        path = folder / "w.m2fpws"
        with Workspace.open(path) as ws:
            ids = add_with_results(ws, photos)
            ws.set_verdict(ids[0], Status.ACCEPTED)
        folder.chmod(0o555)
        path.chmod(0o444)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if IS_ROOT:  # root writes anywhere: ask as an ordinary user
            def as_nobody():
                os.setgid(65534)
                os.setuid(65534)
            done = subprocess.run([sys.executable, "-c", READ_ONLY_PROBE, str(path)], capture_output=True, text=True,
                                  env=env, preexec_fn=as_nobody, cwd="/", timeout=120)
        else:
            done = subprocess.run([sys.executable, "-c", READ_ONLY_PROBE, str(path)], capture_output=True, text=True,
                                  env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["read_only"] and "read-only" in out["reason"]
        assert out["statuses"][0] == "accepted" and "read-only" in out["refused"]
        assert sorted(os.listdir(folder)) == ["w.m2fpws"]
    finally:
        folder.chmod(0o755)
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


# --------------------------------------------------------------------------- damaged and hostile files

def _workspace_with_data(path: Path, photos: Path) -> None:
    with Workspace.open(path) as ws:
        ids = add_with_results(ws, photos)
        ws.set_verdict(ids[0], Status.ACCEPTED)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _not_a_database(path: Path) -> None:
    path.write_text("these are my notes, not a database\n" * 50)


def _newer(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.CURRENT_VERSION + 1}")
    conn.commit()
    conn.close()


def _sql(statement: str):
    def damage(path: Path) -> None:
        conn = sqlite3.connect(path)
        conn.execute(statement)
        conn.commit()
        conn.close()
    return damage


@pytest.mark.parametrize("damage, reason", [
    (_truncate, "cut short"),
    (_not_a_database, "not a workspace file"),
    (_newer, "newer version"),
    (_sql("CREATE TRIGGER t AFTER UPDATE ON images BEGIN DELETE FROM images; END"), "trigger t"),
    (_sql("CREATE VIEW v AS SELECT * FROM images"), "view v"),
    (_sql("CREATE TABLE extra (x)"), "table extra"),
    (_sql("DROP TABLE comparisons"), "missing"),
])
def test_unusable_workspace_is_set_aside_with_a_message(tmp_path, photos, damage, reason):
    path = tmp_path / "review.m2fpws"
    _workspace_with_data(path, photos)
    damage(path)
    damaged = path.read_bytes()
    with Workspace.open(path) as ws:
        assert len(ws.notices) == 1 and reason in ws.notices[0] and "set aside" in ws.notices[0]
        assert not ws.read_only and ws.records() == []
        ws.add_paths([photos])  # the new workspace works
    aside = [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == damaged


def test_files_that_are_not_ours_are_refused_untouched(tmp_path, photos):
    foreign = tmp_path / "inventory.m2fpws"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE stock (item TEXT)")
    conn.commit()
    conn.close()
    photo = next(photos.iterdir())
    before = {p: p.read_bytes() for p in (foreign, photo)}
    for path in before:
        with pytest.raises(WorkspaceError, match="cannot be opened as a workspace"):
            Workspace.open(path)
    assert {p: p.read_bytes() for p in before} == before
    with pytest.raises(WorkspaceError, match="folder"):
        Workspace.open(photos)
    # Read-only openers (reports, exports) never rename anything either.
    damaged = tmp_path / "damaged.m2fpws"
    _workspace_with_data(damaged, photos)
    _truncate(damaged)
    with pytest.raises(WorkspaceError, match="cut short"):
        Workspace.open(damaged, read_only=True)
    assert damaged.exists()


def test_hostile_rows_are_read_within_bounds(tmp_path, photos):
    path = tmp_path / "w.m2fpws"
    with Workspace.open(path) as ws:
        ids = add_with_results(ws, photos)
        base = ws.load_result(ids[1])
        ws.save_edits(ids[1], base.labels, np.where(base.labels > 0, 7, 0).astype(np.uint16))
    blob = encode_result(synthetic_result())
    huge = _with_header(blob, lambda h: h.update(height=40_000, width=40_000))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE result_blobs SET data = ? WHERE result_id = (SELECT result_id FROM images WHERE id = ?)",
                 (huge, ids[0]))
    conn.execute("UPDATE edits SET width = 100000, height = 100000 WHERE image_id = ?", (ids[1],))
    conn.execute("UPDATE images SET note = ? WHERE id = ?", ("n" * 5_000_000, ids[2]))
    conn.commit()
    conn.close()
    tracemalloc.start()
    try:
        with Workspace.open(path) as ws:
            assert ws.load_result(ids[0]) is None  # refused, logged: the image is parsed again
            assert ws.edited_maps(ids[1]) is None
            records = ws.records()
            assert len(records[2].note_preview) == 200
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20


# --------------------------------------------------------------------------- migrations

def test_a_version_1_workspace_is_migrated_with_its_data(tmp_path):
    path = tmp_path / "old.m2fpws"
    schema.build_version(path, 1)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO roots (id, abs_path, rel_path) VALUES (1, ?, 'photos')", (str(tmp_path / "photos"),))
    conn.execute("INSERT INTO images (id, root_id, rel_path, status, note, reviewer, reviewed_at, added_at) "
                 "VALUES (1, 1, 'a.jpg', 'needs_fix', 'old note', 'dora', '2024-01-01T00:00:00Z', "
                 "'2024-01-01T00:00:00Z')")
    conn.commit()
    conn.close()
    (tmp_path / "photos").mkdir()
    with Workspace.open(path, read_only=True) as ws:  # read-only: migrated in a private copy
        assert ws.records()[0].note_preview == "old note" and any("older format" in n for n in ws.notices)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    with Workspace.open(path) as ws:
        assert any("updated" in n for n in ws.notices)
        record = ws.records()[0]
        assert (record.status, record.reviewer, record.note_preview) == (Status.NEEDS_FIX, "dora", "old note")
        ws.set_comparison(1, "gt", 0.5, 0.25)  # version 2's tables exist
        assert not record.edited and record.doubt is None
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.CURRENT_VERSION
    conn.close()


# --------------------------------------------------------------------------- crashes

WRITER = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from test_workspace import MODEL_A, synthetic_result
from desktop.review.workspace import Workspace, Status
ws = Workspace.open(sys.argv[1])
ids = ws.add_paths([sys.argv[2]])[0]
statuses = list(Status)
n = 0
while True:
    for iid in ids:
        n += 1
        ws.store_result(iid, synthetic_result(30, 40, seed=n), MODEL_A, sha256=f"{n:064d}")
        ws.set_verdict(iid, statuses[n % 4], note=f"note {n}")
        labels = np.zeros((30, 40), np.uint8); labels[: n % 30 + 1] = 3
        ws.save_edits(iid, labels, (labels > 0).astype(np.uint16), changes={"changed_pixels": n})
        print(iid, n, flush=True)
"""


def test_sigkill_in_the_middle_of_writes_leaves_a_sound_file(tmp_path, photos):
    path = tmp_path / "w.m2fpws"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(photos), str(Path(__file__).parent)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    acknowledged: dict[int, int] = {}
    try:
        for line in child.stdout:
            iid, n = (int(v) for v in line.split())
            acknowledged[iid] = n
            if n >= 40:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert len(acknowledged) == 3, child.stderr.read()
    assert (tmp_path / "w.m2fpws-wal").exists()  # killed: nothing was tidied up
    with Workspace.open(path) as ws:
        assert not ws.notices and not ws.read_only
        assert ws.integrity_check() == []
        for iid, n in acknowledged.items():
            record = ws.record(iid)
            # The child may have committed one more round after its last acknowledged line.
            note_n = int(ws.note(iid).split()[1])
            assert note_n >= n
            assert record.status is list(Status)[note_n % 4]
            assert ws.load_result(iid) is not None and ws.edited_maps(iid) is not None
