"""Batch benchmark (issue 19): the first photo, a pipelined batch, streams, and Ray, in one run.

Full-size M2FP (bench/full-architecture-configuration.json) with random weights, OpenVINO
exact, JPEG photos of 1920x1080. Every configuration runs in a process of its own (its peak
RSS is its own), and the configurations are interleaved round after round, so a slow stretch
of a shared machine hits all of them alike. Printed: medians (and every run), peak RSS, the
load average while each ran.

1. **One photo, whole process** (``python -m desktop.cli PHOTO --out DIR``, start to exit,
   through ``bench/cli_timed.py``, which stamps the stages): ``cold`` (empty cache: conversion,
   check, compile), ``warm, compile`` (converted model cached, compiled model not) and ``warm``
   (both cached: the compiled model is imported from OpenVINO's model cache), each for this
   tree (``after``) and, with ``--before REF``, for a git worktree of REF (``before``; e.g.
   ``--before HEAD`` for the committed code), interleaved round by round. Printed with a
   breakdown: python start and imports (torch, if the tree imports it), model load, compile or
   import of the compiled model, network, decode and preprocessing, post-processing, writing
   the outputs, and the rest (exit), and whether the process imported torch.
2. **Batch of N photos** (default 20), model loaded and the input size compiled beforehand,
   photos per minute of the loop alone: ``sequential`` (the command line's loop before issue
   19: ``desktop.cli.process`` per photo) against ``pipelined`` (``desktop.pipeline``), and
   the pipeline with other thread and stream counts (``--grid``).
3. **Ray**: the same N photos through ``desktop.cluster_ray`` on a local Ray instance with
   2 CPUs (one actor of 2 threads): photos per minute from the first result to the last
   (steady state) and for the whole run (Ray's start, the actor loading the model).

Usage: python bench/bench_batch.py [--photos 20] [--rounds 2] [--work DIR]
       [--weights confident|plain] [--grid 2x1,2x2,1x1] [--skip one,batch,ray] [--before REF]
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

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.common import ROOT, make_full_model_dir, make_photos, peak_rss_mb  # noqa: E402


def make_batch(folder: Path, n: int) -> list[Path]:
    """``n`` different 1920x1080 JPEGs (the benchmark photo shifted), so no two files are equal."""
    folder.mkdir(parents=True, exist_ok=True)
    src = np.asarray(Image.open(make_photos(folder.parent / "source")["1920x1080"]).convert("RGB"))
    paths = []
    for i in range(n):
        path = folder / f"photo_{i:03d}.jpg"
        if not path.exists():
            Image.fromarray(np.roll(src, 37 * i, axis=1)).save(path, quality=92)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- children

def child_batch(model: Path, photos: Path, out: Path, mode: str, threads: int, streams: int) -> dict:
    """One batch configuration in this process; photos per minute of the loop alone."""
    import desktop.cli as cli
    from desktop.engine import HumanParser
    from desktop.export import ExportOptions
    from desktop.imageio import list_images, load_image
    from desktop.pipeline import parse_jobs

    parser = HumanParser.load(model, runtime="openvino", precision="exact", num_threads=threads)
    if streams > 1:
        parser.use_streams(streams)
    jobs = cli.plan_jobs(list_images([photos]), out, set())
    options = ExportOptions()
    # The input size compiled (and the pages warm) before timing: the loop is what is compared.
    parser.parse(load_image(jobs[0].entry.path).rgb)
    load_avg = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    if mode == "sequential":
        for job in jobs:
            cli.process(job, parser, options, 0)
    else:
        for _job, outcome in parse_jobs(jobs, parser, load=lambda job: load_image(job.entry.path),
                                        write=lambda job, image, result, s: cli.write_outputs(
                                            job, image, result, s, options)):
            outcome.result()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "per_min": 60.0 * len(jobs) / seconds, "cpu": time.process_time() - c0,
            "rss_mb": peak_rss_mb(), "load": (load_avg + os.getloadavg()[0]) / 2, "runtime": parser.runtime.name,
            "streams": parser.streams}


def child_ray(model: Path, photos: Path, out: Path, threads: int) -> dict:
    """The batch on a local Ray instance with 2 CPUs: steady-state and whole-run photos per minute."""
    import ray

    import desktop.cli as cli
    from desktop.cluster_ray import RayBatch
    from desktop.export import ExportOptions
    from desktop.imageio import list_images

    load_avg = os.getloadavg()[0]
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT),
                                       **{k: os.environ[k] for k in ("M2FP_CACHE_DIR", "M2FP_NATIVE_DIR") if k in os.environ}}})
    jobs = cli.plan_jobs(list_images([photos]), out, set())
    batch = RayBatch(model, address=None, runtime="openvino", precision="exact", threads=threads)
    times = []
    for _job, outcome, _result in batch.outcomes(jobs, options=ExportOptions(), max_pixels=0):
        outcome.result()
        times.append(time.perf_counter())
    total = time.perf_counter() - t0
    first = times[0]
    after_first = [t for t in times if t > first + 0.5]  # results come in batches (BATCH_SIZE)
    steady = 60.0 * len(after_first) / (times[-1] - first) if after_first else 0.0
    ray.shutdown()
    return {"seconds": total, "per_min": 60.0 * len(jobs) / total, "steady_per_min": steady,
            "first_result_s": first - t0, "rss_mb": peak_rss_mb(), "load": (load_avg + os.getloadavg()[0]) / 2,
            "note": "driver RSS only (the actor is another process)"}


# --------------------------------------------------------------------------- parent

def run_child(args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, timeout=3600)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-3:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


BREAKDOWN = ("start+imports", "model load", "compile/import", "network", "decode+prep", "postprocess", "writing",
             "rest")


def one_photo(model: Path, photo: Path, out: Path, env: dict[str, str], tree: Path = ROOT) -> dict:
    """The command line of ``tree`` on one photo, start to exit, with its own peak RSS (wait4)
    and the breakdown of its time (see the module docstring)."""
    shutil.rmtree(out, ignore_errors=True)
    stamps_file = out.with_name(out.name + "-stamps.json")
    stamps_file.unlink(missing_ok=True)
    load_avg = os.getloadavg()[0]
    wall0, t0 = time.time(), time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "cli_timed.py"), str(stamps_file), str(photo),
                             "--out", str(out), "--model", str(model), "--runtime", "openvino", "--quiet"],
                            cwd=tree, env={**os.environ, **env, "PYTHONPATH": str(tree)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if status != 0:
        return {"error": err.strip().splitlines()[-2:]}
    doc = json.loads((out / f"{photo.stem}.json").read_text())
    st = json.loads(stamps_file.read_text())
    tm = doc["timings"]
    compile_s = tm.get("compile", 0.0)
    parts = {
        "start+imports": st["load_start"] - wall0,
        "model load": st["load_end"] - st["load_start"],
        "compile/import": compile_s,
        "network": tm["forward"] - compile_s,
        "decode+prep": tm.get("decode", 0.0) + tm.get("preprocess", 0.0),
        "postprocess": tm["postprocess"],
        "writing": st["write_end"] - st["write_start"],
    }
    parts["rest"] = seconds - sum(parts.values())
    return {"seconds": seconds, "compile": compile_s, "forward": tm["forward"], **parts,
            "torch": bool(st.get("torch_imported")), "rss_mb": usage.ru_maxrss / 1024.0,
            "cpu": usage.ru_utime + usage.ru_stime,  # CPU seconds: less at the mercy of others' load
            "load": (load_avg + os.getloadavg()[0]) / 2}


def base_worktree(ref: str, where: Path) -> Path:
    """A git worktree of ``ref`` (the code before a change), made once; removed by the caller
    with ``git worktree remove`` (it does not touch the main tree's files or index)."""
    if not (where / "desktop" / "cli.py").is_file():
        subprocess.run(["git", "worktree", "add", "--detach", str(where), ref], cwd=ROOT, check=True,
                       capture_output=True)
    return where


def fmt_runs(runs: list[dict], key: str, digits: int = 1) -> str:
    ok = [r[key] for r in runs if key in r]
    if not ok:
        return "failed: " + "; ".join(" ".join(r.get("error", ["?"])) for r in runs)
    return f"{statistics.median(ok):.{digits}f} (runs: {', '.join(f'{v:.{digits}f}' for v in ok)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--weights", choices=("confident", "plain"), default="confident")
    ap.add_argument("--grid", default="2x2,1x1", help="extra pipelined THREADSxSTREAMS configurations")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: one, cold (of one), batch, ray")
    ap.add_argument("--before", metavar="REF", help="also time the one-photo runs of this git commit (a worktree)")
    ap.add_argument("--child", nargs="+")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "batch":
            model, photos, out, mode, threads, streams = rest
            result = child_batch(Path(model), Path(photos), Path(out), mode, int(threads), int(streams))
        else:
            model, photos, out, threads = rest
            result = child_ray(Path(model), Path(photos), Path(out), int(threads))
        print(json.dumps(result))
        return 0

    skip = set(filter(None, args.skip.split(",")))
    work = args.work or Path(tempfile.mkdtemp(prefix="m2fp-bench-batch-"))
    model = make_full_model_dir(work / f"model-{args.weights}", confident=args.weights == "confident")
    photos = make_batch(work / "photos", args.photos)
    cache = work / "cache"  # the warm cache every batch configuration shares
    env = {"M2FP_CACHE_DIR": str(cache), "M2FP_NATIVE_DIR": str(work / "native"),
           "M2FP_CONFIG_DIR": str(work / "config")}
    print(f"M2FP batch benchmark: full-size architecture, {args.weights} random weights, OpenVINO exact, "
          f"{args.photos} photos of 1920x1080, {args.rounds} rounds, {os.cpu_count()} CPUs", flush=True)

    results: dict[str, list[dict]] = {}

    def add(name: str, result: dict) -> None:
        results.setdefault(name, []).append(result)
        shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()}
        print(f"  {name}: {shown}", flush=True)

    if "one" not in skip:
        print("\n1. One photo, whole process (python -m desktop.cli PHOTO --out DIR):", flush=True)
        trees = {"after": ROOT}
        if args.before:
            trees = {"before": base_worktree(args.before, work / "before-tree"), **trees}
        tree_env = {name: {**env, "M2FP_CACHE_DIR": str(work / f"cache-one-{name}"),
                           "M2FP_NATIVE_DIR": str(work / f"native-{name}")} for name in trees}
        for name, tree in trees.items():
            if "cold" not in skip:
                cold_env = {**tree_env[name], "M2FP_CACHE_DIR": str(work / "cache-cold")}
                shutil.rmtree(work / "cache-cold", ignore_errors=True)
                add(f"{name}: cold", one_photo(model, photos[0], work / "out-one", cold_env, tree))
            if not any(Path(tree_env[name]["M2FP_CACHE_DIR"]).glob("openvino/*/meta.json")):
                one_photo(model, photos[0], work / "out-one", tree_env[name], tree)  # convert into its cache
        for _ in range(args.rounds + 1):
            for name, tree in trees.items():
                for entry in Path(tree_env[name]["M2FP_CACHE_DIR"]).glob("openvino/*/compiled"):
                    shutil.rmtree(entry)
                add(f"{name}: warm, compile", one_photo(model, photos[0], work / "out-one", tree_env[name], tree))
                add(f"{name}: warm", one_photo(model, photos[0], work / "out-one", tree_env[name], tree))

    configs = [("sequential", 2, 1), ("pipelined", 2, 1)]
    for spec in filter(None, args.grid.split(",")):
        threads, streams = (int(v) for v in spec.split("x"))
        if (threads, streams) != (2, 1):
            configs.append(("pipelined", threads, streams))
    if "batch" not in skip or "ray" not in skip:
        print(f"\n2./3. Batch of {args.photos} photos (loop only, input size compiled beforehand):", flush=True)
        for _ in range(args.rounds):
            if "batch" not in skip:
                for mode, threads, streams in configs:
                    out = work / "out-batch"
                    shutil.rmtree(out, ignore_errors=True)
                    add(f"{mode} {threads} threads x {streams} streams",
                        run_child(["batch", str(model), str(work / "photos"), str(out), mode, str(threads), str(streams)], env))
            if "ray" not in skip:
                out = work / "out-ray"
                shutil.rmtree(out, ignore_errors=True)
                add("ray (local, 2 CPUs, 1 actor x 2 threads)",
                    run_child(["ray", str(model), str(work / "photos"), str(out), "2"], env))

    print("\nSummary (medians; every run in brackets):")
    for name, runs in results.items():
        if name.endswith(("cold", "warm, compile", "warm")):
            ok = [r for r in runs if "seconds" in r]
            breakdown = ", ".join(f"{k} {statistics.median(r[k] for r in ok):.2f}" for k in BREAKDOWN) if ok else ""
            torch_runs = sum(bool(r.get("torch")) for r in ok)
            print(f"  one photo, {name:21s} {fmt_runs(runs, 'seconds')} s whole process; CPU "
                  f"{fmt_runs(runs, 'cpu')} s; peak RSS "
                  f"{fmt_runs(runs, 'rss_mb', 0)} MB; load avg {fmt_runs(runs, 'load')}; torch imported in "
                  f"{torch_runs} of {len(ok)} runs\n      medians, s: {breakdown}")
        elif name.startswith("ray"):
            print(f"  {name}: {fmt_runs(runs, 'steady_per_min')} photos/min after the first result, "
                  f"{fmt_runs(runs, 'per_min')} photos/min whole run (first result after "
                  f"{fmt_runs(runs, 'first_result_s')} s); driver peak RSS {fmt_runs(runs, 'rss_mb', 0)} MB; "
                  f"load avg {fmt_runs(runs, 'load')}")
        else:
            print(f"  {name}: {fmt_runs(runs, 'per_min')} photos/min; peak RSS {fmt_runs(runs, 'rss_mb', 0)} MB; "
                  f"CPU {fmt_runs(runs, 'cpu')} s; load avg {fmt_runs(runs, 'load')}")
    seq = [r["per_min"] for r in results.get("sequential 2 threads x 1 streams", []) if "per_min" in r]
    pipe = [r["per_min"] for r in results.get("pipelined 2 threads x 1 streams", []) if "per_min" in r]
    if seq and pipe:
        ratios = [p / s for s, p in zip(seq, pipe, strict=False)]
        print(f"  pipelined (1 stream) / sequential, round by round: {', '.join(f'{r:.2f}x' for r in ratios)} "
              f"(median {statistics.median(ratios):.2f}x; target 1.25x)")
    both = [r["per_min"] for r in results.get("pipelined 2 threads x 2 streams", []) if "per_min" in r]
    if seq and both:
        ratios = [p / s for s, p in zip(seq, both, strict=False)]
        print(f"  pipelined with 2 streams (the default) / sequential: {', '.join(f'{r:.2f}x' for r in ratios)}")
    if args.before:
        print(f"Work folder: {work} (remove the worktree with: git worktree remove --force {work / 'before-tree'})")
    else:
        print(f"Work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
