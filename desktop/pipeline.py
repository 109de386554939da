"""The batch pipeline: while the network runs on one photo, the next is decoded and prepared and
the previous one post-processed and written.

Why: parsing a 1920x1080 photo is about 3 s of network on two cores, and about 1 s of steps
that use one core or the disk (JPEG decoding, resizing, post-processing, PNG and JSON
encoding, hashing the file). One after another, the network's cores wait for those; here
they run beside it, on three threads with bounded hand-overs:

    decode thread:   load (decode) -> parser.prepare_input
    network thread:  parser.start_network -> wait     (up to ``parser.streams`` at once)
    write thread:    parser.finish (post-process) -> write (export)

- **Order and results unchanged**: each stage is one thread taking items first in, first out,
  so outcomes come back in the jobs' order, and each image goes through the very functions
  :meth:`HumanParser.parse` chains (same result, bit for bit).
- **Memory bounded**: a photo holds a slot from the start of its decoding until its outputs
  are written; there are ``parser.streams + ahead`` slots (``ahead`` = 2 by default), so at
  most two photos are held beyond the one(s) in the network, whatever the batch size.
- **One bad file is one failed outcome**: an exception in any stage is kept with its image
  (the later stages skip it) and re-raised by :meth:`Outcome.result` in the caller's thread,
  where the command line reports it as before.
- **Cancellation is clean**: closing the iterator (Ctrl+C in the caller's loop, an early
  ``break``) stops every stage at its next image; the image being written is finished
  (outputs are written under temporary names anyway), nothing new starts, and the threads
  are joined before the iterator returns. A ``KeyboardInterrupt`` raised inside a stage ends
  the batch the same way, once it has been handed to the caller.

A parser without the staged API (``prepare_input``/``start_network``/``finish``; test
doubles, say) is driven through ``parse`` on the network thread. ``sequential=True`` runs
every stage in the caller's thread, one image after another (the loop the command line used
before; the benchmark's baseline).

No torch here: this module only moves work between threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from desktop.i18n import gettext  # not ``_``: this module uses ``_`` as a loop variable

log = logging.getLogger(__name__)

__all__ = ["AHEAD", "DEFAULT_STREAMS", "Outcome", "parse_jobs"]

J = TypeVar("J")

#: Photos held beyond those in the network: one decoded and waiting, one being written.
AHEAD = 2
#: Images in the network at once by default (OpenVINO streams, sharing the threads; never more
#: than the threads). Measured with bench/bench_batch.py on 2 shared cores, 20 photos of
#: 1920x1080, two rounds: 2 streams of 1 thread gave 8.4 and 12.5 photos per minute against
#: 6.7 and 7.9 for 1 stream of 2 threads (the same CPU time; 0.3 GB more peak memory): one
#: image's network leaves cores idle at its serial steps, a second image fills them.
DEFAULT_STREAMS = 2
_POLL = 0.1  # seconds between checks of the cancel flag while a stage waits


@dataclass
class Outcome:
    """What became of one job, like a finished ``concurrent.futures.Future``: :meth:`result`
    returns the status the write function returned, or raises the exception that stopped the
    image (in whichever stage)."""

    status: str | None = None
    error: BaseException | None = None

    def result(self) -> str:
        if self.error is not None:
            raise self.error
        return self.status or ""


@dataclass
class _Item(Generic[J]):
    index: int
    job: J
    image: Any = None  # desktop.imageio.LoadedImage once decoded
    pending: Any = None  # the parser's PendingParse between the stages
    result: Any = None  # ParsingResult (parsers without the staged API)
    decode: float = 0.0
    seconds: float = 0.0  # this image's own work so far (not time spent waiting in a queue)
    outcome: Outcome = field(default_factory=Outcome)


def _staged(parser) -> bool:
    return all(callable(getattr(parser, name, None)) for name in ("prepare_input", "start_network", "finish"))


def parse_jobs(
    jobs: Sequence[J],
    parser,
    *,
    load: Callable[[J], Any],
    write: Callable[[J, Any, Any, float], str],
    ahead: int = AHEAD,
    sequential: bool = False,
) -> Iterator[tuple[J, Outcome]]:
    """Parse ``jobs`` with ``parser``; yields ``(job, outcome)`` in the jobs' order, each once
    its outputs are written.

    ``load(job)`` decodes the job's image (a :class:`~desktop.imageio.LoadedImage`);
    ``write(job, image, result, seconds)`` writes its outputs and returns a status line
    (``seconds``: the image's decoding and parsing time so far). Both run on worker threads
    unless ``sequential``; they are called for one image at a time, in order.
    """
    if sequential or not jobs:
        yield from _sequential(jobs, parser, load, write)
        return
    run = _Pipeline(jobs, parser, load, write, ahead)
    try:
        yield from run.outcomes()
    finally:
        run.stop()


def _sequential(jobs, parser, load, write) -> Iterator[tuple[Any, Outcome]]:
    for index, job in enumerate(jobs):
        item = _Item(index, job)
        for stage in (_decode, _network_sync, _write):
            stage(item, parser, load, write)
        if _interrupts(item):
            raise item.outcome.error  # KeyboardInterrupt from a stage: as the plain loop did
        yield job, item.outcome


def _timed(item: _Item, fn: Callable[[], Any]) -> Any:
    """Run one stage's work for ``item``, adding its time to the image's own; an exception is
    kept as the image's outcome (the later stages skip the image)."""
    t0 = time.perf_counter()
    try:
        return fn()
    except BaseException as exc:  # noqa: BLE001 - kept and re-raised in the caller's thread
        item.outcome.error = exc
        return None
    finally:
        item.seconds += time.perf_counter() - t0


def _decode(item: _Item, parser, load, write) -> None:
    t0 = time.perf_counter()
    item.image = _timed(item, lambda: load(item.job))
    item.decode = time.perf_counter() - t0
    if item.outcome.error is None and _staged(parser):
        item.pending = _timed(item, lambda: parser.prepare_input(item.image.rgb))


def _network_sync(item: _Item, parser, load, write) -> None:
    if item.outcome.error is not None:
        return
    if _staged(parser):
        item.pending = _timed(item, lambda: parser.start_network(item.pending)())
    else:
        item.result = _timed(item, lambda: parser.parse(item.image.rgb, notes=list(item.image.notes)))


def _write(item: _Item, parser, load, write) -> None:
    if item.outcome.error is not None:
        return
    if item.result is None:
        item.result = _timed(item, lambda: parser.finish(item.pending, notes=list(item.image.notes)))
        item.pending = None
        if item.outcome.error is not None:
            return
    item.result.timings.setdefault("decode", item.decode)
    item.outcome.status = _timed(item, lambda: write(item.job, item.image, item.result, item.seconds))
    item.image = item.result = None  # the memory goes back before the slot does


class _Pipeline:
    """Three stage threads joined by unbounded queues, bounded by ``slots`` (see the module
    docstring); the caller's thread collects the outcomes.

    Two ways to end early: :meth:`stop` (the caller closed the iterator) makes every stage
    return at its next wait, which polls the flag; a ``KeyboardInterrupt`` raised inside a
    stage travels down the stages with its image like any failure, and each stage, once it
    has passed it on, passes on an end marker instead of anything later.
    """

    _END = object()

    def __init__(self, jobs: Sequence, parser, load, write, ahead: int):
        self.jobs, self.parser, self.load, self.write = list(jobs), parser, load, write
        self.staged = _staged(parser)
        self.streams = max(1, int(getattr(parser, "streams", 1) or 1)) if self.staged else 1
        self.slots = threading.Semaphore(self.streams + max(0, int(ahead)))
        self.cancel = threading.Event()
        self.to_network: queue.Queue = queue.Queue()
        self.to_write: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue()
        self.crash: BaseException | None = None
        self.threads = [threading.Thread(target=self._guard, args=(stage,), name=f"m2fp-{name}", daemon=True)
                        for name, stage in (("decode", self._decoder), ("network", self._network),
                                            ("write", self._writer))]
        for thread in self.threads:
            thread.start()

    # -- the caller's side -----------------------------------------------------------------
    def outcomes(self) -> Iterator[tuple[Any, Outcome]]:
        for _ in range(len(self.jobs)):
            item = self._get(self.done)
            if item is self._END:
                break
            yield item.job, item.outcome
            if _interrupts(item):
                return  # the caller has the KeyboardInterrupt; nothing after it ran
        if self.crash is not None:
            raise RuntimeError(gettext("the batch pipeline stopped: {reason}").format(reason=self.crash)) from self.crash

    def stop(self) -> None:
        """Stop every stage at its next wait and join the threads: the image being written is
        completed (its outputs are whole), inferences already started are waited for (an
        inference cannot be abandoned halfway), nothing new starts."""
        self.cancel.set()
        for thread in self.threads:
            thread.join()

    # -- the stages ------------------------------------------------------------------------
    def _guard(self, stage: Callable[[], None]) -> None:
        """A stage thread: a failure of the pipeline itself (not of an image) ends the batch."""
        try:
            stage()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            log.debug("batch pipeline stage failed", exc_info=True)
            self.crash = self.crash or exc
            self.cancel.set()
            self.done.put(self._END)

    def _get(self, q: queue.Queue, wait: bool = True) -> Any:
        """The next item of ``q``: ``_END`` once stopped; with ``wait=False``, None if empty."""
        while not self.cancel.is_set():
            try:
                return q.get(timeout=_POLL) if wait else q.get_nowait()
            except queue.Empty:
                if not wait:
                    return None
        return self._END

    def _decoder(self) -> None:
        for index, job in enumerate(self.jobs):
            while not self.slots.acquire(timeout=_POLL):
                if self.cancel.is_set():
                    return
            if self.cancel.is_set():
                return
            item = _Item(index, job)
            _decode(item, self.parser, self.load, self.write)
            self.to_network.put(item)
            if _interrupts(item):
                break
        self.to_network.put(self._END)

    def _network(self) -> None:
        in_flight: deque[tuple[_Item, Callable[[], Any]]] = deque()
        try:
            while True:
                # Nothing new waiting while images run: collect the oldest rather than sit idle.
                item = self._get(self.to_network, wait=not in_flight)
                if item is None:
                    if self._collect(in_flight.popleft()):
                        break
                    continue
                if item is self._END:
                    while in_flight and not self.cancel.is_set():
                        if self._collect(in_flight.popleft()):
                            break
                    break
                if item.outcome.error is None and self.staged:
                    wait = _timed(item, lambda item=item: self.parser.start_network(item.pending))
                    if item.outcome.error is None:
                        in_flight.append((item, wait))
                        if len(in_flight) >= self.streams and self._collect(in_flight.popleft()):
                            break
                        continue
                # Failed already, failed to start, or a parser without stages: after the earlier ones.
                while in_flight:
                    if self._collect(in_flight.popleft()):
                        break
                else:
                    _network_sync(item, self.parser, self.load, self.write)
                    self.to_write.put(item)
                    if not _interrupts(item):
                        continue
                break
        finally:
            self.to_write.put(self._END)
            for _item, wait in in_flight:  # started but not to be written: let them finish
                try:
                    wait()
                except BaseException:  # noqa: BLE001 - the batch is ending; nothing to report
                    pass

    def _collect(self, entry: tuple[_Item, Callable[[], Any]]) -> bool:
        """Wait for an image's network outputs and pass it on; True if it was interrupted."""
        item, wait = entry
        item.pending = _timed(item, wait)
        self.to_write.put(item)
        return _interrupts(item)

    def _writer(self) -> None:
        while True:
            item = self._get(self.to_write)
            if item is self._END:
                break
            try:
                _write(item, self.parser, self.load, self.write)
            finally:
                self.slots.release()
            self.done.put(item)
            if _interrupts(item):
                break
        self.done.put(self._END)


def _interrupts(item: _Item) -> bool:
    """Whether the image's stage raised KeyboardInterrupt (or SystemExit): the batch ends there."""
    return item.outcome.error is not None and not isinstance(item.outcome.error, Exception)
