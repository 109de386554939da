"""A compact, lossless, pickle-free byte form of a ParsingResult (what the workspace stores).

Why a codec of our own rather than ``pickle``, ``np.savez`` or the export JSON:

- a workspace is shared between people, so a stored result is *data, never code*: no pickle
  anywhere (a pickle runs code when loaded), nothing but a JSON header and compressed arrays;
- a decoder meets files it did not write. Every size is checked against limits *before*
  anything is allocated (a header declaring a billion pixels, a mask box outside the image,
  more instances than any model makes, a compressed stream that inflates beyond what the
  header declares): the result is refused with :class:`ResultDecodeError`, never read into
  unbounded memory;
- 1,000 parsed photos must fit in about 100 MB. Each mask the engine made is stored as its
  runs (:func:`_encode_runs`: no pass over pixels, which matters on camera photos); a mask
  given as an array (and every mask written before the runs) is stored cropped to its true
  bounding box as a CCITT Group 4 bit image (see :func:`_encode_g4`); identical masks once
  (M2FP's parts of one query share a mask); the label map and other arrays are compressed
  with LZMA2 at preset 1. Measured on maps made from the golden outputs at 1920x1080
  (bench/bench_workspace.py): the same results as an 8-bit PNG label map and 1-bit PNG masks
  take 3.4 to 4 times the space; masks as LZMA-compressed bits 1.6 times the G4 size; the
  label map as PNG 20 % more than LZMA, LZMA preset 6 saves 0-6 % for 10 times the time.

Layout: ``MAGIC`` (7 bytes) + codec version (1 byte) + header length (4 bytes, little endian)
+ header (UTF-8 JSON) + payload (the compressed arrays back to back; the header gives each
array's offset, length, dtype and shape, and the payload's CRC-32, so damage is caught).
Floats go through JSON's shortest round-trip form, so scores and timings come back bit for bit.

Fields a later version adds to :class:`ParsingResult` (per-pixel confidence maps, say) are
carried without a codec change: an (H, W) array field is stored as an array, a JSON-able one
in the header, and decoding passes on only the fields the running version knows.

Optional header entries need no version change either: an older decoder ignores a key it
does not know (and the arrays it points to). ``"uncertain"`` (added with issue 16) is the
model's uncertain pixels (:mod:`desktop.review.uncertain_store`), a mask stored like the
instances' (cropped, G4), written when the result carries the engine's confidence (or a mask
read back with it); on decoding, a mask that cannot be read is dropped with one logged
warning and the result loads without it (its doubt view then asks to parse the photo again).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import lzma
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, features

from desktop.engine.result import ParsingResult, Part, Person, mask_bbox

try:  # instance masks as runs (the engine's compact form); plain (H, W) arrays before it
    from desktop.engine.masks import RunMask
except ImportError:  # pragma: no cover - older engine
    RunMask = None  # type: ignore[assignment,misc]

__all__ = [
    "CODEC_VERSION",
    "DecodeLimits",
    "ResultDecodeError",
    "decode_array",
    "decode_labels",
    "decode_result",
    "encode_array",
    "encode_result",
    "result_summary",
]

log = logging.getLogger(__name__)

MAGIC = b"M2FPRES"
CODEC_VERSION = 1
_HEAD = struct.Struct("<7sBI")
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 1}]
#: dtypes an array may have in a stored result (anything else is refused on decode).
_DTYPES = {"bool": np.dtype(bool), "uint8": np.dtype(np.uint8), "uint16": np.dtype("<u2"),
           "int16": np.dtype("<i2"), "float16": np.dtype("<f2"), "float32": np.dtype("<f4"),
           "uint32": np.dtype("<u4"), "int64": np.dtype("<i8")}
#: dtypes a per-pixel map of a result may have (at most 4 bytes a pixel: see the memory bound).
_MAP_DTYPES = ("bool", "uint8", "uint16", "int16", "float16", "float32")
# ``confidence`` (the model's per-pixel confidence provider) is not stored: its inputs would
# more than double a stored result (240-410 KB for a 1920x1080 photo, measured; see
# desktop/engine/confidence.py and bench/bench_confidence.py); the uncertain pixels computed from
# it are (the header's "uncertain" mask: see the module docstring).
_KNOWN_FIELDS = {"labels", "persons", "parts", "class_names", "palette", "timings", "model", "notes", "confidence"}


class ResultDecodeError(ValueError):
    """A stored result that cannot be read back (damaged, hostile or from a newer version)."""


@dataclass(frozen=True)
class DecodeLimits:
    """What a stored result may declare before it is refused.

    ``max_memory`` bounds what the decoded result holds: the label map and any other per-pixel
    maps, and the masks (as runs, 16 bytes a run; a mask stored as pixels counts H x W bytes).
    """

    max_pixels: int = 80_000_000
    max_instances: int = 4096
    max_memory: int = 2 * 1024**3
    max_header: int = 16 * 1024 * 1024


# --------------------------------------------------------------------------- arrays

def encode_array(array: np.ndarray) -> bytes:
    """Compressed bytes of ``array`` (bool arrays bit-packed); see :func:`decode_array`."""
    a = np.ascontiguousarray(array)
    raw = np.packbits(a, axis=None).tobytes() if a.dtype == bool else a.astype(a.dtype.newbyteorder("<")).tobytes()
    return lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_FILTERS)


def _raw_size(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    n = math.prod(shape)
    return (n + 7) // 8 if dtype.kind == "b" else n * dtype.itemsize


def decode_array(data: bytes | memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """The array :func:`encode_array` made; inflates at most the size ``shape`` implies.

    Raises :class:`ResultDecodeError` when the stream is damaged or holds more or less
    than ``shape`` x ``dtype`` declares.
    """
    if dtype not in _DTYPES:
        raise ResultDecodeError(f"unknown array type {dtype!r}")
    dt = _DTYPES[dtype]
    if any(int(s) < 0 for s in shape):
        raise ResultDecodeError(f"invalid array shape {shape}")
    expected = _raw_size(dt, shape)
    decomp = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_FILTERS)
    try:
        raw = decomp.decompress(bytes(data), max_length=expected + 1)
    except lzma.LZMAError as exc:
        raise ResultDecodeError(f"a stored array is damaged ({exc})") from None
    if len(raw) != expected or not decomp.eof or decomp.unused_data:
        raise ResultDecodeError("a stored array does not hold the size its header declares")
    if dt.kind == "b":
        n = math.prod(shape)
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=n).view(bool).reshape(shape)
    return np.frombuffer(raw, dtype=dt).reshape(shape).astype(dt.newbyteorder("="))


# --------------------------------------------------------------------------- encoding

class _Payload:
    """Arrays appended back to back; identical (box, bytes) masks are stored once."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.arrays: list[dict] = []
        self._seen: dict[tuple, int] = {}

    def add(self, array: np.ndarray, dtype: str, extra: dict | None = None) -> int:
        data = encode_array(array)
        meta = {"dtype": dtype, "shape": [int(s) for s in array.shape], **(extra or {})}
        key = (json.dumps(meta, sort_keys=True), hashlib.sha256(data).digest())
        if key in self._seen:
            return self._seen[key]
        meta.update(at=self.size, len=len(data))
        self.chunks.append(data)
        self.size += len(data)
        self.arrays.append(meta)
        self._seen[key] = len(self.arrays) - 1
        return self._seen[key]

    def add_mask(self, mask: Any) -> int:
        if RunMask is not None and isinstance(mask, RunMask) and mask.shape[0] * mask.shape[1] < 2**32:
            return self._add_runs(mask)
        (x, y, w, h), crop = _crop_of(mask)
        meta = {"dtype": "bool", "shape": [h, w], "box": [x, y, w, h]}
        if not (w and h and _g4_available()):
            return self.add(crop.astype(bool, copy=False), "bool", {"box": [x, y, w, h]})
        data = _encode_g4(crop)
        key = (json.dumps(meta, sort_keys=True), hashlib.sha256(data).digest())
        if key not in self._seen:
            self.arrays.append({**meta, "codec": "g4", "at": self.size, "len": len(data)})
            self.chunks.append(data)
            self.size += len(data)
            self._seen[key] = len(self.arrays) - 1
        return self._seen[key]


    def _add_runs(self, mask: Any) -> int:
        data = _encode_runs(mask)
        x, y, w, h = (int(v) for v in mask.bbox)
        meta = {"dtype": "bool", "shape": [h, w], "box": [x, y, w, h], "codec": "runs", "runs": mask.runs}
        key = (json.dumps(meta, sort_keys=True), hashlib.sha256(data).digest())
        if key not in self._seen:
            self.arrays.append({**meta, "at": self.size, "len": len(data)})
            self.chunks.append(data)
            self.size += len(data)
            self._seen[key] = len(self.arrays) - 1
        return self._seen[key]


# Masks the engine made (RunMask) are stored as their runs: the lengths of the gaps and runs
# in column-major order (COCO's RLE counts), as 32-bit numbers split into four byte planes
# (the high bytes are nearly all zero) and deflated. Encoding and decoding cost the runs, never
# the pixels: a G4 image of the mask's box has to be drawn pixel by pixel first, which took
# 65 s for the 97 masks of a 48-megapixel photo (their boxes 4.7 billion pixels) where the runs
# take 0.2 s. Measured on those masks (bench/bench_highres.py's photos; /tmp notes in the
# issue-13 report): byte planes + zlib 6 give 2.2 MB in 0.23 s, zlib 1 2.3 MB in 0.17 s,
# LZMA preset 1 1.9 MB in 0.74 s, LEB128 numbers + zlib 6 2.7 MB in 0.64 s; G4 is 2-3 times
# smaller on those masks but decoding it also needs the pixels. zlib 6 it is.
_RUNS_LEVEL = 6


def _encode_runs(mask: Any) -> bytes:
    bounds = np.empty(2 * mask.runs, dtype=np.int64)
    bounds[0::2] = mask.starts
    bounds[1::2] = mask.ends
    counts = np.diff(bounds, prepend=0).astype("<u4")
    return zlib.compress(counts.view(np.uint8).reshape(-1, 4).T.tobytes(), _RUNS_LEVEL)


def _decode_runs(data: bytes | memoryview, runs: int, shape: tuple[int, int]) -> Any:
    """The RunMask :func:`_encode_runs` stored; inflates at most the size ``runs`` implies."""
    n = 2 * runs
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(bytes(data), 4 * n + 1)
    except zlib.error as exc:
        raise ResultDecodeError(f"a stored mask is damaged ({exc})") from None
    if len(raw) != 4 * n or not inflate.eof or inflate.unconsumed_tail:
        raise ResultDecodeError("a stored mask does not hold the runs its header declares")
    counts = np.ascontiguousarray(np.frombuffer(raw, np.uint8).reshape(4, n).T).view("<u4").ravel()
    bounds = np.cumsum(counts, dtype=np.int64)
    # Runs and the gaps between them are never empty (only the gap before the first run may be).
    if n and ((counts[1:] == 0).any() or bounds[-1] > shape[0] * shape[1]):
        raise ResultDecodeError("a stored mask's runs overlap or leave the image")
    return RunMask(shape, bounds[0::2], bounds[1::2])


def _crop_of(mask: Any) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The mask's own extent (its declared bbox may differ) and the pixels inside it."""
    if isinstance(mask, np.ndarray):
        x, y, w, h = mask_bbox(mask)
        crop = mask[y : y + h, x : x + w]
    else:  # a RunMask: read its box without building the full-size array
        x, y, w, h = (int(v) for v in mask.bbox)
        crop = mask.crop((x, y, w, h)) if w and h else None
    if not (w and h):
        return (0, 0, 0, 0), np.zeros((0, 0), dtype=bool)
    return (x, y, w, h), np.asarray(crop, dtype=bool)


def _mask_from_crop(crop: np.ndarray | None, x: int, y: int, shape: tuple[int, int]) -> Any:
    if RunMask is not None:
        return RunMask.empty(shape) if crop is None else RunMask.from_crop(crop, x, y, shape)
    full = np.zeros(shape, dtype=bool)
    if crop is not None:
        full[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
    return full


# Masks are bilevel images, and CCITT Group 4 (fax) coding is made for them: each row's
# colour changes are coded against the row above, which suits the smooth outlines of body
# parts. Only the coded strip is stored (the TIFF wrapper Pillow writes around it costs
# 120 bytes a mask); decoding wraps it in a minimal TIFF header built here from the declared
# size, so the only foreign bytes libtiff ever reads are the fax code, into a buffer of the
# size we checked. Pillow carries libtiff in its wheels; without it masks are stored as
# LZMA-compressed bits (decoding a G4 mask then fails cleanly and the image is parsed again).
@functools.cache
def _g4_available() -> bool:
    return bool(features.check("libtiff"))


_TIFF_PHOTOMETRIC = 1  # BlackIsZero: what Pillow writes for mode "1"


def _encode_g4(crop: np.ndarray) -> bytes:
    h = crop.shape[0]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(crop, dtype=bool)).save(buf, "TIFF", compression="group4",
                                                                  tiffinfo={278: h})
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        offsets, counts = im.tag_v2[273], im.tag_v2[279]
        if len(offsets) != 1 or im.tag_v2.get(262) != _TIFF_PHOTOMETRIC:
            raise RuntimeError("unexpected TIFF layout from Pillow")
    return buf.getvalue()[offsets[0] : offsets[0] + counts[0]]


def _decode_g4(data: bytes | memoryview, w: int, h: int) -> np.ndarray:
    tags = [(256, 4, w), (257, 4, h), (258, 3, 1), (259, 3, 4), (262, 3, _TIFF_PHOTOMETRIC), (273, 4, 0),
            (277, 3, 1), (278, 4, h), (279, 4, len(data))]
    start = 8 + 2 + 12 * len(tags) + 4
    head = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(tags)))
    for tag, kind, value in tags:
        value = start if tag == 273 else value
        head += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else
                                                      struct.pack("<I", value))
    head += struct.pack("<I", 0)
    try:
        with Image.open(io.BytesIO(bytes(head) + bytes(data))) as im:
            if im.size != (w, h) or im.mode != "1":
                raise ResultDecodeError("a stored mask does not have its declared size")
            im.load()
            out = np.asarray(im, dtype=bool)
    except ResultDecodeError:
        raise
    except Exception as exc:  # libtiff reports damage as OSError, Pillow as ValueError/SyntaxError
        raise ResultDecodeError(f"a stored mask is damaged ({exc})") from None
    if out.shape != (h, w):
        raise ResultDecodeError("a stored mask does not have its declared size")
    return out


def _float(value: Any) -> float:
    return float(value)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def _dtype_name(array: np.ndarray) -> str | None:
    for name in _MAP_DTYPES:
        dt = _DTYPES[name]
        if array.dtype == dt or (array.dtype.kind == dt.kind and array.dtype.itemsize == dt.itemsize):
            return name
    return None


def encode_result(result: ParsingResult) -> bytes:
    """The stored form of ``result`` (see the module docstring). Pure: safe in any thread."""
    labels = np.asarray(result.labels)
    h, w = (int(s) for s in labels.shape)
    payload = _Payload()
    palette = np.asarray(result.palette)
    header: dict[str, Any] = {
        "height": h,
        "width": w,
        "labels": payload.add(labels.astype(np.uint8, copy=False), "uint8"),
        "class_names": [str(n) for n in result.class_names],
        "palette": {"dtype": str(palette.dtype), "values": palette.tolist()},
        "timings": {str(k): _float(v) for k, v in (result.timings or {}).items()},
        "model": {str(k): (v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
                  for k, v in (result.model or {}).items()},
        "notes": [str(n) for n in result.notes],
        "persons": [
            {"id": int(p.id), "score": _float(p.score), "bbox": [int(v) for v in p.bbox], "area": int(p.area),
             "part_ids": [int(i) for i in p.part_ids], "mask": payload.add_mask(p.mask)}
            for p in result.persons
        ],
        "parts": [
            {"id": int(p.id), "label": int(p.label), "name": str(p.name), "score": _float(p.score),
             "bbox": [int(v) for v in p.bbox], "area": int(p.area),
             "person_id": None if p.person_id is None else int(p.person_id), "mask": payload.add_mask(p.mask)}
            for p in result.parts
        ],
    }
    from desktop.review.uncertain_store import full_uncertain_mask  # imports the doubt module: lazily

    try:
        uncertain = full_uncertain_mask(result)
    except Exception as exc:  # noqa: BLE001 - a help for the doubt view, never a reason to lose a result
        log.warning("The model's uncertain pixels could not be computed (%s); the result is stored without them.",
                    exc, exc_info=True)
        uncertain = None
    if uncertain is not None:
        header["uncertain"] = payload.add_mask(uncertain)
    extra_arrays: dict[str, int] = {}
    extra_values: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        if f.name in _KNOWN_FIELDS:
            continue
        value = getattr(result, f.name)
        if isinstance(value, np.ndarray) and value.shape[:2] == (h, w) and value.ndim == 2 and _dtype_name(value):
            extra_arrays[f.name] = payload.add(value, _dtype_name(value))
        elif _jsonable(value):
            extra_values[f.name] = value
    if extra_arrays:
        header["extra_arrays"] = extra_arrays
    if extra_values:
        header["extra_values"] = extra_values
    header["arrays"] = payload.arrays
    body = b"".join(payload.chunks)
    header["payload_crc32"] = zlib.crc32(body)  # damage inside a stored array never decodes silently
    head = json.dumps(header, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return _HEAD.pack(MAGIC, CODEC_VERSION, len(head)) + head + body


def result_summary(result: ParsingResult) -> dict[str, Any]:
    """What a workspace lists without decoding: sizes, counts, parse time."""
    total = (result.timings or {}).get("total")
    if total is not None:
        total = float(total) + float((result.timings or {}).get("decode", 0.0))
    return {"width": result.width, "height": result.height, "persons": len(result.persons),
            "parts": len(result.parts), "parse_seconds": total}


# --------------------------------------------------------------------------- decoding

def _bad(what: str) -> ResultDecodeError:
    return ResultDecodeError(f"the stored result is damaged: {what}")


def _int(value: Any, what: str, lo: int = 0, hi: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(f"{what} is not a whole number between {lo} and {hi}")
    return value


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"{what} is not a number")
    return float(value)


def _list(value: Any, what: str, limit: int) -> list:
    if not isinstance(value, list) or len(value) > limit:
        raise _bad(f"{what} is not a list of at most {limit} items")
    return value


def _box(value: Any, what: str) -> tuple[int, int, int, int]:
    items = _list(value, what, 4)
    if len(items) != 4:
        raise _bad(f"{what} does not have four numbers")
    return tuple(_int(v, what) for v in items)  # type: ignore[return-value]


def _parse_header(blob: bytes | memoryview, limits: DecodeLimits) -> tuple[dict, memoryview]:
    view = memoryview(blob)
    if len(view) < _HEAD.size:
        raise _bad("it is too short")
    magic, version, head_len = _HEAD.unpack_from(view)
    if magic != MAGIC:
        raise _bad("it is not a stored parsing result")
    if version > CODEC_VERSION:
        raise ResultDecodeError("the stored result was written by a newer version of the application")
    if version < 1 or head_len > limits.max_header or _HEAD.size + head_len > len(view):
        raise _bad("its header is cut off or too large")
    try:
        header = json.loads(bytes(view[_HEAD.size : _HEAD.size + head_len]).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise _bad(f"its header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _bad("its header is not a JSON object")
    payload = view[_HEAD.size + head_len :]
    if header.get("payload_crc32") != zlib.crc32(payload):
        raise _bad("its data does not match its checksum")
    return header, payload


class _Arrays:
    """Bounds-checked access to the payload's arrays."""

    def __init__(self, metas: Any, payload: memoryview, h: int, w: int, limits: DecodeLimits):
        self.metas = _list(metas, "the array table", 4 * limits.max_instances + 64)
        self.payload = payload
        self.h, self.w = h, w
        self._masks: dict[int, Any] = {}  # a mask shared by several parts is decoded once

    def meta(self, index: Any) -> dict:
        i = _int(index, "an array reference", 0, len(self.metas) - 1 if self.metas else 0)
        if i >= len(self.metas) or not isinstance(self.metas[i], dict):
            raise _bad("an array reference points nowhere")
        return self.metas[i]

    def _read(self, meta: dict, shape: tuple[int, ...]) -> np.ndarray:
        at = _int(meta.get("at"), "an array offset", 0, len(self.payload))
        length = _int(meta.get("len"), "an array length", 0, len(self.payload) - at)
        dtype = meta.get("dtype")
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise _bad(f"an array has the unknown type {dtype!r}")
        declared = tuple(_int(s, "an array shape", 0, max(self.h, self.w)) for s in _list(meta.get("shape"), "shape", 2))
        if declared != shape:
            raise _bad(f"an array is {declared}, expected {shape}")
        return decode_array(self.payload[at : at + length], dtype, shape)

    def image_map(self, index: Any, dtypes: tuple[str, ...]) -> np.ndarray:
        meta = self.meta(index)
        if meta.get("dtype") not in dtypes:
            raise _bad(f"a map has type {meta.get('dtype')!r}, expected one of {dtypes}")
        return self._read(meta, (self.h, self.w))

    def mask(self, index: Any) -> Any:
        meta = self.meta(index)
        if index in self._masks:
            return self._masks[index]  # masks are never modified in place: sharing is safe
        if meta.get("dtype") != "bool":
            raise _bad("a mask is not a bit mask")
        x, y, w, h = _box(meta.get("box"), "a mask box")
        if x + w > self.w or y + h > self.h or (w == 0) != (h == 0):
            raise _bad(f"a mask box {[x, y, w, h]} lies outside the {self.w} x {self.h} image")
        if (h, w) != tuple(_int(s, "a mask shape", 0, 1 << 30) for s in _list(meta.get("shape"), "shape", 2)):
            raise _bad("a mask's shape differs from its box")
        if meta.get("codec") == "runs" and RunMask is not None:
            at = _int(meta.get("at"), "an array offset", 0, len(self.payload))
            length = _int(meta.get("len"), "an array length", 0, len(self.payload) - at)
            runs = _int(meta.get("runs"), "a run count", 0, (self.h * self.w + 1) // 2)
            self._masks[index] = _decode_runs(self.payload[at : at + length], runs, (self.h, self.w))
            return self._masks[index]
        crop = None
        if w and h:
            if meta.get("codec") == "g4":
                at = _int(meta.get("at"), "an array offset", 0, len(self.payload))
                length = _int(meta.get("len"), "an array length", 0, len(self.payload) - at)
                crop = _decode_g4(self.payload[at : at + length], w, h)
            else:
                crop = self._read(meta, (h, w))
        self._masks[index] = _mask_from_crop(crop, x, y, (self.h, self.w))
        return self._masks[index]


def _masks_memory(metas: Any, instances: list, h: int, w: int) -> int:
    """Bytes the instances' masks take once decoded, from what the header declares: a mask stored
    as runs 16 bytes a run (its runs and, while decoding, their 64-bit sums), any other the
    image's size (decoded from pixels); a mask shared by several instances counts once."""
    total, seen = 0, set()
    for inst in instances:
        index = inst.get("mask") if isinstance(inst, dict) else None
        if isinstance(index, int) and index in seen:
            continue
        seen.add(index)
        meta = metas[index] if isinstance(metas, list) and isinstance(index, int) and 0 <= index < len(metas) else None
        runs = meta.get("runs") if isinstance(meta, dict) and meta.get("codec") == "runs" else None
        total += 16 * runs if isinstance(runs, int) and not isinstance(runs, bool) and runs >= 0 else h * w
    return total


def decode_labels(blob: bytes | memoryview, limits: DecodeLimits | None = None) -> np.ndarray:
    """Only the label map of a stored result (a few tens of milliseconds at 1920x1080):
    enough to draw the overlay while the whole result is decoded."""
    limits = limits or DecodeLimits()
    header, payload = _parse_header(blob, limits)
    h = _int(header.get("height"), "the height", 1, limits.max_pixels)
    w = _int(header.get("width"), "the width", 1, limits.max_pixels)
    if h * w > limits.max_pixels:
        raise ResultDecodeError(
            f"the stored result declares {w} x {h} = {w * h:,} pixels, above the limit of {limits.max_pixels:,}")
    return _Arrays(header.get("arrays"), payload, h, w, limits).image_map(header.get("labels"), ("uint8",))


def decode_result(blob: bytes | memoryview, limits: DecodeLimits | None = None) -> ParsingResult:
    """The ParsingResult :func:`encode_result` stored, or :class:`ResultDecodeError`.

    Every declared size is checked against ``limits`` before memory is allocated for it.
    """
    limits = limits or DecodeLimits()
    header, payload = _parse_header(blob, limits)
    h = _int(header.get("height"), "the height", 1, limits.max_pixels)
    w = _int(header.get("width"), "the width", 1, limits.max_pixels)
    if h * w > limits.max_pixels:
        raise ResultDecodeError(
            f"the stored result declares {w} x {h} = {w * h:,} pixels, above the limit of {limits.max_pixels:,}")
    persons_in = _list(header.get("persons", []), "the persons", limits.max_instances)
    parts_in = _list(header.get("parts", []), "the parts", limits.max_instances)
    extra_arrays = header.get("extra_arrays", {}) or {}
    if not isinstance(extra_arrays, dict):
        raise _bad("its extra arrays are not a table")
    n_maps = 4 * len(extra_arrays) + 1
    need = n_maps * h * w + _masks_memory(header.get("arrays"), persons_in + parts_in, h, w)
    if need > limits.max_memory:
        raise ResultDecodeError(
            f"the stored result would need {need / 2**30:.1f} GB of memory "
            f"({len(persons_in) + len(parts_in)} masks and {n_maps} maps of {w} x {h}), "
            f"above the limit of {limits.max_memory / 2**30:.1f} GB")
    arrays = _Arrays(header.get("arrays"), payload, h, w, limits)
    labels = arrays.image_map(header.get("labels"), ("uint8",)).astype(np.uint8)

    names = _list(header.get("class_names"), "the class names", 256)
    if not all(isinstance(n, str) for n in names):
        raise _bad("a class name is not text")
    pal_in = header.get("palette")
    if not isinstance(pal_in, dict) or pal_in.get("dtype") not in ("uint8", "int64", "int32"):
        raise _bad("the palette is not a table of colours")
    rows = _list(pal_in.get("values"), "the palette", 4096)
    if not all(isinstance(r, list) and len(r) in (3, 4) and all(_int(v, "a colour", 0, 255) >= 0 for v in r)
               for r in rows) or len({len(r) for r in rows}) > 1:
        raise _bad("the palette holds something other than colours")
    palette = np.array(rows, dtype=pal_in["dtype"]).reshape(len(rows), len(rows[0]) if rows else 3)

    persons = []
    for p in persons_in:
        if not isinstance(p, dict):
            raise _bad("a person is not a table")
        part_ids = tuple(_int(i, "a part id") for i in _list(p.get("part_ids", []), "part ids", limits.max_instances))
        persons.append(Person(id=_int(p.get("id"), "a person id"), score=_num(p.get("score"), "a score"),
                              mask=arrays.mask(p.get("mask")), bbox=_box(p.get("bbox"), "a box"),
                              area=_int(p.get("area"), "an area", 0, 2**62), part_ids=part_ids))
    parts = []
    for p in parts_in:
        if not isinstance(p, dict):
            raise _bad("a part is not a table")
        person_id = p.get("person_id")
        name = p.get("name")
        if not isinstance(name, str):
            raise _bad("a part's class name is not text")
        parts.append(Part(id=_int(p.get("id"), "a part id"), label=_int(p.get("label"), "a class id", 0, 255),
                          name=name, score=_num(p.get("score"), "a score"), mask=arrays.mask(p.get("mask")),
                          bbox=_box(p.get("bbox"), "a box"), area=_int(p.get("area"), "an area", 0, 2**62),
                          person_id=None if person_id is None else _int(person_id, "a person id")))

    timings = header.get("timings", {})
    model = header.get("model", {})
    notes = _list(header.get("notes", []), "the notes", 10_000)
    if not isinstance(timings, dict) or not all(isinstance(v, (int, float)) for v in timings.values()):
        raise _bad("the timings are not numbers")
    if not isinstance(model, dict) or not all(isinstance(n, str) for n in notes):
        raise _bad("the model section or the notes are not readable")

    known = {f.name for f in dataclasses.fields(ParsingResult)}
    extras: dict[str, Any] = {}
    for name, index in extra_arrays.items():
        if name in known and name not in _KNOWN_FIELDS:
            extras[name] = arrays.image_map(index, _MAP_DTYPES)
    values = header.get("extra_values", {}) or {}
    if isinstance(values, Mapping):
        extras.update({k: v for k, v in values.items() if k in known and k not in _KNOWN_FIELDS})
    result = ParsingResult(labels=labels, persons=persons, parts=parts, class_names=tuple(names), palette=palette,
                           timings=dict(timings), model=dict(model), notes=list(notes), **extras)
    if "uncertain" in header:
        _attach_uncertain(result, header["uncertain"], arrays, need, limits)
    return result


def _attach_uncertain(result: ParsingResult, index: Any, arrays: _Arrays, need: int, limits: DecodeLimits) -> None:
    """The stored uncertain pixels onto ``result``; one warning, and the result without them, when
    they cannot be read (damaged, or declaring more memory than the limits leave)."""
    from desktop.review.uncertain_store import with_stored_uncertain

    try:
        more = _masks_memory(arrays.metas, [{"mask": index}], arrays.h, arrays.w)
        if need + more > limits.max_memory:
            raise ResultDecodeError(f"the mask would need {more / 2**30:.1f} GB of memory, above the limit")
        with_stored_uncertain(result, arrays.mask(index))
    except (ResultDecodeError, ValueError, TypeError) as exc:
        log.warning("The model's uncertain pixels stored with this result cannot be read (%s); the result is "
                    "used without them.", exc)
