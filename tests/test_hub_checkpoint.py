"""The hub's checkpoint carries training-only state beside the network: it loads, parses and matches.

The published ``pytorch_model.pt`` was saved from M2FP's training code: its ``model`` entry
holds the loss module's ``criterion.empty_weight`` (and possibly ``pixel_mean`` /
``pixel_std``) beside the network keys, and a training checkpoint also stores the optimizer,
the scheduler and the iteration. These tests build such a file from the tiny golden model's
own weights and check that it gives the golden outputs on both runtimes, shares the OpenVINO
cache entry of the plain weights, and that anything else unexpected is still refused.
"""

from __future__ import annotations

import gc
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

from desktop.engine import HumanParser, ModelLoadError
from desktop.engine import checkpoint as checkpoint_mod
from desktop.engine.preprocess import prepare

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["astronaut", "grace_hopper", "astronaut_crop"]
ATOL = 1e-3
PIXEL_AGREEMENT = 0.999
NUM_CLASSES = 21
OPTIMIZER_SHAPE = (12345,)  # no network tensor has this shape


def _network_state(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "pytorch_model.pt", weights_only=True)["model"]


def _training_extras() -> dict[str, torch.Tensor]:
    """What M2FP's training model holds beside the network (see the module docstring)."""
    empty_weight = torch.ones(NUM_CLASSES + 1)
    empty_weight[-1] = 0.1  # SetCriterion: eos_coef for the "no object" class
    return {
        "criterion.empty_weight": empty_weight,
        "pixel_mean": torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1),
        "pixel_std": torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1),
    }


def _training_checkpoint(model: dict[str, torch.Tensor], optimizer_numel: int = OPTIMIZER_SHAPE[0]) -> dict:
    """detectron2's checkpointer layout: model, optimizer, scheduler, iteration."""
    return {
        "model": model,
        "optimizer": {
            "state": {0: {"step": torch.tensor(90000.0), "exp_avg": torch.full((optimizer_numel,), 0.5),
                          "exp_avg_sq": torch.full((optimizer_numel,), 0.25)}},
            "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.05,
                              "params": [0]}],
        },
        "scheduler": {"base_lrs": [1e-4], "last_epoch": 89999},
        "iteration": 89999,
    }


def _model_copy(src: Path, dst: Path, state: dict | None = None) -> Path:
    shutil.copytree(src, dst)
    if state is not None:
        torch.save(state, dst / "pytorch_model.pt")
    return dst


@pytest.fixture(scope="module")
def hub_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model's weights saved as the hub's training checkpoint would hold them."""
    state = {**_network_state(tiny_model_dir), **_training_extras()}
    return _model_copy(tiny_model_dir, tmp_path_factory.mktemp("hub") / "model", _training_checkpoint(state))


@pytest.fixture(scope="module", params=["torch", "openvino"])
def hub_parser(request, hub_model_dir):
    if request.param == "openvino":
        pytest.importorskip("openvino")
    parser = HumanParser.load(hub_model_dir, runtime=request.param, precision="exact")
    assert parser.runtime.name == request.param, "the runtime failed and the parser fell back"
    return parser


def _rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("name", NAMES)
def test_hub_checkpoint_gives_the_golden_outputs(name, hub_parser, golden_images, data_dir):
    exp = dict(np.load(data_dir / "m2fp-tiny" / "expected" / f"{name}.npz"))
    rgb = _rgb(golden_images[name])
    logits, masks = hub_parser.forward(prepare(rgb, hub_parser.cfg))
    np.testing.assert_allclose(logits, exp["pred_logits"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(masks, exp["pred_masks"], atol=ATOL, rtol=0)

    result = hub_parser.parse(rgb)
    assert (result.labels == exp["semantic"]).mean() >= PIXEL_AGREEMENT
    np.testing.assert_allclose(sorted(p.score for p in result.parts), np.sort(exp["part_scores"]), atol=ATOL)
    np.testing.assert_allclose(sorted(p.score for p in result.persons), np.sort(exp["human_scores"]), atol=ATOL)


def test_training_only_keys_are_named_in_one_log_line(hub_model_dir, caplog):
    with caplog.at_level(logging.INFO, logger="desktop.engine.checkpoint"):
        HumanParser.load(hub_model_dir, runtime="torch")
    lines = [r.getMessage() for r in caplog.records if "training-only" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "criterion.empty_weight, pixel_mean, pixel_std" in lines[0]
    assert str(hub_model_dir / "pytorch_model.pt") in lines[0]


def test_same_network_weights_share_the_openvino_cache_entry(hub_model_dir, tiny_model_dir, tmp_path, monkeypatch):
    """The cache key covers the network weights only: the hub file reuses the conversion (and its
    recorded self-check) of the plain weights; nothing is converted or checked a second time."""
    ov_runtime = pytest.importorskip("desktop.engine.openvino_runtime")
    from desktop.engine import native_kernel

    assert ov_runtime.cache_key(hub_model_dir) == ov_runtime.cache_key(tiny_model_dir)
    kernel = native_kernel.Kernel(tmp_path / "k.so", "ab" * 32)
    assert ov_runtime.cache_key(hub_model_dir, kernel) == ov_runtime.cache_key(tiny_model_dir, kernel)

    monkeypatch.setenv(ov_runtime.CACHE_ENV_VAR, str(tmp_path / "cache"))
    first = HumanParser.load(tiny_model_dir, runtime="openvino")
    assert first.runtime.name == "openvino" and not first.runtime.from_cache
    assert first.info["openvino_check"] == "passed"
    (entry,) = (tmp_path / "cache" / "openvino").iterdir()

    def no_conversion(*args, **kwargs):
        raise AssertionError("the hub checkpoint was converted again")

    monkeypatch.setattr(ov_runtime, "convert", no_conversion)
    second = HumanParser.load(hub_model_dir, runtime="openvino")
    assert second.runtime.name == "openvino" and second.runtime.from_cache
    assert second.info["openvino_model"] == f"cached in {entry}"
    assert [p.name for p in (tmp_path / "cache" / "openvino").iterdir()] == [entry.name]


@pytest.mark.parametrize("stray", [
    "sem_seg_head.predictor.extra.weight",  # the network's own namespace: another architecture
    "backbone.res6.0.conv1.weight",
    "decoder.layers.0.weight",  # nothing explains it
])
def test_a_key_nothing_explains_is_refused(stray, tiny_model_dir, tmp_path):
    state = {**_network_state(tiny_model_dir), **_training_extras(), stray: torch.zeros(4)}
    model = _model_copy(tiny_model_dir, tmp_path / "model", _training_checkpoint(state))
    with pytest.raises(ModelLoadError) as err:
        HumanParser.load(model, runtime="torch")
    assert str(model / "pytorch_model.pt") in str(err.value)
    assert f"1 unexpected key, e.g. {stray}" in str(err.value)


def test_other_normalisation_is_refused(tiny_model_dir, tmp_path):
    """pixel_mean / pixel_std are ignored only when they are the normalisation the app applies."""
    extras = {**_training_extras(), "pixel_mean": torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)}
    model = _model_copy(tiny_model_dir, tmp_path / "model", {"model": {**_network_state(tiny_model_dir), **extras}})
    with pytest.raises(ModelLoadError, match=r"pytorch_model.pt was trained with pixel_mean \(0.485, 0.456, 0.406\)"):
        HumanParser.load(model, runtime="torch")


def test_training_checkpoint_is_read_through_its_model_entry(hub_model_dir, tiny_model_dir, monkeypatch):
    """weights_only=True, memory-mapped; what is returned is the ``model`` entry, and nothing of the
    optimizer state is alive once the read returns."""
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)  # checkpoint imports torch where it reads
    state = checkpoint_mod.read_state_dict(hub_model_dir / "pytorch_model.pt")
    assert len(calls) == 1 and calls[0]["weights_only"] is True and calls[0]["mmap"] is True
    assert set(state) == set(_network_state(tiny_model_dir)) | set(_training_extras())
    gc.collect()
    alive = [o for o in gc.get_objects() if issubclass(type(o), torch.Tensor) and tuple(o.shape) == OPTIMIZER_SHAPE]
    assert alive == []


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc (Linux)")
def test_optimizer_state_never_enters_memory(tiny_model_dir, tmp_path):
    """A training checkpoint with 200 MB of optimizer state: reading its weights costs a few MB
    (measured in a child process, peak resident memory before and after the read).

    The peak is the child's own ``VmHWM``: ``getrusage``'s ``ru_maxrss`` is no use here, because
    Linux carries the parent's peak over into a child at ``exec``, so a child of this test
    process starts out with the test process's (much larger) peak."""
    numel = 25_000_000  # two float32 tensors of 100 MB
    state = {**_network_state(tiny_model_dir), **_training_extras()}
    model = _model_copy(tiny_model_dir, tmp_path / "model", _training_checkpoint(state, optimizer_numel=numel))
    code = textwrap.dedent(f"""
        import json
        import torch  # before the baseline: checkpoint imports it only when it reads (about 190 MB)
        from desktop.engine.checkpoint import load_network_state, read_state_dict
        from desktop.engine.config import load_config

        def peak_kb():
            with open("/proc/self/status") as f:
                return int(next(line for line in f if line.startswith("VmHWM")).split()[1])

        before = peak_kb()
        cfg = load_config({str(model)!r})
        state = load_network_state(cfg, {str(model / "pytorch_model.pt")!r})
        state = read_state_dict({str(model / "pytorch_model.pt")!r})
        print(json.dumps({{"grew_kb": peak_kb() - before, "keys": len(state)}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["keys"] == len(state)
    assert report["grew_kb"] < 30 * 1024, f"peak memory grew by {report['grew_kb'] / 1024:.0f} MB"
