"""``python -m desktop.cli INPUT... --workspace FILE [--out DIR] --ray [ADDRESS]``: parse the images
a workspace lacks on a Ray cluster, and store the results on this computer.

Why it is split this way: a workspace is one SQLite file with one writer at a time (WAL, a
transaction per change), and it usually sits on the reviewer's disk, not on storage every
node mounts. So the actors (:class:`desktop.cluster_ray.ParseActor`) only parse: each result
comes back to the driver in the compact form the workspace stores anyway
(:mod:`desktop.review.result_codec`: masks cropped and compressed: 128 kB for a 1920x1080
test photo of 3 persons, whose label map and boolean masks take 3.7 MB), with its doubt score, computed by
the actor from the same result a local run scores. The driver, the workspace's only writer,
stores each as it arrives (completion order, one transaction for the result and one for its
doubt, as a local ``--workspace`` run does: :func:`desktop.cli_workspace._parse`), without
decoding or encoding anything (measured on 2 cores under load 9, for a 1920x1080 result:
decoding 0.04-0.16 s, scoring 0.5 s, encoding 0.7 s; storing 2 ms). What a local run decides before
parsing is decided the same way before anything goes to the cluster: images whose unchanged
content was parsed with the same model are reused and never sent.

With ``--out``, the driver also writes the outputs, through the same exporter as a local
workspace run: they carry the image's review (status, note) and doubt, which only the
workspace knows, so they are the same files a local run writes. That costs the driver the
decoding of each result and photo and the writing (0.6-0.7 s an image at 1920x1080, same
load); without ``--out`` it does no image work.

Failures of one image are one failed line, remembered in the workspace, and the run goes on;
an actor that dies is replaced and its images retried by Ray; images the cluster could not
finish are reported as failed (:meth:`desktop.cluster_ray.RayBatch.outcomes`).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from desktop import cli
from desktop.engine.errors import M2FPError
from desktop.export import ExportOptions
from desktop.i18n import _
from desktop.review.model_key import ModelIdentity
from desktop.terminal_text import printable

if TYPE_CHECKING:
    from desktop.cli_workspace import _Exporter
    from desktop.review.workspace import Workspace

__all__ = ["parse_on_cluster"]


def parse_on_cluster(ws: Workspace, todo: list[cli.Job], ids: dict[int, int], args: argparse.Namespace,
                     reporter: cli.Reporter, summary: cli.Summary, exporter: _Exporter | None,
                     expected: ModelIdentity) -> int | None:
    """Parse ``todo`` on the cluster of ``args.ray`` into ``ws`` (``ids``: job id -> image id);
    an exit code when the cluster or the model cannot be used, else None (failures of single
    images are in ``summary``)."""
    reporter.info(_("Connecting to the cluster..."))
    try:
        batch = cli._load_parser(args)  # a RayBatch: the actors load the model
        batch.connect()
    except (M2FPError, OSError) as exc:
        print(_("error: {message}").format(message=printable(exc)), file=sys.stderr)
        return cli.EXIT_USAGE
    try:
        _store_outcomes(ws, cli.order_by_input_size(todo, batch, args.max_pixels), ids, args, batch, reporter,
                        summary, exporter, expected)
    finally:
        batch.close()
    return None


def _store_outcomes(ws: Workspace, todo: list[cli.Job], ids: dict[int, int], args: argparse.Namespace, batch,
                    reporter: cli.Reporter, summary: cli.Summary, exporter: _Exporter | None,
                    expected: ModelIdentity) -> None:
    from desktop.imageio import sha256_file
    from desktop.review.result_codec import decode_result
    from desktop.review.workspace_records import EncodedResult

    for job in todo:  # the actors get the digest the workspace checked (and hash nothing again)
        job.sha256 = ws.file_state(ids[id(job)])[0]
    said: set[str] = set()
    # The actors write nothing (no formats): with --out the driver writes, see the module docstring.
    outcomes = batch.outcomes(todo, options=ExportOptions(formats=frozenset()), max_pixels=args.max_pixels,
                              encoded=True, doubt=True)
    try:
        for job, outcome, got in outcomes:
            path, iid = job.entry.path, ids[id(job)]
            try:
                status = outcome.result()
                if got is None:
                    raise ValueError(_("the cluster returned no result for this image"))
                # What actually ran on the actor (the runtime falls back where OpenVINO is missing);
                # the weights are those of the folder the expected identity was computed from.
                model = ModelIdentity.from_info(got.info or batch.model_info, weights_sha256=expected.weights_sha256)
                if model.key != expected.key and model.key not in said:
                    said.add(model.key)
                    reporter.info(_("The model runs as {model} (expected {expected}); results are stored under "
                                    "what actually ran.").format(model=model.describe(),
                                                                 expected=expected.describe()))
                counts = got.summary
                encoded = EncodedResult(got.data, int(counts["width"]), int(counts["height"]), int(counts["persons"]),
                                        int(counts["parts"]), counts.get("parse_seconds"))
                sha, size, mtime = ws.file_state(iid)
                ws.store_result(iid, encoded, model, sha256=sha or sha256_file(path), size=size, mtime_ns=mtime)
                if got.doubt is not None:  # scored by the actor (desktop.cluster_ray.ParseActor)
                    ws.set_doubt(iid, got.doubt["score"], got.doubt["reasons"])
                if exporter is not None:  # checked like any stored result: data, never code
                    status += "; " + exporter.write(job, iid, decode_result(got.data, ws.limits))
            except MemoryError:
                _failed(ws, iid, path, _("not enough memory to parse this image"), reporter, summary)
            except (M2FPError, OSError, ValueError, KeyError, TypeError) as exc:  # also: a malformed row
                _failed(ws, iid, path, str(exc), reporter, summary)
            else:
                summary.parsed.append(path)
                reporter.image(path, status)
    finally:
        outcomes.close()  # on Ctrl+C: stop handing out work before the cluster is left


def _failed(ws: Workspace, image_id: int, path, reason: str, reporter: cli.Reporter, summary: cli.Summary) -> None:
    summary.failed.append((path, reason))
    ws.record_failure(image_id, reason)
    reporter.image(path, cli._failure_text(path, reason), failed=True)
