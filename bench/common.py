"""Shared pieces of the benchmarks: a full-size model folder with random weights, test photos,
and running one configuration in a child process so its peak RSS is its own.

Speed does not depend on weight values, but post-processing does depend on how many
instances the model is confident about: with plain random weights every class
probability is ~1/22 and post-processing finds nothing. We scale the class head so every
query is confident about some class: the worst case (all 100 queries kept), not the best.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FULL_CONFIG = ROOT / "bench" / "full-architecture-configuration.json"
SOURCE_PHOTO = ROOT / "tests" / "data" / "m2fp-tiny" / "images" / "astronaut.png"
SIZES = {"1920x1080": (1920, 1080), "640x480": (640, 480)}


def make_full_model_dir(folder: Path, seed: int = 0, confident: bool = True) -> Path:
    """Write {configuration.json, pytorch_model.pt} of the full-size M2FP with random weights."""
    from desktop.engine.config import load_config
    from desktop.engine.parser import build_network

    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "pytorch_model.pt"
    if not weights.exists():
        torch.manual_seed(seed)
        net = build_network(load_config(FULL_CONFIG))
        # Non-trivial BatchNorm statistics, so folding them is real work.
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        if confident:
            with torch.no_grad():
                net.sem_seg_head.predictor.class_embed.weight.mul_(10.0)
        tmp = folder / "pytorch_model.pt.tmp"
        torch.save({"model": net.state_dict()}, tmp)
        os.replace(tmp, weights)
    (folder / "configuration.json").write_text(FULL_CONFIG.read_text())
    return folder


def make_photos(folder: Path) -> dict[str, Path]:
    """JPEG photos of the benchmark sizes, made from a real photo."""
    folder.mkdir(parents=True, exist_ok=True)
    src = Image.open(SOURCE_PHOTO).convert("RGB")
    out = {}
    for name, size in SIZES.items():
        path = folder / f"photo_{name}.jpg"
        if not path.exists():
            src.resize(size, Image.BICUBIC).save(path, quality=92)
        out[name] = path
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_seconds(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def run_child(script: Path, args: list[str], timeout: float = 1800) -> dict:
    """Run ``script --child ARGS`` in a fresh interpreter; it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, str(script), "--child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def semantic_agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())
