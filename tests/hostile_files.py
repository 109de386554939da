"""Makers of hostile image files: tiny files declaring gigantic pictures, in every container
Pillow opens, generated in the test's tmp_path (no stored samples).

The pixel payloads are real: each bomb holds a zlib (or format-native) stream that really
decompresses to the declared size, built by repeating one compressed block of zero rows
(``Z_FULL_FLUSH`` makes every block independent, so repeating its bytes repeats the rows)
and ending with the true Adler-32. A reader that decoded one would really need the
gigabytes; the tests prove it never starts to.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def zero_rows_zlib(row_bytes: int, rows: int) -> bytes:
    """A valid zlib stream of ``rows`` rows of ``row_bytes`` zero bytes (roughly 1000:1).

    Built in O(one block) time: one block of ``k`` rows is compressed after a full flush,
    then its bytes are repeated.
    """
    k = max(1, (1 << 20) // max(row_bytes, 1))  # ~1 MB of rows per block
    block = b"\x00" * (row_bytes * k)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; header and trailer added below
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    middle = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    n_blocks, rest = divmod(rows, k)
    tail = comp.compress(b"\x00" * (row_bytes * rest)) + comp.flush(zlib.Z_FINISH)
    # Adler-32 of n zero bytes in closed form: the sum A stays 1, the sum B grows by 1 a byte.
    adler = ((row_bytes * rows) % 65521) << 16 | 1
    body = (first + middle * (n_blocks - 1)) if n_blocks else b""
    return b"\x78\xda" + body + tail + struct.pack(">I", adler & 0xFFFFFFFF)


def png_bytes(width: int, height: int, *, gray: bool = True, extra_chunks: bytes = b"",
              trailing_chunks: bytes = b"") -> bytes:
    """A PNG of zero pixels whose IDAT really inflates to ``width`` x ``height``."""
    channels, color_type = (1, 0) if gray else (3, 2)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    idat = zero_rows_zlib(1 + width * channels, height)  # each row: filter byte 0 + samples
    return (_PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + extra_chunks + _chunk(b"IDAT", idat)
            + trailing_chunks + _chunk(b"IEND", b""))


def png_bomb(path: Path, side: int = 50_000, **kw) -> Path:
    path.write_bytes(png_bytes(side, side, **kw))
    return path


def png_bomb_with_trailing_exif(path: Path, side: int = 50_000) -> Path:
    """The case of issue 12: reading the EXIF of this PNG means decoding it (eXIf after IDAT)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return png_bomb(path, side, trailing_chunks=_chunk(b"eXIf", exif.tobytes()))


def apng_bomb(path: Path, side: int = 50_000) -> Path:
    actl = _chunk(b"acTL", struct.pack(">II", 1, 0))
    fctl = _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, side, side, 0, 0, 1, 10, 0, 0))
    return png_bomb(path, side, extra_chunks=actl + fctl)


def ico_bomb(path: Path, side: int = 12_000, kind: int = 1) -> Path:
    """An icon (kind 1) or cursor (kind 2) whose directory says 256 x 256 but whose one
    entry is a PNG of ``side`` x ``side``: Pillow decodes it while *opening* the file."""
    png = png_bytes(side, side)
    header = struct.pack("<HHH", 0, kind, 1)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    path.write_bytes(header + entry + png)
    return path


def _dib_header(width: int, height: int, bpp: int = 8) -> bytes:
    """BITMAPINFOHEADER + palette of a bottom-up bitmap; the pixel rows are left out (a
    reader allocates the whole picture before it notices they are missing)."""
    colors = 256 if bpp <= 8 else 0
    return struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, 0, 0, 0, 0, colors, 0) + b"\x00" * 4 * colors


def ico_dib_bomb(path: Path, side: int = 50_000, kind: int = 1) -> Path:
    """An icon (kind 1) or cursor (kind 2) holding a classic bitmap entry of ``side`` x ``side``
    (the bitmap's height counts the colour rows and the mask rows, hence 2 x side)."""
    dib = _dib_header(side, 2 * side)
    header = struct.pack("<HHH", 0, kind, 1)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 8, len(dib), 6 + 16)
    path.write_bytes(header + entry + dib)
    return path


def icns_bomb(path: Path, side: int = 12_000) -> Path:
    """A macOS icon whose 512 x 512 slot ("ic09") holds a PNG of ``side`` x ``side``."""
    png = png_bytes(side, side)
    element = b"ic09" + struct.pack(">I", 8 + len(png)) + png
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(element)) + element)
    return path


def _deflate_tiff(path: Path, entries: list[tuple[int, int, int, int]], data_tag: int, data: bytes) -> Path:
    """A little-endian TIFF of one IFD, ``entries`` as (tag, type, count, value) (type 3 SHORT,
    4 LONG), followed by ``data``, whose offset is written into the entry of ``data_tag``."""
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == data_tag:
            value = data_offset
        packed = struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_offset) + ifd + data)
    return path


def tiff_bomb(path: Path, side: int = 50_000) -> Path:
    """Little-endian TIFF, 8-bit gray, one deflate strip that really inflates to side x side."""
    strip = zero_rows_zlib(side, side)
    return _deflate_tiff(path, [
        (256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 8), (259, 3, 1, 8), (262, 3, 1, 1),
        (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, side), (279, 4, 1, len(strip)),
    ], 273, strip)


def tiff_tile_bomb(path: Path, side: int = 64, tile: int = 65_520) -> Path:
    """A small TIFF (``side`` x ``side``) cut in deflate tiles of ``tile`` x ``tile``: a reader
    that allocated a tile before clipping it to the picture would need gigabytes."""
    data = zero_rows_zlib(tile, tile)
    return _deflate_tiff(path, [
        (256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 8), (259, 3, 1, 8), (262, 3, 1, 1),
        (277, 3, 1, 1), (322, 4, 1, tile), (323, 4, 1, tile), (324, 4, 1, 0), (325, 4, 1, len(data)),
    ], 324, data)


def webp_bomb(path: Path, side: int = 16_383) -> Path:
    """An animated WebP whose canvas is ``side`` x ``side`` (decoding allocates it twice, RGBA)."""
    import io

    buf = io.BytesIO()
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = bytearray(buf.getvalue())
    at = data.find(b"VP8X")
    data[at + 12:at + 15] = (side - 1).to_bytes(3, "little")
    data[at + 15:at + 18] = (side - 1).to_bytes(3, "little")
    path.write_bytes(bytes(data))
    return path


def gif_bomb(path: Path, side: int = 60_000) -> Path:
    """Logical screen and first frame of ``side`` x ``side`` with a 2-colour table."""
    screen = b"GIF89a" + struct.pack("<HHBBB", side, side, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, side, side, 0)
    lzw = b"\x02" + b"\x02\x4c\x01\x00"  # code size 2, one tiny sub-block, terminator
    path.write_bytes(screen + frame + lzw + b";")
    return path


def bmp_bomb(path: Path, side: int = 50_000) -> Path:
    """8-bit RLE BMP of ``side`` x ``side`` whose data is just "end of bitmap"."""
    palette = b"\x00\x00\x00\x00" * 256
    pixels = b"\x00\x01"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    path.write_bytes(b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels)
    return path


def psd_bomb(path: Path, side: int = 30_000) -> Path:
    """Grayscale PSD of ``side`` x ``side`` (the format's maximum), RLE rows of 2 bytes each."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 1, side, side, 8, 1)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, resources, layers: empty
    counts = struct.pack(">H", 2) * side  # each row: one RLE run "repeat 0 side times" would be larger
    rows = b"\x81\x00" * side
    path.write_bytes(header + sections + struct.pack(">H", 1) + counts + rows)
    return path


def jpeg_bomb(path: Path, side: int = 60_000) -> Path:
    """A small real JPEG whose frame header is patched to say ``side`` x ``side``."""
    import io

    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    at = data.find(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", side, side)
    path.write_bytes(bytes(data))
    return path


def qoi_bomb(path: Path, side: int = 50_000) -> Path:
    path.write_bytes(b"qoif" + struct.pack(">IIBB", side, side, 3, 0) + b"\x00" * 7 + b"\x01")
    return path


def tga_bomb(path: Path, side: int = 65_535) -> Path:
    """Run-length TGA, 8-bit gray, ``side`` x ``side``, one run packet."""
    header = struct.pack("<BBBHHBHHHHBB", 0, 0, 11, 0, 0, 0, 0, 0, side, side, 8, 0x20)
    path.write_bytes(header + b"\xff\x00" * 4)
    return path


#: Every bomb, by the format it claims to be (name -> maker(path)).
BOMBS = {
    "png": png_bomb,
    "png-exif-after-pixels": png_bomb_with_trailing_exif,
    "apng": apng_bomb,
    "ico": ico_bomb,
    "ico-bitmap": ico_dib_bomb,
    "cur": lambda p: ico_dib_bomb(p, kind=2),
    "icns": icns_bomb,
    "tiff": tiff_bomb,
    "webp": webp_bomb,
    "gif": gif_bomb,
    "bmp": bmp_bomb,
    "psd": psd_bomb,
    "jpeg": jpeg_bomb,
    "qoi": qoi_bomb,
    "tga": tga_bomb,
}
