"""One decode per photo, shared by the window's photo loader and the parse worker.

When a photo is opened, the photo loader decodes it for display while the parse worker
decodes it to parse it: two copies of the pixels at once, 288 MB for a 48-megapixel photo,
held while the network runs. Wrapping the decoder in :class:`SharedDecoder` makes the second
caller wait for the first one's result (or error) and share it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any


class _Pending:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.image: Any = None
        self.error: BaseException | None = None


class SharedDecoder:
    """``load(path)`` for several threads, decoding each photo once while it is in use.

    The ``keep`` most recent photos stay shared; a photo is known by its path, size and
    modification time, so a file that changed on disk is decoded again.
    """

    def __init__(self, load: Callable[[Path], Any], keep: int = 1):
        self._load = load
        self._keep = max(1, keep)
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, _Pending] = OrderedDict()

    def __call__(self, path: str | os.PathLike[str]) -> Any:
        path = Path(path)
        try:
            st = path.stat()
            key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        except OSError:
            return self._load(path)  # the decoder reports the problem in its own words
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if owner:
                entry = self._entries[key] = _Pending()
            self._entries.move_to_end(key)
        if owner:
            try:
                entry.image = self._load(path)
            except BaseException as exc:  # shared with whoever waits, then raised here too
                entry.error = exc
            finally:
                entry.done.set()
                self._trim()
        else:
            entry.done.wait()
        if entry.error is not None:
            raise entry.error
        return entry.image

    def _trim(self) -> None:
        with self._lock:
            done = [k for k, e in self._entries.items() if e.done.is_set()]
            for key in done[: max(0, len(done) - self._keep)]:
                del self._entries[key]
