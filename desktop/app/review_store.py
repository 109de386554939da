"""The window's results: kept in memory for speed, saved in the review workspace for good.

:class:`ReviewStore` is the :class:`~desktop.app.result_store.ResultStore` the window always
had (the parse worker puts each result in it, the view gets them back), with a *backend*:
the review controller. Every result put is also handed to the backend, in the parse
worker's thread, which stores it in the workspace before the window even hears of it (so
a crash right after a parse loses nothing); what the backend derives from it (the doubt
score) comes after the window shows it (:meth:`ReviewStore.put_first`). A result asked for
and not in memory (after reopening a workspace: nothing was parsed in this session) is loaded from the backend
instead of being parsed again, and a few such results are kept at hand for going back and
forth; the workspace itself is the cold store, so they are not packed into the memory
tiers (packing belongs in the worker thread, and these are read in the window's).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from desktop.app.result_store import ResultStore
from desktop.engine.result import ParsingResult

#: Results read back from the workspace kept in memory (the image shown and its neighbours).
LOADED_KEEP = 4


class ResultBackend(Protocol):
    def save(self, key: str, result: ParsingResult) -> Callable[[], None] | None: ...

    def load(self, key: str) -> ParsingResult | None: ...


class ReviewStore(ResultStore):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.backend: ResultBackend | None = None
        self._loaded: OrderedDict[str, ParsingResult] = OrderedDict()
        self._loaded_lock = threading.Lock()
        #: How many results were read from the backend (tests count them: reopening must
        #: read, never parse).
        self.loads = 0

    def put(self, key: str, result: ParsingResult) -> None:
        finish = self.put_first(key, result)
        if finish is not None:
            finish()

    def put_first(self, key: str, result: ParsingResult) -> Callable[[], None] | None:
        """Keep ``result`` and store it in the workspace; return what the backend leaves for
        after the window shows it (see :meth:`ResultStore.put_first`)."""
        with self._loaded_lock:
            self._loaded.pop(key, None)
        super().put(key, result)
        backend = self.backend
        return backend.save(key, result) if backend is not None else None

    def get(self, key: str) -> ParsingResult | None:
        result = super().get(key)
        if result is not None:
            return result
        with self._loaded_lock:
            result = self._loaded.get(key)
            if result is not None:
                self._loaded.move_to_end(key)
                return result
        backend = self.backend
        if backend is None:
            return None
        result = backend.load(key)
        if result is not None:
            with self._loaded_lock:
                self.loads += 1
                self._loaded[key] = result
                while len(self._loaded) > LOADED_KEEP:
                    self._loaded.popitem(last=False)
        return result

    def discard(self, key: str) -> None:
        with self._loaded_lock:
            self._loaded.pop(key, None)
        super().discard(key)

    def clear(self) -> None:
        with self._loaded_lock:
            self._loaded.clear()
        super().clear()
