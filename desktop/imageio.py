"""Safe image loading and input discovery, shared by the engine, the CLI and the GUI.

Why this exists rather than a bare ``Image.open(path).convert("RGB")``:

- users feed whatever is on their disk (phone photos with EXIF rotation, 16-bit scans,
  CMYK print files, animated GIFs, truncated downloads, text files named ``.jpg``);
  each case must become either an upright 8-bit RGB array or one clear
  :class:`~desktop.engine.errors.ImageLoadError` sentence, never a traceback;
- a tiny file can declare a gigantic size (decompression bomb); we refuse it from the
  header, *before* decoding, against a limit the caller controls (``max_pixels``).
  Pillow's own global bomb check is switched off (``Image.MAX_IMAGE_PIXELS = None``)
  because it cannot be set per call and would otherwise contradict our option;
- truncated files are errors: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set, and the
  image is fully decoded with ``.load()`` inside the error handling.

Transparency is composited over **white** (a transparent PNG cut-out of a person then
looks like a studio photo, which is what the model was trained on; black would merge
with dark hair and clothes).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from desktop.engine.errors import ImageLoadError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageEntry",
    "LoadedImage",
    "is_image_file",
    "list_images",
    "load_image",
    "natural_key",
    "probe_size",
    "sha256_file",
]

#: Default refusal threshold: 80 megapixels (a 10000 x 8000 photo) needs ~240 MB as RGB
#: and several times that in the model's pre-processing; larger inputs are almost always
#: mistakes or hostile files.
DEFAULT_MAX_PIXELS = 80_000_000

# Our limit replaces Pillow's (see module docstring).
Image.MAX_IMAGE_PIXELS = None

_WHITE = (255, 255, 255, 255)
_MULTI_PAGE_FORMATS = {"TIFF", "MPO", "PDF", "DCX", "FLI", "SPIDER", "IM", "MIC"}
#: Formats Pillow can identify but not decode (videos, scientific containers): never photos.
_IDENTIFY_ONLY = {"MPEG", "BUFR", "GRIB", "HDF5"}
#: Formats never opened at all: EPS is rendered by running Ghostscript on the file, which
#: is not something to do with an arbitrary file from a user's folder.
_REFUSED = {"EPS"} | _IDENTIFY_ONLY


def _readable_formats() -> list[str]:
    """Pillow formats we let ``Image.open`` try (all registered plugins minus :data:`_REFUSED`)."""
    Image.init()
    return [fmt for fmt in Image.OPEN if fmt not in _REFUSED]


@dataclass
class LoadedImage:
    """An image ready for the model.

    - ``rgb``: (H, W, 3) uint8, C-contiguous, upright (EXIF orientation applied), writable.
    - ``path``: the file it came from.
    - ``notes``: user-facing remarks about the conversion (first frame used, 16-bit reduced...).
    - ``mode``: the original Pillow mode (``"RGB"``, ``"I;16"``, ``"CMYK"``, ``"P"``...).
    - ``size``: ``(width, height)`` of ``rgb``, i.e. after EXIF rotation.
    - ``format``: Pillow's format name (``"JPEG"``, ``"PNG"``...); ``n_frames``: frames or pages in the file.
    """

    rgb: np.ndarray
    path: Path
    notes: list[str] = field(default_factory=list)
    mode: str = "RGB"
    size: tuple[int, int] = (0, 0)
    format: str = ""
    n_frames: int = 1

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _fail(path: Path, reason: str) -> ImageLoadError:
    err = ImageLoadError(f'"{path}" {reason}')
    err.path = path  # type: ignore[attr-defined]  # handy for callers that list failures
    return err


def _open_error(path: Path, exc: OSError) -> ImageLoadError:
    if isinstance(exc, FileNotFoundError):
        return _fail(path, "does not exist.")
    if isinstance(exc, IsADirectoryError):
        return _fail(path, "is a folder, not an image file.")
    if isinstance(exc, PermissionError):
        return _fail(path, "cannot be read: permission denied.")
    return _fail(path, f"cannot be read: {_one_line(exc.strerror or exc)}.")


def _check_size(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise _fail(path, f"declares an invalid size ({w} x {h} pixels).")
    if max_pixels and w * h > max_pixels:
        raise _fail(
            path,
            f"is too large: {w} x {h} = {w * h:,} pixels, above the limit of {max_pixels:,} pixels.",
        )


def _frames_note(im: Image.Image) -> tuple[int, str | None]:
    n = int(getattr(im, "n_frames", 1) or 1)
    if n <= 1:
        return 1, None
    fmt = im.format or "image"
    if fmt in _MULTI_PAGE_FORMATS:
        return n, f"multi-page {fmt} with {n} pages: the first page was parsed"
    if fmt == "PNG":
        fmt = "PNG (APNG)"
    return n, f"animated {fmt} with {n} frames: the first frame was parsed"


def _is_deep_rgb(im: Image.Image) -> bool:
    """True for 16-bit-per-channel colour files, which Pillow reduces to 8 bits on decode."""
    for tile in getattr(im, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _scale_to_uint8(values: np.ndarray, notes: list[str], what: str) -> np.ndarray:
    """Map integer or float samples to 0..255 without clipping away information.

    8-bit ranges pass through, 16-bit ranges are scaled by 255/65535 (so 65535 -> 255),
    floats in [0, 1] are scaled by 255, anything else is stretched min..max.
    """
    v = values.astype(np.float64)
    if not np.isfinite(v).all():
        v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    is_int = np.issubdtype(values.dtype, np.integer)
    if is_int and values.dtype.itemsize == 2 and lo >= 0:
        notes.append(f"16-bit {what} converted to 8-bit")
        return np.rint(v * (255.0 / 65535.0)).astype(np.uint8)
    if is_int and lo >= 0 and hi <= 255:
        return v.astype(np.uint8)
    if is_int and lo >= 0 and hi <= 65535:
        notes.append(f"16-bit {what} converted to 8-bit")
        return np.rint(v * (255.0 / 65535.0)).astype(np.uint8)
    if not is_int and lo >= 0 and hi <= 1.0:
        notes.append(f"floating-point {what} scaled to 8-bit")
        return np.rint(v * 255.0).astype(np.uint8)
    notes.append(f"{what} with values {lo:g}..{hi:g} stretched to 8-bit")
    if hi <= lo:
        return np.zeros(v.shape, dtype=np.uint8)
    return np.rint((v - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _flatten_alpha(im: Image.Image, notes: list[str]) -> Image.Image:
    rgba = im.convert("RGBA")
    lo, _ = rgba.getchannel("A").getextrema()
    if lo < 255:
        notes.append("transparent areas were placed on a white background")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
    return rgba.convert("RGB")


def _to_rgb_array(im: Image.Image, notes: list[str]) -> np.ndarray:
    """Any Pillow mode to an (H, W, 3) uint8 array (see module docstring for choices)."""
    mode = im.mode
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        gray = _scale_to_uint8(np.asarray(im), notes, "image" if mode == "F" else "grayscale image")
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in im.info):
        return np.array(_flatten_alpha(im, notes), dtype=np.uint8)
    if mode == "P" and im.palette is not None and im.palette.mode == "RGBA":
        return np.array(_flatten_alpha(im, notes), dtype=np.uint8)
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB")
    try:
        return np.array(im.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise ValueError(f'uses the colour mode "{mode}", which cannot be converted to RGB') from exc


def probe_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(width, height)`` of an image as it will be parsed (upright), from its header only;
    ``None`` when the header cannot be read (:func:`load_image` then says why).

    Cheap (no pixel is decoded): the command line uses it to order a batch by input size.
    Only regular files are opened (opening a FIFO would wait for a writer forever).
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return None
        with Image.open(path, formats=_readable_formats()) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception:  # any unreadable header: the real load reports it properly
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)  # EXIF 5-8 turn the image a quarter


def load_image(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read one image file as an upright (H, W, 3) uint8 RGB array.

    ``max_pixels`` (width x height, ``None`` or 0 for no limit) is checked from the header
    before any pixel is decoded. Every failure raises :class:`ImageLoadError` whose message
    names the file and the reason in one line.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise _open_error(path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(path, "is a folder, not an image file.")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(path, "is not a regular file.")
    if st.st_size == 0:
        raise _fail(path, "is empty (0 bytes).")
    try:
        fh = open(path, "rb")  # closed by "with fh" below; opened apart so open errors are told apart
    except OSError as exc:
        raise _open_error(path, exc) from None
    notes: list[str] = []
    with fh:
        try:
            im = Image.open(fh, formats=_readable_formats())
        except UnidentifiedImageError:
            fh.seek(0)
            fmt = _magic_format(fh.read(16))
            if fmt:
                raise _fail(path, f"is truncated or corrupt (it starts like a {fmt} file but its header cannot be read).") from None
            raise _fail(path, "is not an image Pillow can read (unrecognised file format).") from None
        except Image.DecompressionBombError as exc:
            raise _fail(path, f"is too large: {_one_line(exc)}") from None
        except MemoryError:
            raise _fail(path, "is too large to open with the available memory.") from None
        except Exception as exc:  # broken headers raise SyntaxError, struct.error, EOFError...
            raise _fail(path, f"is truncated or corrupt ({_one_line(exc) or type(exc).__name__}).") from None
        with im:
            _check_size(path, im.size, max_pixels)
            mode, fmt = im.mode, im.format or ""
            n_frames, frames_note = _frames_note(im)
            if frames_note:
                notes.append(frames_note)
            if mode in ("RGB", "RGBA") and _is_deep_rgb(im):
                notes.append("16-bit image converted to 8-bit")
            try:
                im.load()
            except MemoryError:
                raise _fail(path, "is too large to decode with the available memory.") from None
            except Exception as exc:
                raise _fail(path, f"is truncated or corrupt ({_one_line(exc) or type(exc).__name__}).") from None
            try:
                upright = ImageOps.exif_transpose(im)
            except Exception:  # malformed EXIF must not lose an otherwise good photo
                upright = im
                notes.append("the EXIF orientation tag could not be read; the image was used as stored")
            if upright is None:
                upright = im
            if upright.size != im.size or _exif_orientation(im) not in (None, 1):
                notes.append("the image was turned upright according to its EXIF orientation")
            try:
                rgb = _to_rgb_array(upright, notes)
            except MemoryError:
                raise _fail(path, "is too large to convert with the available memory.") from None
            except ValueError as exc:
                raise _fail(path, f"{_one_line(exc)}.") from None
    rgb = np.ascontiguousarray(rgb)
    return LoadedImage(
        rgb=rgb,
        path=path,
        notes=notes,
        mode=mode,
        size=(int(rgb.shape[1]), int(rgb.shape[0])),
        format=fmt,
        n_frames=n_frames,
    )


def _exif_orientation(im: Image.Image) -> int | None:
    try:
        return im.getexif().get(0x0112)
    except Exception:
        return None


def _magic_format(prefix: bytes) -> str | None:
    """The first Pillow format whose signature check accepts these leading bytes, if any.

    Only plugins with a real signature test are asked (formats without magic bytes, such as
    TGA, would match arbitrary data).
    """
    Image.init()
    for fmt, (_factory, accept) in Image.OPEN.items():
        if accept is None or fmt in _REFUSED:
            continue
        try:
            verdict = accept(prefix)
        except Exception:
            continue
        if verdict and not isinstance(verdict, str):
            return fmt
    return None


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when the file's *content* is an image (the extension is ignored).

    Only the header is read; nothing is decoded, so this is cheap enough for folder scans.
    A file whose signature says "image" but whose header is broken still counts, so that a
    corrupt photo in a scanned folder is reported as a failure instead of vanishing.
    """
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(16)
            if not prefix:
                return False
            fh.seek(0)
            try:
                with Image.open(fh, formats=_readable_formats()) as im:
                    return im.size[0] > 0 and im.size[1] > 0
            except Exception:
                return _magic_format(prefix) is not None
    except OSError:
        return False


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (identifies the exact input in exported JSON)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- discovery

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``img2`` before ``img10``.

    Case-insensitive; ties (``img01`` vs ``img1``) fall back to the exact text so the order is total.
    """
    parts = _DIGITS.split(text.casefold())
    key = tuple((int(p), p) if i % 2 else p for i, p in enumerate(parts))
    return (key, text)


def _path_key(path: Path) -> tuple:
    return tuple(natural_key(part) for part in path.parts)


@dataclass(frozen=True)
class ImageEntry:
    """One input found by :func:`list_images`.

    ``root`` is the folder the user named (or the file's own folder for a file named
    directly) and ``relative`` the path below it, so outputs can mirror subfolders:
    ``out_dir / relative.parent``. ``error`` is set (and the entry is not an image to
    parse) when the input is missing or a folder could not be read.
    """

    path: Path
    root: Path
    relative: Path
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _is_hidden(entry: os.DirEntry) -> bool:
    if entry.name.startswith("."):
        return True
    attrs = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attrs & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .apng .gif .bmp .dib .tif .tiff .webp .ppm .pgm .pbm .pnm .tga .ico .jp2 .j2k .avif .heic".split()
)


def _has_image_extension(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _scan_folder(root: Path, recursive: bool, out: list[ImageEntry]) -> None:
    """Append the images under ``root``; symlinked folders are not followed (no loops)."""
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                children = list(it)
        except OSError as exc:
            reason = "permission denied" if isinstance(exc, PermissionError) else _one_line(exc.strerror or exc)
            out.append(ImageEntry(folder, root, folder.relative_to(root), f'Folder "{folder}" cannot be read: {reason}.'))
            continue
        for child in children:
            try:
                if _is_hidden(child):
                    continue
                child_path = Path(child.path)
                if child.is_dir(follow_symlinks=False):
                    if recursive:
                        pending.append(child_path)
                    continue
                # By content; a file whose name says "image" is listed even when its content is
                # not, so that a damaged photo shows up as a failure instead of vanishing.
                if child.is_file() and (is_image_file(child_path) or _has_image_extension(child_path)):
                    out.append(ImageEntry(child_path, root, child_path.relative_to(root)))
            except OSError:
                continue  # vanished or unreadable entry inside a folder: silently not an image


def list_images(inputs: Iterable[str | os.PathLike[str]], recursive: bool = False) -> list[ImageEntry]:
    """Expand files and folders into the images to parse, in natural order of their paths.

    - A folder contributes the image files directly in it (by content, not extension),
      or in all its subfolders with ``recursive``; hidden files and folders are skipped.
      Other files are ignored silently, except those named like images (``.jpg``, ``.png``
      ...): they are listed so that a damaged or mislabelled photo is reported as failed.
    - A file named explicitly is always listed, image or not, so that a non-image is
      reported as a failure by :func:`load_image` rather than vanishing.
    - A missing input or unreadable folder becomes an entry with ``error`` set.
    - The same file reached twice is listed once.
    """
    found: list[ImageEntry] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            _scan_folder(path, recursive, found)
        elif path.exists():
            found.append(ImageEntry(path, path.parent, Path(path.name)))
        else:
            found.append(ImageEntry(path, path.parent, Path(path.name), f'"{path}" does not exist.'))
    seen: set[str] = set()
    unique: list[ImageEntry] = []
    for entry in sorted(found, key=lambda e: _path_key(e.path.absolute())):
        try:
            ident = str(entry.path.resolve())
        except OSError:
            ident = str(entry.path.absolute())
        if entry.ok and ident in seen:
            continue
        seen.add(ident)
        unique.append(entry)
    return unique
