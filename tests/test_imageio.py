"""desktop.imageio: every kind of input becomes an upright uint8 RGB array or one clear ImageLoadError."""

from __future__ import annotations

import hashlib
import os
import warnings
import zlib

import numpy as np
import pytest
from imagefiles import (
    BLUE,
    GREEN,
    RED,
    animated_gif,
    bomb_png,
    exif_rotated_jpeg,
    multipage_tiff,
    pattern,
    png_rgb16,
    raw_png,
    save_rgb,
    truncated_copy,
)
from PIL import Image

import desktop.imageio as imageio
from desktop.engine.errors import ImageLoadError, M2FPError
from desktop.imageio import (
    DEFAULT_MAX_PIXELS,
    is_image_file,
    list_images,
    load_image,
    natural_key,
    sha256_file,
)

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _near(a, b, tol=3) -> bool:
    return bool(np.all(np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)) <= tol))


# --------------------------------------------------------------------------- good files

def test_rgb_png_is_loaded_exactly(tmp_path):
    rgb = pattern(37, 21)
    img = load_image(save_rgb(tmp_path / "a.png", rgb))
    assert img.rgb.dtype == np.uint8 and img.rgb.flags.c_contiguous and img.rgb.flags.writeable
    assert np.array_equal(img.rgb, rgb)
    assert img.size == (37, 21) and img.mode == "RGB" and img.format == "PNG"
    assert img.notes == []


def test_content_not_extension_decides(tmp_path):
    path = save_rgb(tmp_path / "really_a_png.txt", pattern(8, 8), format="PNG")
    assert is_image_file(path)
    assert np.array_equal(load_image(path).rgb, pattern(8, 8))


def test_exif_orientation_makes_the_image_upright(tmp_path):
    img = load_image(exif_rotated_jpeg(tmp_path / "rot.jpg", width=48, height=24))
    assert img.rgb.shape == (48, 24, 3)  # stored 48 wide x 24 high -> upright 24 wide x 48 high
    assert img.size == (24, 48)
    assert _near(img.rgb[2:20].reshape(-1, 3).mean(0), RED, 12)
    assert _near(img.rgb[28:46].reshape(-1, 3).mean(0), BLUE, 12)
    assert any("EXIF" in n for n in img.notes)


def test_grayscale_and_bilevel(tmp_path):
    gray = np.full((6, 9), 77, dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    img = load_image(tmp_path / "g.png")
    assert img.mode == "L" and img.rgb.shape == (6, 9, 3) and (img.rgb == 77).all()

    bits = Image.new("1", (5, 4), 0)
    bits.putpixel((2, 1), 1)
    bits.save(tmp_path / "b.png")
    img = load_image(tmp_path / "b.png")
    assert img.mode == "1"
    assert tuple(img.rgb[1, 2]) == (255, 255, 255) and tuple(img.rgb[0, 0]) == (0, 0, 0)


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 128, 65535, 1000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    img = load_image(tmp_path / "g16.png")
    assert img.mode.startswith("I;16")
    assert img.rgb[0, :, 0].tolist() == [0, 128, 255, 4]  # 1000 * 255 / 65535 = 3.9
    assert (img.rgb[..., 0] == img.rgb[..., 2]).all()
    assert any("16-bit" in n for n in img.notes)


def test_16bit_rgb_png(tmp_path):
    rgb16 = np.zeros((3, 4, 3), dtype=np.uint16)
    rgb16[..., 0] = 65535
    rgb16[..., 1] = 257 * 100
    img = load_image(png_rgb16(tmp_path / "c16.png", rgb16))
    assert _near(img.rgb[..., 0], 255, 1) and _near(img.rgb[..., 1], 100, 1) and _near(img.rgb[..., 2], 0, 1)
    assert any("16-bit" in n for n in img.notes)


def test_32bit_integer_and_float_images(tmp_path):
    Image.fromarray(np.array([[0, 40000]], dtype=np.int32)).save(tmp_path / "i.tif")
    img = load_image(tmp_path / "i.tif")
    assert img.mode == "I" and img.rgb[0, :, 0].tolist() == [0, round(40000 * 255 / 65535)]

    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "f.tif")
    img = load_image(tmp_path / "f.tif")
    assert img.mode == "F" and img.rgb[0, :, 0].tolist() == [0, 128, 255]
    assert any("floating-point" in n for n in img.notes)


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    img = load_image(tmp_path / "cmyk.jpg")
    assert img.mode == "CMYK" and img.rgb.shape == (8, 8, 3)
    r, g, b = img.rgb.reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60  # cyan 0, magenta+yellow full: red
    assert any("CMYK" in n for n in img.notes)


def test_palette_with_transparency_goes_on_white(tmp_path):
    im = Image.new("P", (4, 2), 0)
    im.putpalette([0, 0, 0, 200, 10, 10] + [0, 0, 0] * 254)
    im.putpixel((3, 1), 1)
    im.save(tmp_path / "p.png", transparency=0)
    img = load_image(tmp_path / "p.png")
    assert img.mode == "P"
    assert tuple(img.rgb[0, 0]) == (255, 255, 255)  # transparent index -> white, not black
    assert tuple(img.rgb[1, 3]) == (200, 10, 10)
    assert any("white" in n for n in img.notes)


def test_rgba_and_la_alpha_composited_on_white(tmp_path):
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (10, 20, 30, 0)      # fully transparent
    rgba[0, 1] = (10, 20, 30, 255)    # opaque
    rgba[0, 2] = (0, 0, 0, 128)       # half
    rgba[1] = (50, 60, 70, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert tuple(img.rgb[0, 0]) == (255, 255, 255)
    assert tuple(img.rgb[0, 1]) == (10, 20, 30)
    assert _near(img.rgb[0, 2], (127, 127, 127), 1)
    assert tuple(img.rgb[1, 0]) == (50, 60, 70)

    la = np.array([[[40, 0], [40, 255]]], dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png")
    assert tuple(img.rgb[0, 0]) == (255, 255, 255) and tuple(img.rgb[0, 1]) == (40, 40, 40)


def test_opaque_rgba_has_no_transparency_note(tmp_path):
    rgba = np.dstack([pattern(5, 5), np.full((5, 5), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "o.png")
    img = load_image(tmp_path / "o.png")
    assert np.array_equal(img.rgb, pattern(5, 5)) and img.notes == []


def test_in_memory_only_modes_convert():
    ycc = Image.new("YCbCr", (3, 2), (128, 128, 128))
    out = imageio._to_rgb_array(ycc, notes := [])
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8 and _near(out, 128, 2)
    assert notes == []


def test_animated_gif_first_frame_and_note(tmp_path):
    img = load_image(animated_gif(tmp_path / "anim.gif"))
    assert _near(img.rgb.reshape(-1, 3).mean(0), RED, 6)
    assert img.n_frames == 3
    assert "animated GIF with 3 frames: the first frame was parsed" in img.notes


def test_multipage_tiff_first_page_and_note(tmp_path):
    img = load_image(multipage_tiff(tmp_path / "pages.tif", colors=(GREEN, RED)))
    assert (img.rgb == GREEN).all()
    assert any("multi-page TIFF with 2 pages" in n for n in img.notes)


def test_apng_first_frame_and_note(tmp_path):
    frames = [Image.new("RGB", (6, 6), c) for c in (BLUE, RED)]
    frames[0].save(tmp_path / "a.png", save_all=True, append_images=frames[1:], duration=50)
    img = load_image(tmp_path / "a.png")
    assert (img.rgb == BLUE).all()
    assert any("2 frames" in n for n in img.notes)


def test_non_ascii_and_spaces_in_names(tmp_path):
    folder = tmp_path / "mes photos é 写真"
    path = save_rgb(folder / "été 2024 — ünï.png", pattern(10, 7))
    assert np.array_equal(load_image(path).rgb, pattern(10, 7))
    entries = list_images([folder])
    assert [e.path for e in entries] == [path]


# --------------------------------------------------------------------------- failures

def _assert_clean_error(exc: pytest.ExceptionInfo, path, *words):
    msg = str(exc.value)
    assert isinstance(exc.value, M2FPError)
    assert str(path) in msg, msg
    assert "\n" not in msg and "Traceback" not in msg
    for w in words:
        assert w in msg, msg


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError) as exc:
        load_image(tmp_path / "nope.jpg")
    _assert_clean_error(exc, tmp_path / "nope.jpg", "does not exist")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageLoadError) as exc:
        load_image(tmp_path / "empty.jpg")
    _assert_clean_error(exc, tmp_path / "empty.jpg", "empty")


def test_text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n")
    assert not is_image_file(path)
    with pytest.raises(ImageLoadError) as exc:
        load_image(path)
    _assert_clean_error(exc, path, "is not an image Pillow can read")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_errors(tmp_path, fmt):
    good = save_rgb(tmp_path / f"good.{fmt.lower()}", np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8), format=fmt)
    bad = truncated_copy(good, tmp_path / f"bad.{fmt.lower()}")
    assert is_image_file(bad)  # the header is fine...
    with pytest.raises(ImageLoadError) as exc:
        load_image(bad)  # ...but the pixels are not all there
    _assert_clean_error(exc, bad, "truncated")


def test_broken_header_is_recognised_and_reported(tmp_path):
    """A photo cut inside its header is still 'an image' for folder scans, and fails clearly."""
    whole = save_rgb(tmp_path / "whole.jpg", pattern(64, 64))
    for fraction in (0.1, 0.3):
        bad = truncated_copy(whole, tmp_path / f"cut{fraction}.jpg", fraction)
        assert is_image_file(bad)
        with pytest.raises(ImageLoadError) as exc:
            load_image(bad)
        _assert_clean_error(exc, bad, "truncated or corrupt")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x13" * 40)
    assert is_image_file(garbage)
    with pytest.raises(ImageLoadError) as exc:
        load_image(garbage)
    _assert_clean_error(exc, garbage, "corrupt", "PNG")


def test_non_photo_files_are_not_images(tmp_path):
    samples = {
        "clip.mpg": b"\x00\x00\x01\xb3" + b"\x14\x00\xf0\x13" + b"\x00" * 40,  # Pillow identifies MPEG but cannot decode it
        "doc.pdf": b"%PDF-1.4\n" + b"x" * 40,
        "drawing.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # would run Ghostscript
        "data.zip": b"PK\x03\x04" + b"\x00" * 40,
        "empty.png": b"",
    }
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
        assert not is_image_file(tmp_path / name), name
    with pytest.raises(ImageLoadError, match="is not an image Pillow can read"):
        load_image(tmp_path / "drawing.eps")
    assert not is_image_file(tmp_path / "missing.png")
    assert not is_image_file(tmp_path)


def test_folder_named_like_an_image(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    with pytest.raises(ImageLoadError) as exc:
        load_image(tmp_path / "x.jpg")
    _assert_clean_error(exc, tmp_path / "x.jpg", "folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_special_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageLoadError) as exc:
        load_image(fifo)  # opening a FIFO for reading would hang forever
    _assert_clean_error(exc, fifo, "not a regular file")


def test_permission_denied_message(tmp_path, monkeypatch):
    """Root can read chmod-000 files, so the OS error is injected at the open() call."""
    path = save_rgb(tmp_path / "locked.png", pattern(4, 4))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(imageio, "open", denied, raising=False)
    with pytest.raises(ImageLoadError) as exc:
        load_image(path)
    _assert_clean_error(exc, path, "permission denied")


@pytest.mark.skipif(IS_ROOT or os.name != "posix", reason="chmod 000 does not stop root (or Windows) from reading")
def test_chmod_000_file(tmp_path):
    path = save_rgb(tmp_path / "locked.png", pattern(4, 4))
    path.chmod(0)
    try:
        with pytest.raises(ImageLoadError) as exc:
            load_image(path)
        _assert_clean_error(exc, path, "permission denied")
    finally:
        path.chmod(0o644)


def test_pixel_limit_is_an_option(tmp_path):
    path = save_rgb(tmp_path / "big.png", pattern(100, 50))
    with pytest.raises(ImageLoadError) as exc:
        load_image(path, max_pixels=4999)
    _assert_clean_error(exc, path, "too large", "4,999", "100 x 50")
    assert load_image(path, max_pixels=5000).size == (100, 50)
    assert load_image(path, max_pixels=None).size == (100, 50)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    path = bomb_png(tmp_path / "bomb.png", side=100_000)  # 10 billion pixels in ~100 bytes
    assert path.stat().st_size < 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not leak either
        with pytest.raises(ImageLoadError) as exc:
            load_image(path)
    _assert_clean_error(exc, path, "too large", f"{DEFAULT_MAX_PIXELS:,}")
    assert not isinstance(exc.value, Image.DecompressionBombError)


def test_pillows_own_bomb_limit_does_not_override_ours(tmp_path):
    # Pillow alone refuses > 2 x 89M pixels with DecompressionBombError. With our limit
    # raised above the claimed size, the header is accepted and what fails is the missing
    # pixel data: the option really is ours, and no Pillow exception leaks.
    path = raw_png(tmp_path / "huge_gray.png", 14_000, 14_000, 8, 0, zlib.compress(b"\x00" * 1024))  # 196M px
    assert Image.MAX_IMAGE_PIXELS is None
    with pytest.raises(ImageLoadError) as exc:
        load_image(path, max_pixels=200_000_000)
    _assert_clean_error(exc, path, "truncated")
    with pytest.raises(ImageLoadError) as exc:
        load_image(path, max_pixels=150_000_000)
    _assert_clean_error(exc, path, "too large", "150,000,000")


# --------------------------------------------------------------------------- discovery

def test_natural_key_orders_numbers_by_value():
    names = ["img10.png", "img2.png", "IMG1.png", "img02.png", "a.png", "img2b.png"]
    assert sorted(names, key=natural_key) == ["a.png", "IMG1.png", "img02.png", "img2.png", "img2b.png", "img10.png"]


def test_list_images_scans_folders_by_content(tmp_path):
    root = tmp_path / "in"
    for name in ("img10.png", "img2.png", "img1.jpg"):
        save_rgb(root / name, pattern(4, 4), format="PNG")
    save_rgb(root / "no_extension", pattern(4, 4), format="PNG")
    save_rgb(root / ".hidden.png", pattern(4, 4))
    (root / "readme.txt").write_text("hello")
    (root / "fake.jpg").write_text("not an image")
    (root / "empty.png").write_bytes(b"")
    save_rgb(root / "sub" / "deep.png", pattern(4, 4))
    save_rgb(root / ".git" / "inside_hidden.png", pattern(4, 4))

    # Images by content (no_extension), plus files named like images whose content is not
    # (fake.jpg, empty.png): listed so that the batch reports them as failed, not lost.
    flat = list_images([root])
    assert [e.relative.as_posix() for e in flat] == ["empty.png", "fake.jpg", "img1.jpg", "img2.png", "img10.png", "no_extension"]
    assert all(e.ok and e.root == root for e in flat)

    deep = list_images([root], recursive=True)
    assert [e.relative.as_posix() for e in deep][-1] == "sub/deep.png" and len(deep) == 7


def test_list_images_keeps_explicit_non_images_and_reports_missing(tmp_path):
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image")
    good = save_rgb(tmp_path / "good.png", pattern(4, 4))
    entries = list_images([good, fake, tmp_path / "missing.png", good])
    by_name = {e.path.name: e for e in entries}
    assert set(by_name) == {"good.png", "fake.jpg", "missing.png"}  # duplicate listed once
    assert by_name["fake.jpg"].ok and by_name["good.png"].ok
    assert by_name["fake.jpg"].relative.as_posix() == "fake.jpg" and by_name["fake.jpg"].root == tmp_path
    assert not by_name["missing.png"].ok and "does not exist" in by_name["missing.png"].error


def test_unreadable_folder_becomes_an_error_entry(tmp_path, monkeypatch):
    root = tmp_path / "in"
    save_rgb(root / "ok.png", pattern(4, 4))
    save_rgb(root / "locked" / "x.png", pattern(4, 4))
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(imageio.os, "scandir", scandir)
    entries = list_images([root], recursive=True)
    assert [e.path.name for e in entries if e.ok] == ["ok.png"]
    errors = [e for e in entries if not e.ok]
    assert len(errors) == 1 and "locked" in errors[0].error and "permission denied" in errors[0].error


@pytest.mark.skipif(IS_ROOT or os.name != "posix", reason="chmod 000 does not stop root (or Windows) from listing")
def test_chmod_000_folder(tmp_path):
    locked = tmp_path / "locked"
    save_rgb(locked / "x.png", pattern(4, 4))
    locked.chmod(0)
    try:
        entries = list_images([tmp_path], recursive=True)
        assert [e.ok for e in entries] == [False]
    finally:
        locked.chmod(0o755)


def test_sha256_file(tmp_path):
    data = os.urandom(3_000_000)
    (tmp_path / "blob").write_bytes(data)
    assert sha256_file(tmp_path / "blob") == hashlib.sha256(data).hexdigest()
