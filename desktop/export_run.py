"""One export of parsed images from the window (and, later, a workspace): what goes where, then
the writing. No tkinter: the window runs :func:`run_export` in a background job.

- :func:`plan_export` applies the one layout rule (:mod:`desktop.output_layout`) to *every*
  open image, then keeps the chosen ones, so "export this image" writes exactly where
  "export all" would.
- :func:`run_export` writes each image's per-image files (:func:`desktop.export.export_result`)
  and its part of the interchange formats (:class:`desktop.formats.FormatRun`), then the
  formats' folder-level files, also after a cancel (they then list the images exported).
  One image failing never stops the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from desktop.engine.errors import M2FPError
from desktop.i18n import _
from desktop.output_layout import plan_outputs

__all__ = ["ExportItem", "count_existing", "plan_export", "run_export"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportItem:
    """One image to export: ``folder``/``stem`` for its per-image files; ``name`` (its path
    relative to the photos' root) and ``key`` (``sub/stem``) for the interchange formats."""

    image_key: str
    path: Path
    display_name: str
    folder: Path
    stem: str
    name: str
    key: str


def plan_export(images: Sequence[tuple[str, Path, str]], chosen: set[str], export_folder: Path,
                root: Path | None) -> list[ExportItem]:
    """``images``: every open image as (app key, photo path, display name), in list order;
    ``chosen``: the app keys to export; ``root``: the folder the photos' subfolders are
    mirrored from (the deepest folder holding them all)."""
    plan = plan_outputs([p for _k, p, _n in images], root, export_folder)
    items = []
    for (key, path, display), (sub, stem) in zip(images, plan, strict=True):
        if key not in chosen:
            continue
        name = (sub / path.name).as_posix()
        items.append(ExportItem(key, path, display, export_folder / sub, stem, name,
                                (PurePosixPath(sub) / stem).as_posix()))
    return items


def count_existing(items: Sequence[ExportItem], formats: Sequence[str], export_folder: Path) -> int:
    """How many files of this export exist already (and would be replaced)."""
    from desktop.export import output_paths
    from desktop.formats import FormatRun
    from desktop.resources import default_class_names, palette

    n = sum(1 for it in items for p in output_paths(it.stem, it.folder, formats).values() if p.exists())
    run = FormatRun(export_folder, formats, default_class_names(), palette(), begin=False)
    n += sum(1 for it in items if run and run.has(it.key))
    return n


def run_export(items: Sequence[ExportItem], export_folder: Path, options, *,
               get_result: Callable[[str], object | None], load_image: Callable[[Path], object],
               report: Callable[[int, int, str], None], cancel: threading.Event,
               describe: Callable[[BaseException], str] = str,
               maps_of: Callable[[ExportItem, object], tuple | None] | None = None,
               review_of: Callable[[ExportItem], dict | None] | None = None) -> dict:
    """Write ``items`` (see the module docstring). ``options`` is an
    :class:`~desktop.export.ExportOptions`; ``maps_of(item, result)`` may give edited
    ``(labels, persons)`` maps for the interchange formats (default: the result's own);
    ``review_of(item)`` the image's review (status, note...) for its JSON.

    Returns ``{"written", "failures" [(name, why)], "keys" (exported), "folder", "total"}``.
    """
    from desktop.export import export_result
    from desktop.formats import INTERCHANGE_FORMATS, FormatRun, ImageMaps

    wants_formats = bool(set(options.formats) & set(INTERCHANGE_FORMATS))
    formats: FormatRun | None = None
    written: list[Path] = []
    failures: list[tuple[str, str]] = []
    done: list[str] = []
    for i, item in enumerate(items):
        if cancel.is_set():
            break
        report(i, len(items), _("Exporting {name} ({current} of {total})…").format(name=item.display_name, current=i + 1, total=len(items)))
        try:
            result = get_result(item.image_key)
            if result is None:
                raise RuntimeError(_("its parsing result is no longer available; parse it again"))
            image = load_image(item.path)
            review = review_of(item) if review_of is not None else None
            written += export_result(result, image, item.folder, options, stem=item.stem, review=review)
            if wants_formats:
                if formats is None:
                    formats = FormatRun(export_folder, options.formats, result.class_names, result.palette)
                edited = maps_of(item, result) if maps_of is not None else None
                if edited is not None:
                    maps = ImageMaps(edited[0], edited[1], item.name, item.key, item.path)
                else:
                    maps = ImageMaps.from_result(result, name=item.name, stem=item.key, image_path=item.path)
                written += formats.add(maps)
            done.append(item.image_key)
        except Exception as exc:  # noqa: BLE001 - report per image, go on with the others
            log.exception("Export of %s failed", item.path)
            failures.append((item.display_name, str(exc) if isinstance(exc, (RuntimeError, M2FPError))
                             else describe(exc)))
    if formats is not None:
        report(len(items), len(items), _("Writing the CVAT / COCO / list files…"))
        try:
            written += formats.finish([it.key for it in items])
        except (M2FPError, OSError) as exc:
            failures.append((_("Interchange formats"), describe(exc) if isinstance(exc, OSError) else str(exc)))
    return {"written": written, "failures": failures, "keys": done, "folder": export_folder, "total": len(items)}
