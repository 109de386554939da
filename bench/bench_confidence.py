"""The model's confidence maps (desktop/engine/confidence.py): time and memory, and what storing
their inputs in the review workspace would cost.

For a 1920x1080, a 12-megapixel (4032x3024) and a 48-megapixel (8000x6000) photo, on the
full-size M2FP with random weights whose class head is made confident (``bench/common.py``:
about a hundred kept instances, the worst case), PyTorch runtime:

- the network runs once per photo size (``--work``/outputs-SIZE.npz: its raw outputs and the
  post-processing's instance scores), then every measurement runs in a fresh process on them:
- ``postprocess``: the post-processing itself (the baseline: what a parse already costs);
- ``provider``: building the confidence provider (what ``HumanParser.finish`` adds to every parse);
- ``full``: the full-size maps (``result.score_map`` etc., 3 bytes a pixel);
- ``doubt``: the strided sample the doubt score uses (at most 2 megapixels);
- ``view``: a 1600x1000 screen's sample of the whole photo (the doubt view at "fit");
- ``relabel``: a 400x400 box (the relabel menu's region);

each with its seconds (median of ``--rounds`` processes, and the worst), its peak RSS (the
process's ``VmHWM``) and the peak above the process's RSS before the measured step.
Storage: the bytes of the provider's inputs (the pasted queries' low-res logits, cropped to
their windows, float16, zlib level 6) beside the stored result itself (``encode_result``).

Usage: python bench/bench_confidence.py [--rounds 3] [--sizes 1080p,12mp,48mp] [--work DIR]
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
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1080p": (1920, 1080), "12mp": (4032, 3024), "48mp": (8000, 6000)}
MODES = ("postprocess", "provider", "full", "doubt", "view", "relabel")


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def prepare(work: Path, sizes: list[str]) -> None:
    """The model folder, and per size the network's outputs and the instance scores."""
    sys.path.insert(0, str(ROOT))
    import torch
    from PIL import Image

    from bench.common import SOURCE_PHOTO, make_full_model_dir
    from desktop.engine import HumanParser
    from desktop.engine.postprocess import postprocess

    model = make_full_model_dir(work / "m2fp-full-confident", confident=True)
    parser = None
    src = Image.open(SOURCE_PHOTO).convert("RGB")
    for name in sizes:
        out = work / f"outputs-{name}.npz"
        if out.exists():
            continue
        parser = parser or HumanParser.load(model, runtime="torch")
        rgb = np.asarray(src.resize(SIZES[name], Image.BICUBIC))
        pending = parser.start_network(parser.prepare_input(rgb))()
        logits, masks = (np.asarray(o, dtype=np.float32) for o in pending.outputs)
        prep = pending.prepared
        parsed = postprocess(torch.as_tensor(logits), torch.as_tensor(masks), prep, parser.cfg)
        keys = np.array(list(parsed.instance_scores), dtype=np.int64).reshape(-1, 2)
        values = np.array(list(parsed.instance_scores.values()), dtype=np.float64)
        tmp = out.with_suffix(".tmp.npz")
        np.savez(tmp, logits=logits, masks=masks, image_hw=prep.image_hw, resized_hw=prep.resized_hw,
                 padded_hw=prep.padded_hw, keys=keys, values=values, thr=parser.cfg.parsing_ins_score_thr,
                 num_parsing=parser.cfg.num_parsing, classes=np.array(parser.cfg.classes))
        os.replace(tmp, out)
        print(f"{name}: network outputs saved ({len(parsed.persons)} persons, {len(parsed.parts)} parts)", flush=True)


def child(mode: str, npz: Path) -> dict:
    """One measurement in this (fresh) process."""
    d = np.load(npz)
    geometry = {k: tuple(int(v) for v in d[k]) for k in ("image_hw", "resized_hw", "padded_hw")}
    scores = {(int(q), int(c)): float(s) for (q, c), s in zip(d["keys"], d["values"], strict=True)}
    thr, num = float(d["thr"]), int(d["num_parsing"])
    masks = d["masks"]
    h, w = geometry["image_hw"]
    if mode == "postprocess":
        import torch

        from desktop.engine.config import load_config
        from desktop.engine.postprocess import postprocess

        cfg = load_config(ROOT / "bench" / "full-architecture-configuration.json")
        prep = SimpleNamespace(**geometry)
        before = _status_mb("VmRSS")
        t0 = time.perf_counter()
        postprocess(torch.as_tensor(d["logits"]), torch.as_tensor(masks), prep, cfg)
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "peak_mb": _status_mb("VmHWM"), "above_mb": _status_mb("VmHWM") - before}

    from desktop.engine.confidence import ConfidenceProvider
    from desktop.review.doubt import sample_grid

    def build() -> ConfidenceProvider:
        return ConfidenceProvider.from_outputs(masks, scores, image_hw=(h, w), resized_hw=geometry["resized_hw"],
                                               padded_hw=geometry["padded_hw"], paste_threshold=thr,
                                               num_classes=num)

    out: dict = {}
    if mode != "provider":
        provider = build()
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    if mode == "provider":
        provider = build()
        out["provider_mb"] = provider.nbytes / 2**20
        out["pasted_queries"] = len(provider._queries)
        # What storing the provider's inputs would cost: cropped low-res logits, float16, zlib.
        out["stored_bytes"] = sum(len(zlib.compress(q.low.astype(np.float16).tobytes(), 6))
                                  for q in provider._queries)
    elif mode == "full":
        provider.full()
    elif mode == "doubt":
        provider.sample(*sample_grid((h, w)))
    elif mode == "view":
        scale = min(1600 / w, 1000 / h)
        ys = np.floor((np.arange(int(h * scale)) + 0.5) / scale).astype(np.int64)
        xs = np.floor((np.arange(int(w * scale)) + 0.5) / scale).astype(np.int64)
        provider.sample(ys, xs)
    elif mode == "relabel":
        provider.window(h // 2 - 200, h // 2 + 200, w // 2 - 200, w // 2 + 200)
    seconds = time.perf_counter() - t0
    return {**out, "seconds": seconds, "peak_mb": _status_mb("VmHWM"), "above_mb": _status_mb("VmHWM") - before}


def stored_result_bytes(npz: Path) -> int:
    """The stored result's own size (``encode_result``), for comparison."""
    import torch

    from desktop.engine.config import load_config
    from desktop.engine.postprocess import postprocess
    from desktop.engine.result import ParsingResult
    from desktop.review.result_codec import encode_result

    d = np.load(npz)
    geometry = {k: tuple(int(v) for v in d[k]) for k in ("image_hw", "resized_hw", "padded_hw")}
    cfg = load_config(ROOT / "bench" / "full-architecture-configuration.json")
    parsed = postprocess(torch.as_tensor(d["logits"]), torch.as_tensor(d["masks"]), SimpleNamespace(**geometry), cfg)
    result = ParsingResult(parsed.labels, parsed.persons, parsed.parts, tuple(cfg.parsing_class_names),
                           np.zeros((len(cfg.parsing_class_names), 3), np.uint8))
    return len(encode_result(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "m2fp-bench-confidence")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--result-bytes", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    if args.result_bytes:
        print(json.dumps({"bytes": stored_result_bytes(args.result_bytes)}))
        return
    sizes = args.sizes.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    prepare(args.work, sizes)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(*argv: str) -> dict:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], capture_output=True, text=True,
                              env=env, timeout=3600)
        if proc.returncode != 0:
            return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
        return json.loads(proc.stdout.strip().splitlines()[-1])

    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores shared: figures are noisy; compare rows)")
    print(f"{'photo':6} {'step':12} {'median s':>9} {'worst s':>8} {'peak RSS MB':>12} {'above MB':>9}  notes")
    for name in sizes:
        npz = args.work / f"outputs-{name}.npz"
        for mode in args.modes.split(","):
            runs = [run("--child", mode, str(npz)) for _ in range(args.rounds)]
            ok = [r for r in runs if "error" not in r]
            if not ok:
                print(f"{name:6} {mode:12} failed: {runs[0]['error']}")
                continue
            secs = [r["seconds"] for r in ok]
            notes = ""
            if mode == "provider":
                r = ok[0]
                notes = (f"provider {r['provider_mb']:.1f} MB, {r['pasted_queries']} pasted queries; "
                         f"stored inputs would be {r['stored_bytes'] / 1e6:.2f} MB")
            print(f"{name:6} {mode:12} {statistics.median(secs):9.3f} {max(secs):8.3f} "
                  f"{statistics.median(r['peak_mb'] for r in ok):12.0f} "
                  f"{statistics.median(r['above_mb'] for r in ok):9.0f}  {notes}", flush=True)
        if name == "1080p":
            r = run("--result-bytes", str(npz))
            if "bytes" in r:
                print(f"{name:6} the stored result itself (encode_result): {r['bytes'] / 1e6:.2f} MB")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
