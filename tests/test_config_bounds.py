"""configuration.json: the reference's defaults where it allows them, a clear refusal where the
model would be undefined, and no configuration can make the loader eat memory or time.

A hostile tester made ``decoder.dec_layers`` 10^6 (minutes of building, 5 GB and growing) and
``n_points`` 10^6 or ``stem_out_channels`` 10^9 (8-9.5 GB before the shape check). Such values
are refused before anything is built, in well under 2 s, with a sentence naming the key.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from desktop.engine import HumanParser, ModelLoadError
from desktop.engine.config import REFERENCE_DEFAULTS, load_config

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["astronaut", "grace_hopper", "astronaut_crop"]


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def _edit(model_dir: Path, change) -> None:
    path = model_dir / "configuration.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data["model"])
    path.write_text(json.dumps(data), encoding="utf-8")


# -- the reference's defaults -----------------------------------------------------------------


def _reference_semantic(logits: torch.Tensor, masks: torch.Tensor, image_hw, resized_hw, num_parsing: int,
                        thr: float) -> np.ndarray:
    """The reference's label map, transcribed from ModelScope's m2fp_net.py (M2FP.postprocess with
    sem_seg_postprocess, instance_parsing_inference and paste_instance_to_semseg_probs), at full
    resolution, with its threshold ``thr``. (One difference in form only: each query's mask is
    upsampled and scored once, not once per (query, class) pair that selects it.)"""
    padded = (masks.shape[-2] * 4, masks.shape[-1] * 4)
    m = F.interpolate(masks[None], size=padded, mode="bilinear", align_corners=False)[0]
    m = m[:, : resized_hw[0], : resized_hw[1]]
    m = F.interpolate(m[None], size=tuple(int(v) for v in image_hw), mode="bilinear", align_corners=False)[0]
    num_queries, num_classes = logits.shape[0], logits.shape[1] - 1
    scores = F.softmax(logits, dim=-1)[:, :-1]
    labels = torch.arange(num_classes).unsqueeze(0).repeat(num_queries, 1).flatten(0, 1)
    top_scores, top = scores.flatten(0, 1).topk(min(100, scores.numel()), sorted=False)
    top_labels, top_queries = labels[top], top // num_classes
    binary = (m > 0).float()
    mask_scores = (m.sigmoid().flatten(1) * binary.flatten(1)).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    pred_scores = top_scores * mask_scores[top_queries]
    keep = torch.where(top_labels != num_parsing)[0]
    labels_k, scores_k, queries_k = top_labels[keep], pred_scores[keep], top_queries[keep]
    probs_of = m.sigmoid()
    h, w = m.shape[-2:]
    channels = []
    for cls in range(num_parsing):
        idx = torch.where(labels_k == cls)[0]
        cls_scores, cls_queries = scores_k[idx], queries_k[idx]
        probs, times = torch.zeros((h, w)), torch.zeros((h, w))
        for k in cls_scores.argsort():
            if cls_scores[k] < thr:
                continue
            ins = probs_of[cls_queries[k]] * cls_scores[k]
            probs = torch.where(ins > 0.5, ins + probs, probs)
            times += torch.where(ins > 0.5, 1, 0)
        channels.append(probs / torch.where(times == 0, times + 1, times))
    return torch.stack(channels).argmax(0).numpy()


def _golden(data_dir: Path, name: str):
    exp = dict(np.load(data_dir / "m2fp-tiny" / "expected" / f"{name}.npz"))
    return exp, (torch.from_numpy(exp["pred_logits"]), torch.from_numpy(exp["pred_masks"]))


def test_the_reference_transcription_gives_the_golden_label_maps(data_dir):
    """The golden configuration spells out 0.3; the transcription reproduces the reference there."""
    for name in NAMES:
        exp, raw = _golden(data_dir, name)
        semantic = _reference_semantic(*raw, exp["image_hw"], exp["resized_hw"], 20, 0.3)
        assert (semantic == exp["semantic"]).mean() >= 0.999, name


@pytest.mark.parametrize("threshold", [None, 0.8])
def test_missing_threshold_takes_the_references_default_and_parses_like_it(threshold, model_copy, data_dir,
                                                                          golden_images, caplog):
    """Without the key: 0.5, as the reference, and the label map is the reference's at 0.5. (Any
    threshold up to 0.5 pastes the same: an instance is pasted where probability x score > 0.5,
    which a score below 0.5 never reaches; so an explicit 0.8 shows the value is really used.)"""
    _edit(model_copy, lambda m: m.pop("parsing_ins_score_thr") if threshold is None
          else m.__setitem__("parsing_ins_score_thr", threshold))
    with caplog.at_level(logging.INFO, logger="desktop.engine.config"):
        parser = HumanParser.load(model_copy, runtime="torch")
    expected = REFERENCE_DEFAULTS["parsing_ins_score_thr"] if threshold is None else threshold
    assert parser.cfg.parsing_ins_score_thr == expected == (0.5 if threshold is None else threshold)
    logged = any("does not set parsing_ins_score_thr" in r.getMessage() and "parsing_ins_score_thr = 0.5"
                 in r.getMessage() for r in caplog.records)
    assert logged == (threshold is None)
    exp, raw = _golden(data_dir, "astronaut")
    reference = _reference_semantic(*raw, exp["image_hw"], exp["resized_hw"], 20, expected)
    labels = parser.parse(np.asarray(Image.open(golden_images["astronaut"]).convert("RGB"))).labels
    assert (labels == reference).mean() >= 0.999
    if threshold is not None:  # the threshold is live: the golden (0.3) map differs from this one
        assert (reference != exp["semantic"]).mean() > 0.01


def test_missing_output_switches_take_the_references_defaults(model_copy, caplog):
    keys = ("parsing_on", "semantic_on", "sem_seg_postprocess_before_inference")
    _edit(model_copy, lambda m: [m.pop(k) for k in keys])
    with caplog.at_level(logging.INFO, logger="desktop.engine.config"):
        cfg = load_config(model_copy)
    assert (cfg.parsing_on, cfg.semantic_on, cfg.sem_seg_postprocess_before_inference) == (False, True, True)
    assert cfg.defaults_taken == keys
    (line,) = [r.getMessage() for r in caplog.records if "reference's defaults" in r.getMessage()]
    assert "parsing_on = false, semantic_on = true, sem_seg_postprocess_before_inference = true" in line


def test_missing_single_human_is_the_single_person_model_as_in_the_reference(model_copy):
    _edit(model_copy, lambda m: m.pop("single_human"))
    with pytest.raises(ModelLoadError, match=r"does not say 'single_human': false, so the reference treats it as "
                                             r"the single-person M2FP model"):
        load_config(model_copy)


@pytest.mark.parametrize("section,key", [
    ("decoder", "hidden_dim"), ("backbone", "depth"), ("encoder", "transformer_enc_layers"),
    ("decoder", "num_classes"), (None, "classes"), (None, "num_parsing"),
])
def test_missing_size_leaves_the_model_undefined(model_copy, section, key):
    _edit(model_copy, lambda m: (m[section] if section else m).pop(key))
    name = f"{section}.{key}" if section else key
    with pytest.raises(ModelLoadError, match=rf"leaves the model undefined: it does not set {name}, which M2FP "
                                             "needs and has no default for"):
        load_config(model_copy)


def test_unknown_extra_keys_are_ignored(model_copy, tiny_model_dir):
    def add(m):
        m["hub_revision"] = {"anything": [1, 2, 3]}
        m["decoder"]["dropout"] = 0.1
        m["backbone"]["freeze_at"] = 0
    _edit(model_copy, add)
    assert load_config(model_copy) == load_config(tiny_model_dir)


def test_byte_order_mark_is_tolerated(model_copy, tiny_model_dir):
    path = model_copy / "configuration.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_config(model_copy) == load_config(tiny_model_dir)


# -- values that are not values ---------------------------------------------------------------


@pytest.mark.parametrize("section,key,value,says", [
    ("decoder", "dec_layers", "9", 'decoder.dec_layers is "9", not a whole number'),
    ("decoder", "dec_layers", 9.5, "decoder.dec_layers is 9.5, not a whole number"),
    ("decoder", "dec_layers", True, "decoder.dec_layers is true, not a whole number"),
    ("decoder", "dec_layers", 0, r"decoder.dec_layers is 0 \(an M2FP model has 1 to 100\)"),
    ("decoder", "num_queries", -8, r"decoder.num_queries is -8 \(an M2FP model has 1 to 1000\)"),
    ("encoder", "common_stride", 0, r"encoder.common_stride is 0 \(M2FP models use 4\)"),
    ("decoder", "pre_norm", "no", 'decoder.pre_norm is "no", not true or false'),
    ("encoder", "transformer_in_features", ["res3", "res9", "res5"], "encoder.transformer_in_features is"),
    (None, "parsing_ins_score_thr", float("nan"), "parsing_ins_score_thr is nan, not a number from 0 to 1"),
    (None, "parsing_ins_score_thr", 5, "parsing_ins_score_thr is 5, not a number from 0 to 1"),
])
def test_wrong_values_are_named(model_copy, section, key, value, says):
    _edit(model_copy, lambda m: (m[section] if section else m).__setitem__(key, value))
    with pytest.raises(ModelLoadError, match=says):
        load_config(model_copy)


@pytest.mark.parametrize("content,says", [
    (b"[" * 100_000 + b"]" * 100_000, "is not a model configuration: the file is damaged"),
    (b'{"model": ' + b"9" * 5000 + b"}", "is not a model configuration: the file is damaged"),
    (b'{"model": {"type": "m2fp"}, "pad": "' + b"x" * (2 << 20) + b'"}', "far too large for a model configuration"),
    (b"\xff\xfe{}", "is not a text file"),
])
def test_damaged_files_are_refused_in_one_sentence(model_copy, content, says):
    (model_copy / "configuration.json").write_bytes(content)
    with pytest.raises(ModelLoadError, match=says):
        load_config(model_copy)


# -- configurations that would eat memory -----------------------------------------------------

# (section, key, value, what the message must say). The first group is beyond any sane bound;
# the second is within the bounds but contradicts the weights file's shapes or key counts.
HOSTILE = [
    ("decoder", "dec_layers", 10**6, "decoder.dec_layers is 1000000 (an M2FP model has 1 to 100)"),
    ("encoder", "n_points", 10**6, "encoder.n_points is 1000000 (an M2FP model has 1 to 32)"),
    ("backbone", "stem_out_channels", 10**9, "backbone.stem_out_channels is 1000000000"),
    ("decoder", "hidden_dim", 10**9, "decoder.hidden_dim is 1000000000"),
    ("encoder", "transformer_dim_feedforward", 10**12, "encoder.transformer_dim_feedforward is 1000000000000"),
    ("decoder", "dec_layers", 100, "decoder.dec_layers is 100, but the weights hold 4 such layers"),
    ("encoder", "transformer_enc_layers", 64, "encoder.transformer_enc_layers is 64, but the weights hold 2"),
    ("encoder", "n_points", 32, "encoder.transformer_nheads x encoder.n_points x 3 levels gives 384"),
    ("backbone", "stem_out_channels", 4096, "backbone.stem_out_channels gives 4096, but backbone.stem.conv3.weight"),
    ("backbone", "width_per_group", 1024, "backbone.num_groups x backbone.width_per_group gives 1024"),
    ("decoder", "dim_feedforward", 65536, "decoder.dim_feedforward gives 65536"),
    ("decoder", "num_queries", 1000, "decoder.num_queries gives 1000"),
    ("encoder", "conv_dim", 4096, "encoder.conv_dim gives 4096"),
]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc (Linux)")
def test_hostile_sizes_are_refused_at_once_before_anything_is_built(model_copy, tmp_path):
    """Each case in a fresh model folder, all in one child process: each refusal within 2 s, the
    network never built, the message names the key and holds no C++ trace, and the child's peak
    memory stays where importing the engine left it.

    The peak is the child's own ``VmHWM``: ``getrusage``'s ``ru_maxrss`` would report this test
    process's peak, which Linux carries over into a child at ``exec``."""
    cases = []
    for n, (section, key, value, _says) in enumerate(HOSTILE):
        folder = Path(shutil.copytree(model_copy, tmp_path / f"case{n}"))
        _edit(folder, lambda m, s=section, k=key, v=value: m[s].__setitem__(k, v))
        cases.append(str(folder))
    code = textwrap.dedent(f"""
        import json, sys, time
        import torch  # runtime="torch" below: its import is not what this test measures
        from desktop.engine import parser as parser_mod
        from desktop.engine.errors import ModelLoadError

        def peak_kb():
            with open("/proc/self/status") as f:
                return int(next(line for line in f if line.startswith("VmHWM")).split()[1])

        def never(cfg):
            raise AssertionError("the network was built")

        parser_mod.build_network = never
        before = peak_kb()
        report = []
        for folder in {cases!r}:
            t0 = time.perf_counter()
            try:
                parser_mod.HumanParser.load(folder, runtime="torch")
                message = "loaded"
            except ModelLoadError as exc:
                message = str(exc)
            report.append({{"seconds": time.perf_counter() - t0, "message": message}})
        print(json.dumps({{"grew_kb": peak_kb() - before, "cases": report}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for (section, key, value, says), case in zip(HOSTILE, report["cases"], strict=True):
        message = case["message"]
        assert says in message, f"{section}.{key} = {value}: {message}"
        assert case["seconds"] < 2.0, f"{section}.{key} = {value} took {case['seconds']:.2f} s"
        assert "configuration.json" in message
        for trace in ("Traceback", "c10::", ".cpp", "frame #"):
            assert trace not in message
    assert report["grew_kb"] < 40 * 1024, f"peak memory grew by {report['grew_kb'] / 1024:.0f} MB"
