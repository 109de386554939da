"""Comparison and doubt benchmark (issue 16): confusion matrix, doubt score, annotation reading.

Maps: plausible people (bench/edit_scene.py) at 1920x1080 and 4000x3000; the "model" is the
annotation with every person shifted by a few pixels and one class swapped, so that the
confusion matrix has many off-diagonal entries. Confidence maps are random.

Baselines in the same run: the confusion matrix with one ``np.bincount`` over a full-size
int64 key (what the blocked count replaces: same numbers, 8 bytes of work memory per pixel).

Usage: python bench/bench_compare.py [--runs 7]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.edit_scene import draw_people  # noqa: E402
from desktop.resources import default_class_names, palette  # noqa: E402
from desktop.review.annotations import AnnotationSet  # noqa: E402
from desktop.review.compare import agreement, confusion_matrix  # noqa: E402
from desktop.review.doubt import doubt_of_maps  # noqa: E402

NAMES = default_class_names()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, runs: int) -> tuple[list[float], object]:
    out = None
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def ms(values: list[float]) -> str:
    v = sorted(values)
    return f"median {1000 * statistics.median(v):8.1f} ms   worst {1000 * v[-1]:8.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    for h, w in ((1080, 1920), (3000, 4000)):
        bench_size(h, w, args.runs)
    print(f"peak RSS {peak_rss_mb():.0f} MB")


def bench_size(h: int, w: int, runs: int) -> None:
    ann, persons = draw_people(h, w, count=4, seed=1)
    pred = np.roll(ann, (3, -4), axis=(0, 1))
    pred[pred == 14] = 15
    print(f"--- {w}x{h}, {int(np.count_nonzero(ann)):,} person pixels")
    t, c = timed(lambda ann=ann, pred=pred: confusion_matrix(ann, pred), runs)
    print(f"confusion matrix (blocked bincount)      {ms(t)}")
    t, base = timed(lambda ann=ann, pred=pred: np.bincount(ann.astype(np.int64).ravel() * 20 + pred.ravel(),
                                                               minlength=400).reshape(20, 20), runs)
    print(f"baseline: one bincount on an int64 key   {ms(t)}   same counts: {bool((base == c).all())}")
    print(f"figures from the matrix: mIoU {agreement(c).miou:.4f}")
    t, d = timed(lambda ann=ann, persons=persons: doubt_of_maps(ann, persons, NAMES), runs)
    print(f"doubt, structure only                    {ms(t)}   score {d.score}, {len(d.reasons)} reason(s)")
    rng = np.random.default_rng(0)
    score = rng.integers(60, 256, ann.shape, dtype=np.uint8)
    second = (score.astype(np.int16) - rng.integers(0, 120, ann.shape)).clip(0).astype(np.uint8)
    runner = rng.integers(0, 20, ann.shape, dtype=np.uint8)
    t, d = timed(lambda ann=ann, persons=persons: doubt_of_maps(
        ann, persons, NAMES, score_map=score, runner_up=runner, runner_up_score=second), runs)
    print(f"doubt with confidence maps              {ms(t)}   score {d.score}, uncertain {d.uncertain_share}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        (root / "grey").mkdir()
        (root / "rgb").mkdir()
        Image.new("RGB", (w, h)).save(root / "photos" / "p.jpg")
        Image.fromarray(ann).save(root / "grey" / "p.png")
        Image.fromarray(np.asarray(palette())[ann]).save(root / "rgb" / "p.png")
        for kind in ("grey", "rgb"):
            aset = AnnotationSet.open(root / "photos", root / kind)
            t, a = timed(lambda aset=aset: aset.load(aset.items[0], image_size=(w, h)), runs)
            print(f"read annotation ({kind:4})                   {ms(t)}   equal: {bool((a.labels == ann).all())}")


if __name__ == "__main__":
    main()
