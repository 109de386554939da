"""Shared fixtures: the tiny golden model shipped in tests/data, and a parser loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
TINY = DATA / "m2fp-tiny"


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
