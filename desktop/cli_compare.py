"""``python -m desktop.cli compare``: how well the model agrees with an existing annotation.

    python -m desktop.cli compare ROOT                 (CIHP layout: ROOT/Images, ROOT/Category_ids)
    python -m desktop.cli compare IMAGES LABELS        (a folder of photos, a folder of label PNGs)
        [--model DIR] [--workspace FILE] [--csv FILE] [--json FILE]

Per image: pixel accuracy and mIoU, worst first; for the dataset: pixel accuracy, mean class
accuracy, IoU per class and mIoU, from one confusion matrix summed over all images
(:mod:`desktop.review.compare` has the definitions). Photos are parsed with the same loader and
pipeline as the batch command (:mod:`desktop.cli`, :mod:`desktop.pipeline`); with
``--workspace`` every image already parsed there by the same model is reused (nothing is
parsed twice), new results are stored with their doubt score, and each image's figures are
stored (:meth:`Workspace.set_comparison`) for the window's list. An annotation that is missing, unreadable, of another size than its
photo or holding an unknown colour is one failed line naming the file; the others go on.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from desktop import cli
from desktop.atomic import atomic_write_text
from desktop.cli_language import WideTextRawDescriptionHelpFormatter
from desktop.engine.errors import M2FPError
from desktop.i18n import N_, _, ngettext
from desktop.imageio import DEFAULT_MAX_PIXELS, load_image, sha256_file
from desktop.review.annotations import AnnotatedImage, AnnotationError, AnnotationSet
from desktop.review.compare import Agreement, DatasetComparison, confusion_matrix, disagreement_counts
from desktop.terminal_text import printable

log = logging.getLogger(__name__)

__all__ = ["DEFINITIONS", "compare_main", "comparison_csv"]

#: Marked for the catalog; shown translated (``_(DEFINITIONS)``).
DEFINITIONS = N_("""\
Definitions (all figures are fractions from 0 to 1):
  The confusion matrix of an image counts, for every pair (annotated class, model's class),
  the pixels where the annotation says the first and the model the second (20 x 20 classes,
  background included). The dataset's figures come from ONE matrix summed over all images,
  as the CIHP and LIP evaluation scripts (and detectron2, which M2FP's published figures use) do.
  pixel accuracy       pixels where both agree / all pixels
  class accuracy       of class c: pixels both call c / pixels the annotation calls c
  mean class accuracy  mean of the class accuracies over the classes in the annotation
  IoU of class c       TP / (TP + FP + FN): TP pixels both call c, FP the model calls c and the
                       annotation not, FN the annotation calls c and the model not
  mIoU                 mean IoU over the classes that occur in the annotation or the prediction
An image's figures are the same computed from its own matrix. Images are listed worst first:
lowest mIoU, then lowest pixel accuracy.""")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m desktop.cli compare",
        formatter_class=WideTextRawDescriptionHelpFormatter,
        description=_("Compare the model with existing annotations: per image the pixel accuracy and mIoU (worst\n"
                      "first); for the dataset the pixel accuracy, mean class accuracy, IoU per class and mIoU.\n\n"
                      "  compare ROOT            a CIHP folder: ROOT/Images (photos), ROOT/Category_ids (class ids)\n"
                      "  compare IMAGES LABELS   photos, and label PNGs of the same names (LABELS/NAME.png for\n"
                      "                          IMAGES/NAME.jpg): indexed or grey (the value is the class id), or\n"
                      "                          RGB in the CIHP palette"),
        epilog=_(DEFINITIONS) + "\n\n" + _("Exit codes: 0 every image compared, 1 some failed (each is listed with "
                                            "its reason), 2 usage, model or workspace error, 130 interrupted."))
    p.add_argument("first", type=Path, metavar="ROOT|IMAGES", help=_("a CIHP folder, or a photo folder"))
    p.add_argument("labels", type=Path, nargs="?", metavar="LABELS", help=_("the label folder (with a photo folder)"))
    p.add_argument("--model", type=Path, metavar="DIR", help=_("model folder (default: as for parsing)"))
    p.add_argument("--workspace", type=Path, metavar="FILE",
                   help=_("review workspace (.m2fpws, created if needed): reuse the results stored there, store new "
                          "ones with their doubt score, and store each image's figures for the window's list"))
    p.add_argument("--csv", type=Path, metavar="FILE",
                   help=_("write the figures as CSV: first a '(dataset)' row, then one row per image, worst first"))
    p.add_argument("--json", type=Path, metavar="FILE",
                   help=_('write {{"dataset": {{"pixel_accuracy", "mean_accuracy", "miou", "class_iou": {{name: '
                          'value}}}}, "images": [{{"file", "pixel_accuracy", "miou"}}, ...]}} with images worst '
                          'first').format())
    p.add_argument("--recursive", "-r", action="store_true", help=_("also take photos in subfolders"))
    p.add_argument("--worst", type=int, default=10, metavar="N",
                   help=_("list the N worst images at the end (default 10)"))
    p.add_argument("--max-pixels", type=cli._max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=_("refuse photos and label images larger than N pixels (default {default}; "
                          "0 = no limit)").format(default=f"{DEFAULT_MAX_PIXELS:,}"))
    p.add_argument("--runtime", choices=("auto", "torch", "openvino"), default="auto",
                   help=_("inference runtime"))
    p.add_argument("--precision", choices=("exact", "fast"), default="exact",
                   help=_("numerical precision"))
    p.add_argument("--threads", type=cli._threads, metavar="N", help=_("CPU threads for inference"))
    p.add_argument("--quiet", "-q", action="store_true", help=_("no line per image: failures and the figures only"))
    p.add_argument("--debug", action="store_true", help=_("show tracebacks of unexpected errors"))
    return p


# --------------------------------------------------------------------------- outputs

def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _num(value: float | None) -> str:
    return "" if value is None or value != value else repr(float(value))


def comparison_csv(comparison: DatasetComparison) -> str:
    """The CSV text: columns file, pixel_accuracy, mean_accuracy, miou and ``IoU <class>`` for
    every class; the first row is the dataset (file ``(dataset)``), then images worst first.
    Empty cells: undefined (a class in neither map)."""
    names = comparison.class_names
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["file", "pixel_accuracy", "mean_accuracy", "miou", *(f"IoU {n}" for n in names)])
    d = comparison.dataset()
    w.writerow(["(dataset)", _num(d.pixel_accuracy), _num(d.mean_accuracy), _num(d.miou),
                *(_num(v) for v in d.class_iou.tolist())])
    for f in comparison.worst_first():
        w.writerow([f.file, _num(f.pixel_accuracy), _num(f.mean_accuracy), _num(f.miou),
                    *(_num(v) for v in f.class_iou)])
    return out.getvalue()


def _print_figures(comparison: DatasetComparison, worst: int, failed: int, seconds: float,
                   interrupted: bool) -> None:
    d = comparison.dataset()
    n = len(comparison.images)
    text = (ngettext("Interrupted in {seconds} s: {n} image compared, {failed} failed.",
                     "Interrupted in {seconds} s: {n} images compared, {failed} failed.", n) if interrupted else
            ngettext("Done in {seconds} s: {n} image compared, {failed} failed.",
                     "Done in {seconds} s: {n} images compared, {failed} failed.", n))
    print(text.format(seconds=f"{seconds:.1f}", n=n, failed=failed))
    if not comparison.images:
        return
    print(_("Dataset (one confusion matrix over all images, background included):"))
    print(_("  pixel accuracy       {value}").format(value=_pct(d.pixel_accuracy)))
    print(_("  mean class accuracy  {value}").format(value=_pct(d.mean_accuracy)))
    print(f"  mIoU                 {_pct(d.miou)}")
    print(_("  IoU per class:"))
    width = max(len(n) for n in comparison.class_names)
    for name, value in d.class_iou_by_name(comparison.class_names).items():
        print(f"    {name:<{width}}  {_pct(value) if value is not None else _('- (in neither)')}")
    if worst > 0:
        print(_("Worst images (mIoU, pixel accuracy, file):"))
        for f in comparison.worst_first()[:worst]:
            print(f"  {_pct(f.miou):>9}  {_pct(f.pixel_accuracy):>9}  {printable(f.file)}")


def _write_outputs(args: argparse.Namespace, comparison: DatasetComparison) -> list[tuple[Path, str]]:
    problems = []
    for path, text in ((args.csv, lambda: comparison_csv(comparison)),
                       (args.json, lambda: json.dumps(comparison.to_json(), indent=1, ensure_ascii=False,
                                                      allow_nan=False) + "\n")):
        if path is None:
            continue
        try:
            atomic_write_text(path, text())
        except OSError as exc:
            problems.append((path, _("cannot be written: {reason}").format(reason=exc.strerror or exc)))
    return problems


# --------------------------------------------------------------------------- running

class _Run:
    """One comparison run: the annotation set, the optional workspace, the figures so far."""

    def __init__(self, args: argparse.Namespace, aset: AnnotationSet, ws, reporter: cli.Reporter):
        from desktop.resources import default_class_names

        self.args, self.aset, self.ws, self.reporter = args, aset, ws, reporter
        self.names = default_class_names()
        self.comparison = DatasetComparison(self.names)
        self.failed: list[tuple[Path, str]] = []
        self.ids: dict[int, int] = {}
        self.unreadable: dict[int, str] = {}
        self.expected = None  # the ModelIdentity whose stored results are reused
        self.model_key = None

    def fail(self, path: Path, reason: str) -> None:
        self.failed.append((path, reason))
        self.reporter.image(path, cli._failure_text(path, reason), failed=True)

    def compare(self, item: AnnotatedImage, result) -> str:
        """Compare ``item``'s annotation with a model result; returns the status line; raises
        AnnotationError / ValueError. Called by one thread at a time (the caller's, then the
        pipeline's write thread)."""
        if tuple(result.class_names) != tuple(self.names):
            raise ValueError(_("the model's classes are not the 20 CIHP classes the annotation uses; the two cannot "
                               "be compared"))
        labels = result.labels
        ann = self.aset.load(item, image_size=(labels.shape[1], labels.shape[0]), max_pixels=self.args.max_pixels)
        conf = confusion_matrix(ann.labels, labels, len(self.names))
        fig: Agreement = self.comparison.add(item.file, conf)
        iid = self.ids.get(id(item))
        if self.ws is not None and iid is not None:
            counts = disagreement_counts(conf)
            details = {"annotation": str(item.label_path), "layout": self.aset.layout,
                       "mean_accuracy": fig.mean_accuracy, "model": self.model_key,
                       "disagreement": {self.names[c]: int(k) for c, k in enumerate(counts.tolist()) if k}}
            self.ws.set_comparison(iid, self.aset.source, fig.pixel_accuracy, fig.miou, conf, details)
        return _("pixel accuracy {accuracy}, mIoU {miou}").format(accuracy=_pct(fig.pixel_accuracy), miou=_pct(fig.miou))

    def guarded(self, item: AnnotatedImage, fn) -> None:
        """Run ``fn()`` for one image and report its status (``fn``'s return value, when any):
        any failure is that image's failed line, never a stop."""
        try:
            status = fn()
            if status:
                self.reporter.image(item.path, status)
        except (AnnotationError, M2FPError, OSError, ValueError) as exc:
            self.fail(item.path, str(exc))
        except MemoryError:
            self.fail(item.path, _("not enough memory to compare this image"))
        except Exception as exc:  # a bug: reported like any failure, the run goes on
            log.debug("unexpected error on %s", item.path, exc_info=True)
            self.fail(item.path, _("unexpected error: {reason}").format(reason=f"{type(exc).__name__}: {exc}"))

    # -- stored results ------------------------------------------------------------------------
    def stored_result(self, item: AnnotatedImage):
        if self.ws is None or id(item) not in self.ids:
            return None
        iid = self.ids[id(item)]
        rid = self.ws.result_id_for(iid, self.expected)
        return None if rid is None else self.ws.load_result_by_id(rid)

    # -- parsing ---------------------------------------------------------------------------------
    def parse_all(self, todo: list[AnnotatedImage]) -> int | None:
        """Parse and compare ``todo``; an exit code when the model cannot be loaded."""
        from desktop.review.doubt import paste_threshold_of, store_doubt
        from desktop.review.model_key import ModelIdentity

        self.reporter.info(_("Loading the model..."))
        try:
            parser = cli._load_parser(self.args)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, M2FPError) else f"{type(exc).__name__}: {exc}"
            print(_("error: the model could not be loaded: {reason}").format(reason=printable(reason)), file=sys.stderr)
            return cli.EXIT_USAGE
        model = ModelIdentity.of_parser(parser) if self.ws is not None else None
        self.model_key = model.key if model is not None else self.model_key
        paste = paste_threshold_of(parser)
        max_pixels = self.args.max_pixels
        items: dict[int, AnnotatedImage] = {}  # job -> item
        jobs: list[cli.Job] = []
        for item in todo:
            job = cli.Job(item.image, Path("."), item.key)
            items[id(job)] = item
            jobs.append(job)

        def load(job: cli.Job):
            item = items[id(job)]
            image = load_image(item.path, max_pixels=max_pixels or None)
            self.aset.check(item, image_size=(image.rgb.shape[1], image.rgb.shape[0]), max_pixels=max_pixels)
            return image

        def write(job: cli.Job, image, result, seconds: float) -> str:
            item = items[id(job)]
            iid = self.ids.get(id(item))
            if self.ws is not None and iid is not None:
                sha, size, mtime = self.ws.file_state(iid)
                self.ws.store_result(iid, result, model, sha256=sha or sha256_file(item.path), size=size,
                                     mtime_ns=mtime)
                store_doubt(self.ws, iid, result, paste)
            return self.compare(item, result)

        from desktop.pipeline import parse_jobs  # the batch command's pipeline: decoding overlaps the network

        batch = parse_jobs(cli.order_by_input_size(jobs, parser, max_pixels), parser, load=load, write=write)
        try:
            for job, outcome in batch:
                self.guarded(items[id(job)], outcome.result)
        finally:
            batch.close()  # the pipeline's threads stop first (the image being written is completed)
        return None


def _open_workspace(run: _Run, items: list[AnnotatedImage]) -> int | None:
    from desktop.cli_workspace import _expected_model, _open_for_writing

    ws = _open_for_writing(run.args.workspace)
    if ws is None:
        return cli.EXIT_USAGE
    run.ws = ws
    ids = ws.add_images([i.image for i in items])
    run.ids = {id(item): iid for item, iid in zip(items, ids, strict=True)}
    check = ws.check_files(ids, hash_unknown=True)
    run.unreadable = dict(check.unreadable)
    try:
        run.expected = _expected_model(run.args)
        run.model_key = run.expected.key
    except (M2FPError, OSError) as exc:
        # No model here: the results the workspace shows are reused, whatever model made them.
        print(_("note: {message} The results stored in the workspace are used as they are.").format(
            message=printable(exc)), file=sys.stderr)
    return None


def _check_output_files(args: argparse.Namespace) -> str | None:
    if args.csv is not None and args.json is not None and args.csv.absolute() == args.json.absolute():
        return _("--csv and --json name the same file; give two different files.")
    for path in (args.csv, args.json):
        if path is not None:
            if path.is_dir():
                return _('"{path}" is a folder; give a file name.').format(path=path)
            if not path.absolute().parent.is_dir():
                return _('The folder of "{path}" does not exist.').format(path=path)
    return None


def compare_main(argv: Sequence[str]) -> int:
    """``compare ROOT | IMAGES LABELS [options]``; returns the exit code."""
    p = _build_parser()
    try:
        args = p.parse_args(list(argv))
    except SystemExit as exc:
        return cli.EXIT_USAGE if exc.code not in (0, None) else cli.EXIT_OK
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    problem = _check_output_files(args)
    if problem:
        print(_("error: {message}").format(message=printable(problem)), file=sys.stderr)
        return cli.EXIT_USAGE
    started = time.perf_counter()
    try:
        aset = AnnotationSet.open(args.first, args.labels, recursive=args.recursive)
    except AnnotationError as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return cli.EXIT_USAGE
    if not aset.items and not aset.problems:
        print(_('No images found in "{path}".').format(path=printable(aset.images_root)), file=sys.stderr)
        return cli.EXIT_OK
    reporter = cli.Reporter(len(aset.items) + len(aset.problems), args.quiet)
    run = _Run(args, aset, None, reporter)
    code = None
    interrupted = False
    try:
        for path, reason in aset.problems:
            run.fail(path, reason)
        if args.workspace is not None:
            code = _open_workspace(run, aset.items)
        if code is None:
            todo: list[AnnotatedImage] = []
            for item in aset.items:
                iid = run.ids.get(id(item))
                if iid in run.unreadable:
                    run.fail(item.path, run.unreadable[iid])
                    continue

                def reuse(item: AnnotatedImage = item) -> str | None:
                    result = run.stored_result(item)
                    if result is None:
                        run.aset.check(item, max_pixels=args.max_pixels)  # before spending seconds parsing it
                        todo.append(item)
                        return None
                    return run.compare(item, result)

                run.guarded(item, reuse)
            if todo:
                code = run.parse_all(todo)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        reporter.close()
        if run.ws is not None:
            run.ws.close()
    if code is not None:
        return code
    if run.failed:
        print(ngettext("{n} image failed:", "{n} images failed:", len(run.failed)).format(n=len(run.failed)),
              file=sys.stderr)
        for path, reason in run.failed:
            print(f"  - {cli._failure_text(path, reason)}", file=sys.stderr)
    _print_figures(run.comparison, args.worst, len(run.failed), time.perf_counter() - started, interrupted)
    if interrupted:
        print(_("Interrupted: no CSV or JSON written (the figures would cover only part of the images)."),
              file=sys.stderr)
        return cli.EXIT_INTERRUPTED
    problems = _write_outputs(args, run.comparison)
    for path, reason in problems:
        print(_('error: "{path}" {reason}').format(path=printable(path), reason=reason), file=sys.stderr)
    if problems:
        return cli.EXIT_USAGE
    return cli.EXIT_FAILED if run.failed else cli.EXIT_OK
