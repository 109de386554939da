"""Window responsiveness while parsing: event latency of the real window under Xvfb.

The app parses on every core, the parse worker (and every thread it starts) at a lower
priority (desktop/app/thread_priority.py). This measures what the user feels: how late
the window's event loop answers while a folder is parsed, against the same window idle.

Two probes run in the window's own event loop the whole time:

- ``after``: a callback scheduled every 20 ms; latency = how late it fired.
- ``event``: a synthetic pointer motion over the image every 50 ms (``event_generate``
  queued at the tail of Tk's event queue); latency = from posting to the end of its
  handling, which includes the window's own hover read-out. Tk merges motions that pile
  up in its queue (only the last is delivered), so each motion is recognised by its
  position and the handling of one answers every motion posted before it.

Phases: ``loading`` (the model loads in the worker), ``idle`` (model ready, nothing to
do: the baseline), ``parsing`` (a folder of photos, the first one shown). Printed per phase:
median, p95 and worst latency; per configuration: threads, worker priority, seconds per
photo, how many cores were busy while parsing and the CPU time taken by threads at
lowered priority.

Configurations (each in its own process, same display, same model):

- ``new``: every core, worker at lower priority (what the app does);
- ``old``: one core left to the window, normal priority (what it did before).

The model is the full-size architecture with random weights (bench/common.py; speed does
not depend on weight values) or, with ``--model tiny``, the tests' tiny model.

Usage: python bench/bench_gui_latency.py [--model full|tiny] [--photos 4] [--size 1920x1080]
       [--idle 5] [--configs new,old] [--runtime auto] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import ROOT, SOURCE_PHOTO, make_full_model_dir, peak_rss_mb  # noqa: E402
from bench.harness import start_xvfb  # noqa: E402,F401 - also imported from here by other benchmarks

TINY_MODEL = ROOT / "tests" / "data" / "m2fp-tiny" / "model"
CONFIGS = ("new", "old")
AFTER_MS = 20
EVENT_MS = 50
TARGET_P95_MS = 50.0


# --------------------------------------------------------------------------- child: one window
class Probes:
    """The two latency probes, recording into the current phase."""

    def __init__(self, root, target):
        self.root = root
        self.target = target  # the widget that receives the synthetic motions (the image view)
        self.phase = "loading"
        self.samples: dict[str, dict[str, list[float]]] = {}
        self._due = 0.0
        self._posted: dict[tuple[int, int], float] = {}  # (x, y) -> when posted
        self._sequence = 0
        self._stopped = False
        target.bind("<Motion>", self._motion_handled, add="+")
        self._schedule_after()
        root.after(EVENT_MS, self._post_event)

    def _record(self, kind: str, seconds: float) -> None:
        self.samples.setdefault(self.phase, {}).setdefault(kind, []).append(seconds)

    def _schedule_after(self) -> None:
        self._due = time.perf_counter() + AFTER_MS / 1000
        self.root.after(AFTER_MS, self._after_fired)

    def _after_fired(self) -> None:
        self._record("after", max(0.0, time.perf_counter() - self._due))
        if not self._stopped:
            self._schedule_after()

    def _post_event(self) -> None:
        if self._stopped:
            return
        w, h = self.target.winfo_width(), self.target.winfo_height()
        n = self._sequence = self._sequence + 1
        where = (int(w * 0.3) + n % 200, int(h * 0.3) + (n // 200) % 200)  # unique among those in flight
        self._posted[where] = time.perf_counter()
        self.target.event_generate("<Motion>", x=where[0], y=where[1], when="tail")
        self.root.after(EVENT_MS, self._post_event)

    def _motion_handled(self, event) -> None:
        posted = self._posted.pop((event.x, event.y), None)
        if posted is None:
            return
        now = time.perf_counter()
        for where, t in list(self._posted.items()):  # merged into this one by Tk: answered now
            if t < posted:
                del self._posted[where]
                self._record("event", now - t)
        self._record("event", now - posted)

    def stop(self) -> None:
        self._stopped = True


def thread_cpu() -> dict[int, tuple[int, float]]:
    """{thread id: (nice, CPU seconds)} for this process's threads (Linux /proc)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        utime, stime, nice = int(fields[11]), int(fields[12]), int(fields[16])
        out[int(task.name)] = (nice, (utime + stime) / tick)
    return out


def child(config: str, model_dir: Path, photos: Path, idle_s: float, runtime: str) -> dict:
    import torch

    from desktop.app import create_root, worker
    from desktop.app.main_window import MainWindow
    from desktop.app.session import State
    from desktop.app.settings import Settings
    from desktop.app.thread_priority import usable_cores
    from desktop.engine import HumanParser

    cores = usable_cores()
    if config == "old":
        threads = max(1, cores - 1)
        worker.lower_this_thread = lambda: "normal (old configuration)"
    else:
        threads = cores

    def factory(folder, progress):
        return HumanParser.load(folder, runtime=runtime, num_threads=threads, progress=progress)

    root, dnd = create_root()
    win = MainWindow(root, Settings(model_dir=str(model_dir), geometry="1280x800+0+0"), parser_factory=factory,
                     dnd=dnd)
    root.deiconify()
    probes = Probes(root, win.canvas_view.canvas)
    state: dict = {"t0": time.perf_counter()}

    def done() -> bool:
        return len(win.images) > 0 and all(e.state in (State.DONE, State.FAILED) for e in win.images) and (
            win.worker is None or not win.worker.busy)

    def control() -> None:
        now = time.perf_counter()
        if probes.phase == "loading":
            if win.model_state == "missing":
                state["error"] = "the model did not load"
                root.quit()
                return
            if win.model_state == "ready":
                state["load_s"] = now - state["t0"]
                probes.phase = "idle"
                state["idle_t0"] = now
        elif probes.phase == "idle" and now - state["idle_t0"] >= idle_s:
            probes.phase = "parsing"
            state["cpu0"], state["threads0"], state["parse_t0"] = os.times(), thread_cpu(), now
            win.open_paths([str(photos)])
        elif probes.phase == "parsing" and done():
            times1, threads1 = os.times(), thread_cpu()
            wall = now - state["parse_t0"]
            cpu = (times1.user + times1.system) - (state["cpu0"].user + state["cpu0"].system)
            by_nice: dict[int, float] = {}
            for tid, (nice, seconds) in threads1.items():
                before = state["threads0"].get(tid, (nice, 0.0))[1]
                by_nice[nice] = by_nice.get(nice, 0.0) + max(0.0, seconds - before)
            state.update(parse_wall_s=wall, cores_busy=cpu / wall if wall else 0.0,
                         cpu_by_nice={str(k): round(v, 2) for k, v in sorted(by_nice.items())},
                         threads_by_nice={str(n): sum(1 for v in threads1.values() if v[0] == n)
                                          for n in sorted({v[0] for v in threads1.values()})})
            probes.phase = "after"
            probes.stop()
            root.quit()
            return
        root.after(100, control)

    root.after(100, control)
    root.after(1000 * 1800, root.quit)  # never hang a benchmark run
    root.mainloop()
    info = dict(win.model_info)
    seconds = [e.seconds for e in win.images if e.seconds is not None]
    out = {
        "config": config,
        "cores": cores,
        "threads": int(info.get("threads", threads)),
        "torch_threads": torch.get_num_threads(),
        "runtime": info.get("runtime", "?"),
        "worker_priority": info.get("worker_priority", "?"),
        "photos_parsed": sum(1 for e in win.images if e.state is State.DONE),
        "photos_failed": sum(1 for e in win.images if e.state is State.FAILED),
        "parse_s": seconds,
        "phases": {},
        "peak_rss_mb": peak_rss_mb(),
        **{k: v for k, v in state.items() if k in ("error", "load_s", "parse_wall_s", "cores_busy", "cpu_by_nice",
                                                     "threads_by_nice")},
    }
    for phase, kinds in probes.samples.items():
        if phase == "after":
            continue
        out["phases"][phase] = {kind: summary(values) for kind, values in kinds.items()}
    worker_thread = win.worker
    win.close(force=True)
    if worker_thread is not None:  # let it leave native code before the interpreter exits
        worker_thread.join(120)
    return out


def summary(values: list[float]) -> dict:
    ms = np.asarray(values) * 1000.0
    return {"n": int(ms.size), "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "worst_ms": float(ms.max())}


# --------------------------------------------------------------------------- parent
def make_photo_folder(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """``count`` different JPEGs of ``size`` made from a real photo (shifted crops, so no two are alike)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    src = Image.open(SOURCE_PHOTO).convert("RGB")
    for i in range(count):
        path = folder / f"photo_{i + 1:02d}.jpg"
        if not path.exists():
            w, h = src.size
            crop = src.crop((i * 7 % 40, i * 11 % 40, w - (i * 5 % 40), h - (i * 3 % 40)))
            crop.resize(size, Image.BICUBIC).save(path, quality=92)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("full", "tiny"), default="full")
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of idle baseline")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--runtime", default="auto", choices=("auto", "torch", "openvino"))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "m2fp-bench-gui")
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child is not None:
        config, model_dir, photos = args.child
        print(json.dumps(child(config, Path(model_dir), Path(photos), args.idle, args.runtime)))
        return

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    model_dir = TINY_MODEL if args.model == "tiny" else make_full_model_dir(work / "model-full")
    w, h = (int(v) for v in args.size.split("x"))
    photos = make_photo_folder(work / f"photos-{args.size}-{args.photos}", args.photos, (w, h))
    xvfb, display = start_xvfb()
    results = []
    try:
        for config in args.configs.split(","):
            env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT),
                   "M2FP_CONFIG_DIR": str(work / f"config-{config}"), "M2FP_LOG_DIR": str(work / "logs"),
                   "M2FP_CACHE_DIR": str(work / "cache"), "M2FP_NO_ERROR_DIALOGS": "1"}
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", config, str(model_dir), str(photos),
                   "--idle", str(args.idle), "--runtime", args.runtime]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
            lines = proc.stdout.strip().splitlines()
            if lines and lines[-1].startswith("{"):
                results.append(json.loads(lines[-1]))
                if proc.returncode != 0:
                    results[-1]["exit"] = f"exit code {proc.returncode} after reporting: {proc.stderr.strip()[-200:]}"
            else:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
                results.append({"config": config, "error": " | ".join(tail)})
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    report(results, args)


def report(results: list[dict], args: argparse.Namespace) -> None:
    print(f"Window event latency, model {args.model}, {args.photos} photos of {args.size}, runtime {args.runtime}, "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"Probes: after({AFTER_MS} ms) lateness; synthetic <Motion> every {EVENT_MS} ms, posted to handled.\n")
    for r in results:
        if "error" in r:
            print(f"[{r['config']}] failed: {r['error']}")
            continue
        parse = r["parse_s"]
        print(f"[{r['config']}] {r['threads']} parsing thread(s) of {r['cores']} cores, runtime {r['runtime']}, "
              f"worker priority: {r['worker_priority']}")
        print(f"    model load {r.get('load_s', 0):.1f} s; {r['photos_parsed']} photos parsed in "
              f"{r.get('parse_wall_s', 0):.1f} s (median {np.median(parse) if parse else 0:.2f} s per photo, "
              f"worst {max(parse) if parse else 0:.2f} s); cores busy while parsing {r.get('cores_busy', 0):.2f}")
        print(f"    CPU seconds by thread nice value while parsing: {r.get('cpu_by_nice')}; "
              f"threads by nice at the end: {r.get('threads_by_nice')}; peak RSS {r['peak_rss_mb']:.0f} MB")
        if r.get("exit"):
            print(f"    note: {r['exit']}")
        print(f"    {'phase':<9}{'probe':<7}{'n':>6}{'median ms':>11}{'p95 ms':>9}{'worst ms':>10}")
        for phase in ("idle", "parsing", "loading"):
            for kind in ("after", "event"):
                s = r["phases"].get(phase, {}).get(kind)
                if s:
                    flag = "  <- over target" if phase == "parsing" and s["p95_ms"] > TARGET_P95_MS else ""
                    print(f"    {phase:<9}{kind:<7}{s['n']:>6}{s['median_ms']:>11.1f}{s['p95_ms']:>9.1f}"
                          f"{s['worst_ms']:>10.1f}{flag}")
        print()
    print(f"Target: p95 under {TARGET_P95_MS:.0f} ms while parsing. 'idle' is the baseline (same window, nothing "
          "running). The machine may be shared: compare phases within one run.")


if __name__ == "__main__":
    main()
