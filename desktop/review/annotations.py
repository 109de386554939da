"""Existing annotations opened beside their photos, read safely, and written back corrected.

Two layouts, told apart by how they are opened (:meth:`AnnotationSet.open`):

- **CIHP** (``AnnotationSet.open(ROOT)``): ``ROOT/Images/NAME.jpg`` with
  ``ROOT/Category_ids/NAME.png`` (grey, the class id per pixel), optionally
  ``ROOT/Human_ids/NAME.png`` (person id per pixel) and ``ROOT/Instance_ids``. Read with
  :func:`desktop.formats.read_cihp`.
- **A folder of label PNGs** (``AnnotationSet.open(IMAGES, LABELS)``): ``LABELS/NAME.png`` for
  ``IMAGES/NAME.<any extension>`` (subfolders mirrored). Indexed or grey PNGs: the value is the
  class id. RGB PNGs: grey when every pixel has three equal channels (the value is the class
  id), else colour-coded in the CIHP palette and mapped back; a colour outside the palette is
  an error naming the file and the colour.

Every problem is one :class:`AnnotationError` per image, whose message names the file and says
what to do (missing file, unreadable, class id out of range, unknown colour, size differing
from the photo's): callers report it and go on with the next image. Sizes are checked from
the PNG header against a pixel limit before anything is decoded (:mod:`desktop.imageio`'s
size guard is in force while reading), so no file can make memory run away.

:meth:`AnnotationSet.write` writes a corrected annotation in the layout and encoding it came
from (same folders, same file name, same kind of PNG), by default into a new folder beside
the original (``ROOT_corrected``); over the original only when asked (``overwrite=True``).
No tkinter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from desktop.atomic import atomic_path
from desktop.engine.errors import M2FPError
from desktop.formats.cihp import CATEGORY_DIR, HUMAN_DIR, CihpWriter, read_cihp
from desktop.formats.common import (
    FormatError,
    FormatReadError,
    ImageMaps,
    check_label_ids,
    colours_to_ids,
    read_colour_png,
    read_index_png,
    write_index_png,
)
from desktop.i18n import _
from desktop.imageio import DEFAULT_MAX_PIXELS, ImageEntry, _size_policy, list_images, probe_size
from desktop.output_layout import make_output_dir

__all__ = [
    "CIHP",
    "FOLDER",
    "IMAGES_DIR",
    "AnnotatedImage",
    "Annotation",
    "AnnotationError",
    "AnnotationSet",
]

CIHP, FOLDER = "cihp", "folder"
IMAGES_DIR = "Images"
#: Suffix of the default folder a corrected annotation is written to (beside the original).
CORRECTED_SUFFIX = "_corrected"


class AnnotationError(M2FPError):
    """One image's annotation cannot be used; ``str()`` is a sentence naming the file."""


@dataclass(frozen=True)
class AnnotatedImage:
    """A photo and where its annotation is expected.

    ``key`` is the photo's path below the images folder without its extension
    (``sub/photo``); ``file`` the same with the extension (``sub/photo.jpg``), what reports
    name the image by; ``label_path`` the label PNG (which may not exist).
    """

    image: ImageEntry
    key: str
    file: str
    label_path: Path

    @property
    def path(self) -> Path:
        return self.image.path


@dataclass
class Annotation:
    """One image's annotation as read.

    - ``labels``: (H, W) uint8 class ids; ``persons``: (H, W) uint16 person ids when the layout
      has them (CIHP with ``Human_ids``), else None.
    - ``encoding``: how the label file stores classes, kept when writing back: ``"cihp"``,
      ``"indexed"`` (palette indices = class ids; ``palette`` is the file's own), ``"grey"``,
      ``"grey16"``, ``"rgb-grey"`` (RGB with equal channels) or ``"rgb-palette"`` (CIHP colours).
    - ``notes``: remarks worth telling the user (from the CIHP reader).
    """

    labels: np.ndarray
    persons: np.ndarray | None
    encoding: str
    palette: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.labels.shape[1]), int(self.labels.shape[0])

    def person_map(self) -> np.ndarray:
        """The persons, or an all-zero map when the layout has none (the editing tools need one)."""
        if self.persons is not None:
            return self.persons
        return np.zeros(self.labels.shape, dtype=np.uint16)


def _default_names() -> tuple[str, ...]:
    from desktop.resources import default_class_names

    return default_class_names()


def _default_palette() -> np.ndarray:
    from desktop.resources import palette

    return palette()


def _key_of(relative: Path) -> str:
    rel = PurePosixPath(relative.as_posix())
    return rel.with_suffix("").as_posix() if rel.suffix else rel.as_posix()


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a label file's header (nothing decoded); None when unreadable."""
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except Exception:  # the full read says why
        return None


class AnnotationSet:
    """Photos and their annotations, in one of the two layouts (see the module docstring).

    ``items`` lists every photo found, with where its label file is expected; ``problems``
    the inputs that could not be listed (an unreadable folder...), as (path, sentence).
    """

    def __init__(self, layout: str, images_root: Path, labels_root: Path, items: list[AnnotatedImage],
                 problems: list[tuple[Path, str]], class_names: Sequence[str] | None = None):
        self.layout = layout
        self.images_root = images_root
        #: The CIHP root (holding Category_ids) or the labels folder.
        self.labels_root = labels_root
        self.items = items
        self.problems = problems
        self.class_names = tuple(class_names or _default_names())

    @property
    def source(self) -> str:
        """What the annotation is, for stored comparisons and messages."""
        return f"{self.layout}:{self.labels_root}"

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, images_or_root: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None, *,
             recursive: bool = False, class_names: Sequence[str] | None = None) -> AnnotationSet:
        """A CIHP root (``labels`` None) or a photo folder and its label folder.

        Raises :class:`AnnotationError` when the folders are not what they should be (no
        ``Images/`` or ``Category_ids/`` in a CIHP root, a folder that does not exist); a photo
        without a label file is not an error here (:meth:`load` reports it).
        """
        first = Path(images_or_root)
        if labels is None:
            for folder in (first / IMAGES_DIR, first / CATEGORY_DIR):
                if not folder.is_dir():
                    raise AnnotationError(
                        _('"{folder}" is not a CIHP folder: it has no {name} folder. A CIHP folder holds '
                          "{images}/ (the photos) and {categories}/ (the class ids); for a folder "
                          "of photos and a folder of label images, give both folders.").format(
                            folder=first, name=folder.name, images=IMAGES_DIR, categories=CATEGORY_DIR))
            layout, images_root, labels_root = CIHP, first / IMAGES_DIR, first
            label_dir = first / CATEGORY_DIR
        else:
            layout, images_root, labels_root = FOLDER, first, Path(labels)
            label_dir = labels_root
            for folder, message in (
                (images_root, _('The photo folder "{folder}" does not exist or is not a folder.')),
                (labels_root, _('The label folder "{folder}" does not exist or is not a folder.')),
            ):
                if not folder.is_dir():
                    raise AnnotationError(message.format(folder=folder))
        entries = list_images([images_root], recursive=recursive)
        same_folder = os.path.normcase(os.path.abspath(images_root)) == os.path.normcase(os.path.abspath(label_dir))
        items: list[AnnotatedImage] = []
        problems: list[tuple[Path, str]] = []
        label_paths = set()
        for entry in entries:
            if not entry.ok:
                problems.append((entry.path, entry.error or _("cannot be read")))
                continue
            key = _key_of(entry.relative)
            label_path = label_dir.joinpath(*f"{key}.png".split("/"))
            label_paths.add(os.path.normcase(os.path.abspath(label_path)))
            items.append(AnnotatedImage(entry, key, entry.relative.as_posix(), label_path))
        if same_folder:  # labels beside the photos: a label PNG is not a photo of its own
            items = [i for i in items if os.path.normcase(os.path.abspath(i.path)) not in label_paths]
        return cls(layout, images_root, labels_root, items, problems, class_names)

    @property
    def has_person_maps(self) -> bool:
        """True for a CIHP root with a ``Human_ids`` folder (persons are read and written)."""
        return self.layout == CIHP and (self.labels_root / HUMAN_DIR).is_dir()

    # ------------------------------------------------------------------ reading

    def load(self, item: AnnotatedImage, *, image_size: tuple[int, int] | None = None,
             max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Annotation:
        """The annotation of ``item``; raises :class:`AnnotationError` naming the file.

        ``image_size`` (width, height of the photo as parsed, upright): checked against the
        label file's header before decoding it; when None the photo's header is read for it.
        """
        path = item.label_path
        image_size = self.check(item, image_size=image_size, max_pixels=max_pixels)
        try:
            with _size_policy(max_pixels):
                annotation = self._read(item, max_pixels)
        except FormatReadError as exc:
            raise AnnotationError(str(exc)) from None
        except FormatError as exc:
            raise AnnotationError(_('Cannot read "{path}": {reason}').format(path=path, reason=exc)) from None
        except MemoryError:
            raise AnnotationError(_('Cannot read "{path}": there is not enough memory to decode it.').format(
                path=path)) from None
        except Exception as exc:  # a decoder's odd error on a hostile file: one message, never a stop
            raise AnnotationError(_('Cannot read "{path}": {error}: {reason}.').format(
                path=path, error=type(exc).__name__, reason=exc)) from None
        if image_size is not None and annotation.size != tuple(image_size):
            raise self._size_error(item, annotation.size, image_size)
        return annotation

    def check(self, item: AnnotatedImage, *, image_size: tuple[int, int] | None = None,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int] | None:
        """What can be told without decoding anything: the label file exists and its header's
        size is the photo's. Raises :class:`AnnotationError`; returns the photo's size (from
        ``image_size`` or its header; None when unknown). Cheap: the command line checks
        this before parsing a photo, so no time is spent on photos that cannot be compared."""
        path = item.label_path
        if not path.is_file():
            if path.exists():
                raise AnnotationError(_('The annotation "{path}" of "{photo}" is not a file.').format(
                    path=path, photo=item.path))
            raise AnnotationError(_('There is no annotation for "{photo}": "{path}" does not exist.').format(
                photo=item.path, path=path))
        if image_size is None:
            image_size = probe_size(item.path, max_pixels=max_pixels)
        declared = _png_size(path)
        if declared is not None and max_pixels and declared[0] * declared[1] > max_pixels:
            raise AnnotationError(
                _('The annotation "{path}" is too large: {width} x {height} = {pixels} pixels, '
                  "above the limit of {max_pixels} pixels.").format(
                    path=path, width=declared[0], height=declared[1], pixels=f"{declared[0] * declared[1]:,}",
                    max_pixels=f"{max_pixels:,}"))
        if image_size is not None and declared is not None and declared != tuple(image_size):
            raise self._size_error(item, declared, image_size)
        return None if image_size is None else (int(image_size[0]), int(image_size[1]))

    @staticmethod
    def _size_error(item: AnnotatedImage, label_size: tuple[int, int],
                    image_size: tuple[int, int]) -> AnnotationError:
        return AnnotationError(
            _('The annotation "{label_path}" is {label_width} x {label_height} pixels but the photo '
              '"{path}" is {width} x {height} (upright); an annotation must have the size of '
              "its photo.").format(
                label_path=item.label_path, label_width=label_size[0], label_height=label_size[1], path=item.path,
                width=image_size[0], height=image_size[1]))

    def _read(self, item: AnnotatedImage, max_pixels: int | None) -> Annotation:
        path = item.label_path
        names = self.class_names
        if self.layout == CIHP:
            maps = read_cihp(self.labels_root, item.key, names, max_pixels=max_pixels)
            persons = maps.persons if (self.labels_root / HUMAN_DIR / f"{item.key}.png").is_file() else None
            notes = [n for n in maps.notes if persons is not None or HUMAN_DIR not in n]
            return Annotation(maps.labels, persons, CIHP, None, notes)
        try:
            with Image.open(path) as im:
                mode = im.mode
                pal = im.getpalette("RGB") if mode == "P" else None
        except Exception:  # let the reader say what is wrong with it, in its words
            read_index_png(path, max_pixels)
            raise
        if mode in ("RGB", "RGBA"):
            rgb, _palette = read_colour_png(path, max_pixels)
            if rgb.ndim == 3 and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all():
                labels, encoding = np.ascontiguousarray(rgb[..., 0]), "rgb-grey"
            else:
                del rgb
                colours = _default_palette()[: len(names)]
                table = {tuple(int(v) for v in colour): cid for cid, colour in enumerate(colours)}
                labels = colours_to_ids(path, max_pixels, table, _unknown_colour)
                encoding = "rgb-palette"
            palette = None
        else:
            values = read_index_png(path, max_pixels)
            encoding = {"P": "indexed", "L": "grey"}.get(mode, "grey16")
            check_label_ids(values, len(names), path)
            labels = np.ascontiguousarray(values, dtype=np.uint8)
            palette = None
            if pal is not None:
                raw = np.frombuffer(bytes(pal), dtype=np.uint8).reshape(-1, 3)[:256]
                palette = np.zeros((256, 3), dtype=np.uint8)
                palette[: len(raw)] = raw
        check_label_ids(labels, len(names), path)
        return Annotation(labels, None, encoding, palette)

    # ------------------------------------------------------------------ writing

    def default_destination(self) -> Path:
        """Where a corrected annotation goes by default: beside the original, ``NAME_corrected``."""
        root = Path(os.path.abspath(self.labels_root))
        return root.with_name(f"{root.name or 'annotations'}{CORRECTED_SUFFIX}")

    def destination_path(self, item: AnnotatedImage, dest_root: Path) -> Path:
        """The corrected label file of ``item`` under ``dest_root`` (the class-id file for CIHP)."""
        if self.layout == CIHP:
            return dest_root / CATEGORY_DIR / f"{item.key}.png"
        return dest_root / item.label_path.relative_to(self.labels_root)

    def write(self, item: AnnotatedImage, labels: np.ndarray, persons: np.ndarray | None, source: Annotation, *,
              dest_root: str | os.PathLike[str] | None = None, overwrite: bool = False) -> list[Path]:
        """Write ``item``'s corrected maps in the layout and encoding of ``source`` (the
        annotation as it was read); returns the files written (each atomically).

        Into ``dest_root`` (default :meth:`default_destination`), mirroring the original's
        folders and names. Writing into the original folder needs ``overwrite=True``:
        otherwise :class:`AnnotationError` says so and nothing is written. ``persons`` is
        written only where the original had person ids (CIHP ``Human_ids``; the
        ``Instance_ids`` files then follow from both maps); elsewhere it is ignored.
        """
        labels = np.ascontiguousarray(labels, dtype=np.uint8)
        if labels.ndim != 2 or labels.shape != source.labels.shape:
            raise ValueError(f"the corrected labels {labels.shape} differ in size from the annotation "
                             f"{source.labels.shape}")
        top = int(labels.max()) if labels.size else 0
        if top >= len(self.class_names):
            raise ValueError(f"the corrected labels hold class id {top}, outside 0..{len(self.class_names) - 1}")
        root = Path(os.path.abspath(dest_root)) if dest_root is not None else self.default_destination()
        original = Path(os.path.abspath(self.labels_root))
        if os.path.normcase(str(root)) == os.path.normcase(str(original)) and not overwrite:
            raise AnnotationError(
                _('Saving into "{original}" would replace the original annotation of "{file}". Choose '
                  "another folder, or confirm that the original may be replaced.").format(
                    original=original, file=item.file))
        try:
            if source.encoding == CIHP:
                return self._write_cihp(item, labels, persons if source.persons is not None else None, root)
            return [self._write_png(item, labels, source, root)]
        except (OSError, FormatError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise AnnotationError(_('The corrected annotation of "{file}" cannot be written to "{root}": '
                                    "{reason}.").format(file=item.file, root=root, reason=reason)) from None

    def _write_cihp(self, item: AnnotatedImage, labels: np.ndarray, persons: np.ndarray | None, root: Path
                    ) -> list[Path]:
        if persons is None:  # the original has no Human_ids: neither does the copy (no invented persons)
            path = root / CATEGORY_DIR / f"{item.key}.png"
            write_index_png(labels, path)
            return [path]
        persons = np.ascontiguousarray(persons, dtype=np.uint16)
        if persons.shape != labels.shape:
            raise ValueError(f"the corrected persons {persons.shape} differ in size from the labels {labels.shape}")
        writer = _CihpRootWriter(root, self.class_names, _default_palette())
        return writer.add_image(ImageMaps(labels, np.where(labels == 0, 0, persons).astype(np.uint16),
                                          name=item.file, stem=item.key, image_path=item.path))

    def _write_png(self, item: AnnotatedImage, labels: np.ndarray, source: Annotation, root: Path) -> Path:
        path = self.destination_path(item, root)
        if source.encoding == "indexed":
            own = source.palette if source.palette is not None else _default_palette()
            write_index_png(labels, path, palette=own)
        elif source.encoding in ("grey", "grey16"):
            write_index_png(labels, path)  # the same values; 8-bit since class ids fit
        else:
            if source.encoding == "rgb-palette":
                table = np.zeros((256, 3), dtype=np.uint8)
                pal = _default_palette()
                table[: len(pal)] = pal
                rgb = table[labels]
            else:  # rgb-grey
                rgb = np.repeat(labels[:, :, None], 3, axis=2)
            make_output_dir(path.parent)
            with atomic_path(path) as tmp:
                Image.fromarray(rgb, "RGB").save(tmp, format="PNG")
        return path


class _CihpRootWriter(CihpWriter):
    """The CIHP writer, writing straight into a dataset root (``ROOT/Category_ids``...) instead
    of the ``cihp/`` subfolder of an export."""

    folder = ""


def _unknown_colour(colour: tuple[int, int, int]) -> str:
    r, g, b = colour
    return _("it holds the colour ({r}, {g}, {b}) ({hex}), which is not one of the 20 class "
             "colours of the CIHP palette. Colour-coded annotations must use exactly the palette's "
             "colours; save the label image as grey or indexed class ids instead.").format(
        r=r, g=g, b=b, hex=f"#{r:02x}{g:02x}{b:02x}")
