"""The window's halved photo levels are Pillow's ``reduce(2)``, made without a Pillow copy of
the whole photo; resizing the part around a box gives the same screen pixels as the whole."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from desktop.app.photo_levels import crop_for_resize, halve


@pytest.mark.parametrize("hw", [(1, 1), (1, 2), (2, 1), (3, 3), (4, 5), (517, 300), (600, 777)])
def test_halving_is_pillows_reduce(hw):
    rgb = np.random.default_rng(hw[1]).integers(0, 256, (*hw, 3), dtype=np.uint8)
    assert np.array_equal(halve(rgb), np.asarray(Image.fromarray(rgb).reduce(2)))


@pytest.mark.parametrize("box", [(10.5, 20.25, 500.5, 400.75), (0.0, 0.0, 1200.0, 900.0), (3.0, 1.5, 80.25, 50.5)])
@pytest.mark.parametrize("size", [(300, 200), (600, 500), (1000, 700)])
def test_resizing_the_part_around_a_box_is_resizing_the_whole(box, size):
    """Boxes on exact binary fractions (so moving them by whole pixels is exact): the same
    pixels; elsewhere a moved box can differ in its last bit, one level in a few pixels."""
    rgb = np.random.default_rng(0).integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    whole = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, box=box))
    part, moved = crop_for_resize(rgb, box)
    assert part.size <= rgb.size
    assert np.array_equal(np.asarray(Image.fromarray(part).resize(size, Image.Resampling.BILINEAR, box=moved)), whole)
