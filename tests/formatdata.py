"""Plausible reviewer maps for the interchange-format tests: several people, many classes,
parts of no person, irregular shapes, a part touching the image's edge."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# class ids (CIHP): 1 Hat, 2 Hair, 3 Gloves, 4 Sunglasses, 5 UpperClothes, 7 Coat, 9 Pants, 12 Skirt,
# 13 Face, 14/15 arms, 16/17 legs, 18/19 shoes


def _figure(draw_l: ImageDraw.ImageDraw, draw_p: ImageDraw.ImageDraw, x: int, y: int, s: float, person: int,
            coat: bool) -> None:
    """One standing person at (x, y) = top of the head, scale s; parts drawn back to front."""

    def part(shape: str, xy, cls: int, width: int = 0) -> None:
        for draw, value in ((draw_l, cls), (draw_p, person)):
            if shape == "ellipse":
                draw.ellipse(xy, fill=value)
            elif shape == "polygon":
                draw.polygon(xy, fill=value)
            elif shape == "line":
                draw.line(xy, fill=value, width=width)
            else:
                draw.rectangle(xy, fill=value)

    u = lambda v: int(round(v * s))  # noqa: E731
    part("line", [(x - u(10), y + u(22)), (x - u(18), y + u(50))], 14, width=max(2, u(5)))   # left arm
    part("line", [(x + u(10), y + u(22)), (x + u(19), y + u(48))], 15, width=max(2, u(5)))   # right arm
    part("rect", [x - u(7), y + u(52), x - u(1), y + u(78)], 16)                              # left leg
    part("rect", [x + u(1), y + u(52), x + u(7), y + u(78)], 17)                              # right leg
    part("ellipse", [x - u(9), y + u(76), x - u(1), y + u(82)], 18)                           # shoes
    part("ellipse", [x + u(1), y + u(76), x + u(9), y + u(82)], 19)
    part("rect", [x - u(9), y + u(44), x + u(9), y + u(58)], 12 if person % 2 else 9)         # skirt / pants
    part("polygon", [(x - u(11), y + u(20)), (x + u(11), y + u(20)), (x + u(9), y + u(48)), (x - u(9), y + u(48))],
         7 if coat else 5)                                                                    # upper body
    part("ellipse", [x - u(8), y + u(2), x + u(8), y + u(21)], 13)                            # face
    part("ellipse", [x - u(9), y - u(2), x + u(9), y + u(9)], 2)                              # hair
    part("ellipse", [x - u(6), y + u(8), x + u(6), y + u(12)], 4)                             # sunglasses


def plausible_maps(h: int = 120, w: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8, persons uint16): 3 people (the third half hidden behind the second),
    a hat and a glove linked to no person, and a shoe pixel in the bottom-right corner."""
    rng = np.random.default_rng(seed)
    lab = Image.new("L", (w, h), 0)
    per = Image.new("I", (w, h), 0)
    dl, dp = ImageDraw.Draw(lab), ImageDraw.Draw(per)
    s = h / 100
    xs = [int(w * 0.2), int(w * 0.62), int(w * 0.5)]
    for person, x in ((3, xs[2]), (1, xs[0]), (2, xs[1])):  # person 3 first: the others cover it
        _figure(dl, dp, x + int(rng.integers(-3, 4)), int(h * 0.08), s, person, coat=person == 2)
    # Parts the model found but linked to no person.
    dl.ellipse([w - 30, 4, w - 12, 14], fill=1)
    dp.ellipse([w - 30, 4, w - 12, 14], fill=0)
    dl.rectangle([2, h - 14, 9, h - 6], fill=3)
    dp.rectangle([2, h - 14, 9, h - 6], fill=0)
    labels = np.asarray(lab, dtype=np.uint8).copy()
    persons = np.asarray(per, dtype=np.int32).astype(np.uint16)
    labels[h - 1, w - 1] = 19
    persons[h - 1, w - 1] = 2
    persons[labels == 0] = 0
    return labels, persons


def many_people_maps(n: int, h: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """``n`` one-column people, each with hair and face: 2n parts, person ids up to n."""
    w = n
    labels = np.zeros((h, w), np.uint8)
    persons = np.zeros((h, w), np.uint16)
    labels[5:15, :] = 2
    labels[15:30, :] = 13
    persons[5:30, :] = np.arange(1, n + 1, dtype=np.uint16)[None, :]
    return labels, persons
