"""What an export says about the model: its name and weights hash, never a path of this machine.

The engine's ``info`` (copied into every result as ``result.model``) is for this machine: it
holds the model folder, where it was found and the OpenVINO cache entry under the user's
home. Exports leave the machine, so they keep only what identifies the model and how it
ran: ``name``, ``weights_sha256`` (SHA-256 of ``pytorch_model.pt``, the same file gives the
same hash on every machine), ``runtime``, ``precision`` and library versions. Everything
else is left out by a whitelist, so a key the engine adds later cannot leak a path.

The hash is computed when first needed (0.2-0.3 s for the 240 MB weights, once per process
and file: remembered while the file's size, time and inode stay the same), not at model
load, which stays as fast as it was.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["EXPORTED_KEYS", "exported_model_info", "weights_sha256"]

#: The keys of the engine's info an export keeps (values are names and versions, never paths).
EXPORTED_KEYS = ("name", "weights_sha256", "runtime", "precision", "torch", "openvino")
WEIGHTS_FILE = "pytorch_model.pt"


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int, inode: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def weights_sha256(model_folder: str | os.PathLike[str]) -> str | None:
    """SHA-256 (hex) of the folder's ``pytorch_model.pt``; None when it cannot be read.

    Also remembered across starts in the cache (desktop.engine.weights_memo, while the file is
    unchanged): hashing 250 MB took 0.9 s of a one-photo command line on a busy 2-core machine."""
    from desktop.engine import weights_memo  # noqa: PLC0415 - stdlib only, no torch

    path = Path(model_folder) / WEIGHTS_FILE
    known = weights_memo.recall(path).get("file_sha256")
    if isinstance(known, str) and len(known) == 64 and all(c in "0123456789abcdef" for c in known):
        return known
    try:
        as_of = weights_memo.identity(path)
        st = path.stat()
        digest = _sha256(str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        return None
    weights_memo.remember(path, file_sha256=digest, as_of=as_of)
    return digest


def exported_model_info(info: Mapping[str, object] | None) -> dict[str, str]:
    """The part of a result's ``model`` dict that may leave the machine (see module docstring)."""
    info = dict(info or {})
    if "weights_sha256" not in info and info.get("source"):
        digest = weights_sha256(str(info["source"]))
        if digest:
            info["weights_sha256"] = digest
    return {key: str(info[key]) for key in EXPORTED_KEYS if info.get(key) not in (None, "")}
