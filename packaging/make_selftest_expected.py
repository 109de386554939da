#!/usr/bin/env python3
"""Store the test model's result for the sample photo, which ``--self-test --test-model`` compares with.

Run once (and again only if the test model, the sample photo or the engine's maths
change on purpose)::

    python packaging/make_selftest_expected.py

It uses the PyTorch runtime in float32, the path the golden parity tests hold to the
ModelScope reference, so the stored result is the reference's up to the parity tolerance.
The label map is stored as a PNG (a few kB: the tiny model's map is mostly flat) and the
instances as scores and areas in JSON, not as masks, to keep the bundle small.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch
    from PIL import Image

    from desktop.engine import HumanParser
    from desktop.selftest import (
        EXPECTED_DIR,
        EXPECTED_JSON,
        EXPECTED_LABELS,
        check_consistency,
        sample_path,
        sha256_of,
        test_model_dir,
    )

    model = test_model_dir()
    parser = HumanParser.load(model, runtime="torch", precision="exact")
    sample = sample_path()
    result = parser.parse_file(sample)
    problems = check_consistency(result, result.labels.shape)
    if problems:
        print("The result is inconsistent, not storing it:", *problems, sep="\n  ")
        return 1
    out = model / EXPECTED_DIR
    out.mkdir(exist_ok=True)
    Image.fromarray(result.labels, mode="L").save(out / EXPECTED_LABELS, optimize=True)
    weights = model / "pytorch_model.pt"
    meta = {
        "about": "Result of the bundled test model (random weights) on resources/samples/"
                 f"{sample.name}; written by packaging/make_selftest_expected.py, read by desktop/selftest.py.",
        "sample": sample.name,
        "image_hw": list(result.labels.shape),
        "runtime": parser.info["runtime"],
        "precision": parser.info["precision"],
        "torch": torch.__version__,
        "weights_sha256": sha256_of(weights),
        "weights_size": weights.stat().st_size,
        "class_pixel_counts": [int(c) for c in result.class_pixel_counts()],
        "persons": [{"score": round(p.score, 6), "area": p.area} for p in result.persons],
        "parts": [{"label": p.label, "score": round(p.score, 6), "area": p.area} for p in result.parts],
    }
    (out / EXPECTED_JSON).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out / EXPECTED_LABELS} and {out / EXPECTED_JSON}: "
          f"{len(result.persons)} persons, {len(result.parts)} parts, classes {result.classes_present()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
