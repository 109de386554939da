"""Keep every parsing result of the session within a fixed memory budget.

Going back to an image must never parse it again, yet a folder of 1,000 photos cannot keep
1,000 full results (each holds a full-size label map) in memory. The store therefore has
three tiers, all lossless:

1. *hot*: the most recently stored results, as they are, up to ``hot_budget`` bytes
   (measured with :meth:`ParsingResult.nbytes`);
2. *cold*: older results packed (label map and mask runs zlib-compressed), up to
   ``cold_budget`` bytes;
3. *disk*: packed results beyond that go to a private temporary folder, removed on close.

Packing happens in the thread that calls :meth:`put` (the parse worker), never in the GUI
thread; :meth:`get` on a packed result unpacks a copy without promoting it, so the GUI
thread never pays for compressing somebody else's result.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import pickle
import shutil
import tempfile
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from desktop.engine.masks import RunMask
from desktop.engine.result import ParsingResult, Part, Person
from desktop.review.uncertain_store import full_uncertain_mask, with_stored_uncertain

log = logging.getLogger(__name__)

MB = 1024 * 1024


def _pack_mask(mask: RunMask) -> tuple[tuple[int, int], bytes, bytes]:
    return mask.shape, mask.starts.tobytes(), mask.ends.tobytes()


def _unpack_mask(shape: tuple[int, int], starts: bytes, ends: bytes) -> RunMask:
    dtype = RunMask.empty(shape).starts.dtype  # the index type RunMask uses for this size
    return RunMask(shape, np.frombuffer(starts, dtype=dtype), np.frombuffer(ends, dtype=dtype))


def pack_result(result: ParsingResult) -> bytes:
    """A compact, lossless byte string for ``result`` (see :func:`unpack_result`)."""
    shape = result.labels.shape
    persons = [(p.id, p.score, p.bbox, p.area, p.part_ids, *_pack_mask(p.mask)) for p in result.persons]
    parts = [(p.id, p.label, p.name, p.score, p.bbox, p.area, p.person_id, *_pack_mask(p.mask)) for p in result.parts]
    payload: dict[str, Any] = {
        "shape": shape,
        "labels": result.labels.tobytes(),
        "labels_dtype": result.labels.dtype.str,
        "persons": persons,
        "parts": parts,
        "class_names": tuple(result.class_names),
        "palette": np.asarray(result.palette).tolist(),
        "timings": dict(result.timings),
        "model": dict(result.model),
        "notes": list(result.notes),
        # Not the model's confidence provider (its low-res logits, often larger packed than the
        # whole rest of the result): the uncertain pixels it gives, which is what the doubt view
        # of an older image shows (the relabel menu then lists classes in their usual order).
        "uncertain": _pack_uncertain(result),
    }
    return zlib.compress(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unpack_result(blob: bytes) -> ParsingResult:
    """Rebuild the exact :class:`ParsingResult` that :func:`pack_result` packed."""
    d = pickle.loads(zlib.decompress(blob))  # noqa: S301 - our own bytes, never from outside
    shape = tuple(d["shape"])
    labels = np.frombuffer(d["labels"], dtype=np.dtype(d["labels_dtype"])).reshape(shape).copy()
    persons = [
        Person(id=i, score=s, mask=_unpack_mask(mshape, st, en), bbox=tuple(bb), area=a, part_ids=tuple(pids))
        for i, s, bb, a, pids, mshape, st, en in d["persons"]
    ]
    parts = [
        Part(id=i, label=lab, name=n, score=s, mask=_unpack_mask(mshape, st, en), bbox=tuple(bb), area=a,
             person_id=pid)
        for i, lab, n, s, bb, a, pid, mshape, st, en in d["parts"]
    ]
    result = ParsingResult(
        labels=labels,
        persons=persons,
        parts=parts,
        class_names=tuple(d["class_names"]),
        palette=np.asarray(d["palette"], dtype=np.uint8),
        timings=d["timings"],
        model=d["model"],
        notes=d["notes"],
    )
    uncertain = d.get("uncertain")
    return with_stored_uncertain(result, None if uncertain is None else _unpack_mask(*uncertain))


def _pack_uncertain(result: ParsingResult) -> tuple[tuple[int, int], bytes, bytes] | None:
    """The result's uncertain pixels as mask runs (computed here, in the packing worker)."""
    mask = full_uncertain_mask(result)
    if mask is None:
        return None
    if not isinstance(mask, RunMask):
        mask = RunMask.from_dense(np.asarray(mask, dtype=bool))
    return _pack_mask(mask)


class ResultStore:
    """Thread-safe map ``key -> ParsingResult`` bounded in memory (see module docstring)."""

    def __init__(self, hot_budget: int = 512 * MB, cold_budget: int = 256 * MB, spill_dir: Path | None = None):
        self.hot_budget = int(hot_budget)
        self.cold_budget = int(cold_budget)
        self._lock = threading.Lock()
        self._hot: OrderedDict[str, tuple[ParsingResult, int]] = OrderedDict()
        self._cold: OrderedDict[str, bytes] = OrderedDict()
        self._disk: dict[str, Path] = {}
        self._hot_bytes = 0
        self._cold_bytes = 0
        self._spill_parent = spill_dir
        self._spill_dir: Path | None = None
        self._closed = False
        self._counter = itertools.count()

    # -- queries ------------------------------------------------------------------------
    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._hot or key in self._cold or key in self._disk

    def __len__(self) -> int:
        with self._lock:
            return len(self._hot) + len(self._cold) + len(self._disk)

    def tier(self, key: str) -> str | None:
        """``"hot"``, ``"cold"``, ``"disk"`` or ``None`` (for tests and diagnostics)."""
        with self._lock:
            if key in self._hot:
                return "hot"
            if key in self._cold:
                return "cold"
            if key in self._disk:
                return "disk"
            return None

    @property
    def memory_bytes(self) -> int:
        with self._lock:
            return self._hot_bytes + self._cold_bytes

    def get(self, key: str) -> ParsingResult | None:
        """The result for ``key`` or ``None``. Packed results are unpacked (a fresh copy)."""
        with self._lock:
            hot = self._hot.get(key)
            if hot is not None:
                self._hot.move_to_end(key)
                return hot[0]
            blob = self._cold.get(key)
            path = self._disk.get(key)
        if blob is None and path is not None:
            try:
                blob = path.read_bytes()
            except OSError as exc:
                log.error("Cannot read the cached result %s: %s", path, exc)
                return None
        if blob is None:
            return None
        return unpack_result(blob)

    # -- updates ------------------------------------------------------------------------
    def put(self, key: str, result: ParsingResult) -> None:
        """Store ``result`` (replacing any previous one) and pack older ones if over budget."""
        size = max(1, result.nbytes())
        with self._lock:
            self._discard_locked(key)
            self._hot[key] = (result, size)
            self._hot_bytes += size
            overflow = self._take_hot_overflow_locked()
        self._cool(overflow)

    def put_first(self, key: str, result: ParsingResult) -> Callable[[], None] | None:
        """:meth:`put`, for the parse worker: it returns what may wait until the window has
        shown the result (None here; the review store's workspace derives a doubt score)."""
        self.put(key, result)
        return None

    def discard(self, key: str) -> None:
        with self._lock:
            self._discard_locked(key)

    def clear(self) -> None:
        with self._lock:
            for key in list(self._hot) + list(self._cold) + list(self._disk):
                self._discard_locked(key)

    def close(self) -> None:
        """Drop everything and remove the spill folder."""
        self.clear()
        with self._lock:
            self._closed = True
            spill, self._spill_dir = self._spill_dir, None
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------
    def _discard_locked(self, key: str) -> None:
        hot = self._hot.pop(key, None)
        if hot is not None:
            self._hot_bytes -= hot[1]
        blob = self._cold.pop(key, None)
        if blob is not None:
            self._cold_bytes -= len(blob)
        path = self._disk.pop(key, None)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def _take_hot_overflow_locked(self) -> list[tuple[str, ParsingResult]]:
        out = []
        # Always keep the newest result hot, whatever its size.
        while self._hot_bytes > self.hot_budget and len(self._hot) > 1:
            key, (result, size) = self._hot.popitem(last=False)
            self._hot_bytes -= size
            out.append((key, result))
        return out

    def _cool(self, items: list[tuple[str, ParsingResult]]) -> None:
        for key, result in items:
            blob = pack_result(result)  # slow part: outside the lock
            with self._lock:
                if key in self._hot or key in self._cold or key in self._disk or self._closed:
                    continue  # replaced or cleared meanwhile
                self._cold[key] = blob
                self._cold_bytes += len(blob)
                spill = []
                while self._cold_bytes > self.cold_budget and len(self._cold) > 1:
                    old_key, old_blob = self._cold.popitem(last=False)
                    self._cold_bytes -= len(old_blob)
                    spill.append((old_key, old_blob))
            for old_key, old_blob in spill:
                self._spill(old_key, old_blob)

    def _spill(self, key: str, blob: bytes) -> None:
        try:
            with self._lock:
                if self._spill_dir is None:
                    self._spill_dir = Path(tempfile.mkdtemp(prefix="m2fp-results-", dir=self._spill_parent))
                folder = self._spill_dir
            path = folder / f"{next(self._counter):06d}-{zlib.crc32(key.encode('utf-8')):08x}.bin"
            path.write_bytes(blob)
        except OSError as exc:
            # No disk space: keep it in memory rather than lose a result.
            log.warning("Cannot spill a result to disk (%s); keeping it in memory", exc)
            with self._lock:
                self._cold[key] = blob
                self._cold_bytes += len(blob)
            return
        with self._lock:
            if self._closed:
                with contextlib.suppress(OSError):
                    path.unlink()
                return
            self._disk[key] = path
