"""Run masks: the same pixels as the arrays they stand for, read in windows, and COCO RLE byte for
byte what pycocotools gives for the full-size mask."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from desktop.engine.masks import RunMask
from desktop.engine.result import Part, mask_bbox


def _masks():
    rng = np.random.default_rng(7)
    yield np.zeros((5, 4), dtype=bool)
    yield np.ones((5, 4), dtype=bool)
    one = np.zeros((6, 3), dtype=bool)
    one[-1, -1] = True  # the very last pixel
    yield one
    first = np.zeros((6, 3), dtype=bool)
    first[0, 0] = True
    yield first
    columns = np.zeros((7, 9), dtype=bool)
    columns[:, 2:5] = True  # full-height columns: one run over three columns
    columns[3:, 5] = True
    columns[:2, 6] = True  # continues from the bottom of column 5 into the top of column 6
    yield columns
    for shape, p in (((31, 17), 0.5), ((13, 40), 0.05), ((40, 13), 0.95)):
        yield rng.random(shape) < p
    yy, xx = np.mgrid[:300, :400]
    yield (yy - 140) ** 2 + (xx - 210) ** 2 < 120**2  # a smooth blob


def _coco(mask: np.ndarray) -> str:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode("ascii")


@pytest.mark.parametrize("mask", list(_masks()), ids=lambda m: f"{m.shape[1]}x{m.shape[0]}-{int(m.sum())}")
def test_runs_are_the_mask(mask):
    runs = RunMask.from_dense(mask)
    h, w = mask.shape
    assert np.array_equal(runs.full(), mask) and np.array_equal(np.asarray(runs), mask)
    assert runs.area == int(mask.sum()) and runs.bbox == mask_bbox(mask) and runs.shape == mask.shape
    assert runs.coco_rle() == {"size": [h, w], "counts": _coco(mask)}
    assert int(runs.coco_counts().sum()) == h * w
    rng = np.random.default_rng(h * w)
    for _ in range(20):
        y0, y1 = sorted(rng.integers(0, h + 1, 2))
        x0, x1 = sorted(rng.integers(0, w + 1, 2))
        assert np.array_equal(runs.region(y0, y1, x0, x1), mask[y0:y1, x0:x1])
        assert np.array_equal(runs[y0:y1, x0:x1], mask[y0:y1, x0:x1])
    ys, xs = rng.integers(0, h, 200), rng.integers(0, w, 200)
    assert np.array_equal(runs.contains(ys, xs), mask[ys, xs])
    assert all(runs.at(y, x) == mask[y, x] for y, x in zip(ys[:20], xs[:20], strict=True))
    gy, gx = np.unique(ys), np.unique(xs)
    assert np.array_equal(runs.sample(gy, gx), mask[np.ix_(gy, gx)])
    other = rng.random(mask.shape) < 0.4
    assert runs.intersection_area(RunMask.from_dense(other)) == int((mask & other).sum())
    assert pickle.loads(pickle.dumps(runs)) == runs


@pytest.mark.parametrize("mask", list(_masks()), ids=lambda m: f"{m.shape[1]}x{m.shape[0]}-{int(m.sum())}")
def test_a_crop_and_its_offset_give_the_full_masks_rle(mask):
    """Built from the pixels inside the box only (no full-size copy): the same runs, and the
    same COCO RLE bytes as pycocotools' encoding of the full mask."""
    x, y, w, h = mask_bbox(mask)
    runs = RunMask.from_crop(mask[y : y + h, x : x + w], x, y, mask.shape)
    assert runs == RunMask.from_dense(mask)
    assert runs.coco_rle()["counts"] == _coco(mask)
    assert np.array_equal(runs.crop(), mask[y : y + h, x : x + w])


def test_intervals_merge_when_they_touch_or_overlap():
    runs = RunMask.from_intervals((4, 5), np.array([8, 0, 2, 3, 12, 19]), np.array([10, 2, 4, 5, 12, 20]))
    assert runs.starts.tolist() == [0, 8, 19] and runs.ends.tolist() == [5, 10, 20]
    full = np.zeros(20, dtype=bool)
    full[[0, 1, 2, 3, 4, 8, 9, 19]] = True
    assert np.array_equal(runs.full(), full.reshape(5, 4).T)


def test_a_photo_sized_mask_costs_its_outline_not_its_area():
    """A disc on a 48-megapixel photo: kilobytes of runs instead of 48 MB of bools, and its box,
    windows and COCO RLE come without a full-size array."""
    h, w = 6000, 8000
    cy, cx, r = 3000, 4100, 2500
    x = np.arange(w)
    half = np.sqrt(np.clip(r**2 - (x - cx) ** 2, 0, None)).astype(np.int64)
    inside = (x - cx) ** 2 < r**2
    starts, ends = x[inside] * h + cy - half[inside], x[inside] * h + cy + half[inside]
    disc = RunMask.from_intervals((h, w), starts, ends)
    assert disc.nbytes < 100_000 and disc.bbox == (1601, cy - half.max(), 4999, 2 * half.max())
    ys, xs = np.mgrid[400:700, 1590:4200]
    expected = (ys >= cy - half[xs]) & (ys < cy + half[xs]) & inside[xs]
    assert np.array_equal(disc.region(400, 700, 1590, 4200), expected)
    assert disc.area == int((2 * half[inside]).sum())
    assert disc.coco_rle()["size"] == [h, w]


def test_parts_accept_arrays_and_read_their_box():
    mask = np.zeros((6, 8), dtype=bool)
    mask[2:4, 3:7] = True
    part = Part(1, 2, "Hair", 0.9, mask, mask_bbox(mask), 8, None)
    assert isinstance(part.mask, RunMask) and np.array_equal(part.full_mask(), mask)
    assert np.array_equal(part.crop(), np.ones((2, 4), dtype=bool))
    assert part == Part(1, 2, "Hair", 0.9, RunMask.from_dense(mask), mask_bbox(mask), 8, None)
