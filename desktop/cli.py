"""Batch command line: parse many images and write label maps, colour maps, overlays and JSON.

    python -m desktop.cli INPUT... --out DIR [--model DIR] [options]
    python -m desktop.cli INPUT... --workspace FILE [--out DIR] [options]   (desktop.cli_workspace)
    python -m desktop.cli report FILE | export WORKSPACE --out DIR          (desktop.cli_commands)
    python -m desktop.cli compare ROOT | compare IMAGES LABELS              (desktop.cli_compare)

Design points (why it looks like this):

- one bad file never stops the batch; each failure is reported with its file and reason,
  and the exit code tells scripts what happened: 0 all parsed or skipped, 1 some failed,
  2 usage, model or output-folder error (nothing was attempted), 130 interrupted;
- expected errors (:class:`~desktop.engine.errors.M2FPError`, ``OSError``) are shown as one
  sentence, never a traceback; unexpected ones too, with the traceback only under ``--debug``;
- the model is loaded only when at least one image needs parsing, so a resumed batch
  (``--skip-existing``) whose outputs all exist finishes instantly;
- progress is a tqdm bar on a terminal and one line per image otherwise (logs, CI);
  every file name is printed through :func:`~desktop.terminal_text.printable`, so a name
  holding control characters cannot drive the terminal;
- output names follow :mod:`desktop.output_names` (a function of the image, not of the
  order), and ``--skip-existing`` checks that the outputs it finds record this image
  (:mod:`desktop.provenance`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from desktop import APP_NAME, __version__
from desktop.atomic import clean_stale_temporaries_once
from desktop.engine.errors import M2FPError
from desktop.export import ALL_FORMATS, FORMATS, ExportOptions, export_result, output_paths, parse_formats
from desktop.formats import FormatRun, ImageMaps
from desktop.i18n import _, ngettext
from desktop.imageio import DEFAULT_MAX_PIXELS, ImageEntry, list_images, load_image, probe_size, sha256_file
from desktop.output_names import output_stems
from desktop.provenance import is_generated_png, outputs_belong_to
from desktop.terminal_text import printable

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A problem with the command line or its environment, reported before any image is parsed."""


@dataclass
class Job:
    """One image to process and where its outputs go."""

    entry: ImageEntry
    out_dir: Path
    stem: str
    #: SHA-256 of the input file, once computed (the resume check and the export share it).
    sha256: str | None = None
    #: Set when the job cannot run (its outputs would replace an input image).
    error: str | None = None

    def outputs(self, formats: frozenset[str]) -> dict[str, Path]:
        return output_paths(self.stem, self.out_dir, formats)


@dataclass
class Summary:
    parsed: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    interrupted: bool = False


# --------------------------------------------------------------------------- arguments

def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(_("expected a whole number, got {value}").format(value=repr(text))) from None
    if value < 1:
        raise argparse.ArgumentTypeError(_("must be at least 1, got {value}").format(value=value))
    return value


#: ``--threads`` above this many threads per CPU core is refused: inference gains nothing past
#: one per core, and tens of thousands of threads crash the runtimes (issue 12).
THREADS_PER_CORE_MAX = 4


def _threads(text: str) -> int:
    value = _positive_int(text)
    cores = os.cpu_count() or 1
    limit = THREADS_PER_CORE_MAX * cores
    if value > limit:
        raise argparse.ArgumentTypeError(
            _("must be at most {limit} ({per_core} x the {cores} CPU cores of this computer), got {value}").format(
                limit=limit, per_core=THREADS_PER_CORE_MAX, cores=cores, value=value))
    return value


def _max_pixels(text: str) -> int:
    try:
        number = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(_("expected a number of pixels, got {value}").format(value=repr(text))) from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(_("expected a number of pixels (0 for no limit), got {value}").format(
            value=repr(text)))
    if number < 0:
        raise argparse.ArgumentTypeError(_("must be 0 (no limit) or more, got {value}").format(value=repr(text)))
    return int(number)


def _opacity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("expected a number between 0 and 1, got {value}").format(value=repr(text))) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(_("must be between 0 and 1, got {value}").format(value=value))
    return value


def _formats(text: str) -> frozenset[str]:
    try:
        return parse_formats(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_arg_parser() -> argparse.ArgumentParser:
    from desktop.cli_language import WideTextHelpFormatter

    p = argparse.ArgumentParser(
        prog="python -m desktop.cli", formatter_class=WideTextHelpFormatter,  # Chinese wrapped by columns
        description=_("{app}: parse people in images (CPU) and write label maps, colour maps, overlays and "
                      "JSON.").format(app=APP_NAME),
        epilog=_("Exit codes: 0 all parsed or skipped, 1 some images failed, 2 usage/model/output error, 130 "
                 "interrupted. Other commands: 'report FILE [--format csv|json]', 'export WORKSPACE --out DIR' and "
                 "'compare ROOT' or 'compare IMAGES LABELS' (python -m desktop.cli report --help, ... compare "
                 "--help)."),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                   help=_("image files and/or folders (images are recognised by content, not extension)"))
    p.add_argument("--out", "-o", type=Path, metavar="DIR",
                   help=_("output folder (created if needed); optional with --workspace"))
    p.add_argument("--workspace", type=Path, metavar="FILE",
                   help=_("parse into this review workspace (.m2fpws, created if needed), reusing the stored result "
                          "of every unchanged image parsed with the same model: a second run parses nothing"))
    p.add_argument("--model", type=Path, metavar="DIR",
                   help=_("model folder (configuration.json + pytorch_model.pt); default: M2FP_MODEL_DIR, "
                          "else the folder chosen in the desktop application, else the usual search "
                          "(models/ beside the application, the user cache)"))
    p.add_argument("--recursive", "-r", action="store_true",
                   help=_("also scan subfolders of input folders, mirroring them under --out"))
    p.add_argument("--formats", type=_formats, default=frozenset(FORMATS), metavar="LIST",
                   help=_("comma-separated outputs among {formats}, or all; cihp, cvat, cvat-mask, coco and labelme "
                          "go to their own subfolder of --out (default: {default})").format(
                       formats=",".join(ALL_FORMATS), default=",".join(FORMATS)))
    p.add_argument("--classes", metavar="LIST",
                   help=_("only draw these classes (names or ids, comma-separated) in colour and overlay images"))
    p.add_argument("--opacity", type=_opacity, default=0.5, metavar="0..1",
                   help=_("overlay colour opacity, 0..1 (default 0.5)"))
    p.add_argument("--skip-existing", action="store_true",
                   help=_("skip images whose requested outputs all exist (resume); otherwise outputs are replaced"))
    p.add_argument("--max-pixels", type=_max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=_("refuse images larger than N pixels, checked before decoding (default {default}; 0 = no "
                          "limit)").format(default=f"{DEFAULT_MAX_PIXELS:,}"))
    p.add_argument("--runtime", choices=("auto", "torch", "openvino"), default="auto",
                   help=_("inference runtime (default auto)"))
    p.add_argument("--precision", choices=("exact", "fast"), default="exact",
                   help=_("numerical precision (default exact)"))
    p.add_argument("--threads", type=_threads, metavar="N",
                   help=_("CPU threads for inference, at most 4 per CPU core (default: the runtime's choice)"))
    p.add_argument("--streams", type=_positive_int, metavar="N",
                   help=_("images in the network at once, sharing the threads (OpenVINO only; default 2, "
                          "measured fastest on 2 cores; 1 uses the least memory)"))
    p.add_argument("--sequential", action="store_true",
                   help=_("one image at a time: decoding and writing do not overlap the network "
                          "(slower, holds one image in memory instead of three)"))
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help=_("run the batch on a Ray cluster: 'auto' (the cluster this computer is part of), "
                          "ray://HOST:PORT, or no address for a Ray instance on this computer (then put "
                          "--ray after the inputs); inputs and --out must be folders every node sees. "
                          "Needs: pip install -r requirements-cluster.txt"))
    p.add_argument("--quiet", "-q", action="store_true", help=_("print only failures"))
    p.add_argument("--debug", action="store_true", help=_("show tracebacks of unexpected errors"))
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                   help=_("show the version number and exit"))
    return p


def _visible_classes(spec: str | None):
    """``--classes`` to a (num_classes,) bool array; raises UsageError on an unknown class."""
    if not spec:
        return None
    from desktop.render import visibility
    from desktop.resources import default_class_names

    names = default_class_names()
    by_name = {n.casefold(): i for i, n in enumerate(names)}
    ids: list[int] = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        if token.isdigit() and int(token) < len(names):
            ids.append(int(token))
        elif token.casefold() in by_name:
            ids.append(by_name[token.casefold()])
        else:
            raise UsageError(_("unknown class {name} in --classes (known: {known})").format(
                name=repr(token), known=", ".join(names)))
    return visibility(ids, len(names))


# --------------------------------------------------------------------------- planning

def prepare_output_dir(out: Path) -> None:
    """Create ``out`` and prove it is writable, so a bad --out fails before any work."""
    if out.exists() and not out.is_dir():
        raise UsageError(_('Output folder "{path}" cannot be used: a file with that name already exists.').format(
            path=out))
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=f".m2fp-write-test-{os.getpid()}-"):
            pass
    except OSError as exc:
        reason = _("permission denied") if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        raise UsageError(_('Output folder "{path}" cannot be written: {reason}.').format(path=out, reason=reason)) \
            from None


def _real(path: Path) -> Path | None:
    """The path with links resolved; ``None`` when it cannot be (never raises, loops included)."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError, RuntimeError):
        return None


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plan_jobs(entries: Sequence[ImageEntry], out: Path, explicit: set[Path]) -> list[Job]:
    """Map entries to output folders and stems (:mod:`desktop.output_names`), mirroring subfolders.

    Outputs are never taken for inputs, wherever ``--out`` is:

    - ``--out`` inside an input folder: files found under ``--out`` are left out (that tree
      is ours);
    - ``--out`` equal to or above an input folder: only the PNGs we wrote are left out
      (they record their source, :func:`desktop.provenance.is_generated_png`); the photos
      beside them are processed;
    - a job whose outputs would replace another input image of the run gets ``error`` set
      and fails instead of destroying it.

    Files named explicitly on the command line are always kept.
    """
    out_real = _real(out)
    kept: list[ImageEntry] = []
    for entry in entries:
        if entry.ok and out_real is not None and entry.path.absolute() not in explicit:
            real = _real(entry.path)
            if real is not None and _within(real, out_real):
                root_real = _real(entry.root)
                if root_real is not None and root_real != out_real and _within(out_real, root_real):
                    continue  # --out is a subfolder of this input folder: its whole tree is output
                if is_generated_png(entry.path):
                    continue  # --out is this input folder or above it: skip only what we wrote
        kept.append(entry)
    folders = [out / entry.relative.parent for entry in kept]
    stems = output_stems([(entry.path, folder) for entry, folder in zip(kept, folders, strict=True)])
    jobs = [Job(entry, folder, stem) for entry, folder, stem in zip(kept, folders, stems, strict=True)]
    # Where each input sits (its folder resolved, its own name kept: replacing a link replaces
    # the link), and each output folder resolved once.
    real_dirs: dict[Path, Path | None] = {}

    def real_dir(folder: Path) -> Path | None:
        if folder not in real_dirs:
            real_dirs[folder] = _real(folder)
        return real_dirs[folder]

    inputs: dict[Path, Job] = {}
    for job in jobs:
        folder = real_dir(job.entry.path.parent) if job.entry.ok else None
        if folder is not None:
            inputs[folder / job.entry.path.name] = job
    input_dirs = {location.parent for location in inputs}
    for job in jobs:
        folder = real_dir(job.out_dir) if job.entry.ok else None
        if folder is None or folder not in input_dirs:
            continue  # the usual case: outputs go where no input is
        for output in job.outputs(frozenset(FORMATS)).values():
            victim = inputs.get(folder / output.name)
            if victim is not None and victim is not job:
                job.error = _('its outputs would replace "{path}", one of the input images; choose another '
                              "output folder.").format(path=victim.entry.path)
                break
    return jobs


# --------------------------------------------------------------------------- running

def _load_parser(args: argparse.Namespace):
    """Load the engine (imported here so ``--help`` stays instant), from the same model folder
    as the desktop application when neither ``--model`` nor ``M2FP_MODEL_DIR`` says otherwise."""
    from desktop.app.model_choice import FROM_APP, model_dir_for_cli
    from desktop.engine import HumanParser

    model, warning = model_dir_for_cli(args.model)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if getattr(args, "ray", None) is not None:  # the actors load the model, not this process
        from desktop.cluster_ray import load_ray_batch

        return load_ray_batch(args, model)
    parser = HumanParser.load(model, runtime=args.runtime, precision=args.precision, num_threads=args.threads)
    if model is not None and args.model is None:
        parser.info["found_in"] = FROM_APP
    return parser


class Reporter:
    """Progress output: tqdm bar on a terminal, one line per image otherwise, failures only with --quiet."""

    def __init__(self, total: int, quiet: bool, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.total = total
        self.done = 0
        self.bar = None
        if not quiet and total and _isatty(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", file=self.stream, dynamic_ncols=True)

    def info(self, message: str) -> None:
        if self.quiet:
            return
        message = printable(message)
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def image(self, path: Path, status: str, failed: bool = False) -> None:
        self.done += 1
        status = printable(status)
        if self.bar is not None:
            self.bar.set_postfix_str(printable(path.name)[-40:], refresh=False)
            self.bar.update(1)
            if failed:
                self.bar.write(_("FAILED {status}").format(status=status), file=self.stream)
        elif self.quiet:
            return  # failures are listed once, in the summary
        elif failed:
            print(f"[{self.done}/{self.total}] " + _("FAILED {status}").format(status=status), file=self.stream, flush=True)
        else:
            print(f"[{self.done}/{self.total}] {printable(path)}: {status}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _failure_text(path: Path, message: str) -> str:
    """One line naming the file, safe for a terminal (see :mod:`desktop.terminal_text`)."""
    name = printable(path)
    message = " ".join(printable(message).split()) or _("unknown error")
    return message if name in message else f'"{name}": {message}'


def format_key(job: Job) -> str:
    """The image's output name in the interchange formats: output subfolder and stem (``sub/photo``)."""
    return (job.entry.relative.parent / job.stem).as_posix()


def process(job: Job, parser, options: ExportOptions, max_pixels: int, formats: FormatRun | None = None) -> str:
    """Parse one image and write its outputs (and its part of the interchange formats in
    ``formats``); returns a short status. Raises on failure."""
    t0 = time.perf_counter()
    image = load_image(job.entry.path, max_pixels=max_pixels or None)
    decode = time.perf_counter() - t0
    result = parser.parse(image.rgb, notes=list(image.notes))
    result.timings.setdefault("decode", decode)
    return write_outputs(job, image, result, time.perf_counter() - t0, options, formats)


def write_outputs(job: Job, image, result, seconds: float, options: ExportOptions,
                  formats: FormatRun | None = None) -> str:
    """Write one parsed image's outputs (``seconds``: its decoding and parsing so far); returns
    the status line. The last step of :func:`process`, and the batch pipeline's write stage."""
    t0 = time.perf_counter() - seconds
    digest = job.sha256 or sha256_file(job.entry.path)  # recorded in every output (desktop.provenance)
    try:
        export_result(result, image, job.out_dir, options, stem=job.stem, sha256=digest)
    except OSError as exc:
        raise OSError(_('cannot write the outputs to "{path}": {reason}').format(path=job.out_dir,
                                                                                 reason=exc.strerror or exc)) from exc
    if formats:
        formats.add(ImageMaps.from_result(result, name=job.entry.relative.as_posix(), stem=format_key(job),
                                          image_path=job.entry.path))
    persons = len(result.persons)
    status = ngettext("parsed in {seconds} s, {n} person", "parsed in {seconds} s, {n} persons", persons).format(
        seconds=f"{time.perf_counter() - t0:.2f}", n=persons)
    if image.notes:
        status += f" ({'; '.join(image.notes)})"
    return status


def order_by_input_size(jobs: Sequence[Job], parser, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Job]:
    """The jobs grouped by network input size, groups in order of first appearance and files
    in their listed order within a group.

    The OpenVINO runtime compiles the network for each input size (1.5-2 s for the full
    model); a folder that mixes sizes would otherwise pay that at every change of size.
    Files whose header cannot be read, or above ``max_pixels``, keep their place in the first
    group (they fail fast; the probe decodes nothing, see :func:`desktop.imageio.probe_size`).
    """
    groups: dict[object, list[Job]] = {}
    for job in jobs:
        size = probe_size(job.entry.path, max_pixels=max_pixels)
        key = parser.input_size(*size) if size and hasattr(parser, "input_size") else None
        groups.setdefault(key if key is not None else next(iter(groups), None), []).append(job)
    return [job for group in groups.values() for job in group]


def _already_done(job: Job, formats: frozenset[str]) -> bool | None:
    """For ``--skip-existing``: True when every requested output exists and records this
    image (same name, same SHA-256), False when they exist but record another file,
    None when some are missing."""
    outputs = list(job.outputs(formats).values())
    if not all(p.is_file() for p in outputs) or not os.path.isfile(job.entry.path):
        return None
    try:
        job.sha256 = job.sha256 or sha256_file(job.entry.path)
    except OSError:
        return None  # the load reports why
    return outputs_belong_to(outputs, job.entry.path, job.sha256)


def run(jobs: Sequence[Job], args: argparse.Namespace, options: ExportOptions) -> tuple[Summary, int]:
    summary = Summary()
    todo: list[Job] = []
    foreign: set[int] = set()  # jobs whose existing outputs were made from another file
    # Interchange formats (desktop.formats): their folder-level files are assembled once, at the end.
    from desktop.resources import default_class_names, palette

    formats = FormatRun(args.out, options.formats, default_class_names(), palette(), begin=False)
    kept: list[Job] = []
    for job in jobs:
        if not job.entry.ok or job.error:
            summary.failed.append((job.entry.path, job.entry.error or job.error or _("cannot be read")))
            continue
        done = _already_done(job, options.formats) if args.skip_existing else None
        if done and formats and not formats.has(format_key(job)):
            done = None  # its interchange files are missing: parse it again
        if done:
            kept.append(job)
            summary.skipped.append(job.entry.path)
        else:
            if done is False:
                foreign.add(id(job))
            todo.append(job)
    for folder in dict.fromkeys(job.out_dir for job in jobs):  # leftovers of a killed run, even if all is skipped
        clean_stale_temporaries_once(folder)
    reporter = Reporter(len(jobs), args.quiet)
    for path, reason in summary.failed:
        reporter.image(path, _failure_text(path, reason), failed=True)
    for path in summary.skipped:
        reporter.image(path, _("skipped (outputs exist)"))
    if not todo:
        reporter.close()
        _finish_formats(formats, kept, jobs, args.out, summary)
        return summary, EXIT_FAILED if summary.failed else EXIT_OK
    reporter.info(_("Loading the model..."))
    try:
        parser = _load_parser(args)
    except M2FPError as exc:
        reporter.close()
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return summary, EXIT_USAGE
    except Exception as exc:
        reporter.close()
        log.debug("model loading failed", exc_info=True)
        print(_("error: the model could not be loaded: {reason}").format(
            reason=f"{type(exc).__name__}: {printable(exc)}"), file=sys.stderr)
        return summary, EXIT_USAGE
    info = getattr(parser, "info", {}) or {}
    reporter.info(_("Model: {details}").format(details=", ".join(f"{k} {v}" for k, v in info.items())))
    todo = order_by_input_size(todo, parser, args.max_pixels)
    batch = None
    try:
        if formats:
            formats = FormatRun(args.out, options.formats, parser.class_names, parser.palette)
        # Decoding the next image and writing the last one overlap the network (desktop.pipeline).
        batch = batch_outcomes(todo, parser, args, options, formats)
        for job, outcome in batch:
            path = job.entry.path
            try:
                status = outcome.result()
            except (M2FPError, OSError) as exc:
                summary.failed.append((path, str(exc)))
                reporter.image(path, _failure_text(path, str(exc)), failed=True)
            except MemoryError:
                summary.failed.append((path, _("not enough memory to parse this image")))
                reporter.image(path, _failure_text(path, _("not enough memory to parse this image")), failed=True)
            except Exception as exc:  # a bug: report it like any failure, keep the batch going
                log.debug("unexpected error on %s", path, exc_info=True)
                reason = _("unexpected error: {reason}").format(reason=f"{type(exc).__name__}: {exc}")
                summary.failed.append((path, reason))
                reporter.image(path, _failure_text(path, reason), failed=True)
            else:
                summary.parsed.append(path)
                if id(job) in foreign:
                    status = _("{status}; the outputs found under its names were made from another file and were replaced").format(
                        status=status)
                reporter.image(path, status)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if batch is not None:
            batch.close()  # the pipeline's threads stop first (the image being written is completed)
        reporter.close()
        _finish_formats(formats, kept, jobs, args.out, summary)
    return summary, EXIT_INTERRUPTED if summary.interrupted else (EXIT_FAILED if summary.failed else EXIT_OK)


def batch_outcomes(todo: Sequence[Job], parser, args: argparse.Namespace, options: ExportOptions,
                   formats: FormatRun | None):
    """``(job, outcome)`` for each job, in order (:func:`desktop.pipeline.parse_jobs`):
    pipelined unless ``--sequential``, with ``--streams`` images in the network at once; with
    ``--ray``, in the order the cluster finishes them (:mod:`desktop.cluster_ray`)."""
    from desktop.pipeline import DEFAULT_STREAMS, parse_jobs

    if getattr(args, "ray", None) is not None:
        from desktop.cluster_ray import cli_outcomes

        return cli_outcomes(parser, todo, options, args.max_pixels, formats)
    streams = getattr(args, "streams", None) or DEFAULT_STREAMS
    # (one image at a time would leave a second stream, and its share of the threads, idle)
    if streams > 1 and hasattr(parser, "use_streams") and not getattr(args, "sequential", False):
        parser.use_streams(streams)
    return parse_jobs(
        todo, parser,
        load=lambda job: load_image(job.entry.path, max_pixels=args.max_pixels or None),
        write=lambda job, image, result, seconds: write_outputs(job, image, result, seconds, options, formats),
        sequential=bool(getattr(args, "sequential", False)),
    )


def _finish_formats(formats: FormatRun, kept: Sequence[Job], jobs: Sequence[Job], out: Path,
                    summary: Summary) -> None:
    """Write the interchange formats' folder-level files (CVAT XML, COCO JSON, lists) for the
    images of this run: those written now and those an earlier run wrote (``kept``), in the
    run's order. Also after an interruption, so they match the per-image files on disk."""
    if not formats:
        return
    try:
        formats.begin()
        for job in kept:
            formats.keep(format_key(job))
        formats.finish([format_key(job) for job in jobs])
    except (M2FPError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        summary.failed.append((out, _("the interchange formats could not be completed: {reason}").format(reason=reason)))


def print_summary(summary: Summary, out: Path, seconds: float, quiet: bool) -> None:
    if summary.failed:
        n_failed = len(summary.failed)
        print(ngettext("{n} image failed:", "{n} images failed:", n_failed).format(n=n_failed), file=sys.stderr)
        for path, reason in summary.failed:
            print(f"  - {_failure_text(path, reason)}", file=sys.stderr)
    if quiet and not summary.failed and not summary.interrupted:
        return
    stream = sys.stderr if quiet else sys.stdout
    counts = {"seconds": f"{seconds:.1f}", "parsed": len(summary.parsed), "skipped": len(summary.skipped),
              "failed": len(summary.failed), "path": printable(out)}
    if summary.interrupted:
        text = _('Interrupted in {seconds} s: {parsed} parsed, {skipped} skipped, {failed} failed. Outputs in "{path}".')
    else:
        text = _('Done in {seconds} s: {parsed} parsed, {skipped} skipped, {failed} failed. Outputs in "{path}".')
    print(text.format(**counts), file=stream)


def _tolerant_output() -> None:
    """Never crash on printing a file name the console encoding cannot show (Windows code pages)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (see module docstring)."""
    _tolerant_output()
    from desktop.cli_language import init_cli_language

    init_cli_language()  # as the window does: M2FP_LANG, View ▸ Language, the system's; argparse included
    from desktop.cli_commands import run_command  # report, export: see desktop.cli_commands for the rule

    code = run_command(sys.argv[1:] if argv is None else argv)
    if code is not None:
        return code
    arg_parser = build_arg_parser()
    try:
        args = arg_parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage / help
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    if args.workspace is not None:  # with --ray too: desktop.cluster_workspace
        from desktop.cli_workspace import run_batch

        return run_batch(args)
    if args.out is None:
        print(_("error: say where the results go: --out DIR (output files), --workspace FILE (a review "
                "workspace), or both."), file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    try:
        options = ExportOptions(formats=args.formats, opacity=args.opacity, visible_classes=_visible_classes(args.classes))
        prepare_output_dir(args.out)
        explicit = {p.absolute() for p in args.inputs if not p.is_dir()}
        jobs = plan_jobs(list_images(args.inputs, recursive=args.recursive), args.out, explicit)
    except (UsageError, ValueError) as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return EXIT_USAGE
    if not jobs:
        print(_("No images found in: {folders}").format(folders=", ".join(f'"{printable(p)}"' for p in args.inputs)),
              file=sys.stderr)
        return EXIT_OK
    try:
        summary, code = run(jobs, args, options)
    except KeyboardInterrupt:
        print(_("Interrupted."), file=sys.stderr)
        return EXIT_INTERRUPTED
    if code == EXIT_USAGE:
        return code
    print_summary(summary, args.out, time.perf_counter() - started, args.quiet)
    return code


if __name__ == "__main__":
    sys.exit(main())
