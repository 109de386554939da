"""Makers of good and bad image files for the imageio / export / CLI tests.

Every file is generated in the test's tmp_path, so no test depends on files outside tests/data.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED, GREEN, BLUE = (230, 20, 20), (20, 200, 20), (20, 20, 230)


def pattern(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth, deterministic RGB test picture (compresses well, survives JPEG)."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 255) // max(w - 1, 1), (y * 255) // max(h - 1, 1), ((x + y + seed * 40) % 256)], axis=-1)
    return rgb.astype(np.uint8)


def save_rgb(path: Path, rgb: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **kw)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(path: Path, width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> Path:
    """A PNG written chunk by chunk (so it can claim any size or bit depth)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def png_rgb16(path: Path, rgb16: np.ndarray) -> Path:
    """A real 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    h, w, _ = rgb16.shape
    rows = b"".join(b"\x00" + rgb16[r].astype(">u2").tobytes() for r in range(h))
    return raw_png(path, w, h, 16, 2, zlib.compress(rows))


def bomb_png(path: Path, side: int = 100_000) -> Path:
    """A few hundred bytes claiming ``side`` x ``side`` RGB pixels."""
    return raw_png(path, side, side, 8, 2, zlib.compress(b"\x00" * 1024))


def small_copy(src: Path, dst: Path, width: int) -> Path:
    """``src`` as an RGB picture ``width`` pixels wide (aspect kept, at least 8 high): real
    photo content at a size the tiny model parses in a moment."""
    im = Image.open(src).convert("RGB")
    return save_rgb(dst, np.asarray(im.resize((width, max(8, round(width * im.height / im.width))))))


def truncated_copy(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def exif_rotated_jpeg(path: Path, width: int = 48, height: int = 24) -> Path:
    """JPEG stored landscape (left half red, right half blue) with EXIF orientation 6.

    Orientation 6 means the stored left edge is the visual top: the upright picture is
    portrait, ``height`` wide and ``width`` tall, red on top and blue below.
    """
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[:, : width // 2] = RED
    rgb[:, width // 2 :] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, format="JPEG", quality=95, exif=exif)
    return path


def animated_gif(path: Path, colors=(RED, GREEN, BLUE), size=(16, 12)) -> Path:
    frames = [Image.new("RGB", size, c) for c in colors]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def multipage_tiff(path: Path, colors=(RED, GREEN), size=(16, 12)) -> Path:
    pages = [Image.new("RGB", size, c) for c in colors]
    pages[0].save(path, format="TIFF", save_all=True, append_images=pages[1:])
    return path
