"""Parse a batch on a Ray cluster: ``python -m desktop.cli INPUT... --out DIR --ray [ADDRESS]``.

Why Ray (Ray Data): a campaign of 100,000 photos is four days on one two-core machine; Ray
spreads it over every machine of a cluster with no job script, and brings its own answers to
what a home-made dispatcher would get wrong: a pool of actors that each load the model once
and are kept busy, tasks retried on another worker when a machine or process is lost, and
back-pressure so the driver never holds more than a window of results.

How it maps onto a local run (:mod:`desktop.cli`):

- the driver lists and plans the jobs exactly as a local run does (same output names, same
  ``--skip-existing`` checks), then hands Ray one row per image: its path and where its
  outputs go. Paths are absolute: **the inputs and ``--out`` must be on storage every node
  sees at the same path** (an NFS or SMB share, a cluster file system);
- each actor (:class:`ParseActor`) loads the model once, with ``--threads`` threads (default
  :data:`ACTOR_THREADS`) and reserves that many CPUs, so a node runs as many actors as it has
  CPUs for; within a batch of rows it runs the same pipeline as a local run
  (:func:`desktop.pipeline.parse_jobs`: decoding and writing overlap the network) and the
  same write function, so the files are the same as a local run's, byte for byte;
- a failing image comes back as a row with its reason (the same text a local run prints); an
  actor whose process dies (a lost machine, out of memory) is replaced by Ray and its images
  retried (Ray Data's defaults for actor pools: ``max_restarts=-1``, ``max_task_retries=-1``);
  if the cluster gives up all the same, the images it did not finish are reported as failed,
  never silently dropped;
- the driver prints the usual progress (one line per image, or the bar on a terminal) as
  rows come back, in completion order. Interchange formats (``--formats coco,...``) need every
  image's result on the driver: then the actors send it back (:mod:`desktop.review.result_codec`,
  compact and pickle-free) and the driver writes those files, as it is their only writer;
- with ``--workspace``, the actors only parse (and score doubt) and the driver stores each
  result in the workspace as it comes back: :mod:`desktop.cluster_workspace`.

Ray is an optional extra (``requirements-cluster.txt``), never part of the packaged
application; without it ``--ray`` stops with a one-line hint.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop.engine.errors import M2FPError
from desktop.i18n import N_, _, current_language, ngettext
from desktop.pipeline import DEFAULT_STREAMS, Outcome

log = logging.getLogger(__name__)

__all__ = ["ACTOR_THREADS", "BATCH_SIZE", "ClusterError", "Collected", "ParseActor", "RayBatch", "ray_address"]

#: Threads (and reserved CPUs) per actor when ``--threads`` is not given. The network scales
#: well to two threads and poorly beyond a few (OpenVINO's own guidance for throughput: several
#: streams of few threads each); two threads per actor keeps a node's actors each fast and
#: leaves memory per CPU at about 0.6 GB (each actor holds its own model).
ACTOR_THREADS = 2
#: Images per Ray task: enough for the actor's pipeline to overlap decoding and writing with the
#: network, few enough that a lost worker costs little work and progress stays fine-grained.
BATCH_SIZE = 4
HINT = N_("Running on a cluster needs Ray, which is not installed here: "
          "pip install -r requirements-cluster.txt (in the same environment as this application).")  # shown: _(HINT)


class ClusterError(M2FPError):
    """The cluster cannot be used (Ray missing, bad address, cannot connect), or an image was lost on it."""


class ImageFailed(M2FPError):
    """An image failed on a worker; its message is the reason a local run would give."""


def import_ray():
    """The ``ray`` module with Ray Data, or :class:`ClusterError` with the install hint."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extra that --ray needs
    except ImportError:
        raise ClusterError(_(HINT)) from None
    return ray


_HOST_PORT = re.compile(r"(?:[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):\d{1,5}")


def ray_address(text: str | None) -> str | None:
    """``--ray``'s value as the address for ``ray.init``: None for a Ray instance on this
    computer (no value, or ``local``), ``auto``, ``ray://HOST:PORT`` or ``HOST:PORT``.
    Anything else is refused (most likely an input file that followed ``--ray``)."""
    text = (text or "").strip()
    if text in ("", "local"):
        return None
    if text == "auto" or text.startswith("ray://") or _HOST_PORT.fullmatch(text):
        return text
    raise ClusterError(_('"{address}" is not a cluster address: use --ray auto, --ray ray://HOST:PORT or '
                         "--ray HOST:PORT; for a Ray instance on this computer put --ray after the inputs.").format(
        address=text))


def failure_reason(exc: BaseException) -> str:
    """The reason a local run prints for an image that raised ``exc`` (see desktop.cli.run)."""
    if isinstance(exc, M2FPError | OSError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return _("not enough memory to parse this image")
    return _("unexpected error: {reason}").format(reason=f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- the worker side

class ParseActor:
    """A Ray Data actor: loads the model once, then parses batches of rows and writes their
    outputs (see the module docstring). Rows in: index, path, root, relative, out_dir, stem,
    sha256; rows out: index, status, error, result (encoded, when ``collect``), summary (its
    sizes and counts, JSON), doubt (JSON, when ``doubt``), info (the model's info as
    ``key=value`` lines, for the driver's model line and workspace).

    ``doubt``: compute each image's doubt score here, from the very result a local run scores
    (confidence maps included), so the driver, the workspace's writer, only stores it: 0.5 s
    an image at 1920x1080 that would otherwise cap a whole cluster at one core of the driver.
    ``language``: the driver's, so reasons and failures read as a local run's."""

    def __init__(self, model_dir: str, runtime: str, precision: str, threads: int, streams: int,
                 formats: list[str], opacity: float, visible: list[bool] | None, max_pixels: int,
                 collect: bool, doubt: bool = False, language: str | None = None):
        from desktop.engine import HumanParser
        from desktop.export import ExportOptions

        if language:
            from desktop.i18n import set_language

            set_language(language)
        self.parser = HumanParser.load(model_dir, runtime=runtime, precision=precision, num_threads=threads)
        if streams > 1:
            self.parser.use_streams(streams)
        self.options = ExportOptions(formats=frozenset(formats), opacity=opacity,
                                     visible_classes=None if visible is None else np.asarray(visible, dtype=bool))
        self.max_pixels = max_pixels
        self.collect = collect
        self.paste_threshold: float | None = None
        if doubt:
            from desktop.review.doubt import paste_threshold_of

            self.paste_threshold = paste_threshold_of(self.parser)
        self.info = "\n".join(f"{k}={v}" for k, v in self.parser.info.items())

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from desktop.cli import Job, write_outputs
        from desktop.imageio import ImageEntry, load_image
        from desktop.pipeline import parse_jobs

        n = len(batch["index"])
        jobs = [Job(ImageEntry(Path(str(batch["path"][i])), Path(str(batch["root"][i])),
                               Path(str(batch["relative"][i]))),
                    Path(str(batch["out_dir"][i])), str(batch["stem"][i]), str(batch["sha256"][i]) or None)
                for i in range(n)]
        encoded: dict[int, tuple[bytes, str, str]] = {}

        def write(job, image, result, seconds: float) -> str:
            if self.options.formats:
                status = write_outputs(job, image, result, seconds, self.options)
            else:  # a workspace run: the driver stores the result and writes any outputs
                status = _parsed_status(seconds, len(result.persons), image.notes)
            if self.collect:
                encoded[id(job)] = _collected(result, self.paste_threshold)
            return status

        status, error, result, summary, doubt = [""] * n, [""] * n, [b""] * n, [""] * n, [""] * n
        for i, (job, outcome) in enumerate(parse_jobs(jobs, self.parser, load=lambda job: load_image(
                job.entry.path, max_pixels=self.max_pixels or None), write=write)):
            try:
                status[i] = outcome.result()
            except Exception as exc:  # one image's failure, reported by the driver as locally
                error[i] = failure_reason(exc) or _("unknown error")
            result[i], summary[i], doubt[i] = encoded.pop(id(job), (b"", "", ""))
        return {"index": np.asarray(batch["index"], dtype=np.int64), "status": np.array(status, dtype=object),
                "error": np.array(error, dtype=object), "result": np.array(result, dtype=object),
                "summary": np.array(summary, dtype=object), "doubt": np.array(doubt, dtype=object),
                "info": np.array([self.info] * n, dtype=object)}


def _collected(result, paste_threshold: float | None) -> tuple[bytes, str, str]:
    """What goes back to the driver for one result: its compact encoded form, its summary, and
    its doubt (``{"score", "reasons"}``, when ``paste_threshold``; empty when it cannot be
    computed: as :func:`desktop.review.doubt.store_doubt`, a doubt never fails an image)."""
    from desktop.review.result_codec import encode_result, result_summary

    doubt = ""
    if paste_threshold is not None:
        try:
            from desktop.review.doubt import doubt_of

            found = doubt_of(result, paste_threshold=paste_threshold)
            doubt = json.dumps({"score": found.score, "reasons": found.reasons_json()})
        except Exception as exc:
            log.warning("The doubt score could not be computed: %s", exc, exc_info=True)
    return encode_result(result), json.dumps(result_summary(result)), doubt


@dataclass(frozen=True)
class Collected:
    """One image's result as an actor sent it (:meth:`RayBatch.outcomes` with ``encoded``)."""

    #: :func:`desktop.review.result_codec.encode_result`'s bytes: what a workspace stores.
    data: bytes
    #: :func:`desktop.review.result_codec.result_summary` of it (sizes, counts, parse time).
    summary: dict
    #: ``{"score", "reasons"}`` when the actors scored doubt, else None.
    doubt: dict | None
    #: The actor's model info (what actually ran: runtime, precision, source).
    info: dict


# --------------------------------------------------------------------------- the driver side

class RayBatch:
    """What the command line loads instead of a parser with ``--ray``: no model on the driver
    (the actors load it), the same interface the batch loop uses (``info``, ``class_names``,
    ``palette``, ``input_size`` for grouping) plus :meth:`outcomes`."""

    def __init__(self, model_dir: Path, *, address: str | None, runtime: str, precision: str,
                 threads: int | None, streams: int = 1, actor_class: type = ParseActor):
        self.ray = import_ray()
        from desktop.engine.config import load_config

        self.model_dir = model_dir.resolve()
        cfg = load_config(self.model_dir)  # a model folder that is not one fails here, before the cluster starts
        self.class_names = tuple(cfg.parsing_class_names)
        self.palette = _palette(len(self.class_names))
        self.address, self.runtime, self.precision = address, runtime, precision
        self.threads = threads or ACTOR_THREADS
        self.streams = streams
        self.actor_class = actor_class
        self.started_here = False
        self.model_info: dict[str, str] = {}
        self.info = {"cluster": address or _("a Ray instance on this computer"), "source": str(self.model_dir),
                     "runtime": runtime, "precision": precision, "threads per actor": str(self.threads)}

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """Groups the batch by image size (each actor compiles once per network input size)."""
        return (height, width)

    def connect(self) -> None:
        """Join the cluster (or start a local instance); :class:`ClusterError` when that fails."""
        ray = self.ray
        if ray.is_initialized():  # the caller's own session (tests, a notebook): use it as it is
            return
        root = str(Path(__file__).resolve().parent.parent)
        env = {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        for name in ("M2FP_CACHE_DIR", "M2FP_NATIVE_DIR", "M2FP_NATIVE_KERNEL", "M2FP_CONFIG_DIR"):
            if name in os.environ and self.address is None:  # this computer's settings, for its workers
                env[name] = os.environ[name]
        try:
            ray.init(address=self.address, runtime_env={"env_vars": env}, log_to_driver=False,
                     logging_level=logging.ERROR, include_dashboard=False if self.address is None else None)
        except Exception as exc:
            raise ClusterError(_("Cannot connect to the Ray cluster {address}: {reason}").format(
                address=self.address or _("(local)"), reason=" ".join(str(exc).split())[:300])) from exc
        self.started_here = True
        self.info["cluster CPUs"] = str(int(ray.cluster_resources().get("CPU", 0)))

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()
            self.started_here = False

    def outcomes(self, jobs: Sequence, *, options, max_pixels: int, collect: bool = False, encoded: bool = False,
                 doubt: bool = False) -> Iterator[tuple[Any, Outcome, Any]]:
        """``(job, outcome, result)`` per job as the cluster finishes them (completion order);
        ``result`` is the ParsingResult when ``collect`` (else None), or with ``encoded`` a
        :class:`Collected`: the compact form the actor sent (what a workspace stores, so the
        driver neither decodes nor encodes it), with the doubt when ``doubt``. Never raises for
        the cluster's failures: images it could not finish come back as failed outcomes."""
        ray = self.ray
        self.connect()
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the command line prints its own progress
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # and Ray Data's plans are not for users
        rows = [{"index": i, "path": str(job.entry.path.absolute()), "root": str(job.entry.root.absolute()),
                 "relative": str(job.entry.relative), "out_dir": str(job.out_dir.absolute()), "stem": job.stem,
                 "sha256": job.sha256 or ""} for i, job in enumerate(jobs)]
        cpus = float(ray.cluster_resources().get("CPU", 1)) or 1.0
        actors = max(1, min(int(cpus // self.threads) or 1, -(-len(rows) // BATCH_SIZE)))
        visible = options.visible_classes
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // BATCH_SIZE)))
        dataset = dataset.map_batches(
            self.actor_class,
            batch_size=BATCH_SIZE,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
            num_cpus=min(self.threads, cpus),
            fn_constructor_kwargs={
                "model_dir": str(self.model_dir), "runtime": self.runtime, "precision": self.precision,
                "threads": self.threads, "streams": self.streams, "formats": sorted(options.formats),
                "opacity": float(options.opacity), "max_pixels": int(max_pixels), "collect": collect or encoded,
                "doubt": doubt, "language": current_language(),
                "visible": None if visible is None else [bool(v) for v in visible],
            },
        )  # Ray Data's own defaults for actors: a dead actor is replaced and its tasks retried
        seen: set[int] = set()
        try:
            for row in dataset.iter_rows():
                index = int(row["index"])
                if index in seen:  # a retried batch that had in fact finished: report once
                    continue
                seen.add(index)
                if not self.model_info and row.get("info"):
                    self.model_info = dict(line.split("=", 1) for line in str(row["info"]).splitlines() if "=" in line)
                yield jobs[index], *self._outcome(row, encoded)
        except Exception as exc:  # the cluster gave up (an actor cannot start, retries exhausted)
            log.debug("Ray batch failed", exc_info=True)
            reason = _brief(exc)
            for index, job in enumerate(jobs):
                if index not in seen:
                    seen.add(index)
                    yield job, Outcome(error=ClusterError(_("the cluster could not parse this image: {reason}").format(reason=reason))), None
        for index, job in enumerate(jobs):
            if index not in seen:  # never returned, without an error: should not happen, never silent
                yield job, Outcome(error=ClusterError(_("the cluster returned no result for this image"))), None

    @staticmethod
    def _outcome(row: dict, encoded: bool = False) -> tuple[Outcome, Any]:
        error = str(row.get("error") or "")
        if error:
            return Outcome(error=ImageFailed(error)), None
        result = None
        blob = row.get("result")
        if encoded:
            if blob is not None and len(blob):
                info = dict(line.split("=", 1) for line in str(row.get("info") or "").splitlines() if "=" in line)
                result = Collected(bytes(blob), json.loads(str(row.get("summary") or "{}")),
                                   json.loads(str(row["doubt"])) if row.get("doubt") else None, info)
        elif blob is not None and len(blob):
            from desktop.review.result_codec import decode_result

            result = decode_result(bytes(blob))
        return Outcome(status=str(row.get("status") or "")), result


def _parsed_status(seconds: float, persons: int, notes) -> str:
    """The status line :func:`desktop.cli.write_outputs` gives, for an image whose outputs the
    driver writes (a workspace run)."""
    status = ngettext("parsed in {seconds} s, {n} person", "parsed in {seconds} s, {n} persons", persons).format(
        seconds=f"{seconds:.2f}", n=persons)
    return status + f" ({'; '.join(notes)})" if notes else status


def _palette(num: int) -> np.ndarray:
    """The parser's class colours (desktop.engine.parser._palette_for), without importing the
    engine's network code and torch on the driver, which loads no model."""
    from desktop.resources import palette

    pal = palette()
    if num <= len(pal):
        return pal[:num]
    extra = np.random.default_rng(0).integers(0, 256, size=(num - len(pal), 3), dtype=np.uint8)
    return np.concatenate([pal, extra])


def cli_outcomes(batch: RayBatch, jobs: Sequence, options, max_pixels: int, formats=None
                 ) -> Iterator[tuple[Any, Outcome]]:
    """The command line's ``(job, outcome)`` stream for a Ray run; with interchange ``formats``
    the results come back to the driver, which adds each image to them (their only writer)."""
    from desktop.cli import format_key
    from desktop.formats import ImageMaps

    try:
        for job, outcome, result in batch.outcomes(jobs, options=options, max_pixels=max_pixels,
                                                   collect=bool(formats)):
            if formats and result is not None:
                try:
                    formats.add(ImageMaps.from_result(result, name=job.entry.relative.as_posix(),
                                                      stem=format_key(job), image_path=job.entry.path))
                except (M2FPError, OSError, ValueError) as exc:
                    outcome = Outcome(error=exc)
            yield job, outcome
    finally:
        batch.close()


def _brief(exc: BaseException) -> str:
    """A Ray error in one line: its last meaningful line (Ray wraps the worker's traceback)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def load_ray_batch(args, model_dir: Path | None) -> RayBatch:
    """The :class:`RayBatch` for the command line's arguments (``model_dir``: the folder the
    local run would load, None for the engine's search, done here on the driver)."""
    from desktop.engine.models import locate_model

    address = ray_address(args.ray)
    path, _origin = locate_model(model_dir)
    return RayBatch(Path(path), address=address, runtime=args.runtime, precision=args.precision,
                    threads=args.threads, streams=getattr(args, "streams", None) or DEFAULT_STREAMS)
