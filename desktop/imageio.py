"""Safe image loading and input discovery, shared by the engine, the CLI and the GUI.

Why this exists rather than a bare ``Image.open(path).convert("RGB")``:

- users feed whatever is on their disk (phone photos with EXIF rotation, 16-bit scans,
  CMYK print files, animated GIFs, truncated downloads, text files named ``.jpg``);
  each case must become either an upright 8-bit RGB array or one clear
  :class:`~desktop.engine.errors.ImageLoadError` sentence, never a traceback;
- a tiny file can declare a gigantic size (decompression bomb); we refuse it from the
  header, *before* any pixel or metadata is decoded, against a limit the caller controls
  (``max_pixels``), on every path: folder scan (:func:`is_image_file`), size probe
  (:func:`probe_size`) and decode (:func:`load_image`, which the GUI's photo loader uses).
  Pillow's own global bomb check is switched off (``Image.MAX_IMAGE_PIXELS = None``)
  because it cannot be set per call and would otherwise contradict our option. Instead,
  the hook Pillow calls for every picture it is about to decode -- the file's own and the
  ones nested inside it (an icon's entries, which Pillow decodes while *opening* the icon;
  a TIFF's tiles; a GIF frame larger than its screen) -- is routed to
  :func:`_size_guard`, which applies the limit of the call in progress (a context
  variable, so the GUI's threads each keep their own). PNG's ``getexif()`` decodes the
  whole image to reach chunks after the pixels, so the size probe reads only the EXIF
  found in the header;
- truncated files are errors: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set, and the
  image is fully decoded with ``.load()`` inside the error handling.

Transparency is composited over **white** (a transparent PNG cut-out of a person then
looks like a studio photo, which is what the model was trained on; black would merge
with dark hair and clothes).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from desktop.engine.errors import ImageLoadError
from desktop.i18n import _
from desktop.output_layout import OUTPUT_MARKER, is_output_folder

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_ASPECT_RATIO",
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

#: The longest side may be at most this many times the shortest. The model sees a photo
#: resized to at most 1333 pixels along its long side, so a side 40 times shorter is about
#: 33 pixels: too thin to hold a person (and a 100000 x 2 strip would be resized to nothing).
MAX_ASPECT_RATIO = 40

# Our limit replaces Pillow's (see module docstring).
Image.MAX_IMAGE_PIXELS = None


class _TooLarge(Image.DecompressionBombError):
    """Raised by :func:`_size_guard` from inside Pillow: a picture above the call's limit."""

    def __init__(self, size: tuple[int, int]):
        super().__init__(f"{size[0]} x {size[1]} pixels")
        self.size = size


class _Identified(Exception):
    """Raised by :func:`_size_guard` in identify-only mode: Pillow has read a header and is
    about to decode; for a folder scan that is all we wanted to know."""

    def __init__(self, size: tuple[int, int]):
        super().__init__(f"{size[0]} x {size[1]} pixels")
        self.size = size


@dataclass(frozen=True)
class _SizePolicy:
    max_pixels: int | None = None
    identify_only: bool = False


_POLICY: contextvars.ContextVar[_SizePolicy | None] = contextvars.ContextVar("m2fp_size_policy", default=None)
_pillow_bomb_check = getattr(Image, "_decompression_bomb_check", None)


def _size_guard(size: tuple[int, int]) -> None:
    """Pillow's per-picture size hook, with the limit of the :func:`_size_policy` in force.

    Outside our calls (no policy) it is Pillow's own check, which is off: other code that
    uses Pillow in this process is unaffected.
    """
    policy = _POLICY.get()
    if policy is not None:
        w, h = int(size[0]), int(size[1])
        if policy.identify_only:
            raise _Identified((w, h))
        if policy.max_pixels and max(1, w) * max(1, h) > policy.max_pixels:
            raise _TooLarge((w, h))
    if _pillow_bomb_check is not None:
        _pillow_bomb_check(size)


# Pillow looks the hook up in its module namespace at every call (Image.open, the icon,
# TIFF and GIF plugins...). tests/test_hostile_inputs.py fails if a Pillow release stops
# calling it for the cases we rely on.
Image._decompression_bomb_check = _size_guard


@contextlib.contextmanager
def _size_policy(max_pixels: int | None = None, *, identify_only: bool = False) -> Iterator[None]:
    token = _POLICY.set(_SizePolicy(max_pixels or None, identify_only))
    try:
        yield
    finally:
        _POLICY.reset(token)


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


def _fail(path: Path, message: str, **values: object) -> ImageLoadError:
    """The error for ``path``: ``message`` is a whole sentence with ``{path}`` (and ``values``) in it."""
    err = ImageLoadError(message.format(path=path, **values))
    err.path = path  # type: ignore[attr-defined]  # handy for callers that list failures
    return err


def _unreachable(path: Path, exc: OSError) -> tuple[str, dict[str, object]]:
    """Why ``path`` cannot be opened: a sentence with ``{path}`` and the values it needs."""
    if exc.errno == errno.ELOOP:
        return _('"{path}" is a symbolic link that leads back to itself (a link loop).'), {}
    if exc.errno == errno.ENAMETOOLONG:
        return _('"{path}" has a name or path too long for this system.'), {}
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(path):
            target = os.readlink(path) if hasattr(os, "readlink") else "?"
            return _('"{path}" is a link to "{target}", which does not exist.'), {"target": target}
        return _('"{path}" does not exist.'), {}
    if isinstance(exc, IsADirectoryError):
        return _('"{path}" is a folder, not an image file.'), {}
    if isinstance(exc, PermissionError):
        return _('"{path}" cannot be read: permission denied.'), {}
    return _('"{path}" cannot be read: {reason}.'), {"reason": _one_line(exc.strerror or exc)}


def _open_error(path: Path, exc: OSError) -> ImageLoadError:
    try:
        message, values = _unreachable(path, exc)
        return _fail(path, message, **values)
    except (OSError, ValueError):  # the link vanished meanwhile, or the name holds a NUL
        return _fail(path, _('"{path}" cannot be read: {reason}.'), reason=_one_line(exc.strerror or exc))


def _too_large(path: Path, size: tuple[int, int], max_pixels: int) -> ImageLoadError:
    w, h = size
    return _fail(path, _('"{path}" is too large: {width} x {height} = {pixels} pixels, above the limit of '
                         '{limit} pixels.'), width=w, height=h, pixels=f"{w * h:,}", limit=f"{max_pixels:,}")


def _check_size(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise _fail(path, _('"{path}" declares an invalid size ({width} x {height} pixels).'), width=w, height=h)
    if max_pixels and w * h > max_pixels:
        raise _too_large(path, (w, h), max_pixels)
    if max(w, h) > MAX_ASPECT_RATIO * min(w, h):
        raise _fail(path, _('"{path}" is {width} x {height} pixels: one side is more than {ratio} times as long as '
                            'the other, too long and thin to find people in.'),
                    width=w, height=h, ratio=MAX_ASPECT_RATIO)


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
    lo, _hi = rgba.getchannel("A").getextrema()
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
        raise _UnconvertibleMode(mode) from exc


class _UnconvertibleMode(ValueError):
    """A Pillow colour mode that has no conversion to RGB (the message is made by the caller)."""

    def __init__(self, mode: str):
        super().__init__(mode)
        self.mode = mode


def _header_orientation(im: Image.Image) -> int | None:
    """The EXIF orientation found while the header was read, without decoding anything.

    ``Image.Image.getexif`` (the base method) reads what opening stored (JPEG's APP1, a
    TIFF's IFD, WebP's EXIF chunk, a PNG's eXIf or text chunks *before* the pixels, XMP);
    ``PngImageFile.getexif`` would first decode the whole image to reach later chunks.
    """
    try:
        value = Image.Image.getexif(im).get(0x0112)
    except Exception:  # malformed EXIF: treated as no orientation
        return None
    return value if isinstance(value, int) else None


def probe_size(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int] | None:
    """``(width, height)`` of an image as it will be parsed (upright), from its header only;
    ``None`` when the header cannot be read or the image is above ``max_pixels``
    (:func:`load_image` then says why).

    Cheap (no pixel or trailing metadata is decoded): the command line uses it to order a
    batch by input size. Only regular files are opened (opening a FIFO would wait for a
    writer forever).
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return None
        with _size_policy(max_pixels), Image.open(path, formats=_readable_formats()) as im:
            w, h = im.size
            if max_pixels and w * h > max_pixels:
                return None
            orientation = _header_orientation(im)
    except Exception:  # any unreadable or refused header: the real load reports it properly
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)  # EXIF 5-8 turn the image a quarter


def load_image(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read one image file as an upright (H, W, 3) uint8 RGB array.

    ``max_pixels`` (width x height, ``None`` or 0 for no limit) is checked from the header
    before any pixel is decoded, for the file's picture and any picture nested in it.
    Every failure raises :class:`ImageLoadError` whose message names the file and the
    reason in one line.
    """
    path = Path(path)
    max_pixels = max_pixels or None
    try:
        st = path.stat()
    except (OSError, ValueError) as exc:  # ValueError: a name with a NUL character
        if isinstance(exc, OSError):
            raise _open_error(path, exc) from None
        raise _fail(path, _('"{path}" has a name that is not a valid file name.')) from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(path, _('"{path}" is a folder, not an image file.'))
    if not stat.S_ISREG(st.st_mode):
        raise _fail(path, _special_kind(st.st_mode))
    if st.st_size == 0:
        raise _fail(path, _('"{path}" is empty (0 bytes).'))
    try:
        fh = open(path, "rb")  # closed by "with fh" below; opened apart so open errors are told apart
    except OSError as exc:
        raise _open_error(path, exc) from None
    notes: list[str] = []
    with fh, _size_policy(max_pixels):
        try:
            im = Image.open(fh, formats=_readable_formats())
        except _TooLarge as exc:  # the file's picture, or one nested in it (an icon's entry)
            raise _too_large(path, exc.size, max_pixels or 0) from None
        except UnidentifiedImageError:
            fh.seek(0)
            fmt = _magic_format(fh.read(16))
            if fmt:
                raise _fail(path, _('"{path}" is truncated or corrupt (it starts like a {format} file but its header '
                                    'cannot be read).'), format=fmt) from None
            raise _fail(path, _('"{path}" is not an image Pillow can read (unrecognised file format).')) from None
        except Image.DecompressionBombError as exc:
            raise _fail(path, _('"{path}" is too large: {reason}'), reason=_one_line(exc)) from None
        except MemoryError:
            raise _fail(path, _('"{path}" is too large to open with the available memory.')) from None
        except Exception as exc:  # broken headers raise SyntaxError, struct.error, EOFError...
            raise _fail(path, _('"{path}" is truncated or corrupt ({reason}).'),
                        reason=_one_line(exc) or type(exc).__name__) from None
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
            except _TooLarge as exc:  # a part larger than the picture (a TIFF tile, a GIF frame)
                raise _too_large(path, exc.size, max_pixels or 0) from None
            except MemoryError:
                raise _fail(path, _('"{path}" is too large to decode with the available memory.')) from None
            except Exception as exc:
                raise _fail(path, _('"{path}" is truncated or corrupt ({reason}).'),
                            reason=_one_line(exc) or type(exc).__name__) from None
            upright = im
            try:
                orientation = _exif_orientation(im)
            except Exception:  # malformed EXIF must not lose an otherwise good photo
                orientation = None
                notes.append("the EXIF orientation tag could not be read; the image was used as stored")
            if orientation in _TURNS:  # only 2..8 turn or mirror; 0, 9, 65535... mean nothing
                try:
                    upright = ImageOps.exif_transpose(im) or im
                    notes.append("the image was turned upright according to its EXIF orientation")
                except Exception:  # malformed EXIF must not lose an otherwise good photo
                    notes.append("the EXIF orientation tag could not be read; the image was used as stored")
            elif orientation not in (None, 1):
                notes.append(f"the EXIF orientation value {orientation} is not valid; the image was used as stored")
            try:
                rgb = _to_rgb_array(upright, notes)
            except MemoryError:
                raise _fail(path, _('"{path}" is too large to convert with the available memory.')) from None
            except _UnconvertibleMode as exc:
                raise _fail(path, _('"{path}" uses the colour mode "{mode}", which cannot be converted to RGB.'),
                            mode=exc.mode) from None
            except ValueError as exc:
                raise _fail(path, _('"{path}" cannot be converted to RGB ({reason}).'), reason=_one_line(exc)) from None
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


#: EXIF orientation values that turn or mirror the picture (1 is "as stored").
_TURNS = frozenset(range(2, 9))


def _exif_orientation(im: Image.Image) -> int | None:
    """The orientation tag of a *loaded* image (its full ``getexif`` is safe then); raises
    whatever Pillow raises for malformed EXIF."""
    value = im.getexif().get(0x0112)
    return value if isinstance(value, int) else None


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


def _special_kind(mode: int) -> str:
    """Why a path that is not a regular file cannot be read: a sentence with ``{path}``."""
    if stat.S_ISFIFO(mode):
        return _('"{path}" is not a regular file (it is a named pipe).')
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return _('"{path}" is not a regular file (it is a device).')
    if stat.S_ISSOCK(mode):
        return _('"{path}" is not a regular file (it is a socket).')
    return _('"{path}" is not a regular file (it is a special file).')


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when the file's *content* is an image (the extension is ignored).

    Only the header is read and nothing is decoded, whatever the file declares: Pillow is
    stopped (identify-only mode of :func:`_size_guard`) the moment it has read a header and
    is about to decode, even for formats that decode while opening (icons). Cheap enough
    for folder scans. A file whose signature says "image" but whose header is broken still
    counts, so that a corrupt photo in a scanned folder is reported as a failure instead
    of vanishing. Anything but a regular file is not an image (and is never opened: a
    FIFO would block).
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as fh:
            prefix = fh.read(16)
            if not prefix:
                return False
            fh.seek(0)
            try:
                with _size_policy(identify_only=True), Image.open(fh, formats=_readable_formats()) as im:
                    return im.size[0] > 0 and im.size[1] > 0
            except _Identified as found:
                return found.size[0] > 0 and found.size[1] > 0
            except Exception:
                return _magic_format(prefix) is not None
    except (OSError, ValueError):  # ValueError: a name with a NUL character
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


def _entry_error(path: Path, exc: OSError | ValueError) -> str:
    if isinstance(exc, ValueError):
        return _('"{path}" has a name that is not a valid file name.').format(path=path)
    return str(_open_error(path, exc))


def _scan_folder(root: Path, recursive: bool, out: list[ImageEntry]) -> None:
    """Append the images under ``root``; symlinked folders are not followed (no loops).

    A child that cannot be resolved or read (link loop, broken link, permission) or is not
    a regular file (pipe, device) is listed as a failed entry when it is named like an image,
    and ignored otherwise, like any other non-image file.
    """
    if is_output_folder(root):
        out.append(ImageEntry(root, root, Path("."), _(
            'Folder "{folder}" holds files this app exported (it has the {marker} marker file), not photos: it is '
            'not searched.').format(folder=root, marker=OUTPUT_MARKER)))
        return
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                children = list(it)
        except OSError as exc:
            reason = _("permission denied") if isinstance(exc, PermissionError) else _one_line(exc.strerror or exc)
            out.append(ImageEntry(folder, root, folder.relative_to(root),
                                  _('Folder "{folder}" cannot be read: {reason}.').format(folder=folder, reason=reason)))
            continue
        for child in children:
            try:
                if _is_hidden(child):
                    continue
                if child.is_dir(follow_symlinks=False):
                    if recursive and not is_output_folder(child.path):  # our exports are not photos
                        pending.append(Path(child.path))
                    continue
            except OSError:
                continue  # vanished while listing
            child_path = Path(child.path)
            named_like_image = _has_image_extension(child_path)
            try:
                mode = child.stat().st_mode  # follows a link: its target is what would be read
            except OSError as exc:
                if named_like_image:
                    out.append(ImageEntry(child_path, root, child_path.relative_to(root), _entry_error(child_path, exc)))
                continue
            if stat.S_ISDIR(mode):
                continue  # a link to a folder: not followed
            # By content; a file whose name says "image" is listed even when its content is
            # not (or it is a pipe or device), so that it shows up as a failure instead of vanishing.
            if named_like_image or (stat.S_ISREG(mode) and is_image_file(child_path)):
                out.append(ImageEntry(child_path, root, child_path.relative_to(root)))


def _identity(path: Path) -> tuple:
    """What makes two listed paths the same file: device and inode when the file can be
    reached (links and other spellings of one file), else the absolute path as given."""
    try:
        st = os.stat(path)
        if st.st_ino:
            return ("inode", st.st_dev, st.st_ino)
        return ("path", os.path.normcase(os.path.realpath(path)))
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a link loop on older Pythons
        return ("given", os.path.abspath(path))


def list_images(inputs: Iterable[str | os.PathLike[str]], recursive: bool = False) -> list[ImageEntry]:
    """Expand files and folders into the images to parse, in natural order of their paths.

    - A folder contributes the image files directly in it (by content, not extension),
      or in all its subfolders with ``recursive``; hidden files and folders are skipped.
      Other files are ignored silently, except those named like images (``.jpg``, ``.png``
      ...): they are listed so that a damaged or mislabelled photo is reported as failed.
    - A file named explicitly is always listed, image or not, so that a non-image is
      reported as a failure by :func:`load_image` rather than vanishing.
    - An input that cannot be reached (missing, a broken link or a link loop, a name the
      system refuses) or a folder that cannot be read becomes an entry with ``error`` set:
      one failed line, never an exception.
    - Folders this app created for its outputs (they hold :data:`desktop.output_layout.OUTPUT_MARKER`)
      are not searched: a subfolder is skipped, a folder named directly is an entry with ``error``.
    - The same file reached twice (by two paths, or through a link) is listed once.
    """
    found: list[ImageEntry] = []
    for raw in inputs:
        path = Path(raw)
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except (OSError, ValueError) as exc:
            found.append(ImageEntry(path, path.parent, Path(path.name), _entry_error(path, exc)))
            continue
        if is_dir:
            _scan_folder(path, recursive, found)
        else:
            found.append(ImageEntry(path, path.parent, Path(path.name)))
    seen: set[tuple] = set()
    unique: list[ImageEntry] = []
    for entry in sorted(found, key=lambda e: _path_key(e.path.absolute())):
        ident = _identity(entry.path) if entry.ok else ("error", os.path.abspath(entry.path))
        if ident in seen:
            continue
        seen.add(ident)
        unique.append(entry)
    return unique
