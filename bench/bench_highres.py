"""Camera-resolution photos: what comes after the network, before and after, side by side.

The network's input is the same for every photo (short side 640), so its cost does not grow
with the photo; everything after it (post-processing, the label, colour and overlay PNGs, the
JSON's RLE masks) works at the photo's own resolution. This benchmark measures, for a
1920x1080, a 12-megapixel (4032x3024) and a 48-megapixel (8000x6000) photo, on the full-size
M2FP with random weights whose class head is made confident (``bench/common.py``: about a
hundred kept instances covering most of the photo, the worst case), OpenVINO exact:

- the whole command line from start to exit with all four outputs (``python -m desktop.cli``):
  wall time and peak RSS (the child's own ``VmHWM``, read at exit);
- the stages in a separate process: decode, network (``forward``), post-processing, and
  each output written on its own (labels, color, overlay, json); "after network" is
  post-processing plus the four outputs;
- with ``--gui``, the window (under Xvfb) opening the photo: seconds from opening it to its
  overlay on screen, then 100 % zoom, fit, a hover read-out and one person shown alone
  (drawn from the result at screen resolution), and the window process's peak RSS.

Two code trees run in the same session, interleaved photo by photo and round by round (the
machine is shared; its speed drifts): ``--before`` (default: a ``git worktree`` of ``HEAD`` that
the caller made, e.g. ``git worktree add /tmp/base HEAD``) and ``--after`` (this checkout).
Each tree gets its own OpenVINO cache, converted by an untimed first run.

Usage: python bench/bench_highres.py [--before /tmp/base] [--rounds 3] [--sizes 1080p,12mp,48mp]
       [--gui] [--gui-rounds 1] [--work DIR]
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
SIZES = {"1080p": (1920, 1080), "12mp": (4032, 3024), "48mp": (8000, 6000)}
OUTPUTS = ("labels", "color", "overlay", "json")


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource  # noqa: PLC0415 - not Linux: the rusage peak

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- children

def prepare(work: Path) -> None:
    """The model folder (random weights, confident class head) and the photos."""
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from bench.common import SOURCE_PHOTO, make_full_model_dir

    make_full_model_dir(work / "m2fp-full-confident", confident=True)
    src = Image.open(SOURCE_PHOTO).convert("RGB")
    for name, size in SIZES.items():
        path = work / "photos" / name / f"photo_{name}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            src.resize(size, Image.BICUBIC).save(path, quality=92)


def cli_child(report: Path, argv: list[str]) -> None:
    """The command line as a user runs it; its peak RSS from start to exit goes to ``report``."""
    import atexit
    import runpy

    t0 = time.perf_counter()
    atexit.register(lambda: report.write_text(json.dumps({"peak_rss_mb": _vmhwm_mb(),
                                                          "seconds": time.perf_counter() - t0})))
    sys.argv = ["desktop.cli", *argv]
    runpy.run_module("desktop.cli", run_name="__main__")


def stage_child(model: Path, photo: Path, out: Path) -> dict:
    """Decode, network, post-processing and each output timed separately, in this tree."""
    from desktop.engine import HumanParser
    from desktop.export import ExportOptions, export_result
    from desktop.imageio import load_image, sha256_file

    parser = HumanParser.load(model, runtime="openvino", precision="exact")
    t0 = time.perf_counter()
    image = load_image(photo)
    decode = time.perf_counter() - t0
    parser.parse(image.rgb)  # compiles the network for this input size: not timed
    result = parser.parse(image.rgb, notes=list(image.notes))
    digest = sha256_file(photo)
    stages = {"decode": decode, "network": result.timings["forward"], "postprocess": result.timings["postprocess"]}
    for fmt in OUTPUTS:
        t0 = time.perf_counter()
        export_result(result, image, out, ExportOptions(formats=frozenset({fmt})), sha256=digest)
        stages[fmt] = time.perf_counter() - t0
    stages["after_network"] = stages["postprocess"] + sum(stages[f] for f in OUTPUTS)
    sizes = {fmt: sum(p.stat().st_size for p in out.iterdir() if p.name.endswith(suffix))
             for fmt, suffix in (("labels", "_labels.png"), ("color", "_color.png"), ("overlay", "_overlay.png"),
                                 ("json", ".json"))}
    return {"stages": stages, "instances": [len(result.persons), len(result.parts)], "bytes": sizes,
            "peak_rss_mb": _vmhwm_mb()}


def gui_child(model: Path, photo: Path) -> dict:
    """The window opening one photo: time to its overlay on screen, then zoom, fit, hover and a
    person shown alone; peak RSS of the window's process."""
    from desktop.app import create_root
    from desktop.app.main_window import MainWindow
    from desktop.app.session import State
    from desktop.app.settings import Settings
    from desktop.engine import HumanParser

    def factory(folder, progress):
        return HumanParser.load(folder, runtime="openvino", precision="exact", progress=progress)

    root, _ = create_root()
    win = MainWindow(root, Settings(model_dir=str(model), geometry="1280x800+0+0"), parser_factory=factory)
    root.deiconify()
    state: dict = {}

    def step() -> None:
        view = win.canvas_view
        now = time.perf_counter()
        if "opened" not in state:
            if win.model_state == "ready":
                state["opened"] = now
                win.open_paths([str(photo)])
        elif "shown" not in state:
            entry = next(iter(win.images), None)
            if entry is not None and entry.state is State.FAILED:
                state["error"] = "the photo failed"
                root.quit()
                return
            if entry is not None and entry.state is State.DONE and view.result is not None and view.render_count:
                view.redraw()
                state["shown"] = now
                state["overlay_s"] = time.perf_counter() - state["opened"]
                timings = view.result.timings or {}
                # The network (and compiling it for this input size, once per size): the same
                # for every photo, so the window's own cost is the rest.
                state["network_s"] = float(timings.get("forward", 0.0)) + float(timings.get("compile", 0.0))
                t0 = time.perf_counter()
                view.zoom_100()
                view.redraw()
                view.fit()
                view.redraw()
                cw, ch = view._size
                view.hover_info(cw / 2, ch / 2)
                if view.result.persons:
                    view.set_options(solo_person=view.result.persons[0].id)
                    view.redraw()
                state["views_s"] = time.perf_counter() - t0
                root.quit()
                return
        root.after(50, step)

    root.after(50, step)
    root.after(1000 * 1800, root.quit)
    root.mainloop()
    out = {"peak_rss_mb": _vmhwm_mb(),
           **{k: v for k, v in state.items() if k in ("overlay_s", "network_s", "views_s", "error")}}
    worker = win.worker
    win.close(force=True)
    if worker is not None:
        worker.join(120)
    return out


def _xvfb() -> tuple[subprocess.Popen, str]:
    import shutil

    exe = shutil.which("Xvfb")
    if exe is None:
        sys.exit("--gui needs Xvfb (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b""
    while not number.endswith(b"\n"):
        chunk = os.read(read_fd, 16)
        if not chunk:
            break
        number += chunk
    os.close(read_fd)
    return proc, f":{number.decode().strip()}"


# --------------------------------------------------------------------------- parent

def _env(tree: Path, work: Path, tag: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "M2FP_CACHE_DIR": str(work / f"cache-{tag}")}
    env.pop("M2FP_NATIVE_DIR", None)
    return env


def run_cli(tree: Path, work: Path, tag: str, photo: Path, model: Path) -> dict:
    out = work / "out" / f"cli-{tag}-{photo.stem}"
    report = work / f"cli-{tag}.json"
    report.unlink(missing_ok=True)
    argv = [str(photo), "--out", str(out), "--model", str(model), "--runtime", "openvino", "--precision", "exact",
            "--quiet"]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--cli-child", str(report), "--", *argv],
                          cwd=tree, env=_env(tree, work, tag), capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not report.exists():
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-3:]}
    return {**json.loads(report.read_text()), "wall": wall, "load": load}


def run_stages(tree: Path, work: Path, tag: str, photo: Path, model: Path) -> dict:
    out = work / "out" / f"stages-{tag}-{photo.stem}"
    load = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--stage-child", str(model), str(photo),
                           str(out)], cwd=tree, env=_env(tree, work, tag), capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-3:]}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "load": load}


def run_gui(tree: Path, work: Path, tag: str, photo: Path, model: Path, display: str) -> dict:
    load = os.getloadavg()[0]
    # Fresh settings and data folders: the window must parse, not reuse a result it stored earlier.
    home = Path(tempfile.mkdtemp(prefix=f"gui-{tag}-", dir=work))
    env = {**_env(tree, work, tag), "DISPLAY": display, "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data"), "XDG_STATE_HOME": str(home / "state")}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--gui-child", str(model), str(photo)],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-3:]}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "load": load}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, default=Path(tempfile.gettempdir()) / "base")
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "m2fp-bench-highres")
    ap.add_argument("--gui", action="store_true", help="also open each photo in the window (needs Xvfb)")
    ap.add_argument("--gui-rounds", type=int, default=1, help="rounds that also open the window (default 1)")
    ap.add_argument("--gui-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cli-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--stage-child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()

    if args.prepare:
        prepare(args.prepare)
        return
    if args.cli_child:
        cli_child(args.cli_child, [a for a in rest if a != "--"])
        return
    if args.stage_child:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(stage_child(*args.stage_child)))
        return
    if args.gui_child:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(gui_child(*args.gui_child)))
        return

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--prepare", str(work)], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    model = work / "m2fp-full-confident"
    sizes = args.sizes.split(",")
    photos = {name: work / "photos" / name / f"photo_{name}.jpg" for name in sizes}
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    print(f"{os.cpu_count()} cores; before = {trees['before']}, after = {trees['after']}; {args.rounds} rounds", flush=True)
    for tag, tree in trees.items():  # converts the model for OpenVINO (and builds the kernel): untimed
        first = run_cli(tree, work, tag, photos[sizes[0]], model)
        print(f"  {tag}: first start {first.get('wall', 0):.1f} s {first.get('error', '')}", flush=True)

    cli: dict[tuple[str, str], list[dict]] = {}
    stages: dict[tuple[str, str], list[dict]] = {}
    gui: dict[tuple[str, str], list[dict]] = {}
    xvfb, display = _xvfb() if args.gui else (None, "")
    for r in range(args.rounds):
        for name in sizes:
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for tag in order:
                c = run_cli(trees[tag], work, tag, photos[name], model)
                s = run_stages(trees[tag], work, tag, photos[name], model)
                cli.setdefault((tag, name), []).append(c)
                stages.setdefault((tag, name), []).append(s)
                if args.gui and r < args.gui_rounds:
                    g = run_gui(trees[tag], work, tag, photos[name], model, display)
                    gui.setdefault((tag, name), []).append(g)
                    print(f"  round {r + 1} {name:6s} {tag:6s} window: overlay after {g.get('overlay_s', float('nan')):.1f} s, "
                          f"{g.get('peak_rss_mb', float('nan')):.0f} MB {g.get('error', '')}", flush=True)
                print(f"  round {r + 1} {name:6s} {tag:6s} cli {c.get('wall', float('nan')):6.1f} s "
                      f"{c.get('peak_rss_mb', float('nan')):6.0f} MB  after network "
                      f"{s.get('stages', {}).get('after_network', float('nan')):6.2f} s  load {c.get('load', 0):.1f}"
                      f"{'  ' + str(c.get('error') or s.get('error')) if 'error' in c or 'error' in s else ''}",
                      flush=True)
    if xvfb is not None:
        xvfb.terminate()
    report(trees, sizes, cli, stages, gui)


def report(trees: dict, sizes: list[str], cli: dict, stages: dict, gui: dict) -> None:
    cols = ["decode", "network", "postprocess", *OUTPUTS, "after_network"]
    print("\nMedians (seconds); CLI = whole process from start to exit with all outputs; peak RSS = its VmHWM")
    header = f"{'photo':<7} {'code':<7} {'CLI s':>7} {'peak RSS MB':>11} " + " ".join(f"{c:>13}" for c in cols)
    print(header)
    print("-" * len(header))
    after_net: dict[tuple[str, str], float] = {}
    for name in sizes:
        for tag in trees:
            runs = [c for c in cli.get((tag, name), []) if "error" not in c]
            st = [s["stages"] for s in stages.get((tag, name), []) if "error" not in s]
            med = {c: _median([s[c] for s in st]) for c in cols}
            after_net[(tag, name)] = med["after_network"]
            wall = _median([c["wall"] for c in runs])
            rss = max([c["peak_rss_mb"] for c in runs], default=float("nan"))
            print(f"{name:<7} {tag:<7} {wall:>7.1f} {rss:>11.0f} " + " ".join(f"{med[c]:>13.2f}" for c in cols))
    print("\nPeak RSS is the largest of the rounds; worst CLI wall time per photo and code:")
    for name in sizes:
        print("  " + name + ": " + ", ".join(
            f"{tag} {max([c['wall'] for c in cli.get((tag, name), []) if 'error' not in c], default=float('nan')):.1f} s"
            for tag in trees))
    if "1080p" in sizes:
        print("\nAfter-network time relative to 1920x1080 (target: 12 MP <= 1.5x, 48 MP <= 3x):")
        for tag in trees:
            base = after_net.get((tag, "1080p"))
            rel = ", ".join(f"{n} {after_net[(tag, n)] / base:.2f}x" for n in sizes if n != "1080p" and base)
            print(f"  {tag}: {rel}")
        base = after_net.get(("before", "1080p"))
        if base:
            print("  after, against before's 1920x1080: " + ", ".join(
                f"{n} {after_net[('after', n)] / base:.2f}x" for n in sizes if n != "1080p"))
    if gui:
        print("\nWindow: seconds from opening the photo to its overlay on screen (median), the network's share"
              " (forward + compile), the rest, then zoom/fit/hover/solo; peak RSS (largest):")
        rest: dict[tuple[str, str], float] = {}
        for name in sizes:
            for tag in trees:
                runs = [g for g in gui.get((tag, name), []) if "error" not in g]
                rest[(tag, name)] = _median([g["overlay_s"] - g.get("network_s", 0.0) for g in runs])
                print(f"  {name:<7} {tag:<7} overlay {_median([g['overlay_s'] for g in runs]):6.1f} s  network "
                      f"{_median([g.get('network_s', float('nan')) for g in runs]):5.1f} s  rest "
                      f"{rest[(tag, name)]:6.1f} s  views {_median([g['views_s'] for g in runs]):5.2f} s  peak RSS "
                      f"{max([g['peak_rss_mb'] for g in runs], default=float('nan')):6.0f} MB")
        if "1080p" in sizes:
            print("  window's rest relative to 1920x1080 (target: 12 MP <= 1.5x, 48 MP <= 3x): " + "; ".join(
                f"{tag} " + ", ".join(f"{n} {rest[(tag, n)] / rest[(tag, '1080p')]:.2f}x" for n in sizes if n != "1080p")
                for tag in trees if rest.get((tag, "1080p"))))
    sample = {k: v for k, v in stages.items() if v and "error" not in v[0]}
    if sample:
        print("\nOutput sizes (MB) and instances (persons/parts):")
        for (tag, name), runs in sorted(sample.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            b = runs[0]["bytes"]
            print(f"  {name:<7} {tag:<7} " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in b.items())
                  + f"  instances {runs[0]['instances'][0]}/{runs[0]['instances'][1]}")


if __name__ == "__main__":
    main()
