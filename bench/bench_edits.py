"""Editing benchmark (issue 15): brush, fill and undo on 4000x3000 maps, with the partial redraw.

Targets: a brush motion event (operation + redraw of the changed rectangle) within 30 ms, a
fill of a region of a million pixels within 150 ms, undo within 50 ms. Every figure below
includes recording in the history and recomputing the overlay of the changed rectangle
(:func:`desktop.render.blend_region`), as the GUI does after each event.

Maps: people drawn with plausible shapes (bench/edit_scene.py), not noise: a group photo of
four people, and a portrait whose dress is a connected region of 1.1 million pixels.
Redraws go through a 1600x1000 view as the canvas draws (a nearest-neighbour screen sample of
the maps, updated and re-blended only where the edit's rectangle lands on screen): the whole
photo fitted to the view, 100 % and 400 % zoom. Brush redraws are also measured straight on
the full-resolution rectangle ("1:1").

Baselines in the same run: redrawing the whole photo after each event (what a redraw
without rectangles costs) and undo by restoring a snapshot copy of both maps.

Usage: python bench/bench_edits.py [--events 300] [--runs 9]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.edit_scene import draw_people, scene_photo, stroke_path  # noqa: E402
from desktop import render  # noqa: E402
from desktop.resources import palette as class_palette  # noqa: E402
from desktop.review import edits, person_edits  # noqa: E402
from desktop.review.edit_history import EditHistory  # noqa: E402
from desktop.review.edit_stats import change_statistics  # noqa: E402

H, W = 3000, 4000
START = (600.0, 1500.0)  # where the brush strokes begin, among the people
VIEW_W, VIEW_H = 1600, 1000
PALETTE = class_palette()
OPACITY = 0.55


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def ms(values: list[float]) -> str:
    v = sorted(values)
    return f"median {1000 * statistics.median(v):7.2f} ms   worst {1000 * v[-1]:7.2f} ms   (n={len(v)})"


class ScreenSample:
    """The canvas's view of the image: nearest-neighbour source rows/columns of each screen pixel."""

    def __init__(self, rgb, labels, persons, scale: float, cx: float, cy: float) -> None:
        ox, oy = cx - VIEW_W / 2 / scale, cy - VIEW_H / 2 / scale
        xs = np.floor(ox + (np.arange(VIEW_W) + 0.5) / scale).astype(np.int64)
        ys = np.floor(oy + (np.arange(VIEW_H) + 0.5) / scale).astype(np.int64)
        self.xs = xs[(xs >= 0) & (xs < W)]
        self.ys = ys[(ys >= 0) & (ys < H)]
        self.photo = rgb.take(self.ys, axis=0).take(self.xs, axis=1)
        self.labels = labels.take(self.ys, axis=0).take(self.xs, axis=1)
        self.persons = persons.take(self.ys, axis=0).take(self.xs, axis=1)
        self.frame = render.blend(self.photo, self.labels, PALETTE, OPACITY)

    def update(self, labels, persons, rect) -> None:
        """What the GUI does after an edit: resample and re-blend only the changed screen pixels.

        ``rect`` is one rectangle (an edit's) or a list of them (what undo/redo return).
        """
        if isinstance(rect, list):
            for r in rect:
                self.update(labels, persons, r)
            return
        x, y, w, h = render.sampled_rect(rect, self.xs, self.ys)
        if w == 0 or h == 0:
            return
        cols, rows = self.xs[x : x + w], self.ys[y : y + h]
        self.labels[y : y + h, x : x + w] = labels.take(rows, axis=0).take(cols, axis=1)
        self.persons[y : y + h, x : x + w] = persons.take(rows, axis=0).take(cols, axis=1)
        self.frame[y : y + h, x : x + w] = render.blend_region(
            self.photo, self.labels, PALETTE, (x, y, w, h), opacity=OPACITY, persons=self.persons)


def bench_brush(rgb, labels, persons, events: int) -> None:
    print("\nBrush stroke, per pointer motion event (operation + history + redraw of the changed rectangle)")
    for radius, step, what in ((10, 12, "small brush, normal drag"), (40, 25, "medium brush, normal drag"),
                               (40, 120, "medium brush, fast drag"), (150, 60, "huge brush")):
        fit = min(VIEW_W / W, VIEW_H / H)
        for view, scale in (("1:1", None), ("fit", fit), ("100 %", 1.0), ("400 %", 4.0)):
            lab, per = labels.copy(), persons.copy()
            history = EditHistory(lab, per)
            path = stroke_path(events, step, START, seed=radius + step, turn=0.35, margin=200, width=W, height=H)
            sample = None
            if scale is not None:
                centre = (W / 2, H / 2) if view == "fit" else path[len(path) // 2]
                sample = ScreenSample(rgb, lab, per, scale, *centre)
            times = []
            history.begin_stroke("brush")
            for i in range(1, len(path)):
                t0 = time.perf_counter()
                label, person = 5 + (i // 50) % 3, 1 + (i // 70) % 4
                edit = edits.brush(lab, per, path[i - 1 : i + 1], radius, label, person)
                history.record(edit)
                if sample is None:
                    render.blend_region(rgb, lab, PALETTE, edit.rect, opacity=OPACITY, persons=per)
                else:
                    sample.update(lab, per, edit.rect)
                times.append(time.perf_counter() - t0)
            history.end_stroke()
            print(f"  r={radius:3d} px, {step:3d} px/event, {what:26s} {view:5s}: {ms(times)}")
    t = []
    for _ in range(3):
        t0 = time.perf_counter()
        render.blend(rgb, labels, PALETTE, OPACITY)
        t.append(time.perf_counter() - t0)
    print(f"  baseline: redraw the whole 4000x3000 overlay per event:            {ms(t)}")


VIEWS = (("fit", None), ("100 %", 1.0))


def view_of(rgb, labels, persons, name_scale, centre) -> ScreenSample:
    """The 1600x1000 view: the whole photo fitted, or 100 % centred on ``centre``."""
    _name, scale = name_scale
    if scale is None:
        return ScreenSample(rgb, labels, persons, min(VIEW_W / W, VIEW_H / H), W / 2, H / 2)
    return ScreenSample(rgb, labels, persons, scale, *centre)


def undo_redo(screen: ScreenSample, lab, per, history: EditHistory, undo: list[float], redo: list[float]) -> None:
    """Undo the last step and redo it, each with the redraw of what it changed; times appended."""
    t0 = time.perf_counter()
    screen.update(lab, per, history.undo())
    undo.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    screen.update(lab, per, history.redo())
    redo.append(time.perf_counter() - t0)


def print_undo_redo(view, undo: list[float], redo: list[float]) -> None:
    print(f"  {view[0]:5s} undo + redraw:                        {ms(undo)}")
    print(f"  {view[0]:5s} redo + redraw:                        {ms(redo)}")


def bench_fill(rgb, labels, persons, seed: tuple[int, int], runs: int, label: str) -> None:
    region = edits.connected_region(labels, persons, *seed)
    x, y = seed
    centre = (region.rect.x + region.rect.w / 2, region.rect.y + region.rect.h / 2)
    print(f"\nFill of a {region.area:,}-pixel region ({label}); redraw of the changed rectangle in a "
          f"{VIEW_W}x{VIEW_H} view")
    for view in VIEWS:
        lab, per = labels.copy(), persons.copy()
        history = EditHistory(lab, per)
        screen = view_of(rgb, lab, per, view, centre)
        op, total, undo, redo = [], [], [], []
        for i in range(runs):
            t0 = time.perf_counter()
            edit = edits.fill(lab, per, x, y, 7 if i % 2 == 0 else region.label, region.person or 1)
            t1 = time.perf_counter()
            history.record(edit)
            screen.update(lab, per, edit.rect)
            t2 = time.perf_counter()
            op.append(t1 - t0)
            total.append(t2 - t0)
            undo_redo(screen, lab, per, history, undo, redo)
        if view is VIEWS[0]:
            print(f"  fill operation alone:                          {ms(op)}")
        print(f"  {view[0]:5s} fill + history + redraw:              {ms(total)}")
        print_undo_redo(view, undo, redo)
    lab, per = labels.copy(), persons.copy()
    snap = []
    saved = (lab.copy(), per.copy())
    for _ in range(runs):
        t0 = time.perf_counter()
        np.copyto(lab, saved[0])
        np.copyto(per, saved[1])
        snap.append(time.perf_counter() - t0)
    print(f"  baseline: undo by restoring a snapshot of both maps (no redraw; "
          f"{lab.nbytes + per.nbytes:,} bytes per step): {ms(snap)}")


def largest_part_pixel(labels, persons) -> tuple[int, int]:
    """A pixel of the largest connected part region (found with OpenCV, outside the timings)."""
    import cv2

    best = (0, 0, 0)
    key = persons.astype(np.int32) * 256 + labels
    for k in np.unique(key[labels != 0]).tolist():
        n, cc, stats, _ = cv2.connectedComponentsWithStats((key == k).astype(np.uint8), connectivity=4)
        i = int(np.argmax(stats[1:, 4])) + 1
        if stats[i, 4] > best[0]:
            ys, xs = np.nonzero(cc == i)
            best = (int(stats[i, 4]), int(xs[0]), int(ys[0]))
    return best[1], best[2]


def bench_stroke_undo(rgb, labels, persons, events: int, runs: int) -> None:
    lab, per = labels.copy(), persons.copy()
    history = EditHistory(lab, per)
    path = stroke_path(events, 25, START, seed=7, turn=0.35, margin=200, width=W, height=H)
    with history.stroke("brush"):
        for i in range(1, len(path)):
            history.record(edits.brush(lab, per, path[i - 1 : i + 1], 40, 12, 2))
    rects = history.undo()
    history.redo()
    rect = history._undo[-1].rect
    tiles = sum(r.area for r in rects)
    pixels = int(np.count_nonzero((lab != labels) | (per != persons)))
    print(f"\nUndo of a whole brush stroke ({events} motion events, r=40 px, {pixels:,} pixels changed, "
          f"{history.nbytes / 2**20:.1f} MiB held; its box is {rect.w}x{rect.h} = {rect.area:,} px, "
          f"redrawn as {len(rects)} rectangles of {tiles:,} px in all)")
    for view in VIEWS:
        screen = view_of(rgb, lab, per, view, (rect.x + rect.w / 2, rect.y + rect.h / 2))
        undo, redo = [], []
        for _ in range(runs):
            undo_redo(screen, lab, per, history, undo, redo)
        print_undo_redo(view, undo, redo)


def bench_person_ops(labels, persons, runs: int) -> None:
    print("\nWhole-person operations and statistics (scan the full map; for information)")
    model = (labels.copy(), persons.copy())
    lab, per = labels.copy(), persons.copy()
    history = EditHistory(lab, per)
    ops = {
        "swap left/right of a person": lambda: person_edits.swap_left_right(lab, per, 2),
        "merge two persons": lambda: person_edits.merge_persons(lab, per, 1, 2),
        "delete a person": lambda: person_edits.delete_person(lab, per, 3),
        "move a whole part to another person": lambda: person_edits.move_part_to_person(lab, per, 4, 5, 1),
    }
    for name, fn in ops.items():
        op, undo = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            history.record(fn())
            op.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            history.undo()
            undo.append(time.perf_counter() - t0)
        print(f"  {name:38s} {ms(op)}; undo {1000 * statistics.median(undo):.1f} ms")
    history.record(person_edits.delete_person(lab, per, 3))
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        history.revert_to_model(*model)
        t.append(time.perf_counter() - t0)
        history.undo()
    print(f"  {'revert to the model (a deleted person)':38s} {ms(t)}")
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        change_statistics(model[0], model[1], lab, per)
        t.append(time.perf_counter() - t0)
    print(f"  {'pixels changed per class vs the model':38s} {ms(t)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=300, help="motion events per brush stroke")
    ap.add_argument("--runs", type=int, default=9, help="repetitions of fills, undos and person operations")
    args = ap.parse_args()

    t0 = time.perf_counter()
    group = draw_people(H, W, count=4, seed=2)
    portrait = draw_people(H, W, count=1, seed=5)
    rgb = scene_photo(H, W)
    group_seed, portrait_seed = largest_part_pixel(*group), largest_part_pixel(*portrait)
    made = time.perf_counter() - t0
    print(f"4000x3000 maps: group photo of 4 people and a portrait (made in {made:.1f} s)")
    print(f"baseline RSS after the maps and photo: {peak_rss_mb():.0f} MB")

    bench_brush(rgb, *group, args.events)
    bench_fill(rgb, *portrait, portrait_seed, args.runs, "a dress in a portrait")
    bench_fill(rgb, *group, group_seed, args.runs, "the largest part in the group photo")
    bench_fill(rgb, *group, (5, 5), max(3, args.runs // 3),
               "the whole background of the group photo: worst case")
    bench_stroke_undo(rgb, *group, args.events, args.runs)
    bench_person_ops(*group, args.runs)
    print(f"\npeak RSS: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
