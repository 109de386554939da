"""A start from OpenVINO's cache never imports torch (issue 19: the first photo fast).

Importing torch costs 1-2 s of every start; with a converted, checked model in the cache the
command line and ``HumanParser`` must not need it. Each case runs a real process (the command
line as users start it, or a small driver) with a cache folder of this module's own, and looks
at what that process imported: ``-X importtime`` for the command line, ``sys.modules`` at exit
for the driver. The outputs are compared with the path that imports torch (the first start,
which converts the model with it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("openvino")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TORCH_IMPORTED = re.compile(r"^import time:.*\|\s+torch\s*$", re.M)  # -X importtime's line for torch itself
DAMAGED = "cannot be used"

DRIVER = r"""
import json, sys
import numpy as np
from desktop.engine import HumanParser
parser = HumanParser.load(sys.argv[1], runtime="auto")
result = parser.parse_file(sys.argv[2])
np.save(sys.argv[3], result.labels)
print(json.dumps({"torch": "torch" in sys.modules, "runtime": parser.runtime.name,
                  "from_cache": getattr(parser.runtime, "from_cache", None),
                  "parts": len(result.parts), "timings": result.timings}))
"""


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "M2FP_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}


def _cli(photo: Path, out: Path, model: Path, cache: Path) -> subprocess.CompletedProcess:
    shutil.rmtree(out, ignore_errors=True)
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "desktop.cli", str(photo), "--out", str(out),
                           "--model", str(model), "--runtime", "openvino"],
                          cwd=ROOT, env=_env(cache), capture_output=True, text=True, timeout=600)


def _driver(model: Path, photo: Path, labels: Path, cache: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(model), str(photo), str(labels)],
                          cwd=ROOT, env=_env(cache), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _outputs(out: Path) -> dict[str, object]:
    """Every output file: PNGs by their bytes, JSON without what differs between runs (timings,
    how the model was loaded)."""
    files: dict[str, object] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.suffix == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(doc, dict):
                doc.pop("timings", None)
                doc.pop("model", None)
            files[path.name] = doc
        else:
            files[path.name] = path.read_bytes()
    return files


def _warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("import time:") and line.strip()]


@pytest.fixture(scope="module")
def warm(tmp_path_factory, tiny_model_dir, golden_images):
    """A model folder and a cache folder of this module's own, after a first (cold) start of the
    command line, which converts the model: (model, cache, photo, the cold start's process, out)."""
    work = tmp_path_factory.mktemp("torch-free")
    model = work / "model"
    shutil.copytree(tiny_model_dir, model)
    cache = work / "cache"
    photo = golden_images["astronaut"]
    cold = _cli(photo, work / "out-cold", model, cache)
    assert cold.returncode == 0, cold.stderr[-3000:]
    (entry,) = (cache / "openvino").iterdir()  # later tests may add entries for other weights
    return model, cache, photo, cold, work / "out-cold", entry


def test_cold_start_converts_with_torch(warm):
    _model, _cache, _photo, cold, _out, entry = warm
    assert TORCH_IMPORTED.search(cold.stderr), "the first start converts the model, which needs torch"
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["verified"] and (entry / "model.xml").is_file()


def test_warm_command_line_never_imports_torch_and_writes_the_same_outputs(warm, tmp_path):
    model, cache, photo, _cold, cold_out, _entry = warm
    proc = _cli(photo, tmp_path / "out", model, cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch_lines = TORCH_IMPORTED.findall(proc.stderr)
    who = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    first = next((i for i, line in enumerate(who) if re.search(r"\|\s+torch[.\s]", line + " ")), None)
    assert not torch_lines, f"torch was imported; the imports just before it: {who[max(0, (first or 0) - 8):(first or 0) + 1]}"
    assert _outputs(tmp_path / "out") == _outputs(cold_out)
    doc = json.loads((tmp_path / "out" / f"{photo.stem}.json").read_text())
    assert doc["model"]["runtime"] == "openvino"


def test_warm_parser_load_and_parse_never_import_torch(warm, tmp_path, tiny_openvino_parser):
    model, cache, photo, _cold, _out, _entry = warm
    got = _driver(model, photo, tmp_path / "labels.npy", cache)
    assert got["runtime"] == "openvino" and got["from_cache"] is True
    assert got["torch"] is False, "HumanParser.load/parse_file imported torch from a warm cache"
    expected = tiny_openvino_parser.parse_file(photo)  # this process has torch: the torch-importing path
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), expected.labels)
    assert got["parts"] == len(expected.parts)


def test_changed_weights_get_a_new_entry(warm, tmp_path):
    _model, cache, photo, _cold, _out, _entry = warm
    changed = tmp_path / "model"
    shutil.copytree(warm[0], changed)
    state = torch.load(changed / "pytorch_model.pt", weights_only=True)
    name = next(k for k, v in state["model"].items() if v.is_floating_point() and k.endswith("class_embed.bias"))
    state["model"][name] = state["model"][name] + 0.5
    torch.save(state, changed / "pytorch_model.pt")
    before = {p.name for p in (cache / "openvino").iterdir()}
    got = _driver(changed, photo, tmp_path / "labels.npy", cache)
    after = {p.name for p in (cache / "openvino").iterdir()}
    assert got["runtime"] == "openvino" and got["from_cache"] is False  # converted again, for these weights
    assert len(after - before) == 1 and before <= after
    # The same file changed in place (same path, same size): its remembered digest must not be used.
    state["model"][name] = state["model"][name] + 0.5
    torch.save(state, changed / "pytorch_model.pt")
    again = _driver(changed, photo, tmp_path / "labels2.npy", cache)
    assert again["from_cache"] is False
    assert len({p.name for p in (cache / "openvino").iterdir()} - after) == 1


def test_a_changed_configuration_is_checked_again(warm, tmp_path, monkeypatch):
    """The check of the configuration against the weights is skipped only for the very files it
    passed with: a configuration edited afterwards is refused as before."""
    from desktop.engine import HumanParser, ModelLoadError

    model, cache, _photo, _cold, _out, _entry = warm
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    monkeypatch.setenv("M2FP_CACHE_DIR", str(cache))
    cfg = json.loads((copy / "configuration.json").read_text())
    text = json.dumps(cfg)
    assert '"dec_layers": ' in text
    (copy / "configuration.json").write_text(re.sub(r'"dec_layers": (\d+)', lambda m: f'"dec_layers": {int(m[1]) + 1}',
                                                    text))
    with pytest.raises(ModelLoadError, match="dec_layers"):
        HumanParser.load(copy, runtime="openvino")


def test_damaged_entry_is_rebuilt_with_one_message(warm, tmp_path):
    model, cache, photo, _cold, cold_out, entry = warm
    private = tmp_path / "cache"
    shutil.copytree(cache, private)
    entry = private / "openvino" / entry.name
    (entry / "model.bin").write_bytes(b"\0" * 100)  # truncated weights
    proc = _cli(photo, tmp_path / "out", model, private)
    assert proc.returncode == 0, proc.stderr[-3000:]
    messages = [line for line in _warning_lines(proc.stderr) if "OpenVINO" in line]
    assert len(messages) == 1 and DAMAGED in messages[0] and "converting the model again" in messages[0], messages
    assert _outputs(tmp_path / "out") == _outputs(cold_out)
    assert (entry / "model.bin").stat().st_size > 100
    again = _cli(photo, tmp_path / "out2", model, private)  # and the next start is torch-free again
    assert again.returncode == 0 and not TORCH_IMPORTED.search(again.stderr)


def test_damaged_memo_only_costs_a_recomputation(warm, tmp_path):
    """The weights memo is a cache too: garbage in it is ignored (torch reads the weights again),
    never trusted, and the start still finds the converted model."""
    model, cache, photo, _cold, _out, _entry = warm
    private = tmp_path / "cache"
    shutil.copytree(cache, private)
    (private / "weights-memo.json").write_text("{not json")
    got = _driver(model, photo, tmp_path / "labels.npy", private)
    assert got["runtime"] == "openvino" and got["from_cache"] is True and got["torch"] is True
    assert json.loads((private / "weights-memo.json").read_text())["files"]
    assert _driver(model, photo, tmp_path / "labels2.npy", private)["torch"] is False


def test_image_stays_an_array_end_to_end(tiny_openvino_parser, golden_images):
    """The network's input and outputs are NumPy arrays on both runtimes (no torch tensors to
    convert, nothing that needs torch in the result)."""
    rgb = np.asarray(Image.open(golden_images["astronaut"]).convert("RGB"))
    pending = tiny_openvino_parser.start_network(tiny_openvino_parser.prepare_input(rgb))()
    assert isinstance(pending.prepared.tensor, np.ndarray) and pending.prepared.tensor.dtype == np.float32
    logits, masks = pending.outputs
    assert isinstance(logits, np.ndarray) and isinstance(masks, np.ndarray)
    assert logits.dtype == masks.dtype == np.float32 and masks.ndim == 3
