"""Load ``pytorch_model.pt`` strictly: every key present, none unexpected, every shape right.

The reference skips mismatching keys silently and then produces garbage; a reviewer would
never know. We refuse with a message naming the file and the first offending keys.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from .errors import ModelLoadError

WEIGHTS_FILE = "pytorch_model.pt"


def _state_dict_from(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(
            f"{path} does not hold M2FP weights (expected {{'model': state_dict}} of tensors). "
            "Download the model again or choose another folder."
        )
    return obj


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely (``weights_only=True``) and return its state dict."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: a model folder holds configuration.json and {WEIGHTS_FILE}.")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{path} is empty (0 bytes): the download was interrupted. Download the model again.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"{path} cannot be read as PyTorch weights ({reason}). The file is truncated, damaged or "
            "not a PyTorch checkpoint: download the model again."
        ) from None
    return _state_dict_from(obj, path)


def load_into(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Copy ``state`` into ``module`` after checking every key and shape."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} has shape {tuple(state[k].shape)}, the network expects {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {', '.join(unexpected[:3])}")
    if wrong:
        problems.append(f"{len(wrong)} key(s) with the wrong shape, e.g. {'; '.join(wrong[:3])}")
    if problems:
        raise ModelLoadError(
            f"{path} does not match the network described by configuration.json: "
            + "; ".join(problems)
            + ". The weights and the configuration come from different models."
        )
    state = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    module.load_state_dict(state, strict=True)
