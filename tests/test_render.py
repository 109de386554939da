"""desktop.render: LUT drawing must colour exactly the visible class pixels and leave the rest untouched."""

from __future__ import annotations

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


def _blend_formula(rgb, labels, palette, opacity, visible, pixel_mask):
    """The documented formula, computed in NumPy, for the table-and-OpenCV path to match."""
    a = int(round(min(max(float(opacity), 0.0), 1.0) * 256))
    pal = np.asarray(palette, dtype=np.uint16)
    drawn = (labels > 0) & (labels < len(pal))
    if visible is not None:
        vis = np.zeros(256, dtype=bool)
        vis[: len(visible)] = visible
        drawn &= vis[labels]
    if pixel_mask is not None:
        drawn &= pixel_mask
    alpha = np.where(drawn, a, 0).astype(np.uint16)[:, :, None]
    colour = np.zeros((*labels.shape, 3), dtype=np.uint16)
    colour[drawn] = pal[labels[drawn]]
    return ((rgb[:, :, :3].astype(np.uint16) * (256 - alpha) + colour * alpha + 128) >> 8).astype(np.uint8)


def test_blend_and_colour_map_are_the_formula_bit_for_bit():
    """The uint8 path (OpenCV table look-ups and arithmetic) gives the formula's exact bytes for
    any opacity, palette length, visibility, person filter and RGBA input."""
    rng = np.random.default_rng(7)
    for trial in range(120):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        rgb = rng.integers(0, 256, (h, w, 3 if trial % 5 else 4), dtype=np.uint8)
        labels = rng.integers(0, 25, (h, w)).astype(np.uint8)
        palette = rng.integers(0, 256, (int(rng.integers(1, 30)), 3), dtype=np.uint8)
        opacity = [0.0, 1.0, 0.55, float(rng.random()), 1.3, -0.2][trial % 6]
        visible = None if trial % 3 else rng.random(int(rng.integers(1, 30))) < 0.6
        mask = None if trial % 4 else rng.random((h, w)) < 0.5
        out = blend(rgb, labels, palette, opacity, visible, mask)
        assert out.dtype == np.uint8 and out.shape == (h, w, 3)
        assert np.array_equal(out, _blend_formula(rgb, labels, palette, opacity, visible, mask)), trial
        expected = np.zeros((h, w, 3), dtype=np.uint8)
        cm = color_map(labels, palette, visible)
        drawn = (labels > 0) & (labels < len(palette))
        if visible is not None:
            vis = np.zeros(256, dtype=bool)
            vis[: len(visible)] = visible
            drawn &= vis[labels]
        expected[drawn] = palette[labels[drawn]]
        assert np.array_equal(cm, expected), trial
