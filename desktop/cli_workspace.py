"""The command line's review-workspace uses (the batch command itself lives in :mod:`desktop.cli`).

- ``python -m desktop.cli INPUT... --workspace FILE [--out DIR]``: parse into a workspace,
  reusing the stored result of every image whose content is unchanged and whose result came
  from the same model (weights, runtime, precision): a second run over the same folder
  parses nothing. Images whose stored result came from another model are parsed again, and
  the summary says how many. With ``--out``, the usual outputs are written too (from the
  stored results for reused images, edited maps where a reviewer edited);
- ``python -m desktop.cli report FILE [--format csv|json]``: one row per image;
- ``python -m desktop.cli export WORKSPACE --out DIR [--formats ...]``: write what a workspace
  holds (edited maps where edited) without parsing anything.

``report`` and ``export`` open the workspace read-only, so they work while the window has
it open. Every exported JSON carries the image's review (status, note, edit provenance).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from desktop import cli
from desktop.cli_language import WideTextHelpFormatter
from desktop.engine.errors import M2FPError
from desktop.export import FORMATS, ExportOptions, export_result
from desktop.i18n import _, ngettext
from desktop.imageio import ImageEntry, LoadedImage, list_images, load_image, sha256_file
from desktop.review.listing import sort_records
from desktop.review.model_key import ModelIdentity, expected_identity
from desktop.review.report import FORMATS as REPORT_FORMATS
from desktop.review.report import format_report, report_rows
from desktop.review.workspace import Status, Workspace, WorkspaceError
from desktop.terminal_text import printable

__all__ = ["export_main", "report_main", "run_batch"]


# --------------------------------------------------------------------------- exporting

class _Exporter:
    """Writes one image's outputs from what the workspace holds: the per-image files through
    :func:`desktop.export.export_result`, the interchange formats through
    :class:`desktop.formats.FormatRun` (the one call site of the export API here)."""

    def __init__(self, ws: Workspace, out: Path, options: ExportOptions, skip_existing: bool):
        from desktop.formats import FormatRun
        from desktop.resources import default_class_names, palette

        self.ws, self.out, self.options, self.skip_existing = ws, out, options, skip_existing
        self.formats = FormatRun(out, options.formats, default_class_names(), palette())
        self.order: list[str] = []
        #: Whether the last :meth:`write` skipped its image (its status is a translated sentence).
        self.skipped = False

    def write(self, job: cli.Job, image_id: int, result=None, image: LoadedImage | None = None) -> str:
        """Outputs of one image: ``result``/``image`` when just parsed, else from the workspace
        (the edited maps when edited). Returns a status; raises on failure."""
        from desktop.formats import ImageMaps
        from desktop.provenance import outputs_belong_to

        ws, path = self.ws, job.entry.path
        self.skipped = True
        sha, size, mtime = ws.file_state(image_id)
        key = cli.format_key(job)
        self.order.append(key)
        edits = ws.edited_maps(image_id)
        if result is None or edits is not None:
            found = ws.effective_result(image_id)
            if found is None:
                return _("skipped (not parsed yet)")
            result = found[0]
        outputs = list(job.outputs(frozenset(self.options.formats) & set(FORMATS)).values())
        if (self.skip_existing and sha and outputs and outputs_belong_to(outputs, path, sha)
                and (not self.formats or self.formats.has(key))):
            self.formats.keep(key)
            return _("skipped (outputs exist)")
        self.skipped = False
        options, note = self.options, ""
        if image is None or image.rgb.shape[:2] != result.labels.shape:
            image, note = self._photo(path, result, sha, size, mtime)
            if note:
                options = ExportOptions(formats=self.options.formats - {"overlay"}, opacity=self.options.opacity,
                                        visible_classes=self.options.visible_classes)
        score, reasons = ws.doubt(image_id)
        export_result(result, image, job.out_dir, options, stem=job.stem, sha256=sha or sha256_file(path),
                      review=ws.review_info(image_id),
                      doubt={"score": score, "reasons": reasons} if score is not None or reasons else None)
        if self.formats:
            maps = (ImageMaps(edits.labels, edits.persons, name=job.entry.relative.as_posix(), stem=key, image_path=path)
                    if edits is not None else
                    ImageMaps.from_result(result, name=job.entry.relative.as_posix(), stem=key, image_path=path))
            self.formats.add(maps)
        status = _("edited maps exported") if edits is not None else _("exported")
        return _("{status} ({note})").format(status=status, note=note) if note else status

    def _photo(self, path: Path, result, sha: str | None, size: int | None, mtime: int | None
               ) -> tuple[LoadedImage, str]:
        """The photo for the overlay, or a stand-in and why the overlay is left out."""
        h, w = result.labels.shape
        stand_in = LoadedImage(rgb=np.broadcast_to(np.zeros(3, np.uint8), (h, w, 3)), path=path, size=(w, h))
        if "overlay" not in self.options.formats:
            return stand_in, ""
        try:
            st = os.stat(path)
            if sha and (st.st_size, st.st_mtime_ns) != (size, mtime) and sha256_file(path) != sha:
                return stand_in, _("without the overlay: the photo changed since it was parsed")
            image = load_image(path)
        except (OSError, M2FPError):
            return stand_in, _("without the overlay: the photo cannot be read")
        if image.rgb.shape[:2] != (h, w):
            return stand_in, _("without the overlay: the photo's size differs from the stored result")
        return image, ""

    def finish(self) -> None:
        if self.formats:
            self.formats.finish(self.order)


# --------------------------------------------------------------------------- batch

def _open_for_writing(path: Path) -> Workspace | None:
    try:
        ws = Workspace.open(path)
    except WorkspaceError as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return None
    if ws.read_only:
        print(_("error: {message}").format(message=printable(ws.read_only_reason)), file=sys.stderr)
        ws.close()
        return None
    for notice in ws.notices:
        print(_("note: {message}").format(message=printable(notice)), file=sys.stderr)
    return ws


def _expected_model(args: argparse.Namespace) -> ModelIdentity:
    """The identity the parser will have, from the same model folder :func:`cli._load_parser` uses."""
    from desktop.engine.models import locate_model

    chosen = args.model
    try:
        from desktop.app.model_choice import model_dir_for_cli

        chosen, _warning = model_dir_for_cli(args.model)  # the loader prints the warning
    except ImportError:
        pass
    folder, _origin = locate_model(chosen)
    args._model_folder = folder  # for the doubt scores of reused results (desktop.review.doubt)
    return expected_identity(folder, args.runtime, args.precision)


def _doubt_if_missing(ws: Workspace, image_id: int, args: argparse.Namespace) -> None:
    """Results parsed before doubt scores existed get theirs, once (from the stored result)."""
    from desktop.review.doubt import paste_threshold_of, store_doubt

    if ws.doubt(image_id)[0] is None:
        result = ws.load_result(image_id)
        if result is not None:
            store_doubt(ws, image_id, result, paste_threshold_of(getattr(args, "_model_folder", None)))


def run_batch(args: argparse.Namespace) -> int:
    """``INPUT... --workspace FILE [--out DIR]`` (arguments parsed by :mod:`desktop.cli`)."""
    started = time.perf_counter()
    options = None
    try:
        if args.out is not None:
            options = ExportOptions(formats=args.formats, opacity=args.opacity,
                                    visible_classes=cli._visible_classes(args.classes))
            cli.prepare_output_dir(args.out)
        entries = list_images(args.inputs, recursive=args.recursive)
    except (cli.UsageError, ValueError) as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return cli.EXIT_USAGE
    if not entries:
        print(_("No images found in: {folders}").format(folders=", ".join(f'"{printable(p)}"' for p in args.inputs)),
              file=sys.stderr)
        return cli.EXIT_OK
    ws = _open_for_writing(args.workspace)
    if ws is None:
        return cli.EXIT_USAGE
    try:
        return _batch(ws, entries, args, options, started)
    except WorkspaceError as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return cli.EXIT_USAGE
    finally:
        ws.close()


def _batch(ws: Workspace, entries: list[ImageEntry], args: argparse.Namespace, options: ExportOptions | None,
           started: float) -> int:
    if args.out is not None:
        explicit = {p.absolute() for p in args.inputs if not p.is_dir()}
        jobs = cli.plan_jobs(entries, args.out, explicit)
    else:
        jobs = [cli.Job(e, Path("."), e.relative.stem) for e in entries]
    summary = cli.Summary()
    runnable = [j for j in jobs if j.entry.ok and not j.error]
    ids = dict(zip((id(j) for j in runnable), ws.add_images([j.entry for j in runnable]), strict=True))
    check = ws.check_files(ids.values(), hash_unknown=True)
    unreadable = dict(check.unreadable)
    try:
        model = _expected_model(args)
    except (M2FPError, OSError) as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return cli.EXIT_USAGE
    reporter = cli.Reporter(len(jobs), args.quiet)
    exporter = _Exporter(ws, args.out, options, args.skip_existing) if args.out is not None else None
    todo: list[cli.Job] = []
    reused = 0
    other: dict[str, int] = {}
    try:
        for job in jobs:
            path = job.entry.path
            reason = job.entry.error or job.error or unreadable.get(ids.get(id(job), -1))
            if reason:
                summary.failed.append((path, reason))
                reporter.image(path, cli._failure_text(path, reason), failed=True)
                continue
            iid = ids[id(job)]
            if ws.result_id_for(iid, model) is None:
                shown = ws.record(iid).model_key
                if shown is not None and shown != model.key:
                    other[shown] = other.get(shown, 0) + 1
                todo.append(job)
                continue
            reused += 1
            summary.skipped.append(path)
            _doubt_if_missing(ws, iid, args)
            status = _("parsed earlier with this model: result kept in the workspace")
            if exporter is not None:
                try:
                    status += "; " + exporter.write(job, iid)
                except (M2FPError, OSError, ValueError, WorkspaceError) as exc:
                    summary.failed.append((path, str(exc)))
                    reporter.image(path, cli._failure_text(path, str(exc)), failed=True)
                    continue
            reporter.image(path, status)
        if todo:
            code = _parse(ws, todo, ids, args, reporter, summary, exporter, model)
            if code is not None:
                return code
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        reporter.close()
        if exporter is not None:
            try:
                exporter.finish()
            except (M2FPError, OSError) as exc:
                summary.failed.append((args.out, _("the interchange formats could not be completed: {reason}").format(
                    reason=exc)))
    _print_summary(ws, summary, reused, other, model, args, time.perf_counter() - started)
    if summary.interrupted:
        return cli.EXIT_INTERRUPTED
    return cli.EXIT_FAILED if summary.failed else cli.EXIT_OK


def _parse(ws: Workspace, todo: list[cli.Job], ids: dict[int, int], args: argparse.Namespace,
           reporter: cli.Reporter, summary: cli.Summary, exporter: _Exporter | None,
           expected: ModelIdentity) -> int | None:
    """Parse ``todo`` into the workspace; an exit code when the model cannot be loaded."""
    if getattr(args, "ray", None) is not None:  # on a cluster; this process still stores every result
        from desktop.cluster_workspace import parse_on_cluster

        return parse_on_cluster(ws, todo, ids, args, reporter, summary, exporter, expected)
    reporter.info(_("Loading the model..."))
    try:
        parser = cli._load_parser(args)
    except M2FPError as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return cli.EXIT_USAGE
    except Exception as exc:
        print(_("error: the model could not be loaded: {reason}").format(
            reason=f"{type(exc).__name__}: {printable(exc)}"), file=sys.stderr)
        return cli.EXIT_USAGE
    from desktop.review.doubt import paste_threshold_of, store_doubt

    paste = paste_threshold_of(parser)
    model = ModelIdentity.of_parser(parser)
    if model.key != expected.key:
        reporter.info(_("The model runs as {model} (expected {expected}); results are stored under what actually "
                        "ran.").format(model=model.describe(), expected=expected.describe()))
    for job in cli.order_by_input_size(todo, parser, args.max_pixels):
        path, iid = job.entry.path, ids[id(job)]
        t0 = time.perf_counter()
        try:
            image = load_image(path, max_pixels=args.max_pixels or None)
            decode = time.perf_counter() - t0
            result = parser.parse(image.rgb, notes=list(image.notes))
            result.timings.setdefault("decode", decode)
            sha, size, mtime = ws.file_state(iid)
            ws.store_result(iid, result, model, sha256=sha or sha256_file(path), size=size, mtime_ns=mtime)
            store_doubt(ws, iid, result, paste)  # never raises: a doubt score never fails an image
            persons = len(result.persons)
            status = ngettext("parsed in {seconds} s, {n} person", "parsed in {seconds} s, {n} persons", persons).format(
                seconds=f"{time.perf_counter() - t0:.2f}", n=persons)
            if exporter is not None:
                status += "; " + exporter.write(job, iid, result, image)
        except (M2FPError, OSError, ValueError, MemoryError) as exc:
            reason = _("not enough memory to parse this image") if isinstance(exc, MemoryError) else str(exc)
            summary.failed.append((path, reason))
            ws.record_failure(iid, reason)
            reporter.image(path, cli._failure_text(path, reason), failed=True)
        else:
            summary.parsed.append(path)
            reporter.image(path, status)
    return None


def _print_summary(ws: Workspace, summary: cli.Summary, reused: int, other: dict[str, int],
                   model: ModelIdentity, args: argparse.Namespace, seconds: float) -> None:
    if summary.failed:
        print(ngettext("{n} image failed:", "{n} images failed:", len(summary.failed)).format(n=len(summary.failed)),
              file=sys.stderr)
        for path, reason in summary.failed:
            print(f"  - {cli._failure_text(path, reason)}", file=sys.stderr)
    stream = sys.stderr if args.quiet else sys.stdout
    if other:
        known = ws.models()
        names = ", ".join(known[k].describe() if k in known else k for k in other)
        n_other = sum(other.values())
        print(ngettext("{n} image had a result from another model ({models}); it was parsed again with {model}. The "
                       "earlier result stays in the workspace.",
                       "{n} images had results from another model ({models}); they were parsed again with {model}. "
                       "The earlier results stay in the workspace.", n_other).format(
            n=n_other, models=names, model=model.describe()), file=stream)
    if args.quiet and not summary.failed and not summary.interrupted:
        return
    counts = {"seconds": f"{seconds:.1f}", "parsed": len(summary.parsed), "reused": reused,
              "failed": len(summary.failed), "workspace": printable(ws.path)}
    if summary.interrupted:
        text = _('Interrupted in {seconds} s: {parsed} parsed, {reused} reused from the workspace, {failed} failed. '
                 'Workspace "{workspace}".')
    else:
        text = _('Done in {seconds} s: {parsed} parsed, {reused} reused from the workspace, {failed} failed. '
                 'Workspace "{workspace}".')
    text = text.format(**counts)
    if args.out is not None:
        text += " " + _('Outputs in "{path}".').format(path=printable(args.out))
    print(text, file=stream)


# --------------------------------------------------------------------------- report

def report_main(argv: Sequence[str]) -> int:
    """``report FILE [--format csv|json]``: the review report on standard output."""
    p = argparse.ArgumentParser(
        prog="python -m desktop.cli report", formatter_class=WideTextHelpFormatter,
        description=_("Print one row per image of a review workspace: path, status, note, reviewer, reviewed at, "
                      "persons, edited, model, changed since review. The workspace is opened read-only."))
    p.add_argument("workspace", type=Path, metavar="FILE", help=_("the workspace (.m2fpws)"))
    p.add_argument("--format", choices=REPORT_FORMATS, default="csv", help=_("csv (default) or json"))
    try:
        args = p.parse_args(list(argv))
    except SystemExit as exc:
        return cli.EXIT_USAGE if exc.code not in (0, None) else cli.EXIT_OK
    try:
        with Workspace.open(args.workspace, read_only=True) as ws:
            text = format_report(report_rows(ws), args.format)
    except WorkspaceError as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return cli.EXIT_USAGE
    sys.stdout.write(text)
    sys.stdout.flush()
    return cli.EXIT_OK


# --------------------------------------------------------------------------- export

def _statuses(text: str) -> frozenset[Status]:
    out = set()
    for token in (t.strip().lower().replace(" ", "_").replace("-", "_") for t in text.split(",")):
        if token:
            try:
                out.add(Status(token))
            except ValueError:
                raise argparse.ArgumentTypeError(
                    _("unknown status {name} (choose from {choices})").format(
                        name=repr(token), choices=", ".join(s.value for s in Status))) from None
    return frozenset(out)


def export_main(argv: Sequence[str]) -> int:
    """``export WORKSPACE --out DIR [--formats ...]``: what the workspace holds, no parsing."""
    p = argparse.ArgumentParser(
        prog="python -m desktop.cli export", formatter_class=WideTextHelpFormatter,
        description=_("Write the outputs of every parsed image of a review workspace, without parsing: the "
                      "reviewer's edited maps where an image was edited, the model's result elsewhere. Each JSON "
                      "carries the image's review status and note. The workspace is opened read-only."))
    p.add_argument("workspace", type=Path, metavar="WORKSPACE", help=_("the workspace (.m2fpws)"))
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR", help=_("output folder (created if needed)"))
    p.add_argument("--formats", type=cli._formats, default=frozenset(FORMATS), metavar="LIST",
                   help=_("outputs to write, as for parsing (default: {default})").format(default=",".join(FORMATS)))
    p.add_argument("--status", type=_statuses, metavar="LIST",
                   help=_("only images with these statuses (not_reviewed, accepted, needs_fix, rejected)"))
    p.add_argument("--classes", metavar="LIST", help=_("only draw these classes in colour and overlay images"))
    p.add_argument("--opacity", type=cli._opacity, default=0.5, metavar="0..1",
                   help=_("overlay opacity (default 0.5)"))
    p.add_argument("--skip-existing", action="store_true", help=_("keep outputs that already exist for an image"))
    p.add_argument("--quiet", "-q", action="store_true", help=_("print only failures"))
    try:
        args = p.parse_args(list(argv))
    except SystemExit as exc:
        return cli.EXIT_USAGE if exc.code not in (0, None) else cli.EXIT_OK
    started = time.perf_counter()
    try:
        options = ExportOptions(formats=args.formats, opacity=args.opacity,
                                visible_classes=cli._visible_classes(args.classes))
        cli.prepare_output_dir(args.out)
        ws = Workspace.open(args.workspace, read_only=True)
    except (cli.UsageError, ValueError, WorkspaceError) as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return cli.EXIT_USAGE
    summary = cli.Summary()
    with ws:
        records = sort_records(ws.records(), "name")
        if args.status:
            records = [r for r in records if r.status in args.status]
        entries = [ImageEntry(r.path, r.folder, Path(r.name)) for r in records]
        jobs = cli.plan_jobs(entries, args.out, {e.path.absolute() for e in entries})
        reporter = cli.Reporter(len(jobs), args.quiet)
        exporter = _Exporter(ws, args.out, options, args.skip_existing)
        try:
            for job, record in zip(jobs, records, strict=True):
                path = job.entry.path
                try:
                    if job.error:
                        raise ValueError(job.error)
                    status = exporter.write(job, record.id)
                except (M2FPError, OSError, ValueError, WorkspaceError) as exc:
                    summary.failed.append((path, str(exc)))
                    reporter.image(path, cli._failure_text(path, str(exc)), failed=True)
                else:
                    (summary.skipped if exporter.skipped else summary.parsed).append(path)
                    reporter.image(path, status)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            reporter.close()
            try:
                exporter.finish()
            except (M2FPError, OSError) as exc:
                summary.failed.append((args.out, _("the interchange formats could not be completed: {reason}").format(
                    reason=exc)))
    if summary.failed:
        print(ngettext("{n} image failed:", "{n} images failed:", len(summary.failed)).format(n=len(summary.failed)),
              file=sys.stderr)
        for path, reason in summary.failed:
            print(f"  - {cli._failure_text(path, reason)}", file=sys.stderr)
    if not args.quiet or summary.failed:
        counts = {"seconds": f"{time.perf_counter() - started:.1f}", "exported": len(summary.parsed),
                  "skipped": len(summary.skipped), "failed": len(summary.failed), "path": printable(args.out)}
        text = (_('Interrupted in {seconds} s: {exported} exported, {skipped} skipped, {failed} failed. Outputs in '
                  '"{path}".') if summary.interrupted else
                _('Done in {seconds} s: {exported} exported, {skipped} skipped, {failed} failed. Outputs in '
                  '"{path}".'))
        print(text.format(**counts), file=sys.stderr if args.quiet else sys.stdout)
    if summary.interrupted:
        return cli.EXIT_INTERRUPTED
    return cli.EXIT_FAILED if summary.failed else cli.EXIT_OK
