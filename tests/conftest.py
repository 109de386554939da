"""Shared fixtures: the tiny golden model shipped in tests/data, and a parser loaded once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before any test module imports openvino: the engine switches OpenVINO's usage reporting off
# (no network, nothing written under ~/intel), for test runs as for the app.
from desktop.engine.no_telemetry import disable_openvino_telemetry

disable_openvino_telemetry()

# The tests read English messages whatever the machine's language (desktop/i18n.py follows the
# system's otherwise); run them in Chinese with M2FP_LANG=zh_CN. Subprocesses inherit it.
os.environ.setdefault("M2FP_LANG", "en")

DATA = Path(__file__).resolve().parent / "data"
TINY = DATA / "m2fp-tiny"


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    """Models converted for OpenVINO go to a per-session temporary folder, never the user's cache.

    Set in the environment (not monkeypatched) so that subprocesses started by tests inherit it.
    The native OpenVINO kernel is built once per session into a folder of its own, which the
    tests that swap the cache folder keep sharing (a build takes seconds).
    """
    names = ("M2FP_CACHE_DIR", "M2FP_NATIVE_DIR", "M2FP_CONFIG_DIR", "M2FP_DATA_DIR")
    old = {name: os.environ.get(name) for name in names}
    os.environ["M2FP_CACHE_DIR"] = str(tmp_path_factory.mktemp("m2fp-cache"))
    os.environ["M2FP_NATIVE_DIR"] = str(tmp_path_factory.mktemp("m2fp-native"))
    # The command line reads the app's settings (its chosen model folder): never the user's.
    os.environ["M2FP_CONFIG_DIR"] = str(tmp_path_factory.mktemp("m2fp-config"))
    # Review workspaces the window creates for the folders tests open: never the user's data folder.
    os.environ["M2FP_DATA_DIR"] = str(tmp_path_factory.mktemp("m2fp-data"))
    yield
    for name, value in old.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A complete M2FP model folder (hub layout) with a small architecture and fixed random weights."""
    return TINY / "model"


@pytest.fixture(scope="session")
def golden_images() -> dict[str, Path]:
    """The three real photos the golden outputs were computed for, by stem."""
    return {p.stem: p for p in sorted((TINY / "images").iterdir())}


@pytest.fixture(scope="session")
def tiny_parser(tiny_model_dir):
    """A HumanParser on the tiny model with the PyTorch runtime (loaded once per session)."""
    from desktop.engine import HumanParser

    return HumanParser.load(tiny_model_dir, runtime="torch")


@pytest.fixture(scope="session")
def tiny_openvino_parser(tiny_model_dir):
    """The tiny model on the OpenVINO runtime, exact precision (skipped where OpenVINO is not installed)."""
    pytest.importorskip("openvino")
    from desktop.engine import HumanParser

    parser = HumanParser.load(tiny_model_dir, runtime="openvino", precision="exact")
    assert parser.runtime.name == "openvino", "the OpenVINO runtime failed and the parser fell back to PyTorch"
    return parser
