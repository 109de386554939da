"""Agreement figures of annotation vs model: exact confusion counts and the published definitions."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.resources import default_class_names, palette
from desktop.review import compare
from desktop.review.compare import (
    NO_DISAGREEMENT,
    DatasetComparison,
    agreement,
    confusion_matrix,
    disagreement_counts,
    disagreement_map,
    disagreement_pairs,
    disagreement_rgba,
)

NAMES = default_class_names()

# Image A, by hand (2 x 5): annotation and prediction.
A_ANN = np.array([[0, 0, 0, 2, 2],
                  [0, 13, 13, 2, 5]], dtype=np.uint8)
A_PRED = np.array([[0, 0, 2, 2, 2],
                   [0, 13, 0, 5, 5]], dtype=np.uint8)
# Pairs (annotation, model): (0,0) x3, (0,2) x1, (2,2) x2, (2,5) x1, (13,13) x1, (13,0) x1, (5,5) x1.
# Annotated pixels: class 0: 4, class 2: 3, class 13: 2, class 5: 1. Predicted: 0: 4, 2: 3, 13: 1, 5: 2.
# Pixel accuracy 7 / 10.
# Class accuracy: 0: 3/4, 2: 2/3, 13: 1/2, 5: 1/1 -> mean (3/4 + 2/3 + 1/2 + 1) / 4 = 35/48.
# IoU = TP / (TP + FP + FN): 0: 3 / (3 + 1 + 1) = 3/5; 2: 2 / (2 + 1 + 1) = 1/2;
#   13: 1 / (1 + 0 + 1) = 1/2; 5: 1 / (1 + 1 + 0) = 1/2 -> mIoU (3/5 + 3 x 1/2) / 4 = 21/40.

# Image B (1 x 2): class 3 occurs only in the prediction, so it counts with IoU 0.
B_ANN = np.array([[1, 1]], dtype=np.uint8)
B_PRED = np.array([[1, 3]], dtype=np.uint8)
# Pixel accuracy 1/2; IoU 1: 1 / (1 + 0 + 1) = 1/2, IoU 3: 0 / 1 = 0 -> mIoU 1/4; mean class accuracy 1/2.

# Dataset A + B, from ONE summed matrix: 12 pixels, 8 correct -> pixel accuracy 2/3.
# Classes occurring: 0, 1, 2, 3, 5, 13 with IoU 3/5, 1/2, 1/2, 0, 1/2, 1/2 -> mIoU 2.6 / 6 = 13/30.
# Classes annotated: 0, 1, 2, 5, 13 with accuracy 3/4, 1/2, 2/3, 1, 1/2 -> mean 41/12 / 5 = 41/60.
# (The mean of the two images' mIoUs would be (21/40 + 1/4) / 2 = 31/80: a different number.)


def test_hand_computed_image():
    c = confusion_matrix(A_ANN, A_PRED)
    assert c.shape == (20, 20) and c.dtype == np.int64
    expected = {(0, 0): 3, (0, 2): 1, (2, 2): 2, (2, 5): 1, (13, 13): 1, (13, 0): 1, (5, 5): 1}
    for (a, m), n in expected.items():
        assert c[a, m] == n
    assert c.sum() == 10 and np.count_nonzero(c) == len(expected)
    fig = agreement(c)
    assert fig.pixels == 10 and fig.correct == 7
    assert fig.pixel_accuracy == pytest.approx(7 / 10, rel=1e-15)
    assert fig.mean_accuracy == pytest.approx(35 / 48, rel=1e-15)
    assert fig.miou == pytest.approx(21 / 40, rel=1e-15)
    iou = fig.class_iou_by_name(NAMES)
    assert iou["Background"] == pytest.approx(3 / 5) and iou["Hair"] == pytest.approx(1 / 2)
    assert iou["Face"] == pytest.approx(1 / 2) and iou["UpperClothes"] == pytest.approx(1 / 2)
    assert iou["Hat"] is None  # in neither map: undefined, left out of the mean
    assert np.isnan(fig.class_accuracy[1]) and fig.occurring.sum() == 4


def test_a_class_only_the_model_sees_counts_with_iou_zero():
    fig = agreement(confusion_matrix(B_ANN, B_PRED))
    assert fig.pixel_accuracy == pytest.approx(1 / 2)
    assert fig.class_iou[3] == 0.0 and fig.class_iou[1] == pytest.approx(1 / 2)
    assert fig.miou == pytest.approx(1 / 4)
    assert fig.mean_accuracy == pytest.approx(1 / 2)  # class 3 is not in the annotation: no accuracy


def test_dataset_figures_come_from_one_summed_matrix():
    ds = DatasetComparison(NAMES)
    ds.add("a.jpg", confusion_matrix(A_ANN, A_PRED))
    ds.add("b.jpg", confusion_matrix(B_ANN, B_PRED))
    d = ds.dataset()
    assert d.pixels == 12 and d.correct == 8
    assert d.pixel_accuracy == pytest.approx(2 / 3, rel=1e-15)
    assert d.miou == pytest.approx(13 / 30, rel=1e-15)
    assert d.mean_accuracy == pytest.approx(41 / 60, rel=1e-15)
    assert d.miou != pytest.approx(31 / 80)  # not the mean of the images' mIoUs
    doc = ds.to_json()
    assert list(doc) == ["dataset", "images"]
    assert list(doc["dataset"]) == ["pixel_accuracy", "mean_accuracy", "miou", "class_iou"]
    assert list(doc["dataset"]["class_iou"]) == list(NAMES)
    assert doc["dataset"]["class_iou"]["Gloves"] == 0.0  # class 3: predicted only
    assert doc["dataset"]["class_iou"]["Hat"] == pytest.approx(1 / 2)
    assert doc["dataset"]["class_iou"]["Sunglasses"] is None  # class 4: in neither map
    assert [i["file"] for i in doc["images"]] == ["b.jpg", "a.jpg"]  # worst (lowest mIoU) first
    assert doc["images"][0] == {"file": "b.jpg", "pixel_accuracy": 0.5, "miou": 0.25}
    assert set(doc["images"][1]) == {"file", "pixel_accuracy", "miou"}


def test_worst_first_breaks_ties_by_pixel_accuracy_then_name():
    ds = DatasetComparison(NAMES)
    same = confusion_matrix(B_ANN, B_PRED)
    ds.add("z.jpg", same)
    ds.add("y.jpg", same)
    # Same mIoU (1/4) as B but a lower pixel accuracy: 3 pixels, 1 right.
    ds.add("x.jpg", confusion_matrix(np.array([[1, 1, 1]], np.uint8), np.array([[1, 3, 3]], np.uint8)))
    assert [f.file for f in ds.worst_first()] == ["x.jpg", "y.jpg", "z.jpg"]


# --------------------------------------------------------------------------- against a plain implementation

def _plain_confusion(a: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            out[i, j] = int(np.sum((a == i) & (p == j)))
    return out


def _plain_figures(a_maps, p_maps, n):
    """Straight from the definitions, class by class with boolean masks over all images."""
    tp = np.zeros(n)
    fp = np.zeros(n)
    fn = np.zeros(n)
    in_ann = np.zeros(n, bool)
    in_pred = np.zeros(n, bool)
    correct = total = 0
    for a, p in zip(a_maps, p_maps, strict=True):
        correct += int(np.sum(a == p))
        total += a.size
        for c in range(n):
            tp[c] += np.sum((a == c) & (p == c))
            fp[c] += np.sum((a != c) & (p == c))
            fn[c] += np.sum((a == c) & (p != c))
            in_ann[c] |= bool(np.any(a == c))
            in_pred[c] |= bool(np.any(p == c))
    occurring = in_ann | in_pred
    ious = [tp[c] / (tp[c] + fp[c] + fn[c]) for c in range(n) if occurring[c]]
    accs = [tp[c] / (tp[c] + fn[c]) for c in range(n) if in_ann[c]]
    return correct / total, sum(accs) / len(accs), sum(ious) / len(ious)


@pytest.mark.parametrize("seed", range(6))
def test_random_maps_match_a_plain_implementation(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(compare, "_BLOCK", int(rng.integers(5, 500)))  # many blocks, uneven ends
    n = 20
    a_maps, p_maps = [], []
    ds = DatasetComparison(NAMES)
    for k in range(3):
        h, w = (int(v) for v in rng.integers(1, 60, size=2))
        classes_a = rng.choice(n, size=int(rng.integers(1, n)), replace=False)
        classes_p = rng.choice(n, size=int(rng.integers(1, n)), replace=False)
        a = rng.choice(classes_a, size=(h, w)).astype(np.uint8)
        p = np.where(rng.random((h, w)) < 0.6, a, rng.choice(classes_p, size=(h, w))).astype(np.uint8)
        if k == 1:
            a, p = a.T, p.T  # non-contiguous views count the same
        c = confusion_matrix(a, p)
        np.testing.assert_array_equal(c, _plain_confusion(a, p, n))
        fig = ds.add(f"{k}.png", c)
        pa, macc, miou = _plain_figures([a], [p], n)
        assert (fig.pixel_accuracy, fig.mean_accuracy, fig.miou) == pytest.approx((pa, macc, miou), rel=1e-12)
        a_maps.append(a)
        p_maps.append(p)
    d = ds.dataset()
    pa, macc, miou = _plain_figures(a_maps, p_maps, n)
    assert (d.pixel_accuracy, d.mean_accuracy, d.miou) == pytest.approx((pa, macc, miou), rel=1e-12)


def test_counts_stay_exact_on_a_large_map():
    """4 million pixels of one pair and one of another: integer counts, no float drift."""
    a = np.zeros((2000, 2001), np.uint8)
    p = np.zeros_like(a)
    p[0, 0] = 7
    c = confusion_matrix(a, p)
    assert c[0, 0] == 2000 * 2001 - 1 and c[0, 7] == 1 and c.sum() == a.size


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="class id 20"):
        confusion_matrix(np.array([[20]], np.uint8), np.array([[0]], np.uint8))
    with pytest.raises(ValueError, match="prediction holds class id 31"):
        confusion_matrix(np.array([[0]], np.uint8), np.array([[31]], np.uint8))
    with pytest.raises(ValueError, match="same size"):
        confusion_matrix(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8))
    with pytest.raises(ValueError, match="integer"):
        confusion_matrix(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="negative"):
        agreement(np.array([[1, -1], [0, 0]]))
    assert agreement(np.zeros((20, 20), np.int64)).miou is None


# --------------------------------------------------------------------------- disagreement

def test_disagreement_map_and_counts():
    dmap = disagreement_map(A_ANN, A_PRED)
    expected = np.full(A_ANN.shape, NO_DISAGREEMENT, np.uint8)
    expected[0, 2] = 0  # annotated background, model Hair
    expected[1, 2] = 13  # annotated Face, model background
    expected[1, 3] = 2  # annotated Hair, model UpperClothes
    np.testing.assert_array_equal(dmap, expected)
    counts = disagreement_counts(confusion_matrix(A_ANN, A_PRED))
    assert counts.tolist() == np.bincount(dmap[dmap != NO_DISAGREEMENT], minlength=20).tolist()
    assert counts[0] == 1 and counts[2] == 1 and counts[13] == 1 and counts.sum() == 3
    pairs = disagreement_pairs(confusion_matrix(A_ANN, A_PRED), NAMES)
    assert {(p["annotation_name"], p["model_name"], p["pixels"]) for p in pairs} == {
        ("Background", "Hair", 1), ("Face", "Background", 1), ("Hair", "UpperClothes", 1)}
    rgba = disagreement_rgba(A_ANN, A_PRED, palette(), alpha=200)
    assert rgba.shape == (2, 5, 4)
    assert rgba[1, 2].tolist() == [*palette()[13].tolist(), 200]
    assert rgba[0, 0, 3] == 0 and rgba[1, 4, 3] == 0  # agreeing pixels are transparent
