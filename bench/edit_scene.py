"""Plausible label and person maps of standing people, at any size, for edit benchmarks and tests.

The golden outputs of the tiny test model come from random weights (a few blotchy classes),
so they say little about real edits. These maps are drawn instead: each person has hair, a
face, a torso garment, two arms with hands, trousers or a skirt with legs, and two shoes,
people overlap like in a group photo (the one in front hides the others), and each class
region is as large and as smooth-edged as in a parsed photo. Deterministic for a seed.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["draw_people", "people_photo", "scene_photo", "stroke_path"]

HAT, HAIR, UPPER, DRESS, COAT, PANTS, TORSO_SKIN, SKIRT, FACE = 1, 2, 5, 6, 7, 9, 10, 12, 13
L_ARM, R_ARM, L_LEG, R_LEG, L_SHOE, R_SHOE = 14, 15, 16, 17, 18, 19


def _draw(labels: np.ndarray, persons: np.ndarray, label: int, pid: int, draw) -> None:
    draw(labels, label)
    draw(persons, pid)


def _person(labels: np.ndarray, persons: np.ndarray, pid: int, cx: float, top: float, height: float,
            rng: np.random.Generator) -> None:
    """One person facing the camera, ``height`` pixels tall, head top at ``top``, centred on ``cx``."""
    u = height / 100.0  # one percent of the body height
    ip = lambda *v: tuple(int(round(a)) for a in v)  # noqa: E731
    sway = rng.uniform(-3, 3) * u

    def poly(pts):
        arr = np.array([[int(round(x)), int(round(y))] for x, y in pts], dtype=np.int32)
        return lambda img, v: cv2.fillPoly(img, [arr], int(v))

    def limb(p, q, width):
        return lambda img, v: cv2.line(img, ip(*p), ip(*q), int(v), thickness=max(1, int(width)))

    def ellipse(c, axes, angle=0.0):
        return lambda img, v: cv2.ellipse(img, ip(*c), ip(*axes), angle, 0, 360, int(v), thickness=-1)

    hip_y = top + 52 * u
    foot_y = top + 96 * u
    # Legs (skin) first, then the garment over their upper part, then shoes.
    for side, label, shoe in ((-1, R_LEG, R_SHOE), (1, L_LEG, L_SHOE)):
        hip = (cx + side * 5 * u, hip_y)
        ankle = (cx + side * (7 * u) + sway * 0.3, foot_y - 3 * u)
        _draw(labels, persons, label, pid, limb(hip, ankle, 7 * u))
        toe = (ankle[0] + side * 3 * u, foot_y)
        shoe_centre = ((ankle[0] + toe[0]) / 2, foot_y - 1.5 * u)
        _draw(labels, persons, shoe, pid, ellipse(shoe_centre, (4.5 * u, 2.2 * u)))
    if rng.random() < 0.6:
        _draw(labels, persons, PANTS, pid, poly([
            (cx - 10 * u, hip_y - 4 * u), (cx + 10 * u, hip_y - 4 * u), (cx + 11.5 * u, top + 88 * u),
            (cx + 2.5 * u, top + 88 * u), (cx, hip_y + 6 * u), (cx - 2.5 * u, top + 88 * u),
            (cx - 11.5 * u, top + 88 * u)]))
    else:
        _draw(labels, persons, SKIRT, pid, poly([
            (cx - 10 * u, hip_y - 4 * u), (cx + 10 * u, hip_y - 4 * u),
            (cx + 15 * u, top + 70 * u), (cx - 15 * u, top + 70 * u)]))
    # Torso garment with a neckline of skin.
    garment = int(rng.choice([UPPER, UPPER, COAT, DRESS]))
    shoulder_y = top + 17 * u
    bottom = top + (75 if garment == DRESS else 54) * u
    flare = 15 if garment == DRESS else 11
    _draw(labels, persons, garment, pid, poly([
        (cx - 12 * u, shoulder_y), (cx + 12 * u, shoulder_y), (cx + 10.5 * u, top + 36 * u),
        (cx + flare * u, bottom), (cx - flare * u, bottom), (cx - 10.5 * u, top + 36 * u)]))
    _draw(labels, persons, TORSO_SKIN, pid, poly([(cx - 3.5 * u, shoulder_y), (cx + 3.5 * u, shoulder_y),
                                                  (cx, shoulder_y + 5 * u)]))
    # Arms: shoulder, elbow, wrist (the person's left arm is on the image's right).
    for side, label in ((-1, R_ARM), (1, L_ARM)):
        shoulder = (cx + side * 12.5 * u, shoulder_y + 2 * u)
        elbow = (cx + side * rng.uniform(15, 20) * u, top + rng.uniform(33, 37) * u)
        wrist = (cx + side * rng.uniform(13, 24) * u, top + rng.uniform(46, 52) * u)
        _draw(labels, persons, label, pid, limb(shoulder, elbow, 5.5 * u))
        _draw(labels, persons, label, pid, limb(elbow, wrist, 4.5 * u))
        _draw(labels, persons, label, pid, ellipse(wrist, (2.5 * u, 3.2 * u)))
    # Head: neck and face, hair over the top and sides, sometimes a hat.
    head = (cx + sway * 0.2, top + 8.5 * u)
    _draw(labels, persons, FACE, pid, limb((head[0], head[1] + 5 * u), (cx, shoulder_y), 4.5 * u))
    _draw(labels, persons, FACE, pid, ellipse(head, (5.8 * u, 7.5 * u)))
    _draw(labels, persons, HAIR, pid, lambda img, v: cv2.ellipse(
        img, ip(*head), ip(6.4 * u, 8.2 * u), 0, 160, 380, int(v), thickness=-1))
    if rng.random() < 0.25:
        _draw(labels, persons, HAT, pid, ellipse((head[0], top + 1.5 * u), (7.5 * u, 2.5 * u)))


def draw_people(height: int, width: int, count: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8, persons uint16) maps of ``count`` people standing in a row, overlapping.

    The person in the middle front is the tallest (about 95 % of the image height), as in a
    portrait-style group photo; people further back are smaller and drawn first.
    """
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), dtype=np.uint8)
    persons = np.zeros((height, width), dtype=np.uint16)
    slots = np.linspace(0.5 / count, 1 - 0.5 / count, count)
    depth = np.abs(slots - 0.5)  # the middle is in front
    order = np.argsort(-depth, kind="stable")  # back to front
    for pid, i in enumerate(order.tolist(), start=1):
        scale = 0.95 - 0.35 * depth[i] * 2
        h = height * scale
        cx = width * slots[i] + rng.uniform(-0.02, 0.02) * width
        top = height - h * 0.98 - rng.uniform(0, 0.01) * height
        _person(labels, persons, pid, cx, top, h, rng)
    persons[labels == 0] = 0
    return labels, persons


def scene_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 photo-like background (smooth gradients and texture, not flat)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, height // 64), max(2, width // 64), 3), dtype=np.uint8)
    photo = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return photo


# Plausible colours of each class in a photo (not the palette's): skin, hair, cloth, shoes.
_SKIN = ((224, 172, 140), (198, 140, 105), (141, 94, 66), (241, 194, 167))
_CLOTH = ((52, 84, 140), (160, 40, 48), (60, 110, 70), (220, 220, 214), (40, 40, 46), (196, 150, 60),
          (120, 80, 140), (80, 130, 160))


def people_photo(labels: np.ndarray, persons: np.ndarray, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 photo-like picture of the people in the maps, for screenshots and GUI tests.

    Each person gets a skin tone, hair and clothes colours; garments get soft shading and
    texture, edges are slightly blurred, over a muted room-like background. Nothing about it
    is parsed from anything: it only gives the overlay something plausible to sit on.
    """
    rng = np.random.default_rng(seed)
    h, w = labels.shape
    # A room: a light wall with a faint pattern, a darker floor.
    back = scene_photo(h, w, seed).astype(np.float32)
    out = np.empty((h, w, 3), np.float32)
    out[:] = (206, 198, 186)
    out[int(h * 0.9):] = (132, 112, 94)
    out = 0.88 * out + 0.12 * back
    for pid in np.unique(persons[persons != 0]).tolist():
        skin = np.array(_SKIN[rng.integers(len(_SKIN))], np.float32)
        hair = np.array((rng.integers(20, 90), rng.integers(15, 60), rng.integers(10, 40)), np.float32)
        colours = {HAT: _CLOTH[rng.integers(len(_CLOTH))], HAIR: hair, FACE: skin, TORSO_SKIN: skin,
                   L_ARM: skin, R_ARM: skin, L_LEG: skin, R_LEG: skin, L_SHOE: (36, 32, 30), R_SHOE: (36, 32, 30),
                   UPPER: _CLOTH[rng.integers(len(_CLOTH))], COAT: _CLOTH[rng.integers(len(_CLOTH))],
                   DRESS: _CLOTH[rng.integers(len(_CLOTH))], SKIRT: _CLOTH[rng.integers(len(_CLOTH))],
                   PANTS: (54, 70, 104)}
        mine = persons == pid
        for label, colour in colours.items():
            m = mine & (labels == label)
            if m.any():
                out[m] = np.asarray(colour, np.float32)
    # Light from the top left, cloth texture, soft edges.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 1.08 - 0.18 * (yy / h) - 0.08 * (xx / w)
    texture = cv2.GaussianBlur(rng.normal(0, 9, (h, w)).astype(np.float32), (0, 0), 1.2)
    out = out * shade[:, :, None] + texture[:, :, None] * (labels != 0)[:, :, None]
    out = cv2.GaussianBlur(out, (0, 0), max(0.6, min(h, w) / 900))
    return np.clip(out, 0, 255).astype(np.uint8)


def stroke_path(n: int, step: float, start: tuple[float, float], seed: int, *, turn: float, margin: float,
                width: int, height: int) -> np.ndarray:
    """A wavy drag of ``n`` motion events from ``start``, ``step`` pixels apart, turning by up to
    ``turn`` radians at each event and turning back ``margin`` pixels from the picture's edges."""
    rng = np.random.default_rng(seed)
    pts = [start]
    angle = 0.0
    for _ in range(n):
        angle += rng.uniform(-turn, turn)
        x, y = pts[-1]
        nx, ny = x + step * np.cos(angle), y + step * np.sin(angle)
        if not (margin < nx < width - margin and margin < ny < height - margin):
            angle += np.pi
            nx, ny = x + step * np.cos(angle), y + step * np.sin(angle)
        pts.append((nx, ny))
    return np.array(pts)
