"""The app's first overlay after a warm start (issue 19): how long from opening a photo?

Full-size M2FP (random weights), OpenVINO exact, one 1920x1080 JPEG, the real window under
Xvfb, every start a process of its own with a warm cache (converted model, and the compiled
model for the photo's input size, from an earlier run of the command line on the same photo).
Two ways to open the photo (see gui_first_overlay_child.py): ``at-once`` (as soon as the window
shows, the model still loading) and ``when-ready`` (after the model is ready and the worker's
warm-up ran). Printed per tree (``after`` = this tree; ``before`` = a git worktree of
``--before REF``), interleaved round by round: medians and every run of the seconds from
opening the photo to the overlay, and from process start to the window, to the model ready
and to the overlay; whether torch was imported; the load average.

Usage: python bench/bench_first_overlay.py [--rounds 3] [--before HEAD] [--work DIR]
(with the same ``--work`` as bench_batch.py the model, photos and warm caches are reused).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_batch import base_worktree, make_batch  # noqa: E402
from bench.bench_gui_latency import start_xvfb  # noqa: E402
from bench.common import ROOT, make_full_model_dir  # noqa: E402

KEYS = ("open_to_overlay", "window", "ready", "overlay")


def warm_cache(tree: Path, model: Path, photo: Path, env: dict[str, str], out: Path) -> None:
    """Convert, check and compile for the photo's size into ``env``'s cache (the command line)."""
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "desktop.cli", str(photo), "--out", str(out), "--model", str(model),
                    "--runtime", "openvino", "--quiet"], cwd=tree, env={**os.environ, **env, "PYTHONPATH": str(tree)},
                   check=True, capture_output=True, timeout=1800)


def one_start(tree: Path, model: Path, photo: Path, when: str, env: dict[str, str]) -> dict:
    """One start of the window. Settings, workspaces and logs are fresh each time: the app keeps
    the results of photos it parsed (its workspace), which would show without parsing."""
    private = Path(tempfile.mkdtemp(prefix="m2fp-overlay-start-"))
    env = {**env, **{var: str(private / sub) for var, sub in (("M2FP_CONFIG_DIR", "config"), ("M2FP_DATA_DIR", "data"),
                                                               ("M2FP_LOG_DIR", "log"))}}
    load_avg = os.getloadavg()[0]
    start = time.time()
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gui_first_overlay_child.py"), str(model),
                               str(photo), when, repr(start)], cwd=tree,
                              env={**os.environ, **env, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                              timeout=900)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-3:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"] = (load_avg + os.getloadavg()[0]) / 2
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", metavar="REF", help="also measure this git commit (a worktree)")
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="m2fp-bench-overlay-"))
    model = make_full_model_dir(work / "model-confident", confident=True)
    photo = make_batch(work / "photos", 1)[0]
    trees = {"after": ROOT}
    if args.before:
        trees = {"before": base_worktree(args.before, work / "before-tree"), **trees}
    xvfb, display = start_xvfb()
    results: dict[str, list[dict]] = {}
    try:
        envs = {}
        for name, tree in trees.items():
            envs[name] = {"DISPLAY": display, "M2FP_CACHE_DIR": str(work / f"cache-one-{name}"),
                          "M2FP_NATIVE_DIR": str(work / f"native-{name}"), "M2FP_LANG": "en"}
            warm_cache(tree, model, photo, envs[name], work / "out-overlay")
        print(f"First overlay after a warm start: full-size architecture, OpenVINO exact, one 1920x1080 photo, "
              f"{os.cpu_count()} CPUs, {args.rounds} rounds", flush=True)
        for _ in range(args.rounds):
            for when in ("at-once", "when-ready"):
                for name, tree in trees.items():
                    r = one_start(tree, model, photo, when, envs[name])
                    results.setdefault(f"{name}, {when}", []).append(r)
                    print(f"  {name}, {when}: {r}", flush=True)
    finally:
        xvfb.kill()
        xvfb.wait()
    print("\nSummary (medians, s; every run in brackets):")
    for name, runs in results.items():
        ok = [r for r in runs if "overlay" in r]
        if not ok:
            print(f"  {name}: failed: {runs[0].get('error')}")
            continue
        parts = []
        for key in KEYS:
            values = [r[key] for r in ok if key in r]
            if not values:  # "ready" when the overlay came first (at-once: the child stops there)
                continue
            parts.append(f"{key} {statistics.median(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})")
        torch_runs = sum(bool(r.get("torch")) for r in ok)
        print(f"  {name}: " + "; ".join(parts) + f"; torch imported in {torch_runs} of {len(ok)}; "
              f"load avg {statistics.median(r['load'] for r in ok):.1f}")
    print(f"Work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
