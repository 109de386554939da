"""The review workspace in the real window (under Xvfb): opening a big workspace, saving verdicts.

    python bench/bench_review_window.py [--images 10000] [--runs 3] [--verdicts 300]

Figures printed (targets from the workspace issue in brackets), each the median of ``--runs``
fresh processes (worst in brackets), with peak RSS:

1. a workspace of ``--images`` images (a tenth with verdicts and notes) opened by the window
   (File ▸ Open workspace): time until ``open_workspace`` returns with the image shown and
   the first rows listed ("usable") [< 2 s]; time until every row is listed; the longest
   the window's event loop waited meanwhile (an ``after(5)`` tick measured during the fill:
   how long the window did not answer) [the list never blocks the window];
2. a verdict key (``Workspace.set_verdict`` plus the list, panel and counts updated on the
   window's thread): median, 95th percentile and worst [< 5 ms];
3. baseline in the same run: the same number of rows inserted into a bare ``ttk.Treeview``
   in one go (what filling the list cannot be faster than).

The images are hard links to one small JPEG (no parsing happens; the model is not loaded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.harness import peak_rss_mb, start_xvfb  # noqa: E402


def build(work: Path, n: int) -> Path:
    """A folder of ``n`` images (hard links) and its workspace, with some verdicts and notes."""
    from desktop.imageio import ImageEntry
    from desktop.review.workspace import Status, Workspace

    folder = work / f"photos-{n}"
    ws_path = work / f"review-{n}.m2fpws"
    if ws_path.exists():
        return ws_path
    folder.mkdir(parents=True, exist_ok=True)
    src = ROOT / "tests" / "data" / "m2fp-tiny" / "images" / "grace_hopper.jpg"
    first = folder / "img00000.jpg"
    if not first.exists():
        first.write_bytes(src.read_bytes())
    for i in range(1, n):
        p = folder / f"img{i:05d}.jpg"
        if not p.exists():
            os.link(first, p)
    with Workspace.open(ws_path) as ws:
        ids = ws.add_images([ImageEntry(folder / f"img{i:05d}.jpg", folder, Path(f"img{i:05d}.jpg"))
                             for i in range(n)])
        statuses = [Status.ACCEPTED, Status.NEEDS_FIX, Status.REJECTED]
        for k, iid in enumerate(ids[::10]):
            ws.set_verdict(iid, statuses[k % 3], note=f"looked at {k}")
    return ws_path


def child(ws_path: Path, verdicts: int) -> dict:
    import tkinter as tk
    from tkinter import ttk

    from desktop.app import create_root
    from desktop.app.main_window import MainWindow
    from desktop.app.settings import Settings

    root, _dnd = create_root()
    win = MainWindow(root, Settings(geometry="1400x900+0+0"), parser_factory=lambda *_: None, autostart_model=False)
    root.deiconify()
    root.update()
    gaps: list[float] = []
    state = {"last": time.perf_counter(), "on": True}

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - state["last"])
        state["last"] = now
        if state["on"]:
            root.after(5, tick)

    t0 = time.perf_counter()
    win.review.open_workspace(ws_path)
    usable = time.perf_counter() - t0
    n = len(win.images)
    state["last"] = time.perf_counter()
    root.after(5, tick)
    while len(win.file_list._entries) < n or win.review._restoring:
        root.update()
    filled = time.perf_counter() - t0
    state["on"] = False
    root.update()
    assert win.current_key is not None and len(win.file_list.visible_keys()) == n

    times = []
    values = ("needs_fix", "rejected")  # images not parsed here cannot be accepted
    keys = win.file_list.visible_keys()
    for i in range(verdicts):
        win.select(keys[i % 50])
        root.update()
        t = time.perf_counter()
        win.review.set_verdict(values[(i + i // 50) % 2])
        times.append(time.perf_counter() - t)
    root.update()
    win.close(force=True)

    base_root = tk.Tk()
    tree = ttk.Treeview(base_root, columns=("s",))
    tree.pack()
    t = time.perf_counter()
    for i in range(n):
        tree.insert("", "end", iid=str(i), text=f"img{i:05d}.jpg", values=("done · 2 persons",))
    base_root.update()
    baseline = time.perf_counter() - t
    base_root.destroy()
    first = times[0]
    times.sort()
    return {"first_verdict_ms": first * 1000, "images": n, "usable_s": usable, "filled_s": filled, "max_gap_ms": max(gaps, default=0) * 1000,
            "verdict_median_ms": statistics.median(times) * 1000,
            "verdict_p95_ms": times[int(0.95 * (len(times) - 1))] * 1000, "verdict_worst_ms": times[-1] * 1000,
            "baseline_insert_s": baseline, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--verdicts", type=int, default=300)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "m2fp-bench-review")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.verdicts)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ws_path = build(args.work, args.images)
    print(f"workspace of {args.images:,} images ready ({time.perf_counter() - t:.1f} s): {ws_path}")
    xvfb, display = start_xvfb()
    runs = []
    try:
        for _ in range(args.runs):
            env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT),
                   "M2FP_CONFIG_DIR": str(args.work / "config"), "M2FP_DATA_DIR": str(args.work / "data"),
                   "M2FP_LOG_DIR": str(args.work / "logs"), "M2FP_NO_ERROR_DIALOGS": "1"}
            proc = subprocess.run([sys.executable, __file__, "--child", str(ws_path), "--verdicts",
                                   str(args.verdicts)], capture_output=True, text=True, env=env, timeout=600)
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        xvfb.terminate()

    def fig(key: str, fmt: str = "{:.2f}") -> str:
        values = [r[key] for r in runs]
        return f"{fmt.format(statistics.median(values))} (worst {fmt.format(max(values))})"

    print(f"opening a workspace of {runs[0]['images']:,} images in the window, {len(runs)} runs:")
    print(f"  usable list and image shown:   {fig('usable_s')} s   [target < 2 s]")
    print(f"  every row listed:              {fig('filled_s')} s")
    print(f"  longest wait of the window:    {fig('max_gap_ms', '{:.0f}')} ms while the list filled")
    print(f"  baseline, bare Treeview insert of as many rows: {fig('baseline_insert_s')} s")
    print(f"saving a verdict on the window's thread ({args.verdicts} keys):")
    print(f"  median {fig('verdict_median_ms')} ms, p95 {fig('verdict_p95_ms')} ms, worst {fig('verdict_worst_ms')} ms"
          "   [target < 5 ms]")
    print(f"  (the first verdict of a session: {fig('first_verdict_ms')} ms)")
    print(f"peak RSS: {fig('peak_rss_mb', '{:.0f}')} MB")


if __name__ == "__main__":
    main()
