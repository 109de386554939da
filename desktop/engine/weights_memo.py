"""What is known about a weights file, remembered while the file stays the same.

Why: a start from OpenVINO's cache needs two facts about ``pytorch_model.pt`` that cost
seconds to establish, and torch to read the file at all: the digest of its network tensors
(the converted model's cache key; training-only state left out, so a hub checkpoint and the
plain weights share one converted model) and that it passed the check against
``configuration.json`` (``weights_check``). Exports also record the SHA-256 of the file's
bytes (``desktop.model_summary``). Both are recorded here, in the cache folder,
against the file's identity, and recalled with one ``stat`` instead of importing torch (about
1-2 s) and hashing 250 MB (0.9 s for the file's bytes with hashlib on this machine, about the
same tensor by tensor).

The identity is the file's resolved path, size, modification time, change time (``st_ctime``:
set by the system on every write, not by tools that copy timestamps), inode and device. Any
rewrite of the file changes it, so changed weights are never mistaken for the remembered
ones; a copy or a touch only costs one fresh computation. A missing, damaged or foreign memo
file is simply not used (and rewritten).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..atomic import atomic_write_text
from ..userdirs import user_dir

log = logging.getLogger(__name__)

CACHE_ENV_VAR = "M2FP_CACHE_DIR"  # the same cache root as the converted models
MEMO_FILE = "weights-memo.json"
FORMAT = 1
KEEP_FILES = 16  # weights files remembered (most recently recorded first)
KEEP_CHECKED = 4  # configurations remembered as checked per weights file


def memo_path() -> Path:
    return user_dir("cache", CACHE_ENV_VAR) / MEMO_FILE


def identity(path: Path) -> list[int | str]:
    """What changes whenever the file's content may have changed (see the module docstring)."""
    st = os.stat(path)
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _load() -> dict:
    try:
        doc = json.loads(memo_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), list):
        return {}
    return doc


def recall(path: Path) -> dict:
    """The facts recorded for ``path`` as it is now; ``{}`` when unknown or changed since."""
    try:
        ident = identity(path)
    except OSError:
        return {}
    for record in _load().get("files", []):
        if isinstance(record, dict) and record.get("identity") == ident:
            facts = record.get("facts")
            return facts if isinstance(facts, dict) else {}
    return {}


def remember(path: Path, *, network_sha256: str | None = None, file_sha256: str | None = None,
             checked_config: str | None = None, as_of: list[int | str] | None = None) -> None:
    """Record facts about ``path`` as it was at ``as_of`` (its :func:`identity` taken before the
    facts were established; now if None), merged with those already recorded for it. If the file
    has changed since ``as_of``, nothing is recorded.

    Never raises: a read-only or full cache only means the facts are computed again next time.
    Two processes recording at once may lose one's facts (the file is replaced whole): they are
    computed again, nothing worse.
    """
    try:
        ident = identity(path)
        if as_of is not None and as_of != ident:
            return  # changed while the facts were computed: they may be about the old content
        records = [r for r in _load().get("files", []) if isinstance(r, dict)]
        mine = next((r for r in records if r.get("identity") == ident), None)
        facts = dict(mine.get("facts", {})) if mine else {}
        if network_sha256 is not None:
            facts["network_sha256"] = network_sha256
        if file_sha256 is not None:
            facts["file_sha256"] = file_sha256
        if checked_config is not None:
            checked = [c for c in facts.get("checked_configs", []) if c != checked_config]
            facts["checked_configs"] = [checked_config, *checked][:KEEP_CHECKED]
        # One record per path (an older identity of the same file is forgotten), newest first.
        others = [r for r in records if r is not mine and (r.get("identity") or [None])[0] != ident[0]]
        doc = {"format": FORMAT, "files": [{"identity": ident, "facts": facts}, *others][:KEEP_FILES]}
        target = memo_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps(doc, indent=1))
    except OSError as exc:
        log.info("Cannot remember facts about %s in the cache (%s)", path, exc)
