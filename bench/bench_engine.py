"""Engine benchmark (PyTorch runtime): model load, seconds per image from file to result, peak RSS.

Full-size M2FP (ResNet-101, 100 queries) with random weights, a 1920x1080 and a 640x480
JPEG, the machine's threads. Each configuration runs in its own process, so peak RSS is
its own. Configurations, all in one run:

- ``baseline``: what the reference does: eager float32 without BatchNorm folding, the
  reference's deformable attention (grid_sample, stacked) and decoder attention masks (from
  stride-4 masks at every layer), see bench/reference_network.py, and the reference's
  post-processing (all 100 query masks upsampled to the full image first).
- ``torch exact``: our engine (BatchNorm folded, frugal post-processing), float32.
- ``torch fast``: the same under bfloat16 autocast (lossy; agreement with exact printed).

Usage: python bench/bench_engine.py [--runs 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from bench.common import make_full_model_dir, make_photos, median_seconds, peak_rss_mb, run_child  # noqa: E402

CONFIGS = ("baseline", "torch-exact", "torch-fast")


def reference_postprocess(logits, masks, prep, cfg):
    """The reference's post-processing, for the baseline only: every mask to full size first."""
    masks = F.interpolate(masks[None], size=prep.padded_hw, mode="bilinear", align_corners=False)[0]
    rh, rw = prep.resized_hw
    masks = F.interpolate(masks[None, :, :rh, :rw], size=prep.image_hw, mode="bilinear", align_corners=False)[0]
    scores = F.softmax(logits, -1)[:, :-1]
    nc = scores.shape[1]
    top, idx = scores.flatten().topk(min(100, scores.numel()), sorted=False)
    labels = idx % nc
    masks = masks[idx // nc]
    binary = (masks > 0).float()
    mask_scores = (masks.sigmoid().flatten(1) * binary.flatten(1)).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    scores = top * mask_scores
    keep = labels != cfg.num_parsing
    probs = masks[keep].sigmoid()
    out = []
    for c in range(cfg.num_parsing):
        sel = torch.where(labels[keep] == c)[0]
        acc = torch.zeros(prep.image_hw)
        cnt = torch.zeros(prep.image_hw)
        for k in scores[keep][sel].argsort():
            s = scores[keep][sel][k]
            if s < cfg.parsing_ins_score_thr:
                continue
            p = probs[sel][k] * s
            acc = torch.where(p > 0.5, p + acc, acc)
            cnt += (p > 0.5).float()
        out.append(acc / cnt.clamp(min=1))
    return torch.stack(out).argmax(0).to(torch.uint8).numpy()


def child(config: str, model_dir: Path, photos: dict[str, str], runs: int) -> dict:
    from desktop.engine import HumanParser
    from desktop.engine.preprocess import prepare
    from desktop.imageio import load_image

    t0 = time.perf_counter()
    parser = HumanParser.load(model_dir, runtime="torch", precision="fast" if config == "torch-fast" else "exact")
    load_s = time.perf_counter() - t0
    out = {"config": config, "load_s": load_s, "threads": torch.get_num_threads(), "images": {}}

    if config == "baseline":
        # Undo our optimisations: reload unfolded weights, reference post-processing.
        from bench import reference_network
        from desktop.engine.checkpoint import load_into, read_state_dict
        from desktop.engine.parser import build_network

        reference_network.patch()
        net = build_network(parser.cfg).eval()
        load_into(net, read_state_dict(model_dir / "pytorch_model.pt"), model_dir)

        def run(path):
            img = load_image(path)
            prep = prepare(img.rgb, parser.cfg)
            with torch.no_grad():
                logits, masks = net(torch.from_numpy(prep.tensor))  # prepare gives NumPy (issue 19)
            return reference_postprocess(logits[0], masks[0], prep, parser.cfg)
    else:

        def run(path):
            return parser.parse_file(path).labels

    for name, path in photos.items():
        labels = run(path)  # warm-up
        med, times = median_seconds(lambda p=path: run(p), runs)
        out["images"][name] = {"median_s": med, "times": times}
        np.save(Path(model_dir).parent / f"labels_{config}_{name}.npy", labels)
        if config != "baseline":
            r = parser.parse_file(path)
            out["images"][name]["timings"] = {k: round(v, 3) for k, v in r.timings.items()}
            out["images"][name]["instances"] = [len(r.persons), len(r.parts)]
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "m2fp-bench")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child is not None:
        config, model_dir, photos_json, runs = args.child
        print(json.dumps(child(config, Path(model_dir), json.loads(photos_json), int(runs))))
        return

    model_dir = make_full_model_dir(args.work / "m2fp-full-confident")
    photos = {k: str(v) for k, v in make_photos(args.work / "photos").items()}
    print(f"Full-size M2FP, random weights; {os.cpu_count()} cores; torch {torch.__version__}; {args.runs} runs per image")
    results = {}
    for config in args.configs.split(","):
        print(f"... {config}", flush=True)
        results[config] = run_child(Path(__file__), [config, str(model_dir), json.dumps(photos), str(args.runs)])

    print()
    print(f"{'configuration':<14} {'threads':>7} {'load s':>7} " + " ".join(f"{n + ' s/img':>16}" for n in photos) + f" {'peak RSS MB':>12}")
    for config, r in results.items():
        if "error" in r:
            print(f"{config:<14} failed: {r['error']}")
            continue
        cols = " ".join(f"{r['images'][n]['median_s']:>16.2f}" for n in photos)
        print(f"{config:<14} {r['threads']:>7} {r['load_s']:>7.2f} {cols} {r['peak_rss_mb']:>12.0f}")
    print()
    for config, r in results.items():
        for n, img in r.get("images", {}).items():
            if "timings" in img:
                print(f"{config:<14} {n:<10} stages {img['timings']}  persons/parts {img['instances']}")
    print()
    for n in photos:
        ref = args.work / f"labels_baseline_{n}.npy"
        for config in results:
            other = args.work / f"labels_{config}_{n}.npy"
            if config != "baseline" and ref.exists() and other.exists():
                agree = (np.load(ref) == np.load(other)).mean()
                print(f"label map agreement with baseline, {config:<12} {n:<10}: {agree * 100:.3f} %")


if __name__ == "__main__":
    main()
