"""What every interchange-format writer and reader shares (no tkinter).

- :class:`ImageMaps`: one image as every writer takes it: the reviewer's two maps
  (:mod:`desktop.review.maps`: ``labels`` uint8 class ids, ``persons`` uint16 person ids,
  0 = no person) plus the image's names. The same input serves a model result
  (:meth:`ImageMaps.from_result`) and maps a reviewer edited.
- :class:`FormatWriter`: the ``begin`` / ``add_image`` / ``finish`` protocol. Formats that
  hold one file per run (CVAT XML, COCO JSON, CVAT-mask lists) keep a small *fragment* per
  image in a hidden ``.fragments`` folder and assemble the run's file from them in
  ``finish``, streaming: memory holds one image's annotations at a time, whatever the
  number of images. The fragments stay, so a later ``--skip-existing`` run (or a run cut
  short) can assemble the full file again without parsing the images again.
- :class:`ReadMaps` and the errors readers raise: :class:`FormatReadError` names the file
  and says what is wrong in one sentence; readers never crash on a malformed file and
  refuse sizes above a pixel limit before allocating anything.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from desktop.atomic import atomic_path, atomic_write_text
from desktop.engine.errors import M2FPError
from desktop.i18n import _, ngettext
from desktop.output_layout import make_output_dir

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FormatError",
    "FormatLimitError",
    "FormatReadError",
    "FormatWriter",
    "Fragments",
    "ImageMaps",
    "ReadMaps",
    "class_lookup",
    "colours_to_ids",
    "read_colour_png",
    "read_index_png",
    "write_index_png",
]

#: Readers refuse label images larger than this (same default as photos: 80 megapixels
#: need 240 MB for the two maps); every reader takes ``max_pixels`` to change it.
DEFAULT_MAX_PIXELS = 80_000_000
#: Text and JSON files a reader accepts at most (a label file of a 80-megapixel image with
#: hundreds of masks stays far below this).
MAX_TEXT_BYTES = 256 * 1024 * 1024


class FormatError(M2FPError):
    """An interchange file cannot be written or read; ``str()`` is a sentence for the user."""


class FormatReadError(FormatError):
    """A file cannot be read as the format says; ``path`` is the file."""

    def __init__(self, path: str | os.PathLike[str], reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(_('Cannot read "{path}": {reason}').format(path=self.path, reason=reason))


class FormatLimitError(FormatError):
    """An image holds more than a format can represent (e.g. more than 254 objects)."""


@dataclass(frozen=True)
class ImageMaps:
    """One image's annotation, as every writer takes it.

    - ``labels``: (H, W) uint8 class ids; ``persons``: (H, W) uint16 person ids, 0 = none
      (background pixels are always 0). A *part* is the pixels of one (person, class) pair.
    - ``name``: the image's file name relative to the photos' root, ``/``-separated
      (``"sub/photo.jpg"``): what CVAT and COCO match images by.
    - ``stem``: the output name without extension, relative and ``/``-separated, unique in
      the run (``"sub/photo"``, or ``"sub/photo_png"`` when ``photo.jpg`` is there too):
      per-image files are named after it (``Category_ids/sub/photo.png``).
    - ``image_path``: where the photo is on this machine (labelme's ``imagePath`` is made
      relative to it); never written out whole.
    """

    labels: np.ndarray
    persons: np.ndarray
    name: str
    stem: str
    image_path: Path | None = None

    def __post_init__(self) -> None:
        if self.labels.ndim != 2 or self.labels.shape != self.persons.shape:
            raise ValueError(f"label map {self.labels.shape} and person map {self.persons.shape} must be "
                             "two-dimensional and of the same size")
        if self.labels.dtype != np.uint8 or self.persons.dtype != np.uint16:
            raise ValueError(f"maps must be uint8 labels and uint16 persons, not {self.labels.dtype} and "
                             f"{self.persons.dtype}")
        check_stem(self.stem)
        if not self.name or "\\" in self.name or self.name.startswith("/"):
            raise FormatError(_("The image name {name} cannot be used: it must be a relative path with "
                                "'/' between folders.").format(name=f"{self.name!r}"))

    @functools.cached_property
    def instances(self) -> list:
        """Every part (label >= 1) and each person as a whole (label 0), as
        :func:`desktop.review.maps.instances_from_maps` gives them: computed once per image
        and shared by the writers (0.3-0.6 s for a 1920x1080 crowd)."""
        from desktop.review.maps import instances_from_maps

        return instances_from_maps(self.labels, self.persons, with_persons=True)

    @property
    def parts(self) -> list:
        """The parts alone: one per (person, class) pair, sorted by person then class."""
        return [i for i in self.instances if i.label != 0]

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    @property
    def width(self) -> int:
        return int(self.labels.shape[1])

    @classmethod
    def from_result(cls, result, *, name: str, stem: str, image_path: Path | None = None) -> ImageMaps:
        """The maps of a model :class:`~desktop.engine.result.ParsingResult` (persons derived
        with :func:`desktop.review.maps.person_map_of`)."""
        from desktop.review.maps import person_map_of

        return cls(np.ascontiguousarray(result.labels, dtype=np.uint8), person_map_of(result), name, stem,
                   image_path)


def check_stem(stem: str) -> PurePosixPath:
    """``stem`` as a safe relative path (no ``..``, not absolute, not empty); raises FormatError."""
    p = PurePosixPath(stem)
    if not stem or "\\" in stem or p.is_absolute() or any(part in ("", ".", "..") for part in stem.split("/")):
        raise FormatError(_("The output name {stem} cannot be used: it must be a relative path with '/' "
                            "between folders and no '..'.").format(stem=f"{stem!r}"))
    return p


@dataclass
class ReadMaps:
    """What a reader gives back: the two maps and remarks worth telling the user."""

    labels: np.ndarray
    persons: np.ndarray
    notes: list[str] = field(default_factory=list)


def class_lookup(class_names: Sequence[str]) -> dict[str, int]:
    """Class name (case-insensitive, ``background`` for id 0) -> id."""
    table = {str(n).casefold(): i for i, n in enumerate(class_names)}
    table.setdefault("background", 0)
    return table


# --------------------------------------------------------------------------- PNG helpers

def write_index_png(values: np.ndarray, path: Path, palette: np.ndarray | None = None) -> None:
    """A 2-D integer map as a PNG, atomically: indexed with ``palette`` (values < 256),
    8-bit grey when every value fits, 16-bit grey otherwise (values < 65536)."""
    values = np.asarray(values)
    top = int(values.max()) if values.size else 0
    if top > 65535 or (values.size and int(values.min()) < 0):
        raise ValueError(f"values {int(values.min())}..{top} do not fit a PNG")
    h, w = values.shape
    if palette is not None:
        if top > 255:
            raise ValueError("an indexed PNG holds values up to 255")
        im = Image.frombytes("P", (w, h), np.ascontiguousarray(values, dtype=np.uint8).tobytes())
        table = np.zeros((256, 3), dtype=np.uint8)
        pal = np.asarray(palette, dtype=np.uint8)[:256, :3]
        table[: len(pal)] = pal
        im.putpalette(table.ravel().tolist(), rawmode="RGB")
    elif top <= 255:
        im = Image.frombytes("L", (w, h), np.ascontiguousarray(values, dtype=np.uint8).tobytes())
    else:
        im = Image.fromarray(np.ascontiguousarray(values, dtype=np.uint16))  # 16-bit grey ("I;16")
    make_output_dir(path.parent)
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG")


def _open_png(path: Path, max_pixels: int | None):
    """Open ``path`` as a PNG whose declared size is within ``max_pixels`` (nothing decoded yet)."""
    im = Image.open(path)
    try:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise FormatReadError(path, _("it declares an invalid size ({w} x {h} pixels).").format(w=w, h=h))
        if max_pixels and w * h > max_pixels:
            raise FormatReadError(path, _("it is too large ({w} x {h} = {pixels} pixels, above the limit "
                                          "of {max_pixels}).").format(
                w=w, h=h, pixels=f"{w * h:,}", max_pixels=f"{max_pixels:,}"))
        if im.format != "PNG":
            raise FormatReadError(path, _("it is a {format} image, not a PNG.").format(
                format=im.format or _("unknown")))
        im.load()
    except BaseException:
        im.close()
        raise
    return im


def _png_errors(path: Path, fn):
    try:
        return fn()
    except FormatReadError:
        raise
    except FileNotFoundError:
        raise FormatReadError(path, _("the file does not exist.")) from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise FormatReadError(path, _("it is not a readable PNG image ({reason}).").format(
            reason=" ".join(str(exc).split()))) from None
    except MemoryError:
        raise FormatReadError(path, _("there is not enough memory to decode it.")) from None


def read_index_png(path: Path, max_pixels: int | None) -> np.ndarray:
    """A label PNG as a 2-D array of its values (palette indices or grey levels: uint8, or
    uint16 for 16-bit files). The declared size is checked against ``max_pixels`` before
    any pixel is decoded; anything unreadable raises :class:`FormatReadError`."""

    def read() -> np.ndarray:
        with _open_png(path, max_pixels) as im:
            if im.mode in ("P", "L"):
                return np.asarray(im, dtype=np.uint8)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im)
                if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
                    raise FormatReadError(path, _("it holds values outside 0..65535."))
                return arr.astype(np.uint16)
            if im.mode in ("RGB", "RGBA"):
                # Some tools save grey maps as RGB with equal channels (M2FP reads the first one).
                return np.ascontiguousarray(np.asarray(im)[:, :, 0])
            raise FormatReadError(path, _("its colour mode {mode} is not a label map.").format(mode=im.mode))

    return _png_errors(path, read)


def read_colour_png(path: Path, max_pixels: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A colour-coded label PNG: ``(indices (H, W) uint8, palette (256, 3) uint8)`` for an
    indexed file, else ``(rgb (H, W, 3) uint8, None)``. Same checks as :func:`read_index_png`."""

    def read() -> tuple[np.ndarray, np.ndarray | None]:
        with _open_png(path, max_pixels) as im:
            if im.mode == "P" and "transparency" not in im.info and im.palette is not None \
                    and im.palette.mode == "RGB":
                pal = np.zeros((256, 3), dtype=np.uint8)
                raw = np.frombuffer(bytes(im.getpalette("RGB") or []), dtype=np.uint8).reshape(-1, 3)[:256]
                pal[: len(raw)] = raw
                return np.asarray(im, dtype=np.uint8), pal
            return np.asarray(im.convert("RGB"), dtype=np.uint8), None

    return _png_errors(path, read)


def colours_to_ids(path: Path, max_pixels: int | None, table: dict[tuple[int, int, int], int],
                   unknown: Callable[[tuple[int, int, int]], str]) -> np.ndarray:
    """Map a colour-coded PNG to ids through ``table`` (colour -> id < 256). A colour not in
    the table raises :class:`FormatReadError` with ``unknown(colour)`` as the reason.

    Indexed files go through their 256-entry palette; RGB files are mapped a block of rows
    at a time, so the work memory stays a few MB above the image itself.
    """
    values, pal = read_colour_png(path, max_pixels)
    keys = np.array(sorted(r << 16 | g << 8 | b for r, g, b in table), dtype=np.int64)
    ids = np.array([table[((k >> 16) & 255, (k >> 8) & 255, k & 255)] for k in keys.tolist()], dtype=np.uint8)

    def lookup(packed: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(keys, packed), 0, max(len(keys) - 1, 0))
        bad = keys[pos] != packed if len(keys) else np.ones(packed.shape, bool)
        if bad.any():
            k = int(packed[bad].flat[0])
            raise FormatReadError(path, unknown(((k >> 16) & 255, (k >> 8) & 255, k & 255)))
        return ids[pos]

    if pal is not None:
        used = np.flatnonzero(np.bincount(values.ravel(), minlength=256))
        lut = np.zeros(256, dtype=np.uint8)
        packed = (pal[used, 0].astype(np.int64) << 16) | (pal[used, 1].astype(np.int64) << 8) | pal[used, 2]
        lut[used] = lookup(packed)
        return lut[values]
    h = values.shape[0]
    out = np.empty(values.shape[:2], dtype=np.uint8)
    step = max(1, (1 << 20) // max(values.shape[1], 1))
    for y in range(0, h, step):
        block = values[y : y + step].astype(np.int64)
        out[y : y + step] = lookup((block[:, :, 0] << 16) | (block[:, :, 1] << 8) | block[:, :, 2])
    return out


def read_text(path: Path, limit: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file, refused above ``limit`` bytes; errors as :class:`FormatReadError`."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise FormatReadError(path, _("it is {size} bytes long, more than the {limit} accepted.").format(
                size=f"{size:,}", limit=f"{limit:,}"))
        return path.read_bytes().decode("utf-8-sig")
    except FormatReadError:
        raise
    except FileNotFoundError:
        raise FormatReadError(path, _("the file does not exist.")) from None
    except UnicodeDecodeError:
        raise FormatReadError(path, _("it is not UTF-8 text.")) from None
    except OSError as exc:
        raise FormatReadError(path, _("it cannot be opened ({reason}).").format(reason=exc.strerror or exc)) \
            from None


def check_label_ids(labels: np.ndarray, num_classes: int, path: Path) -> None:
    top = int(labels.max()) if labels.size else 0
    if top >= num_classes:
        raise FormatReadError(path, _("it holds class id {top}, but there are only {num_classes} classes "
                                      "(0..{last}).").format(top=top, num_classes=num_classes, last=num_classes - 1))


def sound_persons(labels: np.ndarray, persons: np.ndarray, notes: list[str], source: Path) -> np.ndarray:
    """Apply the maps' rule (background pixels belong to no person), telling when it changed anything."""
    stray = (labels == 0) & (persons != 0)
    n = int(np.count_nonzero(stray))
    if n:
        persons = persons.copy()
        persons[stray] = 0
        notes.append(ngettext("{n} background pixel carried a person id in {file}; it belongs to no one now",
                              "{n} background pixels carried a person id in {file}; they belong to no one now",
                              n).format(n=n, file=source.name))
    return persons


# --------------------------------------------------------------------------- fragments

class Fragments:
    """Per-image pieces of a folder-level file, kept under ``<format folder>/.fragments``.

    Each fragment is a small text file written atomically; :meth:`lines` reads one back a
    line at a time so the assembler can take what it needs (COCO reads the image line in one
    pass and the annotations line in another, never holding the whole run).
    """

    def __init__(self, folder: Path, suffix: str = ".json"):
        self.folder = folder
        self.suffix = suffix

    def path(self, stem: str) -> Path:
        return self.folder / f"{check_stem(stem)}{self.suffix}"

    def put(self, stem: str, lines: Iterable[str]) -> None:
        path = self.path(stem)
        make_output_dir(path.parent)
        atomic_write_text(path, "".join(line.replace("\n", " ") + "\n" for line in lines))

    def exists(self, stem: str) -> bool:
        return self.path(stem).is_file()

    def line(self, stem: str, index: int) -> str:
        """Line ``index`` of a fragment (without its newline)."""
        path = self.path(stem)
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i == index:
                    return line.rstrip("\n")
        raise FormatError(_('The piece of "{path}" written for {stem} is incomplete; export that image '
                            "again.").format(path=path, stem=stem))

    def json_line(self, stem: str, index: int):
        text = self.line(stem, index)
        try:
            return json.loads(text)
        except ValueError:
            raise FormatError(_('The piece "{path}" is damaged; export that image again.').format(
                path=self.path(stem))) from None


# --------------------------------------------------------------------------- writer protocol

class FormatWriter:
    """One interchange format's writer for one export run, under ``<out>/<folder>/``.

    Use: ``begin()``, then ``add_image(maps)`` for each image (or ``keep_image(stem)`` for an
    image written by an earlier run and not parsed again), then ``finish(order)``. Every
    file is written atomically; ``add_image`` raises :class:`FormatError` (or OSError) for
    that image only, the run goes on.
    """

    #: format name as ``--formats`` spells it; folder under the export folder.
    name: str = ""
    folder: str = ""

    def __init__(self, out_dir: str | os.PathLike[str], class_names: Sequence[str], palette: np.ndarray):
        self.out_dir = Path(out_dir)
        self.root = self.out_dir / self.folder
        self.class_names = tuple(str(n) for n in class_names)
        self.palette = np.asarray(palette, dtype=np.uint8)[:, :3]
        if len(self.class_names) < 2 or len(self.palette) < len(self.class_names):
            raise ValueError("a format needs at least two class names and a colour for each")  # a caller's bug
        self._stems: list[str] = []
        self._seen: set[str] = set()
        #: What ``finish`` had to leave out, as sentences (an image whose fragment is damaged).
        self.problems: list[str] = []

    # -- protocol ---------------------------------------------------------------------------
    def begin(self) -> None:
        make_output_dir(self.root)

    def add_image(self, maps: ImageMaps) -> list[Path]:
        paths = self._write_image(maps)
        self._register(maps.stem)
        return paths

    def has_image(self, stem: str) -> bool:
        """True when an earlier run left this image's files (and fragment) complete."""
        return all(p.is_file() for p in self._image_files(stem))

    def keep_image(self, stem: str) -> bool:
        """Include an image written by an earlier run in this run's folder-level files;
        False (nothing kept) when its files are missing."""
        if not self.has_image(stem):
            return False
        self._register(stem)
        return True

    def finish(self, order: Sequence[str] | None = None) -> list[Path]:
        """Write the folder-level files for the images added or kept, in ``order`` (stems;
        default: the order they came in). Returns the files written."""
        return []

    # -- for subclasses ------------------------------------------------------------------------
    def _write_image(self, maps: ImageMaps) -> list[Path]:
        raise NotImplementedError

    def _image_files(self, stem: str) -> list[Path]:
        raise NotImplementedError

    def _register(self, stem: str) -> None:
        if stem not in self._seen:
            self._seen.add(stem)
            self._stems.append(stem)

    def _ordered(self, order: Sequence[str] | None) -> list[str]:
        if order is None:
            return list(self._stems)
        listed = [s for s in dict.fromkeys(order) if s in self._seen]
        rest = [s for s in self._stems if s not in set(listed)]
        return listed + rest

    def _label_names(self) -> list[tuple[int, str]]:
        """(id, name) of the classes a part can have: every class but background (id 0)."""
        return [(i, n) for i, n in enumerate(self.class_names) if i != 0]


def hex_colour(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))
