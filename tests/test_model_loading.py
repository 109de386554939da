"""A wrong or broken model folder gets a clear error naming the file (and the key), never a torch traceback."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch

from desktop.engine import (
    CancelledError,
    HumanParser,
    ModelLoadError,
    ModelNotFoundError,
    download_model,
    find_model_dir,
)
from desktop.engine import models as models_mod
from desktop.engine.config import load_config
from desktop.engine.parser import build_network


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    dst = tmp_path / "my model"
    shutil.copytree(tiny_model_dir, dst)
    return dst


@pytest.fixture
def no_models_anywhere(tmp_path, monkeypatch):
    """Point every search location at empty folders."""
    monkeypatch.delenv(models_mod.ENV_VAR, raising=False)
    monkeypatch.setattr(models_mod, "app_dir", lambda: tmp_path / "app")
    cache = tmp_path / "cache" / "models" / models_mod.MODEL_NAME
    monkeypatch.setattr(models_mod, "default_model_dir", lambda: cache)
    return cache


def _load(path):
    return HumanParser.load(path, runtime="torch")


def _state(path: Path) -> dict:
    return torch.load(path / "pytorch_model.pt", weights_only=True)["model"]


def test_full_architecture_builds_exactly_the_reference_keys(data_dir):
    cfg = load_config(data_dir / "full-architecture-configuration.json")
    shapes = {k: list(v) for k, v in json.loads((data_dir / "full-architecture-shapes.json").read_text())}
    ours = {k: list(v.shape) for k, v in build_network(cfg).state_dict().items()}
    assert ours == shapes
    assert len(ours) == 928
    assert sum(torch.Size(s).numel() for s in ours.values()) == pytest.approx(63.23e6, rel=1e-3)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(ModelLoadError, match=r"not an M2FP model folder: configuration.json and pytorch_model.pt missing"):
        _load(tmp_path / "photos")


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        _load(tmp_path / "nowhere")


def test_config_of_another_model_type(model_copy):
    cfg = json.loads((model_copy / "configuration.json").read_text())
    cfg["model"]["type"] = "mask2former"
    (model_copy / "configuration.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match=r"type 'mask2former'.*not M2FP"):
        _load(model_copy)


def test_config_that_is_not_json(model_copy):
    (model_copy / "configuration.json").write_text("{ this is not json")
    with pytest.raises(ModelLoadError, match=r"configuration.json is not valid JSON"):
        _load(model_copy)


def test_truncated_weights(model_copy):
    weights = model_copy / "pytorch_model.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match=r"pytorch_model.pt cannot be read as PyTorch weights.*truncated"):
        _load(model_copy)


def test_empty_weights(model_copy):
    (model_copy / "pytorch_model.pt").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"is empty \(0 bytes\)"):
        _load(model_copy)


def test_foreign_checkpoint(model_copy):
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, model_copy / "pytorch_model.pt")
    with pytest.raises(ModelLoadError, match="does not hold M2FP weights"):
        _load(model_copy)


def test_pickle_with_code_is_refused(model_copy):
    """weights_only=True: a checkpoint that would run code on load is rejected, not executed, and
    the message says so plainly (not PyTorch's advice to turn the safety off)."""
    torch.save({"model": {"x": torch.zeros(1)}, "evil": threading.Lock}, model_copy / "pytorch_model.pt")
    with pytest.raises(ModelLoadError) as err:
        _load(model_copy)
    message = str(err.value)
    assert "pytorch_model.pt was not loaded: besides weights, it contains program code" in message
    assert "Download the model again" in message
    assert "weights_only" not in message and "Re-running" not in message and "\x1b" not in message


def test_missing_key_is_named(model_copy):
    state = _state(model_copy)
    del state["sem_seg_head.predictor.class_embed.bias"]
    torch.save({"model": state}, model_copy / "pytorch_model.pt")
    with pytest.raises(ModelLoadError, match=r"pytorch_model.pt.*1 missing key, e.g. sem_seg_head.predictor.class_embed.bias"):
        _load(model_copy)


def test_unexpected_key_is_named(model_copy):
    state = _state(model_copy)
    state["backbone.res6.0.conv1.weight"] = torch.zeros(1)
    torch.save({"model": state}, model_copy / "pytorch_model.pt")
    with pytest.raises(ModelLoadError, match=r"1 unexpected key, e.g. backbone.res6.0.conv1.weight"):
        _load(model_copy)


def test_wrong_shape_is_named(model_copy):
    state = _state(model_copy)
    state["sem_seg_head.predictor.class_embed.bias"] = torch.zeros(23)
    torch.save({"model": state}, model_copy / "pytorch_model.pt")
    with pytest.raises(ModelLoadError, match=r"class_embed.bias has shape \(23,\), the network expects \(22,\)"):
        _load(model_copy)


def test_weights_that_contradict_a_configured_size_name_the_key(model_copy):
    """Checked before building: the message names the configuration key and the weight's shape."""
    state = _state(model_copy)
    state["sem_seg_head.predictor.query_feat.weight"] = torch.zeros(9, 32)
    torch.save({"model": state}, model_copy / "pytorch_model.pt")
    with pytest.raises(ModelLoadError, match=r"decoder.num_queries gives 8, but sem_seg_head.predictor.query_feat.weight "
                                             r"has shape \(9, 32\)"):
        _load(model_copy)


def test_weights_of_a_different_size_model(model_copy, data_dir):
    """A configuration that does not match the weights (e.g. 101 layers for 50-layer weights)."""
    cfg = json.loads((model_copy / "configuration.json").read_text())
    cfg["model"]["backbone"]["depth"] = 101
    (model_copy / "configuration.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match=r"backbone.depth is 101, but the weights hold those of a ResNet-50"):
        _load(model_copy)


def test_model_not_found_says_where_to_put_it(no_models_anywhere):
    with pytest.raises(ModelNotFoundError) as err:
        find_model_dir()
    assert str(no_models_anywhere) in str(err.value)
    assert "configuration.json and pytorch_model.pt" in str(err.value)
    assert err.value.target == str(no_models_anywhere)
    assert len(err.value.searched) >= 2


def test_search_order_env_then_app_then_cache(no_models_anywhere, tiny_model_dir, tmp_path, monkeypatch):
    shutil.copytree(tiny_model_dir, no_models_anywhere)
    assert find_model_dir() == no_models_anywhere
    app_models = tmp_path / "app" / "models"
    shutil.copytree(tiny_model_dir, app_models)
    assert find_model_dir() == app_models
    env_model = tmp_path / "env" / "damo" / models_mod.MODEL_NAME  # the hub's own layout below the folder
    shutil.copytree(tiny_model_dir, env_model)
    monkeypatch.setenv(models_mod.ENV_VAR, str(tmp_path / "env"))
    assert find_model_dir() == env_model
    assert find_model_dir(tiny_model_dir) == tiny_model_dir


def test_loaded_parser_reports_its_source(tiny_model_dir):
    parser = _load(tiny_model_dir)
    assert parser.info["source"] == str(tiny_model_dir)
    assert parser.info["runtime"] == "torch"


class _FakeHub:
    """Stands in for the network side of modelscope's snapshot_download (files and progress calls)."""

    def __init__(self, source: Path, cancel_after: int | None = None, cancel: threading.Event | None = None):
        self.source, self.cancel_after, self.cancel = source, cancel_after, cancel

    def __call__(self, model_id, local_dir, allow_patterns, progress_callbacks):
        assert model_id == models_mod.MODEL_ID
        for n, f in enumerate(sorted(self.source.iterdir())):
            cb = progress_callbacks[0](f.name, f.stat().st_size)
            data = f.read_bytes()
            for i in range(0, len(data), 4096):
                if self.cancel_after is not None and n >= self.cancel_after:
                    self.cancel.set()
                (Path(local_dir) / f.name).open("ab").write(data[i : i + 4096])
                cb.update(len(data[i : i + 4096]))
            cb.end()
        return local_dir


def _patch_hub(monkeypatch, hub):
    import importlib

    # modelscope.hub re-exports a function of the same name, so fetch the module itself.
    module = importlib.import_module("modelscope.hub.snapshot_download")
    monkeypatch.setattr(module, "snapshot_download", hub)
    # The fake hub needs no network: no connection is tried (tests make no internet traffic).
    monkeypatch.setattr(models_mod, "modelscope_reachable", lambda: ("modelscope.test", None))


def test_download_reports_progress_and_lands_complete(tmp_path, monkeypatch, tiny_model_dir):
    pytest.importorskip("modelscope")
    _patch_hub(monkeypatch, _FakeHub(tiny_model_dir))
    seen = []
    target = tmp_path / "m2fp"
    assert download_model(target, progress=lambda text, frac: seen.append((text, frac))) == target
    assert models_mod.is_model_dir(target)
    assert (target / "pytorch_model.pt").read_bytes() == (tiny_model_dir / "pytorch_model.pt").read_bytes()
    fractions = [f for _, f in seen if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert _load(target).info["source"] == str(target)


def test_download_cancel_leaves_nothing(tmp_path, monkeypatch, tiny_model_dir):
    pytest.importorskip("modelscope")
    cancel = threading.Event()
    _patch_hub(monkeypatch, _FakeHub(tiny_model_dir, cancel_after=1, cancel=cancel))
    target = tmp_path / "m2fp"
    with pytest.raises(CancelledError):
        download_model(target, cancel=cancel)
    assert not target.exists()
    assert [p for p in tmp_path.iterdir()] == []


def test_macos_bundle_looks_beside_the_app(no_models_anywhere, tiny_model_dir, tmp_path, monkeypatch):
    """In a .app the executable is in Contents/MacOS; a models/ folder beside the .app is found."""
    exe = tmp_path / "dist" / "M2FP.app" / "Contents" / "MacOS" / "m2fp-desktop"
    exe.parent.mkdir(parents=True)
    exe.write_text("")
    monkeypatch.setattr(models_mod.sys, "frozen", True, raising=False)
    monkeypatch.setattr(models_mod.sys, "executable", str(exe))
    beside = tmp_path / "dist" / "models"
    shutil.copytree(tiny_model_dir, beside)
    assert find_model_dir() == beside
