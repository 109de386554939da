"""Interchange-format benchmark (issue 17): seconds per image for each format, the time to
assemble the run's files, and peak memory, on 1920x1080 maps of a crowd.

Maps: ``--persons`` figures side by side, each with nine parts of plausible shapes
(tests/formatdata.py draws them), so a 1920x1080 image holds persons x 9 parts, as a group
photo does. Baseline in the same run: the per-image label PNG every export already writes
(:func:`desktop.export.write_labels_png`). Each format's row includes finding the parts
(:func:`desktop.review.maps.instances_from_maps`); the last row writes all five formats
together, finding the parts once per image as an export does.

Memory: assembling ``cvat/annotations.xml`` and ``coco/…/instances_default.json`` streams
from one fragment per image; the figure printed is the Python heap's peak during ``finish``
(tracemalloc) next to the size of the files it wrote, and the process's peak RSS.

Usage: python bench/bench_formats.py [--images 20] [--persons 15]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402
from formatdata import plausible_maps  # noqa: E402

from desktop.export import write_labels_png  # noqa: E402
from desktop.formats import INTERCHANGE_FORMATS, WRITERS, FormatRun, ImageMaps  # noqa: E402
from desktop.resources import default_class_names, palette  # noqa: E402


def crowd(h: int, w: int, persons: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``persons`` people in groups of three across a (h, w) image."""
    labels = np.zeros((h, w), np.uint8)
    owners = np.zeros((h, w), np.uint16)
    groups = (persons + 2) // 3
    gw = w // groups
    for g in range(groups):
        lab, per = plausible_maps(h, gw, seed=seed + g)
        per = np.where(per > 0, per + 3 * g, 0).astype(np.uint16)
        labels[:, g * gw : (g + 1) * gw] = lab
        owners[:, g * gw : (g + 1) * gw] = per
    return labels, owners


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--persons", type=int, default=15)
    args = ap.parse_args()
    names, pal = default_class_names(), palette()
    maps = [crowd(1080, 1920, args.persons, seed=i) for i in range(3)]
    n_parts = len({(int(p), int(c)) for p, c in zip(maps[0][1].ravel(), maps[0][0].ravel(), strict=True) if c})
    print(f"{args.images} images of 1920x1080, {args.persons} persons, {n_parts} parts each")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        base = []
        for i in range(args.images):
            t0 = time.perf_counter()
            write_labels_png(maps[i % 3][0], pal, out / f"base{i}.png")
            base.append(time.perf_counter() - t0)
        print(f"{'baseline label PNG':24s} median {statistics.median(base):.3f} s  worst {max(base):.3f} s")
        for fmt in INTERCHANGE_FORMATS:
            writer = WRITERS[fmt](out / fmt, names, pal)
            writer.begin()
            times = []
            for i in range(args.images):
                labels, persons = maps[i % 3]
                item = ImageMaps(labels, persons, name=f"img{i}.jpg", stem=f"img{i}")
                t0 = time.perf_counter()
                writer.add_image(item)
                times.append(time.perf_counter() - t0)
            tracemalloc.start()
            t0 = time.perf_counter()
            files = writer.finish()
            finish = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            size = sum(p.stat().st_size for p in files)
            print(f"{fmt:24s} median {statistics.median(times):.3f} s  worst {max(times):.3f} s  "
                  f"finish {finish:.2f} s  ({size / 1e6:.1f} MB written, heap peak {peak / 1e6:.1f} MB)")
        run = FormatRun(out / "all", INTERCHANGE_FORMATS, names, pal)
        times = []
        for i in range(args.images):
            labels, persons = maps[i % 3]
            t0 = time.perf_counter()
            run.add(ImageMaps(labels, persons, name=f"img{i}.jpg", stem=f"img{i}"))
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run.finish()
        print(f"{'all five (parts shared)':24s} median {statistics.median(times):.3f} s  worst {max(times):.3f} s  "
              f"finish {time.perf_counter() - t0:.2f} s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
