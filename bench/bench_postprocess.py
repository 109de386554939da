"""Post-processing alone (network outputs -> label map, persons, parts), before and after.

What follows the network is measured here on its own, on the raw outputs of the full-size M2FP
with random weights whose class head is made confident (``bench/common.py``: about a hundred
kept instances covering most of the photo, the worst case) for a 1920x1080, a 12-megapixel
(4032x3024, cell by cell) and a 48-megapixel (8000x6000) photo. The outputs are computed once
(PyTorch runtime) and kept in ``--work`` as ``.npy``, so later runs time post-processing only.

Each implementation runs in a child process of its own (its peak RSS, ``VmHWM``, is its own):
``--before DIR`` (a checkout of an older tree, e.g. ``git worktree add /tmp/base HEAD``; its
post-processing takes PyTorch tensors) and this checkout (NumPy arrays; the child reports
whether anything imported torch). Per photo the two alternate child by child, ``--rounds``
times, each child running ``--runs`` timed calls after one untimed call; the table gives the
median and worst of all timed calls, the peak RSS, and, with ``--before``, how many label
pixels differ and whether every instance (class, score to 1e-6, mask, box, area, person)
is the same. Without ``--before`` only this checkout's figures are printed.

``--scene golden`` replaces the worst case by a trained model's kind of output: the golden
test model's network outputs for ``astronaut.png`` (8 queries, mask logits of +-40-58: few
instances, saturated interiors, sharp outlines), resized to each photo's network grid.

Usage: python bench/bench_postprocess.py [--before /tmp/base] [--sizes 1080p,12mp,48mp]
       [--runs 5] [--rounds 1] [--threads N] [--work DIR] [--scene worst|golden]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1080p": (1920, 1080), "12mp": (4032, 3024), "48mp": (8000, 6000)}
GOLDEN_OUTPUTS = ROOT / "tests" / "data" / "m2fp-tiny" / "expected" / "astronaut.npz"


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource  # noqa: PLC0415 - not Linux: the rusage peak

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Prepared:
    """The geometry post-processing reads from a prepared input (an input of the padded shape,
    never touched: its pages are never allocated)."""

    def __init__(self, image_hw, resized_hw, padded_hw):
        self.image_hw, self.resized_hw = tuple(image_hw), tuple(resized_hw)
        self.tensor = np.zeros((1, 3, *padded_hw), dtype=np.float32)

    @property
    def padded_hw(self) -> tuple[int, int]:
        return (int(self.tensor.shape[-2]), int(self.tensor.shape[-1]))


# --------------------------------------------------------------------------- children

def outputs_child(work: Path, names: list[str]) -> dict:
    """The network's raw outputs for each photo size, saved once."""
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from bench.common import SOURCE_PHOTO, make_full_model_dir
    from desktop.engine import HumanParser
    from desktop.engine.preprocess import prepare

    model = make_full_model_dir(work / "m2fp-full-confident", confident=True)
    parser = HumanParser.load(model, runtime="torch", precision="exact")
    src = Image.open(SOURCE_PHOTO).convert("RGB")
    for name in names:
        rgb = np.asarray(src.resize(SIZES[name], Image.BICUBIC))
        prep = prepare(rgb, parser.cfg)
        logits, masks = parser.forward(prep)
        np.save(work / f"{name}_logits.npy", np.asarray(logits, dtype=np.float32))
        np.save(work / f"{name}_masks.npy", np.asarray(masks, dtype=np.float32))
        (work / f"{name}_geometry.json").write_text(json.dumps({
            "image_hw": list(prep.image_hw), "resized_hw": list(prep.resized_hw),
            "padded_hw": [int(prep.tensor.shape[-2]), int(prep.tensor.shape[-1])]}))
    return {"config": str(work / "m2fp-full-confident")}


def _load_before(before: Path):
    """The older tree's post-processing module, imported under another package name."""
    name = "before_engine"
    pkg = types.ModuleType(name)
    pkg.__path__ = [str(before / "desktop" / "engine")]
    sys.modules[name] = pkg
    return importlib.import_module(f"{name}.postprocess")


def _golden_outputs(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The golden test model's outputs, its masks resized (bilinear) to ``shape``'s grid."""
    import cv2

    golden = np.load(GOLDEN_OUTPUTS)
    masks = np.stack([cv2.resize(m, (shape[2], shape[1]), interpolation=cv2.INTER_LINEAR)
                      for m in golden["pred_masks"].astype(np.float32)])
    return golden["pred_logits"].astype(np.float32), np.ascontiguousarray(masks)


def timing_child(which: str, before: str, work: Path, name: str, runs: int, threads: int, save: Path,
                 scene: str = "worst") -> dict:
    """Post-processing of one photo's outputs ``runs`` times (after one untimed call)."""
    sys.path.insert(0, str(ROOT))
    from desktop.engine.config import load_config

    geometry = json.loads((work / f"{name}_geometry.json").read_text())
    prep = _Prepared(geometry["image_hw"], geometry["resized_hw"], geometry["padded_hw"])
    logits, masks = np.load(work / f"{name}_logits.npy"), np.load(work / f"{name}_masks.npy")
    if scene == "golden":
        logits, masks = _golden_outputs(masks.shape)
    cfg = load_config(work / "m2fp-full-confident")
    if which == "before":
        import torch

        torch.set_num_threads(threads)
        module = _load_before(Path(before))
        args = (torch.from_numpy(logits), torch.from_numpy(masks))

        def run():
            return module.postprocess(*args, prep, cfg)
    else:
        from desktop.engine.postprocess import postprocess

        def run():
            return postprocess(logits, masks, prep, cfg, threads=threads)
    parsed = run()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        parsed = run()
        times.append(time.perf_counter() - t0)
    instances = [(getattr(i, "label", -1), i.score, list(i.bbox), i.area, getattr(i, "person_id", None))
                 for i in parsed.persons + parsed.parts]
    runs_of = {}
    for n, i in enumerate(parsed.persons + parsed.parts):
        runs_of[f"s{n}"], runs_of[f"e{n}"] = i.mask.starts, i.mask.ends
    np.savez(save, labels=parsed.labels, **runs_of)
    return {"times": times, "peak_rss_mb": _vmhwm_mb(), "instances": instances,
            "torch_imported": "torch" in sys.modules}


# --------------------------------------------------------------------------- parent

def _run(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _compare(before: dict, after: dict, saved_before: Path, saved_after: Path) -> str:
    a, b = np.load(saved_before), np.load(saved_after)
    differ = int((a["labels"] != b["labels"]).sum())
    ia, ib = before["instances"], after["instances"]
    same = len(ia) == len(ib) and all(
        x[0] == y[0] and abs(x[1] - y[1]) <= 1e-6 and x[2:] == y[2:]
        and np.array_equal(a[f"s{n}"], b[f"s{n}"]) and np.array_equal(a[f"e{n}"], b[f"e{n}"])
        for n, (x, y) in enumerate(zip(ia, ib, strict=True)))
    worst = max((abs(x[1] - y[1]) for x, y in zip(ia, ib, strict=False)), default=0.0)
    return (f"{differ} of {a['labels'].size} label pixels differ; {len(ib)} instances, "
            f"{'all the same' if same else 'NOT the same'} (largest score difference {worst:.1e})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, help="an older checkout to compare with (optional)")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count() or 1)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "m2fp-bench-postprocess")
    ap.add_argument("--scene", choices=("worst", "golden"), default="worst",
                    help="the random-weight worst case, or the golden test model's outputs resized")
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child is not None:
        kind, *rest = args.child
        if kind == "outputs":
            out = outputs_child(Path(rest[0]), rest[1].split(","))
        else:
            which, before, work, name, runs, threads, save, scene = rest
            out = timing_child(which, before, Path(work), name, int(runs), int(threads), Path(save), scene)
        print(json.dumps(out))
        return

    names = [n for n in args.sizes.split(",") if n]
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        ap.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    args.work.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if not (args.work / f"{n}_geometry.json").exists()]
    if missing:
        print(f"... computing the network's outputs for {', '.join(missing)} (once, kept in {args.work})", flush=True)
        made = _run(["outputs", str(args.work), ",".join(missing)])
        if "error" in made:
            sys.exit(f"could not compute the network's outputs: {made['error']}")
    sides = (["before"] if args.before else []) + ["after"]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"{os.cpu_count()} cores, {args.threads} threads, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          f"{args.runs} timed calls x {args.rounds} rounds per photo and tree; scene: {args.scene}")
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for name in names:
            for side in sides:
                print(f"... {name} {side}", flush=True)
                save = args.work / f"result_{side}_{name}.npz"
                results.setdefault((name, side), []).append(_run(
                    ["time", side, str(args.before or ""), str(args.work), name, str(args.runs), str(args.threads), str(save),
                     args.scene]))
    print()
    print(f"{'photo':<7} {'tree':<7} {'median s':>9} {'worst s':>8} {'peak RSS MB':>12} {'torch':>6}")
    for name in names:
        for side in sides:
            rs = results[(name, side)]
            errors = [r["error"] for r in rs if "error" in r]
            if errors:
                print(f"{name:<7} {side:<7} failed: {errors[0]}")
                continue
            times = [t for r in rs for t in r["times"]]
            print(f"{name:<7} {side:<7} {statistics.median(times):>9.3f} {max(times):>8.3f} "
                  f"{max(r['peak_rss_mb'] for r in rs):>12.0f} {'yes' if any(r['torch_imported'] for r in rs) else 'no':>6}")
        if args.before and all("error" not in r for side in sides for r in results[(name, side)]):
            before, after = results[(name, "before")][-1], results[(name, "after")][-1]
            ratio = statistics.median(t for r in results[(name, "after")] for t in r["times"]) / statistics.median(
                t for r in results[(name, "before")] for t in r["times"])
            print(f"{'':<7} after/before {ratio:.2f}x; " + _compare(
                before, after, args.work / f"result_before_{name}.npz", args.work / f"result_after_{name}.npz"))
    print()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
