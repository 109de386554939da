"""Batch command line: parse many images and write label maps, colour maps, overlays and JSON.

    python -m desktop.cli INPUT... --out DIR [--model DIR] [options]

Design points (why it looks like this):

- one bad file never stops the batch; each failure is reported with its file and reason,
  and the exit code tells scripts what happened: 0 all parsed or skipped, 1 some failed,
  2 usage, model or output-folder error (nothing was attempted), 130 interrupted;
- expected errors (:class:`~desktop.engine.errors.M2FPError`, ``OSError``) are shown as one
  sentence, never a traceback; unexpected ones too, with the traceback only under ``--debug``;
- the model is loaded only when at least one image needs parsing, so a resumed batch
  (``--skip-existing``) whose outputs all exist finishes instantly;
- progress is a tqdm bar on a terminal and one line per image otherwise (logs, CI).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from desktop import APP_NAME, __version__
from desktop.engine.errors import M2FPError
from desktop.export import FORMATS, ExportOptions, export_result, output_paths, parse_formats
from desktop.imageio import DEFAULT_MAX_PIXELS, ImageEntry, list_images, load_image, probe_size, sha256_file

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
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _max_pixels(text: str) -> int:
    try:
        value = int(float(text.replace("_", "")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (no limit) or more")
    return value


def _opacity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _formats(text: str) -> frozenset[str]:
    try:
        return parse_formats(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m desktop.cli",
        description=f"{APP_NAME}: parse people in images (CPU) and write label maps, colour maps, overlays and JSON.",
        epilog="Exit codes: 0 all parsed or skipped, 1 some images failed, 2 usage/model/output error, 130 interrupted.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                   help="image files and/or folders (images are recognised by content, not extension)")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--model", type=Path, metavar="DIR",
                   help="model folder (configuration.json + pytorch_model.pt); default: the usual search "
                        "(M2FP_MODEL_DIR, models/ beside the application, the user cache)")
    p.add_argument("--recursive", "-r", action="store_true",
                   help="also scan subfolders of input folders, mirroring them under --out")
    p.add_argument("--formats", type=_formats, default=frozenset(FORMATS), metavar="LIST",
                   help=f"comma-separated outputs among {','.join(FORMATS)} (default: all)")
    p.add_argument("--classes", metavar="LIST",
                   help="only draw these classes (names or ids, comma-separated) in colour and overlay images")
    p.add_argument("--opacity", type=_opacity, default=0.5, metavar="0..1", help="overlay colour opacity, 0..1 (default 0.5)")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip images whose requested outputs all exist (resume); otherwise outputs are replaced")
    p.add_argument("--max-pixels", type=_max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images larger than N pixels, checked before decoding (default {DEFAULT_MAX_PIXELS:,}; 0 = no limit)")
    p.add_argument("--runtime", choices=("auto", "torch", "openvino"), default="auto", help="inference runtime (default auto)")
    p.add_argument("--precision", choices=("exact", "fast"), default="exact", help="numerical precision (default exact)")
    p.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads for inference (default: the runtime's choice)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only failures")
    p.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
            raise UsageError(f"unknown class {token!r} in --classes (known: {', '.join(names)})")
    return visibility(ids, len(names))


# --------------------------------------------------------------------------- planning

def prepare_output_dir(out: Path) -> None:
    """Create ``out`` and prove it is writable, so a bad --out fails before any work."""
    if out.exists() and not out.is_dir():
        raise UsageError(f'Output folder "{out}" cannot be used: a file with that name already exists.')
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".m2fp-write-test-"):
            pass
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        raise UsageError(f'Output folder "{out}" cannot be written: {reason}.') from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def plan_jobs(entries: Sequence[ImageEntry], out: Path, explicit: set[Path]) -> list[Job]:
    """Map entries to output folders/stems, mirroring subfolders and keeping names unique.

    ``photo.jpg`` and ``photo.png`` in one folder would both become ``photo_*``; the second
    gets its extension in the stem (``photo_png_*``) instead of silently overwriting.
    Files found by scanning inside the output folder (earlier outputs) are left out.
    """
    jobs: list[Job] = []
    taken: set[tuple[str, str]] = set()
    for entry in entries:
        if entry.ok and entry.path.absolute() not in explicit and _inside(entry.path, out):
            continue
        folder = out / entry.relative.parent
        stem = entry.relative.stem if entry.relative.suffix else entry.relative.name
        candidates = [stem]
        if entry.relative.suffix:
            candidates.append(f"{stem}_{entry.relative.suffix.lstrip('.')}")
        candidates += [f"{candidates[-1]}_{n}" for n in range(2, 1000)]
        for cand in candidates:
            key = (str(folder).casefold(), cand.casefold())
            if key not in taken:
                taken.add(key)
                stem = cand
                break
        jobs.append(Job(entry, folder, stem))
    return jobs


# --------------------------------------------------------------------------- running

def _load_parser(args: argparse.Namespace):
    """Load the engine (imported here so ``--help`` stays instant)."""
    from desktop.engine import HumanParser

    return HumanParser.load(args.model, runtime=args.runtime, precision=args.precision, num_threads=args.threads)


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
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def image(self, path: Path, status: str, failed: bool = False) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(path.name[-40:], refresh=False)
            self.bar.update(1)
            if failed:
                self.bar.write(f"FAILED {status}", file=self.stream)
        elif self.quiet:
            return  # failures are listed once, in the summary
        elif failed:
            print(f"[{self.done}/{self.total}] FAILED {status}", file=self.stream, flush=True)
        else:
            print(f"[{self.done}/{self.total}] {path}: {status}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _failure_text(path: Path, message: str) -> str:
    message = " ".join(str(message).split()) or "unknown error"
    return message if str(path) in message else f'"{path}": {message}'


def process(job: Job, parser, options: ExportOptions, max_pixels: int) -> str:
    """Parse one image and write its outputs; returns a short status. Raises on failure."""
    t0 = time.perf_counter()
    image = load_image(job.entry.path, max_pixels=max_pixels or None)
    decode = time.perf_counter() - t0
    result = parser.parse(image.rgb, notes=list(image.notes))
    result.timings.setdefault("decode", decode)
    digest = sha256_file(job.entry.path) if "json" in options.formats else None
    try:
        export_result(result, image, job.out_dir, options, stem=job.stem, sha256=digest)
    except OSError as exc:
        raise OSError(f"cannot write the outputs to \"{job.out_dir}\": {exc.strerror or exc}") from exc
    persons = len(result.persons)
    status = f"parsed in {time.perf_counter() - t0:.2f} s, {persons} person{'s' if persons != 1 else ''}"
    if image.notes:
        status += f" ({'; '.join(image.notes)})"
    return status


def order_by_input_size(jobs: Sequence[Job], parser) -> list[Job]:
    """The jobs grouped by network input size, groups in order of first appearance and files
    in their listed order within a group.

    The OpenVINO runtime compiles the network for each input size (1.5-2 s for the full
    model); a folder that mixes sizes would otherwise pay that at every change of size.
    Files whose header cannot be read keep their place in the first group (they fail fast).
    """
    groups: dict[object, list[Job]] = {}
    for job in jobs:
        size = probe_size(job.entry.path)
        key = parser.input_size(*size) if size and hasattr(parser, "input_size") else None
        groups.setdefault(key if key is not None else next(iter(groups), None), []).append(job)
    return [job for group in groups.values() for job in group]


def run(jobs: Sequence[Job], args: argparse.Namespace, options: ExportOptions) -> tuple[Summary, int]:
    summary = Summary()
    todo: list[Job] = []
    for job in jobs:
        if not job.entry.ok:
            summary.failed.append((job.entry.path, job.entry.error or "cannot be read"))
        elif args.skip_existing and all(p.is_file() for p in job.outputs(options.formats).values()):
            summary.skipped.append(job.entry.path)
        else:
            todo.append(job)
    reporter = Reporter(len(jobs), args.quiet)
    for path, reason in summary.failed:
        reporter.image(path, _failure_text(path, reason), failed=True)
    for path in summary.skipped:
        reporter.image(path, "skipped (outputs exist)")
    if not todo:
        reporter.close()
        return summary, EXIT_OK
    reporter.info("Loading the model...")
    try:
        parser = _load_parser(args)
    except M2FPError as exc:
        reporter.close()
        print(f"error: {exc}", file=sys.stderr)
        return summary, EXIT_USAGE
    except Exception as exc:
        reporter.close()
        log.debug("model loading failed", exc_info=True)
        print(f"error: the model could not be loaded: {type(exc).__name__}: {exc}", file=sys.stderr)
        return summary, EXIT_USAGE
    info = getattr(parser, "info", {}) or {}
    reporter.info("Model: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    todo = order_by_input_size(todo, parser)
    try:
        for job in todo:
            path = job.entry.path
            try:
                status = process(job, parser, options, args.max_pixels)
            except (M2FPError, OSError) as exc:
                summary.failed.append((path, str(exc)))
                reporter.image(path, _failure_text(path, str(exc)), failed=True)
            except MemoryError:
                summary.failed.append((path, "not enough memory to parse this image"))
                reporter.image(path, _failure_text(path, "not enough memory to parse this image"), failed=True)
            except Exception as exc:  # a bug: report it like any failure, keep the batch going
                log.debug("unexpected error on %s", path, exc_info=True)
                reason = f"unexpected error: {type(exc).__name__}: {exc}"
                summary.failed.append((path, reason))
                reporter.image(path, _failure_text(path, reason), failed=True)
            else:
                summary.parsed.append(path)
                reporter.image(path, status)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        reporter.close()
    return summary, EXIT_INTERRUPTED if summary.interrupted else (EXIT_FAILED if summary.failed else EXIT_OK)


def print_summary(summary: Summary, out: Path, seconds: float, quiet: bool) -> None:
    if summary.failed:
        print(f"{len(summary.failed)} image(s) failed:", file=sys.stderr)
        for path, reason in summary.failed:
            print(f"  - {_failure_text(path, reason)}", file=sys.stderr)
    if quiet and not summary.failed and not summary.interrupted:
        return
    stream = sys.stderr if quiet else sys.stdout
    head = "Interrupted" if summary.interrupted else "Done"
    print(
        f"{head} in {seconds:.1f} s: {len(summary.parsed)} parsed, {len(summary.skipped)} skipped, "
        f"{len(summary.failed)} failed. Outputs in \"{out}\".",
        file=stream,
    )


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
    arg_parser = build_arg_parser()
    try:
        args = arg_parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage / help
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    try:
        options = ExportOptions(formats=args.formats, opacity=args.opacity, visible_classes=_visible_classes(args.classes))
        prepare_output_dir(args.out)
        explicit = {p.absolute() for p in args.inputs if not p.is_dir()}
        jobs = plan_jobs(list_images(args.inputs, recursive=args.recursive), args.out, explicit)
    except (UsageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not jobs:
        print("No images found in: " + ", ".join(f'"{p}"' for p in args.inputs), file=sys.stderr)
        return EXIT_OK
    try:
        summary, code = run(jobs, args, options)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if code == EXIT_USAGE:
        return code
    print_summary(summary, args.out, time.perf_counter() - started, args.quiet)
    return code


if __name__ == "__main__":
    sys.exit(main())
