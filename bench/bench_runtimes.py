"""Runtime benchmark: PyTorch and OpenVINO side by side on the full-size M2FP.

Full-size M2FP (ResNet-101, 6 encoder and 9 decoder layers, 100 queries) with random
weights, loaded through ``HumanParser.load`` like a user's model, twice:

- ``plain`` random weights (what the issue asks for): every class probability is ~1/22,
  post-processing keeps nothing, so the figures are decode + network + bookkeeping;
- ``confident``: the same with the class head scaled x10 (see bench/common.py): every query
  is confident about some class and its random mask covers the whole image, so
  post-processing does its worst-case work (~97 instances, each upsampled over the whole
  photo). A real model keeps far fewer, far smaller instances.

Configurations, each in its own process (so peak RSS is its own), all in one run:

- ``torch exact``: the PyTorch runtime, float32.
- ``openvino exact``: OpenVINO, float32. Started twice on an empty cache folder: the first
  start converts the model and runs the self-check (timed), the second reads the cache.
- ``openvino fast``: OpenVINO, bfloat16 where the CPU has it. Same two starts.
- ``openvino-exact-stock``, ``openvino-fast-stock``: the same without the native
  deformable-attention kernel (``M2FP_NATIVE_KERNEL=0``): what OpenVINO runs on a machine
  where the kernel cannot be built, and the baseline the kernel's gain is read against.

The OpenVINO configurations' first start includes building the native kernel (their cache
folder starts empty, and the kernel is built into it).

For each: model load time (and conversion time on the first start); the first image of each
size (OpenVINO compiles the network for that input size: its compile time is printed); then
the median seconds per image from file to result (``parse_file``) over ``--runs`` runs, for a
1920x1080 and a 640x480 JPEG; the stages of one run; peak RSS (``ru_maxrss``); threads; then
the agreement of each configuration with ``torch exact`` (semantic pixels, instances, scores).
The machine's load average is printed with each configuration: other processes on a 2-core
machine inflate wall times, and the numbers should be read with it.

Usage: python bench/bench_runtimes.py [--runs 3] [--work DIR]
       [--configs torch-exact,openvino-exact,openvino-fast] [--weights plain,confident]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import make_full_model_dir, make_photos, median_seconds, peak_rss_mb, run_child  # noqa: E402

CONFIGS = ("torch-exact", "openvino-exact", "openvino-fast", "openvino-exact-stock", "openvino-fast-stock")
WEIGHTS = ("plain", "confident")


def _instances(result) -> dict:
    return {
        "persons": sorted((round(p.score, 5) for p in result.persons), reverse=True),
        "parts": sorted(([p.label, round(p.score, 5)] for p in result.parts), key=lambda x: (x[0], -x[1])),
    }


def child(config: str, start: str, model_dir: Path, photos: dict[str, str], runs: int, work: Path, tag: str) -> dict:
    """One configuration in this process: load (``start`` is "cold" or "warm"), then parse."""
    import torch

    from desktop.engine import HumanParser

    runtime, precision, *variant = config.split("-")
    if runtime == "openvino":
        os.environ["M2FP_CACHE_DIR"] = str(work / f"cache-{tag}-{config}")
        if variant == ["stock"]:
            os.environ["M2FP_NATIVE_KERNEL"] = "0"
    load_avg = os.getloadavg()[0]
    t0 = time.perf_counter()
    parser = HumanParser.load(model_dir, runtime=runtime, precision=precision)
    out = {
        "config": config,
        "start": start,
        "load_s": time.perf_counter() - t0,
        "runtime": parser.info.get("runtime"),
        "precision": parser.info.get("precision"),
        "openvino_model": parser.info.get("openvino_model", ""),
        "kernel": parser.info.get("openvino_kernel", ""),
        "threads": torch.get_num_threads(),
        "load_avg": [load_avg],
        "images": {},
    }
    if start == "cold":  # the first start's cost is the conversion; parsing is measured warm
        out["peak_rss_mb"] = peak_rss_mb()
        return out

    for name, path in photos.items():
        first = parser.parse_file(path)  # warm-up (first inference at this size: OpenVINO compiles)
        cpu0 = time.process_time()
        med, times = median_seconds(lambda p=path: parser.parse_file(p), runs)
        cpu = (time.process_time() - cpu0) / runs
        result = parser.parse_file(path)
        np.save(work / f"labels_{tag}_{config}_{name}.npy", result.labels)
        (work / f"instances_{tag}_{config}_{name}.json").write_text(json.dumps(_instances(result)))
        out["images"][name] = {
            "median_s": med,
            "times": [round(t, 3) for t in times],
            "cpu_s": cpu,
            "timings": {k: round(v, 3) for k, v in result.timings.items()},
            "instances": [len(result.persons), len(result.parts)],
            "first_s": first.timings["total"],
            "compile_s": first.timings.get("compile", 0.0),
        }
    out["load_avg"].append(os.getloadavg()[0])
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _score_diffs(a: dict, b: dict) -> tuple[float, str]:
    """Largest score difference between matched instances (same class, closest score) and counts."""
    worst = 0.0
    for x, y in zip(a["persons"], b["persons"], strict=False):
        worst = max(worst, abs(x - y))
    pool = [tuple(p) for p in b["parts"]]
    for label, score in a["parts"]:
        same = [p for p in pool if p[0] == label]
        if same:
            best = min(same, key=lambda p: abs(p[1] - score))
            worst = max(worst, abs(best[1] - score))
            pool.remove(best)
    counts = f"{len(a['persons'])}/{len(a['parts'])} vs {len(b['persons'])}/{len(b['parts'])}"
    return worst, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "m2fp-bench-runtimes")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--weights", default=",".join(WEIGHTS))
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child is not None:
        config, start, model_dir, photos_json, runs, work, tag = args.child
        print(json.dumps(child(config, start, Path(model_dir), json.loads(photos_json), int(runs), Path(work), tag)))
        return

    import openvino
    import torch

    args.work.mkdir(parents=True, exist_ok=True)
    photos = {k: str(v) for k, v in make_photos(args.work / "photos").items()}
    configs = args.configs.split(",")
    print(f"Full-size M2FP, random weights; {os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
          f"torch {torch.__version__}, openvino {openvino.get_version().split('-')[0]}; {args.runs} runs per image",
          flush=True)
    for tag in args.weights.split(","):
        model_dir = make_full_model_dir(args.work / f"m2fp-full-{tag}", confident=tag == "confident")
        report(tag, model_dir, photos, configs, args)


def report(tag: str, model_dir: Path, photos: dict[str, str], configs: list[str], args: argparse.Namespace) -> None:
    """Run every configuration on one model folder and print the tables."""
    print(f"\n=== {tag} random weights ===", flush=True)
    results: dict[str, dict] = {}
    for config in configs:
        starts = ["warm"]
        if config.startswith("openvino"):
            shutil.rmtree(args.work / f"cache-{tag}-{config}", ignore_errors=True)  # a true first start
            starts = ["cold", "warm"]
        for stale in args.work.glob(f"*_{tag}_{config}_*"):  # an earlier run's labels must not be compared
            stale.unlink()
        for start in starts:
            print(f"... {config} ({'first start' if start == 'cold' else 'parsing'})", flush=True)
            r = run_child(Path(__file__), [config, start, str(model_dir), json.dumps(photos), str(args.runs),
                                           str(args.work), tag], timeout=3600)
            results[f"{config}/{start}"] = r
            if "error" in r:
                print(f"    failed: {r['error']}", flush=True)
                break

    names = list(photos)
    print()
    header = (f"{'configuration':<20} {'runs as':<34} {'thr':>3} {'1st load s':>10} {'convert s':>9} {'load s':>7} "
              + " ".join(f"{n + ' s/img':>15}" for n in names) + f" {'peak RSS MB':>11} {'load avg':>9}")
    print(header)
    print("-" * len(header))
    for config in configs:
        warm, cold = results.get(f"{config}/warm", {}), results.get(f"{config}/cold", {})
        if "error" in warm or "error" in cold or not warm:
            print(f"{config:<20} failed: {warm.get('error') or cold.get('error')}")
            continue
        first = f"{cold['load_s']:.1f}" if cold else "-"
        conv = "-"
        if cold and cold["openvino_model"].startswith("converted in "):
            conv = cold["openvino_model"].split()[2]
        rss = max(warm["peak_rss_mb"], cold.get("peak_rss_mb", 0))
        cols = " ".join(f"{warm['images'][n]['median_s']:>15.2f}" for n in names)
        runs_as = f"{warm['runtime']} {warm['precision']}"
        load = "/".join(f"{v:.1f}" for v in warm["load_avg"])
        print(f"{config:<20} {runs_as:<34} {warm['threads']:>3} {first:>10} {conv:>9} {warm['load_s']:>7.1f} {cols} "
              f"{rss:>11.0f} {load:>9}")
    print()
    print("1st load: first start on an empty cache (conversion and self-check); load: a later start.")
    print("peak RSS: the larger of the two starts.")
    for config in configs:
        cold = results.get(f"{config}/cold")
        if cold and "error" not in cold:
            print(f"  {config} first start peak RSS {cold['peak_rss_mb']:.0f} MB, "
                  f"later start {results.get(f'{config}/warm', {}).get('peak_rss_mb', 0):.0f} MB")
    print()
    print("Deformable attention:")
    for config in configs:
        if kernel := results.get(f"{config}/warm", {}).get("kernel"):
            print(f"  {config:<20} {kernel}")
    print()
    print("First image of each size (OpenVINO compiles the network for the input size):")
    for config in configs:
        warm = results.get(f"{config}/warm", {})
        for n, img in warm.get("images", {}).items():
            print(f"  {config:<20} {n:<10} {img['first_s']:.2f} s, of which compile {img['compile_s']:.2f} s")
    print()
    print("Stages of one run (seconds), instances (persons/parts), CPU seconds per image (both cores count):")
    for config in configs:
        warm = results.get(f"{config}/warm", {})
        for n, img in warm.get("images", {}).items():
            print(f"  {config:<20} {n:<10} {img['timings']}  {img['instances'][0]}/{img['instances'][1]}  "
                  f"cpu {img['cpu_s']:.2f}  runs {img['times']}")
    print()
    work = args.work

    def agreement(ref_config: str, config: str, n: str) -> str | None:
        ref, other = work / f"labels_{tag}_{ref_config}_{n}.npy", work / f"labels_{tag}_{config}_{n}.npy"
        if not (ref.exists() and other.exists()):
            return None
        agree = (np.load(ref) == np.load(other)).mean()
        a = json.loads((work / f"instances_{tag}_{ref_config}_{n}.json").read_text())
        b = json.loads((work / f"instances_{tag}_{config}_{n}.json").read_text())
        worst, counts = _score_diffs(a, b)
        return f"  {config:<20} {n:<10} pixels {agree * 100:8.3f} %   instances {counts}   score diff {worst:.4f}"

    print("Agreement with torch exact (semantic map pixels; instance counts persons/parts; max matched score diff):")
    for config in configs:
        for n in names:
            if config != "torch-exact" and (line := agreement("torch-exact", config, n)):
                print(line)
    if {"openvino-exact", "openvino-fast"} <= set(configs):
        print("Agreement of openvino fast with openvino exact:")
        for n in names:
            if line := agreement("openvino-exact", "openvino-fast", n):
                print(line)


if __name__ == "__main__":
    main()
