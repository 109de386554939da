"""Streamed PNGs: any reader decodes the same pixels, palette and text as the arrays written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from desktop.png_stream import strips_of, write_png


@pytest.mark.parametrize("hw,rows,workers", [((1, 1), 1, 1), ((7, 5), 3, 2), ((300, 257), 64, 2), ((513, 40), 512, 1)])
def test_rgb_strips_decode_to_the_image(tmp_path, hw, rows, workers):
    rgb = np.random.default_rng(hw[0]).integers(0, 256, (*hw, 3), dtype=np.uint8)
    rgb[: hw[0] // 2] //= 16  # flat areas too
    path = tmp_path / "x.png"
    write_png(path, hw[1], hw[0], strips_of(rgb, rows), text={"source": "a.jpg", "name": "ümlaut", "wide": "日本"},
              workers=workers)
    with Image.open(path) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), rgb)
        assert im.text == {"source": "a.jpg", "name": "ümlaut", "wide": "日本"}


def test_indexed_strips_keep_ids_and_palette(tmp_path):
    ids = np.random.default_rng(1).integers(0, 20, (120, 77), dtype=np.uint8)
    palette = np.random.default_rng(2).integers(0, 256, (20, 3), dtype=np.uint8)
    path = tmp_path / "labels.png"
    write_png(path, 77, 120, strips_of(ids, 50), palette=palette)
    with Image.open(path) as im:
        assert im.mode == "P" and np.array_equal(np.asarray(im), ids)
        table = np.asarray(im.getpalette(), dtype=np.uint8).reshape(-1, 3)
        assert np.array_equal(table[:20], palette) and len(table) == 256 and not table[20:].any()


def test_strips_that_do_not_make_the_image_are_refused(tmp_path):
    rgb = np.zeros((10, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="rows"):
        write_png(tmp_path / "short.png", 4, 11, strips_of(rgb, 4))
    with pytest.raises(ValueError, match="does not fit"):
        write_png(tmp_path / "wide.png", 5, 10, strips_of(rgb, 4))
    with pytest.raises(ValueError, match="does not fit"):
        write_png(tmp_path / "indexed.png", 4, 10, strips_of(rgb, 4), palette=np.zeros((2, 3), dtype=np.uint8))


def _idat_stream(path) -> bytes:
    data, pos, out = path.read_bytes(), 8, b""
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"IDAT":
            out += data[pos + 8 : pos + 8 + n]
        pos += 12 + n
    return out


def test_the_stream_checksum_is_right_when_strips_are_finished_in_threads(tmp_path):
    """Each strip's Adler-32 is taken in its worker thread and combined in order: zlib itself
    checks the result (Pillow does not), and a strip changed after it was handed over (a
    view of the caller's array) does not change the file."""
    import zlib

    rgb = np.random.default_rng(5).integers(0, 256, (700, 333, 3), dtype=np.uint8)
    path = tmp_path / "x.png"

    def strips():
        for strip in strips_of(rgb, 50):
            yield strip
            strip[:] = 0  # the caller reuses its array at once

    expected = rgb.copy()
    write_png(path, 333, 700, strips(), workers=2)
    raw = np.frombuffer(zlib.decompress(_idat_stream(path)), dtype=np.uint8)  # raises on a wrong Adler-32
    assert raw.size == 700 * (333 * 3 + 1)
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(im), expected)
