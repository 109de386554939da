"""Edit mode in the real window (issue 15): brush events, fill and undo on a 4000x3000 photo.

What is timed is what a reviewer waits for: from the pointer event (or key) delivered to the
window until Tk has redrawn the canvas (``event_generate`` runs the handlers synchronously,
then ``update_idletasks`` draws). It includes the operation, the undo record, the partial
redraw of the changed rectangle (desktop/app/edit_redraw.py) and the autosave running in its
thread as in use (copies of the changed rectangles every 250 ms, saved into the workspace).

Fills, undos and redos are timed once the autosave of the action before has finished (as when
a reviewer looks at the result before the next click); brush events while it runs.

Targets (issue 15): a brush motion event within 30 ms at any zoom, a fill of a region of a
million pixels within 150 ms, undo within 50 ms.

Baseline in the same run: a full redraw of the canvas after each event (what the window did
before partial redraws).

The photos are drawn (bench/edit_scene.py): a group of four people and a portrait whose dress
is one connected region of 1.1 million pixels; the "parser" answers with their maps, so no
model is needed (this measures the window, not the engine). Runs under its own Xvfb when no
display is set.

Usage: python bench/bench_gui_edit.py [--events 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.edit_scene import draw_people, people_photo, stroke_path  # noqa: E402
from bench.harness import peak_rss_mb, start_xvfb  # noqa: E402

H, W = 3000, 4000


def ms(values: list[float]) -> str:
    v = sorted(values)
    return f"median {1000 * statistics.median(v):6.1f} ms   worst {1000 * v[-1]:6.1f} ms   (n={len(v)})"


class SceneParser:
    """Answers with the drawn maps of the photo it is given (recognised by a few pixels)."""

    info = {"name": "drawn scene", "runtime": "none", "precision": "exact"}

    def __init__(self, scenes: dict[bytes, tuple[np.ndarray, np.ndarray]]) -> None:
        self.scenes = scenes

    def parse(self, rgb, *, notes=None):
        from desktop.review.maps import result_from_maps

        labels, persons = self.scenes[fingerprint(rgb)]
        result = result_from_maps(labels, persons)
        result.model.update(self.info)
        return result


def fingerprint(rgb: np.ndarray) -> bytes:
    return rgb[::499, ::499].tobytes()


def pump(root, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        root.update()
        time.sleep(0.005)


def wait_for(root, condition, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        root.update()
        if condition():
            return
        time.sleep(0.01)
    raise SystemExit("timed out")


def timed(root, action) -> float:
    t0 = time.perf_counter()
    action()
    root.update_idletasks()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200, help="motion events per brush stroke")
    args = ap.parse_args()
    xvfb = None
    if not os.environ.get("DISPLAY"):
        xvfb, os.environ["DISPLAY"] = start_xvfb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-edit-"))
    for name in ("M2FP_CONFIG_DIR", "M2FP_DATA_DIR", "M2FP_LOG_DIR", "M2FP_CACHE_DIR"):
        os.environ[name] = str(tmp / name.lower())
    os.environ["M2FP_NO_ERROR_DIALOGS"] = "1"
    try:
        return run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if xvfb is not None:
            xvfb.terminate()


def run(args, tmp: Path) -> int:
    from desktop.app import create_root
    from desktop.app.main_window import MainWindow
    from desktop.app.settings import Settings

    t0 = time.perf_counter()
    photos = tmp / "photos"
    photos.mkdir()
    scenes = {}
    for name, count, seed in (("group", 4, 2), ("portrait", 1, 5)):
        labels, persons = draw_people(H, W, count=count, seed=seed)
        rgb = people_photo(labels, persons, seed=seed)
        Image.fromarray(rgb).save(photos / f"{name}.jpg", quality=90)
        scenes[fingerprint(np.asarray(Image.open(photos / f"{name}.jpg").convert("RGB")))] = (labels, persons)
    print(f"4000x3000 photos drawn in {time.perf_counter() - t0:.1f} s; window 1600x1000")

    root, dnd = create_root()
    win = MainWindow(root, Settings(), parser_factory=lambda _d, _p: SceneParser(scenes), dnd=dnd)
    root.deiconify()
    root.geometry("1600x1000+0+0")
    wait_for(root, lambda: win.model_state == "ready", 60)
    win.open_paths([str(photos)])
    wait_for(root, lambda: len(win.images) == 2 and all(e.state.value == "done" for e in win.images), 300)
    keys = {e.path.stem: e.key for e in win.images}
    cv, ed = win.canvas_view, win.edit
    win.select(keys["group"])
    wait_for(root, lambda: cv.result is not None, 60)
    pump(root, 0.5)
    ed.set_active(True)
    pump(root, 0.5)
    print(f"workspace: {'yes' if win.review.workspace is not None else 'no'}; "
          f"baseline RSS after opening: {peak_rss_mb():.0f} MB")

    canvas = cv.canvas

    def point(x, y):
        cx, cy = cv.image_to_canvas(x, y)
        return int(round(cx)), int(round(cy))

    views = (("fit", None), ("100 %", 1.0), ("400 %", 4.0))
    print("\nBrush stroke: one pointer motion event -> canvas redrawn (operation, undo record, partial redraw,"
          " autosave in its thread)")
    ed.set_label(5)
    ed.set_person(1)
    for size, screen_step, what in ((21, 15, "normal drag"), (81, 15, "normal drag"), (81, 60, "fast drag")):
        ed.set_size(size)
        for name, scale in views:
            if scale is None:
                cv.fit()
            cv.redraw()
            shown = scale or cv.scale
            # The hand moves ``screen_step`` screen pixels per motion event, whatever the zoom.
            path = stroke_path(args.events, screen_step / shown, (W / 2, H / 2), seed=size + screen_step,
                               turn=0.3, margin=300, width=W, height=H)
            if scale is not None:
                cv.center_on(*path[len(path) // 2], scale=scale)
            cv.redraw()
            root.update()
            times = []
            x, y = point(*path[0])
            canvas.event_generate("<ButtonPress-1>", x=x, y=y)
            for px, py in path[1:]:
                x, y = point(px, py)
                times.append(timed(root, lambda x=x, y=y: canvas.event_generate("<Motion>", x=x, y=y, state=0x100)))
                root.update()  # the autosave's timers and results, as the event loop runs them
            canvas.event_generate("<ButtonRelease-1>", x=x, y=y, state=0x100)
            print(f"  size {size:2d} px, {what:11s} ({screen_step:2d} screen px/event), {name:5s}: {ms(times)}")
            undo = [timed(root, lambda: canvas.event_generate("<Control-KeyPress-z>"))]
            redo = [timed(root, lambda: canvas.event_generate("<Control-KeyPress-y>"))]
            print(f"  {'':50s} undo of the whole stroke {1000 * undo[0]:6.1f} ms, redo {1000 * redo[0]:6.1f} ms")
    full = []
    cv.fit()
    for _ in range(5):
        full.append(timed(root, cv.redraw))
    print(f"  baseline: full redraw of the canvas per event (fit):          {ms(full)}")

    win.select(keys["portrait"])
    wait_for(root, lambda: cv.result is not None and ed.session is not None, 60)
    pump(root, 0.5)
    labels = ed.session.labels
    dress = (labels == 6)
    ys, xs = np.nonzero(dress)
    i = len(ys) // 2
    seed = (int(xs[i]), int(ys[i]))
    print(f"\nFill of the portrait's dress ({int(dress.sum()):,} pixels) -> canvas redrawn; undo and redo (Ctrl+Z, Ctrl+Y)")
    ed.set_tool("fill")
    ed.set_person(1)
    from desktop.review import edits

    alone = []
    lab, per = labels.copy(), ed.session.persons.copy()
    for k in range(5):
        t = time.perf_counter()
        edits.fill(lab, per, *seed, 7 if k % 2 == 0 else 6, 1)
        alone.append(time.perf_counter() - t)
    del lab, per
    print(f"  baseline, same run: the fill operation alone, no window:  {ms(alone)}")
    for name, scale in views:
        if scale is None:
            cv.fit()
        else:
            cv.center_on(*seed, scale=scale)
        cv.redraw()
        root.update()
        fills, undos, redos = [], [], []
        for k in range(5):
            ed.saving.worker.wait_idle(30)  # the reviewer's previous action is saved (as a second later)
            ed.set_label(7 if k % 2 == 0 else 6)
            x, y = point(*seed)
            fills.append(timed(root, lambda x=x, y=y: (canvas.event_generate("<ButtonPress-1>", x=x, y=y),
                                                       canvas.event_generate("<ButtonRelease-1>", x=x, y=y))))
            root.update()
            ed.saving.worker.wait_idle(30)
            undos.append(timed(root, lambda: canvas.event_generate("<Control-KeyPress-z>")))
            root.update()
            ed.saving.worker.wait_idle(30)
            redos.append(timed(root, lambda: canvas.event_generate("<Control-KeyPress-y>")))
            pump(root, 0.3)
        print(f"  {name:5s} fill: {ms(fills)}")
        print(f"  {name:5s} undo: {ms(undos)}")
        print(f"  {name:5s} redo: {ms(redos)}")
    t = time.perf_counter()
    ed.flush(wait=True)
    print(f"\nflush of pending saves: {1000 * (time.perf_counter() - t):.0f} ms; peak RSS {peak_rss_mb():.0f} MB")
    win.close(force=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
