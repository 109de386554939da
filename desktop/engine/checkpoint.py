"""Read ``pytorch_model.pt`` safely and strictly.

Safely: ``weights_only=True`` (a file that would run code is refused, and the message says so
plainly), and memory-mapped: tensors stay on disk until they are copied into the network, so
reading the key names and shapes costs almost nothing, an optimizer state stored beside the
weights is never read into memory, and a file whose records are compressed (which
``torch.save`` never writes, and which could expand a small file into gigabytes) is refused.

Strictly: every network key present, none unexpected, every shape right. The reference skips
mismatching keys silently and then produces garbage; a reviewer would never know. We refuse
with a message naming the file and the first offending keys.

One exception, for the checkpoint the hub actually publishes: it was saved from M2FP's
training code, whose model object also holds the loss module (``criterion.*``, e.g.
``criterion.empty_weight``) and may hold the input normalisation (``pixel_mean`` /
``pixel_std``). Those keys are training-only state, not part of the network: they are left
out (one log line names them), the normalisation after checking it against ours. A key in
the network's own namespaces (``backbone.``, ``sem_seg_head.``) that the network lacks, or
any other key nothing explains, is still an error: weights of another architecture must never
load half-way.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.i18n import _, ngettext, pgettext

from .config import ModelConfig
from .errors import ModelLoadError
from .weights_check import check_against_weights

if TYPE_CHECKING:  # torch is imported where tensors are read, so WEIGHTS_FILE and is_training_only are cheap
    import torch
    from torch import nn

log = logging.getLogger(__name__)

WEIGHTS_FILE = "pytorch_model.pt"
# The training code's loss module: ``self.criterion = SetCriterion(...)`` in soeaver/M2FP's
# m2fp_model.py, with a persistent ``empty_weight`` buffer (num_classes + 1 entries).
TRAINING_ONLY_PREFIXES = ("criterion.",)
# Input normalisation buffers of the training model (persistent in some versions of the code).
NORMALISATION_KEYS = ("pixel_mean", "pixel_std")
NETWORK_PREFIXES = ("backbone.", "sem_seg_head.")


def is_training_only(key: str) -> bool:
    """Whether ``key`` is training-only state that is not part of the network (see the module doc)."""
    return key.startswith(TRAINING_ONLY_PREFIXES) or key in NORMALISATION_KEYS


def _state_dict_from(obj: object, path: Path) -> dict[str, torch.Tensor]:
    import torch  # noqa: PLC0415 - see the TYPE_CHECKING import

    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]  # detectron2's {"model", "optimizer", "scheduler", "iteration"}: only the model
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(_(
            "{path} does not hold M2FP weights (expected {{'model': state_dict}} of tensors). "
            "Download the model again or choose another folder."
        ).format(path=path))
    return obj


def _first_line(exc: BaseException) -> str:
    """An exception's first line, without C++ source locations, cut at a word (for messages)."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "") or type(exc).__name__
    if text.startswith("[enforce fail at"):  # "[enforce fail at alloc_cpu.cpp:117] . message"
        text = text.split("]", 1)[-1].lstrip(" .")
    if len(text) > 200:
        text = text[:200].rsplit(" ", 1)[0] + "…"
    return text


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely and return its state dict (memory-mapped: see the module doc).

    A training checkpoint's other entries (optimizer, scheduler, iteration) are dropped as
    soon as the ``model`` entry is taken out; being memory-mapped, they were never in memory.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(_("{path} is missing: a model folder holds configuration.json and {weights}.").format(
            path=path, weights=WEIGHTS_FILE))
    if path.stat().st_size == 0:
        raise ModelLoadError(_("{path} is empty (0 bytes): the download was interrupted. Download the model "
                               "again.").format(path=path))
    # Every checkpoint torch.save writes since PyTorch 1.6 is a zip archive and can be mapped;
    # the old format cannot (it is read whole, as before).
    mmap = zipfile.is_zipfile(path)
    import torch  # noqa: PLC0415 - see the TYPE_CHECKING import

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" not in str(exc).lower():
            raise _unreadable(path, exc) from None
        raise ModelLoadError(_(
            "{path} was not loaded: besides weights, it contains program code, which would run on this "
            "computer if the file were opened. A model file needs no code: this one was saved by another "
            "program or tampered with. Download the model again from ModelScope."
        ).format(path=path)) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, MemoryError) as exc:
        raise _unreadable(path, exc) from None
    state = _state_dict_from(obj, path)
    del obj  # the optimizer state and anything else beside the weights go now
    return state


def _unreadable(path: Path, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(_(
        "{path} cannot be read as PyTorch weights ({reason}). The file is truncated, damaged or "
        "not a PyTorch checkpoint: download the model again."
    ).format(path=path, reason=_first_line(exc)))


def split_training_state(
    state: Mapping[str, torch.Tensor], cfg: ModelConfig, path: str | Path, *, quiet: bool = False
) -> dict[str, torch.Tensor]:
    """``state`` without its training-only keys (logged once unless ``quiet``).

    ``pixel_mean`` / ``pixel_std`` must agree with the normalisation this application applies
    (the reference's, in ``cfg``): weights trained on other inputs would give wrong results.
    """
    import torch  # noqa: PLC0415 - see the TYPE_CHECKING import

    ignored = sorted(k for k in state if is_training_only(k))
    for key, ours in (("pixel_mean", cfg.pixel_mean), ("pixel_std", cfg.pixel_std)):
        if key not in state:
            continue
        value = state[key]
        theirs = value.detach().float().flatten()
        if theirs.numel() != len(ours) or not torch.allclose(theirs, torch.tensor(ours), rtol=1e-4, atol=1e-3):
            shown = ", ".join(f"{v:g}" for v in theirs[:6].tolist()) + (" …" if theirs.numel() > 6 else "")
            raise ModelLoadError(_(
                "{path} was trained with {key} ({values}), but M2FP models normalise images with "
                "({expected}): these weights are not for this model."
            ).format(path=path, key=key, values=shown, expected=", ".join(f"{v:g}" for v in ours)))
    if ignored and not quiet:
        log.info("%s: ignoring training-only state, not part of the network: %s", path, ", ".join(ignored))
    return {k: v for k, v in state.items() if not is_training_only(k)}


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Copy ``state`` into ``module`` after checking every key and shape."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        _("{key} has shape {shape}, the network expects {expected}").format(
            key=k, shape=tuple(state[k].shape), expected=tuple(expected[k].shape))
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    # Translators: joins the problems of a weights file ("a; b; c").
    separator = pgettext("list of problems", "; ")
    if missing:
        problems.append(ngettext("{n} missing key, e.g. {keys}", "{n} missing keys, e.g. {keys}", len(missing)).format(
            n=len(missing), keys=", ".join(missing[:3])))
    if unexpected:
        problems.append(ngettext("{n} unexpected key, e.g. {keys}", "{n} unexpected keys, e.g. {keys}",
                                 len(unexpected)).format(n=len(unexpected), keys=", ".join(unexpected[:3])))
    if wrong:
        problems.append(ngettext("{n} key with the wrong shape, e.g. {keys}", "{n} keys with the wrong shape, e.g. {keys}",
                                 len(wrong)).format(n=len(wrong), keys=separator.join(wrong[:3])))
    if problems:
        raise ModelLoadError(_(
            "{path} does not match the network described by configuration.json: {problems}. The weights and "
            "the configuration come from different models."
        ).format(path=path, problems=separator.join(problems)))
    state = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    module.load_state_dict(state, strict=True)


def load_network_state(cfg: ModelConfig, weights: str | Path, *, quiet: bool = False) -> dict[str, torch.Tensor]:
    """The checkpoint's network state, checked against ``cfg`` on key names and shapes.

    Read memory-mapped, training-only keys removed (logged unless ``quiet``), and every size
    the configuration gives held to the weights (:mod:`.weights_check`): after this, building
    the network for ``cfg`` allocates no more than the weights file holds. No tensor data is
    read here; :func:`load_into` checks every key and shape again when copying.
    """
    state = split_training_state(read_state_dict(weights), cfg, weights, quiet=quiet)
    check_against_weights(cfg, state, weights)
    return state
