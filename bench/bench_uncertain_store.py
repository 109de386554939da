"""What storing the model's uncertain pixels with each result costs (desktop/review/uncertain_store.py).

Per photo: the stored result's bytes without the mask (the baseline) and the bytes the mask
adds (``encode_result`` with and without the engine's confidence); the seconds the mask adds
to a parse (computing it from the confidence provider, and ``encode_result`` with it minus
without it) and to reading the result back (``decode_result``), beside the post-processing's
own seconds (the baseline a parse already pays).

Photos:
- the three golden photos (tests/data/m2fp-tiny) resized to 1920x1080 and parsed with the tiny
  model (real photos, real but small-model maps);
- the full M2FP architecture with random weights made confident (bench/bench_confidence.py's
  saved network outputs, ``--work``; run that script first) at 1920x1080, 12 and 48 megapixels.

Medians of ``--rounds`` runs in this process, and the worst. The machine's load is printed:
on 2 shared cores, compare rows of the same run.

Usage: python bench/bench_uncertain_store.py [--rounds 3] [--sizes 1080p,12mp,48mp] [--work DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _timed(fn, rounds: int) -> tuple[float, float, object]:
    secs, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        secs.append(time.perf_counter() - t0)
    return statistics.median(secs), max(secs), out


def _row(name: str, result, rounds: int, baseline_s: float | None) -> None:
    from desktop.review.result_codec import decode_result, encode_result
    from desktop.review.uncertain_store import full_uncertain_mask

    bare = dataclasses.replace(result, confidence=None)
    without_s, _w, blob0 = _timed(lambda: encode_result(bare), rounds)
    with_s, with_worst, blob1 = _timed(lambda: encode_result(result), rounds)
    mask_s, mask_worst, mask = _timed(lambda: full_uncertain_mask(result), rounds)
    dec0_s, _w, _r = _timed(lambda: decode_result(blob0), rounds)
    dec1_s, _w, _r = _timed(lambda: decode_result(blob1), rounds)
    added = len(blob1) - len(blob0)
    h, w = result.labels.shape
    base = f"{baseline_s:8.2f}" if baseline_s is not None else "       -"
    print(f"{name:26} {w:>5}x{h:<5} {len(blob0) / 1e3:9.1f} {added / 1e3:8.1f} {100 * added / len(blob0):6.1f}% "
          f"{mask_s:8.3f} {mask_worst:8.3f} {with_s - without_s:9.3f} {dec1_s - dec0_s:9.3f} {base}  "
          f"uncertain {mask.mean():.2%}",
          flush=True)


SIZES = {"1080p": (1920, 1080), "12mp": (4032, 3024), "48mp": (8000, 6000)}


def golden(rounds: int, sizes: list[str]) -> None:
    """Every golden photo at 1080p; the first (astronaut) also at the larger ``sizes``."""
    from PIL import Image

    from desktop.engine import HumanParser

    tiny = ROOT / "tests" / "data" / "m2fp-tiny"
    parser = HumanParser.load(tiny / "model", runtime="torch")
    paths = sorted((tiny / "images").iterdir())
    jobs = [(p, "1080p") for p in paths] + [(paths[0], s) for s in sizes if s != "1080p"]
    for path, size in jobs:
        rgb = np.asarray(Image.open(path).convert("RGB").resize(SIZES[size], Image.BICUBIC))
        result = parser.parse(rgb)
        post = sum(v for k, v in result.timings.items() if k.startswith("postprocess"))
        _row(f"golden {path.stem} {size}", result, rounds, post or None)


def full_architecture(work: Path, sizes: list[str], rounds: int) -> None:
    import torch

    from desktop.engine.confidence import ConfidenceProvider
    from desktop.engine.config import load_config
    from desktop.engine.postprocess import postprocess
    from desktop.engine.result import ParsingResult

    cfg = load_config(ROOT / "bench" / "full-architecture-configuration.json")
    for name in sizes:
        npz = work / f"outputs-{name}.npz"
        if not npz.exists():
            print(f"{name}: no saved network outputs in {work} (run bench/bench_confidence.py first)")
            continue
        d = np.load(npz)
        g = {k: tuple(int(v) for v in d[k]) for k in ("image_hw", "resized_hw", "padded_hw")}
        prep = SimpleNamespace(tensor=SimpleNamespace(shape=(1, 3, *g["padded_hw"])), **g)
        t0 = time.perf_counter()
        parsed = postprocess(torch.as_tensor(d["logits"]), torch.as_tensor(d["masks"]), prep, cfg)
        post_s = time.perf_counter() - t0
        scores = {(int(q), int(c)): float(s) for (q, c), s in zip(d["keys"], d["values"], strict=True)}
        provider = ConfidenceProvider.from_outputs(d["masks"], scores, image_hw=g["image_hw"],
                                                   resized_hw=g["resized_hw"], padded_hw=g["padded_hw"],
                                                   paste_threshold=float(d["thr"]), num_classes=int(d["num_parsing"]))
        names = tuple(cfg.parsing_class_names)
        result = ParsingResult(parsed.labels, parsed.persons, parsed.parts, names,
                               np.zeros((len(names), 3), np.uint8), confidence=provider)
        _row(f"full arch random {name}", result, rounds, post_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="1080p,12mp,48mp")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "m2fp-bench-confidence")
    ap.add_argument("--skip-golden", action="store_true")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores shared: figures are noisy; compare rows)")
    print(f"{'photo':26} {'size':11} {'result KB':>9} {'mask KB':>8} {'added':>7} {'mask s':>8} {'worst s':>8} "
          f"{'encode +s':>9} {'decode +s':>9} {'post s':>8}")
    if not args.skip_golden:
        golden(args.rounds, args.sizes.split(","))
    full_architecture(args.work, args.sizes.split(","), args.rounds)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
