"""Which image an output file was made from, recorded in the file and checked on resume.

Every output records its source: the JSON in its ``image`` section (file name and
SHA-256 of the file's bytes), the PNGs in text chunks (:data:`PNG_SOURCE_KEY`,
:data:`PNG_SHA256_KEY`, and ``Software``). Two things depend on it:

- ``--skip-existing`` skips an image only when outputs at its names were made from *this*
  image (same file name, same bytes): outputs left by another file that had the same
  output names, or by an older version of the photo, are replaced, not taken as done;
- a scan of a folder that also receives the outputs (``--out`` equal to or above an input
  folder) recognises the PNGs we wrote and does not parse them as photos.

File names are recorded as text; bytes of a name that are not UTF-8 (possible on Linux)
are written as ``\\xNN`` (:func:`source_name`), which JSON, PNG text and terminals accept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from desktop import APP_ID

__all__ = [
    "PNG_SHA256_KEY",
    "PNG_SOURCE_KEY",
    "is_generated_png",
    "outputs_belong_to",
    "png_text",
    "recorded_source",
    "source_name",
]

PNG_SOURCE_KEY = "m2fp:source"
PNG_SHA256_KEY = "m2fp:source-sha256"
#: Outputs larger than this are not read to check where they came from (ours are far smaller).
_MAX_JSON_BYTES = 1 << 30


def source_name(path: str | os.PathLike[str]) -> str:
    """The file name as recorded in outputs: as is, except bytes that are not UTF-8 (``\\xNN``)."""
    return os.fsencode(Path(path).name).decode("utf-8", "backslashreplace")


def png_text(source: str | os.PathLike[str], sha256: str) -> dict[str, str]:
    """The text chunks that tie an output PNG to its source image."""
    return {PNG_SOURCE_KEY: source_name(source), PNG_SHA256_KEY: sha256, "Software": APP_ID}


def _png_record(path: Path) -> tuple[str, str] | None:
    with Image.open(path, formats=["PNG"]) as im:  # header chunks only, nothing decoded
        info = im.info
    name, digest = info.get(PNG_SOURCE_KEY), info.get(PNG_SHA256_KEY)
    return (name, digest) if isinstance(name, str) and isinstance(digest, str) else None


def _json_record(path: Path) -> tuple[str, str] | None:
    if path.stat().st_size > _MAX_JSON_BYTES:
        return None
    doc = json.loads(path.read_bytes())
    image = doc.get("image") if isinstance(doc, dict) else None
    if not isinstance(image, dict):
        return None
    name, digest = image.get("file"), image.get("sha256")
    return (name, digest) if isinstance(name, str) and isinstance(digest, str) else None


def recorded_source(output: str | os.PathLike[str]) -> tuple[str, str] | None:
    """``(file name, sha256)`` an output records, or ``None`` when it records none or cannot be read."""
    path = Path(output)
    try:
        return _json_record(path) if path.suffix.lower() == ".json" else _png_record(path)
    except (OSError, ValueError, RecursionError, SyntaxError, Image.DecompressionBombError):
        return None


def outputs_belong_to(outputs: Iterable[str | os.PathLike[str]], source: str | os.PathLike[str],
                      sha256: str) -> bool:
    """True when every output exists, none records another source, and at least one records
    ``source`` with this ``sha256`` (PNGs written before sources were recorded record none:
    they count only beside an output that does)."""
    want = (source_name(source), sha256)
    confirmed = False
    for output in outputs:
        if not Path(output).is_file():
            return False
        record = recorded_source(output)
        if record is None:
            continue
        if record != want:
            return False
        confirmed = True
    return confirmed


def is_generated_png(path: str | os.PathLike[str]) -> bool:
    """True for a PNG this application wrote (it records its source image)."""
    try:
        return _png_record(Path(path)) is not None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False
