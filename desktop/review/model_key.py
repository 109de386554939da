"""Which model made a result, as the workspace keys it: weights, runtime, precision.

A stored result is reused only for the same image content *and* the same model identity:
the SHA-256 of the model's weights file (``pytorch_model.pt``: the same value exported JSON
files give as ``model.weights_sha256``), the runtime (``torch`` or ``openvino``) and the
precision (``exact`` or ``fast``; ``fast`` changes results). A result of any other identity
is reported as "from another model", never silently mixed in.

Hashing 250 MB of weights takes a fraction of a second (they were just read, so they come
from the page cache); the digest is remembered while the files are unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from desktop.i18n import _

__all__ = ["ModelIdentity", "expected_identity", "model_files_sha256"]

_WEIGHTS = "pytorch_model.pt"


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def model_files_sha256(folder: str | os.PathLike[str]) -> str:
    """SHA-256 of the model folder's weights file (remembered while it keeps its size and
    modification time). Raises OSError when it is missing."""
    path = os.path.join(os.path.abspath(folder), _WEIGHTS)
    st = os.stat(path)
    return _file_digest(path, st.st_size, st.st_mtime_ns)


def _precision(text: str) -> str:
    """``"fast (bf16)"`` -> ``"fast"``: the choice, not how this CPU carried it out."""
    return (text or "exact").split()[0].strip().lower()


@dataclass(frozen=True)
class ModelIdentity:
    """What makes two results comparable. ``key`` is the stored form."""

    weights_sha256: str
    runtime: str
    precision: str
    name: str = ""

    @property
    def key(self) -> str:
        return f"{self.weights_sha256[:16]}-{self.runtime}-{self.precision}"

    def describe(self) -> str:
        """For people: ``"cv_resnet101_image-multiple-human-parsing (openvino, exact)"``."""
        name = self.name or _("model {digest}").format(digest=self.weights_sha256[:8])
        return f"{name} ({self.runtime}, {self.precision})"

    @classmethod
    def from_info(cls, info: Mapping[str, object], weights_sha256: str | None = None) -> ModelIdentity:
        """From a parser's ``info`` (or a result's ``model`` section, a copy of it); the weights'
        hash is ``info["weights_sha256"]`` when there, else computed from ``info["source"]``
        (the model folder)."""
        digest = weights_sha256 or str(info.get("weights_sha256") or "") or model_files_sha256(str(info["source"]))
        return cls(digest, str(info.get("runtime") or "torch"), _precision(str(info.get("precision") or "exact")),
                   str(info.get("name") or ""))

    @classmethod
    def of_parser(cls, parser) -> ModelIdentity:
        """The identity of what ``parser`` (a HumanParser) runs right now."""
        return cls.from_info(parser.info)


def expected_identity(model_dir: str | os.PathLike[str], runtime: str, precision: str,
                      name: str = "") -> ModelIdentity:
    """The identity a parser loaded with these settings will have, without loading it
    (so a batch whose results are all stored never loads the model). ``auto`` means
    OpenVINO when it is installed; if it then fails and PyTorch takes over, the results
    are stored under PyTorch's identity (and the next run parses those images again)."""
    if runtime == "auto":
        runtime = "openvino" if importlib.util.find_spec("openvino") is not None else "torch"
    return ModelIdentity(model_files_sha256(model_dir), runtime, _precision(precision), name or Path(model_dir).name)
