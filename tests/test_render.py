"""desktop.render: LUT drawing must colour exactly the visible class pixels and leave the rest untouched."""

from __future__ import annotations

import time

import numpy as np
import pytest

from desktop.render import blend, boundaries, color_map, outline, visibility
from desktop.resources import palette

PAL = palette()


@pytest.fixture
def scene():
    rng = np.random.default_rng(7)
    labels = np.zeros((6, 8), dtype=np.uint8)
    labels[1:4, 1:4] = 2   # Hair
    labels[2:5, 5:7] = 13  # Face
    labels[5, 0:3] = 19    # Right-shoe
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return rgb, labels


def test_color_map_uses_palette_and_black_background(scene):
    _, labels = scene
    out = color_map(labels, PAL)
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8
    assert np.array_equal(out, PAL[labels] * (labels > 0)[..., None])
    assert tuple(out[2, 2]) == tuple(PAL[2]) and tuple(out[0, 0]) == (0, 0, 0)


def test_color_map_hides_invisible_classes(scene):
    _, labels = scene
    vis = visibility([13], len(PAL))
    out = color_map(labels, PAL, vis)
    assert (out[labels == 13] == PAL[13]).all()
    assert (out[labels != 13] == 0).all()


def test_color_map_black_background_even_with_coloured_palette_entry(scene):
    _, labels = scene
    pal = PAL.copy()
    pal[0] = (9, 9, 9)
    assert (color_map(labels, pal)[labels == 0] == 0).all()


def test_blend_mixes_only_visible_classes(scene):
    rgb, labels = scene
    out = blend(rgb, labels, PAL, 0.5)
    bg = labels == 0
    assert np.array_equal(out[bg], rgb[bg])
    expected = rgb.astype(float) * 0.5 + PAL[labels].astype(float) * 0.5
    assert np.abs(out[~bg].astype(float) - expected[~bg]).max() <= 0.5 + 1e-9


def test_blend_opacity_extremes_and_visibility(scene):
    rgb, labels = scene
    assert np.array_equal(blend(rgb, labels, PAL, 0.0), rgb)
    full = blend(rgb, labels, PAL, 1.0)
    assert np.array_equal(full[labels > 0], PAL[labels[labels > 0]])
    vis = visibility([2], len(PAL))
    only_hair = blend(rgb, labels, PAL, 1.0, visible=vis)
    assert np.array_equal(only_hair[labels == 2], np.broadcast_to(PAL[2], only_hair[labels == 2].shape))
    assert np.array_equal(only_hair[labels != 2], rgb[labels != 2])


def test_blend_pixel_mask_restricts_colour(scene):
    rgb, labels = scene
    mask = np.zeros(labels.shape, dtype=bool)
    mask[:, :4] = True  # only the left half (the hair) may be coloured
    out = blend(rgb, labels, PAL, 1.0, pixel_mask=mask)
    assert np.array_equal(out[~mask], rgb[~mask])
    sel = mask & (labels > 0)
    assert np.array_equal(out[sel], PAL[labels[sel]])


def test_blend_rejects_mismatched_sizes(scene):
    rgb, labels = scene
    with pytest.raises(ValueError):
        blend(rgb[:-1], labels, PAL)


def test_boundaries_right_and_lower_neighbours():
    labels = np.array([[0, 0, 1], [0, 0, 1], [2, 2, 2]], dtype=np.uint8)
    expected = np.array([[False, True, False], [True, True, True], [False, False, False]])
    assert np.array_equal(boundaries(labels), expected)
    assert not boundaries(np.full((4, 5), 3, np.uint8)).any()


def test_outline_draws_inner_borders_in_class_colours():
    labels = np.zeros((7, 7), dtype=np.uint8)
    labels[1:6, 1:6] = 5
    rgb = np.full((7, 7, 3), 100, dtype=np.uint8)
    out = outline(rgb, labels, PAL)
    ring = np.zeros((7, 7), dtype=bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False
    assert np.array_equal(out[ring], np.broadcast_to(PAL[5], out[ring].shape))
    assert (out[~ring] == 100).all()  # background side and interior unchanged

    thick = outline(rgb, labels, PAL, thickness=2)
    assert (thick[2:5, 2:5][1, 1] == 100).all() and (thick[2, 2] == PAL[5]).all()
    assert not (outline(rgb, labels, PAL, visible=visibility([1], len(PAL))) != 100).any()
    half = np.zeros((7, 7), dtype=bool)
    half[:, :3] = True
    masked = outline(rgb, labels, PAL, pixel_mask=half)
    assert (masked[:, 3:] == 100).all() and (masked[1, 1] == PAL[5]).all()


def test_blend_is_fast_on_full_hd():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(rng.integers(0, 20, (108, 192), dtype=np.uint8), 10, 0), 10, 1)
    rgb = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    blend(rgb, labels, PAL)  # warm-up
    start = time.perf_counter()
    for _ in range(3):
        blend(rgb, labels, PAL, 0.5, visible=visibility(range(1, 20, 2), 20))
    per_call = (time.perf_counter() - start) / 3
    assert per_call < 0.5, f"blend took {per_call:.3f} s on 1920x1080"
