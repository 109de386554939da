"""The model's uncertain pixels stored with a result (issue 16): after reopening a workspace the
doubt view highlights exactly what it highlighted when the photo was parsed; records written
before the mask was kept still load; a damaged or hostile stored mask is dropped with one
warning and the result loads without it."""

from __future__ import annotations

import json
import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from desktop.app.doubt_panel import has_confidence, no_confidence_message, uncertain_view_mask
from desktop.review.doubt import uncertain_mask
from desktop.review.maps import person_map_of, result_from_maps
from desktop.review.model_key import ModelIdentity
from desktop.review.result_codec import _HEAD, DecodeLimits, _masks_memory, decode_result, encode_result
from desktop.review.uncertain_store import full_uncertain_mask, stored_uncertain_mask
from desktop.review.workspace import Workspace

NAMES = ["astronaut", "grace_hopper", "astronaut_crop"]
MODEL = ModelIdentity("c" * 64, "torch", "exact", "tiny")


@pytest.fixture(scope="module")
def fresh(tiny_parser, golden_images):
    """name -> the tiny model's result of the golden photo (with its confidence provider)."""
    return {n: tiny_parser.parse(np.asarray(Image.open(golden_images[n]).convert("RGB"))) for n in NAMES}


def _expected(result) -> np.ndarray:
    """What the doubt view of a freshly parsed result highlights, over the whole photo."""
    return uncertain_mask(result.labels, result.score_map, result.runner_up_score)


def _dense(mask) -> np.ndarray:
    return np.asarray(mask.full() if hasattr(mask, "full") else mask, dtype=bool)


def _header(blob: bytes) -> tuple[dict, bytes]:
    _magic, _version, n = _HEAD.unpack_from(blob)
    return json.loads(blob[_HEAD.size:_HEAD.size + n]), blob[_HEAD.size + n:]


def _repack(header: dict, payload: bytes) -> bytes:
    """A stored result with this header (its checksum made to match: only the header lies)."""
    header = {**header, "payload_crc32": zlib.crc32(payload)}
    head = json.dumps(header).encode()
    return struct.pack("<7sBI", b"M2FPRES", 1, len(head)) + head + payload


@pytest.mark.parametrize("name", NAMES)
def test_the_full_resolution_mask_is_the_uncertain_pixels(name, fresh):
    """Only where two classes' windows overlap is anything computed: nothing is missed."""
    result = fresh[name]
    expected = _expected(result)
    assert np.array_equal(full_uncertain_mask(result), expected)


def test_reopened_workspace_keeps_the_uncertain_pixels_and_the_doubt_view(fresh, golden_images, tmp_path):
    from desktop.imageio import list_images, sha256_file

    path = tmp_path / "w.m2fpws"
    with Workspace.open(path) as ws:
        ids = ws.add_images(list_images([golden_images[NAMES[0]].parent]))
        by_stem = {ws.record(i).path.stem: i for i in ids}
        for n in NAMES:
            iid = by_stem[n]
            ws.store_result(iid, fresh[n], MODEL, sha256=sha256_file(ws.record(iid).path))
    assert any(_expected(fresh[n]).any() for n in NAMES)  # the check below is not vacuous
    with Workspace.open(path) as ws:  # another day
        for n in NAMES:
            back = ws.load_result(by_stem[n])
            assert back is not None and back.confidence is None
            stored = stored_uncertain_mask(back)
            assert stored is not None and np.array_equal(_dense(stored), _expected(fresh[n]))
            assert has_confidence(back)
            # The doubt view (Tk-free part): the same pixels at a screen's sample, fit and zoomed.
            h, w = back.labels.shape
            for ys, xs in ((np.linspace(0, h - 1, 300).astype(np.int64), np.linspace(0, w - 1, 400).astype(np.int64)),
                           (np.arange(h // 4, h // 2), np.arange(w // 3, w // 2))):
                fresh_view = uncertain_view_mask(fresh[n], fresh[n].confidence, ys, xs)
                assert np.array_equal(uncertain_view_mask(back, None, ys, xs), fresh_view)
            # Stored again (a copy, an export to another workspace): the mask goes with it.
            again = decode_result(encode_result(back))
            assert np.array_equal(_dense(stored_uncertain_mask(again)), _expected(fresh[n]))


def test_the_cluster_and_command_line_paths_store_the_mask(fresh):
    """Ray actors send ``encode_result``'s bytes; the command line stores the parser's result."""
    from desktop.cluster_ray import _collected

    blob, _summary, _doubt = _collected(fresh["astronaut"], None)
    back = decode_result(blob)
    assert np.array_equal(_dense(stored_uncertain_mask(back)), _expected(fresh["astronaut"]))


def test_results_stored_before_the_mask_was_kept_still_load(fresh):
    header, payload = _header(encode_result(fresh["astronaut"]))
    assert "uncertain" in header
    del header["uncertain"]  # what an earlier version wrote
    old = decode_result(_repack(header, payload))
    assert np.array_equal(old.labels, fresh["astronaut"].labels)
    assert stored_uncertain_mask(old) is None and not has_confidence(old)
    assert "parse this photo again" in no_confidence_message()
    # A result made from maps (no model confidence) stores none either.
    rebuilt = result_from_maps(old.labels, person_map_of(old), old)
    assert "uncertain" not in _header(encode_result(rebuilt))[0]


def _hostile_variants(header: dict, payload: bytes, h: int, w: int):
    meta = header["arrays"][header["uncertain"]]
    yield "box outside the image", {**meta, "box": [0, 0, w + 1, h], "shape": [h, w + 1]}
    yield "huge declared box", {**meta, "box": [0, 0, 1 << 30, 1 << 30], "shape": [1 << 30, 1 << 30]}
    yield "huge run count", {"dtype": "bool", "shape": [h, w], "box": [0, 0, w, h], "codec": "runs",
                             "runs": (h * w) // 2, "at": 0, "len": 16}
    yield "reference nowhere", None
    assert meta["codec"] == "g4"  # a mask of pixels is stored as a fax image
    yield "cut-off fax code", {**meta, "len": meta["len"] // 2}
    yield "not a bit mask", {**meta, "dtype": "uint8"}


def test_a_damaged_or_hostile_stored_mask_is_dropped_with_one_warning(fresh, caplog):
    result = fresh["grace_hopper"]
    header, payload = _header(encode_result(result))
    h, w = result.labels.shape
    # Memory for the result without its mask, and a little more: the mask's declared runs exceed it.
    limits = DecodeLimits(max_memory=h * w + _masks_memory(header["arrays"], header["persons"] + header["parts"], h, w)
                          + 4096)
    for what, meta in _hostile_variants(header, payload, h, w):
        bad = json.loads(json.dumps(header))
        if meta is None:
            bad["uncertain"] = len(bad["arrays"]) + 5
        else:
            bad["arrays"].append(meta)
            bad["uncertain"] = len(bad["arrays"]) - 1
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="desktop.review.result_codec"):
            back = decode_result(_repack(bad, payload), limits)
        assert np.array_equal(back.labels, result.labels), what
        assert stored_uncertain_mask(back) is None and not has_confidence(back), what
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "uncertain pixels" in warnings[0] and "cannot be read" in warnings[0], what
        if what == "huge run count":  # refused from what it declares, before anything is inflated
            assert "memory" in warnings[0], warnings


def test_the_doubt_view_draws_the_stored_pixels_of_a_reopened_result(fresh):
    """The doubt view's drawing step (DoubtController._compose, without a window): a reopened
    result is highlighted exactly as the freshly parsed one (whose mask a worker computes)."""
    from types import SimpleNamespace

    from desktop.app.doubt_panel import DoubtController, doubt_highlight

    result = fresh["astronaut_crop"]
    back = decode_result(encode_result(result))
    h, w = back.labels.shape
    ys, xs = np.linspace(0, h - 1, 240).astype(np.int64), np.linspace(0, w - 1, 320).astype(np.int64)
    photo = np.full((ys.size, xs.size, 3), 180, dtype=np.uint8)
    sample = SimpleNamespace(photo=photo, ys=ys, xs=xs, key=("fit", 240, 320))
    view = object.__new__(DoubtController)  # the drawing only: no Tk
    view.cv = SimpleNamespace(result=back)
    view._view_key = view._view_mask = None
    view.reasons = []
    expected = uncertain_view_mask(result, result.confidence, ys, xs)
    assert expected.any()
    assert np.array_equal(view._compose(sample), doubt_highlight(photo, expected))
