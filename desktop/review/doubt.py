"""A doubt score per image, with reasons a reviewer can check: which images to look at first.

Reviewers cannot give every image the same care. This module says where the model is likely
wrong, from checks a person understands, each reason naming the person and the class:

- **Uncertain pixels** (when the engine gives per-pixel confidence: ``score_map``, the winning
  class's score, and ``runner_up`` / ``runner_up_score``, the second class and its score; uint8,
  0..255 for 0..1): the share of person pixels whose winning margin (winner's score minus the
  runner-up's) is below :data:`SMALL_MARGIN`; without the runner-up's score, pixels whose
  winning score is below :data:`LOW_SCORE`. One reason per person holding such pixels, naming
  the class with most of them and the model's second choice there. On a model result that
  carries the engine's confidence provider (``result.confidence``), the maps are computed on
  a regular grid of at most :data:`UNCERTAIN_SAMPLE_PIXELS` pixels (every k-th row and
  column), never the whole photo: the shares are statistics of that sample, and the pixel
  counts are the sample's counts scaled to the photo (estimates, exact on photos up to
  2 megapixels, where every pixel is used).
- **Scores near a threshold**: a person whose score is within :data:`NEAR` of the 0.1 below
  which persons are dropped; a part within :data:`NEAR` of the score needed to be drawn into
  the label map (``parsing_ins_score_thr`` of the model's configuration, 0.5 by default), above
  it (drawn, but barely) or below it (found, not drawn: pixels may be missing).
- **Structure**: a person with two separate face regions (connected components, OpenCV); a
  left arm on the wrong side of the body relative to the torso (or the face), taking into
  account whether the person faces the camera (face visible: their left arm appears on the
  picture's right) or is seen from behind (no face, hair visible: on the picture's left);
  the same for the right arm; labelled pixels linked to no person.

Each reason has a weight in 0..1; the image's score is ``1 - prod(1 - weight)``: 0 when nothing
is doubtful, closer to 1 the more (and the heavier) the reasons. Uncertain-pixel reasons weigh
the person's share of all person pixels, so an image whose person pixels are 30 % uncertain
scores at least 0.3. Works on the two maps of :mod:`desktop.review.maps` (a model result gives
its person map), in row blocks: memory stays a few MB above the maps. No tkinter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from desktop.i18n import N_, _, class_display_name, pgettext

log = logging.getLogger(__name__)

__all__ = [
    "KEEP_THRESHOLD",
    "LOW_SCORE",
    "NEAR",
    "SMALL_MARGIN",
    "Doubt",
    "DoubtReason",
    "doubt_of",
    "doubt_of_maps",
    "paste_threshold_of",
    "reason_text",
    "sample_grid",
    "store_doubt",
    "uncertain_mask",
]

#: The engine reports persons scoring above 0.1 and parts scoring 0.1 or more
#: (``MIN_INSTANCE_SCORE`` of :mod:`desktop.engine.postprocess`).
KEEP_THRESHOLD = 0.1
#: A score closer than this to a threshold is "near" it.
NEAR = 0.1
#: A pixel is uncertain when its winning margin is below this (scores 0..1).
SMALL_MARGIN = 0.2
#: Without the runner-up's score: a pixel is uncertain when its winning score is below this.
LOW_SCORE = 0.5
#: Regions smaller than this many pixels are specks, not evidence (faces, unlinked pixels).
MIN_REGION_PIXELS = 20
#: A second face region counts when at least this share of the largest one.
SECOND_FACE_SHARE = 0.1
#: A person is listed for uncertain pixels when at least this share of their pixels is uncertain.
UNCERTAIN_PERSON_SHARE = 0.05
#: At most this many pixels of a photo are used for the uncertain-pixel statistics (a regular
#: grid of every k-th row and column): 48 megapixels would cost seconds for the same shares.
UNCERTAIN_SAMPLE_PIXELS = 2_000_000

WEIGHTS = {
    "person-near-threshold": 0.3,
    "part-near-threshold": 0.15,
    "two-faces": 0.5,
    "arm-side": 0.4,
    "no-person": 0.2,
}
_TORSO = ("UpperClothes", "Dress", "Coat", "Torso-skin")

# The reasons' sentences, by (code, variant). A reason's ``message`` (stored in the workspace
# and written into exported JSON) is the English sentence: files stay language-neutral. The
# window shows :func:`reason_text`, the same sentence in the app's language, made from the
# reason's code and figures.
_SENTENCES = {
    ("uncertain-pixels", "person"): N_(
        "Person {person}: the model hesitates on {share} of the pixels ({pixels}), mostly {class_name}."),
    ("uncertain-pixels", "person-second"): N_(
        "Person {person}: the model hesitates on {share} of the pixels ({pixels}), mostly {class_name} (the "
        "model's second choice there: {second})."),
    ("uncertain-pixels", "nobody"): N_(
        "Pixels linked to no person: the model hesitates on {share} of them ({pixels}), mostly {class_name}."),
    ("uncertain-pixels", "nobody-second"): N_(
        "Pixels linked to no person: the model hesitates on {share} of them ({pixels}), mostly {class_name} "
        "(the model's second choice there: {second})."),
    ("person-near-threshold", ""): N_(
        "Person {person} was found with a score of {score}, close to {threshold}, below which a person is not "
        "reported: it may not be a person at all."),
    ("part-near-threshold", "drawn"): N_(
        "The {class_name} of person {person} scores {score}, only just above the {threshold} needed to be "
        "drawn: it may be wrong."),
    ("part-near-threshold", "drawn-nobody"): N_(
        "The {class_name} of no person scores {score}, only just above the {threshold} needed to be drawn: it "
        "may be wrong."),
    ("part-near-threshold", "missing"): N_(
        "A {class_name} of person {person} was found with a score of {score}, just below the {threshold} "
        "needed to be drawn: part of it may be missing from the label map."),
    ("part-near-threshold", "missing-nobody"): N_(
        "A {class_name} of no person was found with a score of {score}, just below the {threshold} needed to "
        "be drawn: part of it may be missing from the label map."),
    ("two-faces", ""): N_(
        "Person {person} has {regions} separate {class_name} regions ({areas} pixels): two people may have "
        "been merged, or part of another person was given to this one."),
    ("arm-side", "facing"): N_(
        "Person {person}: the {class_name} is on the picture's {side} of the {reference}, but the face is "
        "visible, so the person faces the camera: the left and right arms may be swapped."),
    ("arm-side", "behind"): N_(
        "Person {person}: the {class_name} is on the picture's {side} of the {reference}, but no face is "
        "visible, so the person is seen from behind: the left and right arms may be swapped."),
    ("no-person", ""): N_(
        "{pixels} pixels of {class_name} belong to no person: the model found the {class_name} but no person "
        "under it."),
}


def _words(translate: bool) -> dict[str, str]:
    """The words a sentence of an arm-side reason slots in (sides of the picture, body references)."""
    if not translate:
        return {"left": "left", "right": "right", "torso": "torso", "face": "face"}
    return {"left": pgettext("side of the picture", "left"), "right": pgettext("side of the picture", "right"),
            "torso": pgettext("part of the body", "torso"), "face": pgettext("part of the body", "face")}


def _sentence(code: str, person: int | None, cls: str | None, details: dict, translate: bool) -> str:
    """A reason's sentence from its figures: in English (``translate=False``) or the app's language."""
    d = details
    values: dict = {"person": person, "class_name": (class_display_name(cls) if translate else cls) if cls else ""}
    if code == "uncertain-pixels":
        variant = "person" if person is not None else "nobody"
        second = d.get("second_choice")
        if second:
            variant += "-second"
            values["second"] = class_display_name(second) if translate else second
        values.update(share=f"{d['share_of_person']:.0%}", pixels=f"{d['pixels']:,}")
    elif code == "person-near-threshold":
        variant = ""
        values.update(score=f"{d['score']:.2f}", threshold=f"{d['threshold']:g}")
    elif code == "part-near-threshold":
        variant = ("drawn" if d["drawn"] else "missing") + ("" if person is not None else "-nobody")
        values.update(score=f"{d['score']:.2f}", threshold=f"{d['threshold']:g}")
    elif code == "two-faces":
        variant = ""
        values.update(regions=d["regions"], areas=", ".join(f"{a:,}" for a in d["areas"]))
    elif code == "arm-side":
        variant = "facing" if d["facing_camera"] else "behind"
        words = _words(translate)
        values.update(side=words[d["side"]], reference=words[d["reference"]])
    elif code == "no-person":
        variant = ""
        values.update(pixels=f"{d['pixels']:,}")
    else:
        raise KeyError(code)
    template = _SENTENCES[(code, variant)]
    return (_(template) if translate else template).format(**values)


def reason_text(reason: dict) -> str:
    """A stored reason (:meth:`DoubtReason.as_dict`, as the workspace keeps it) as a sentence in
    the app's language; its stored English ``message`` when its figures do not make one."""
    person = reason.get("person")
    try:
        return _sentence(str(reason.get("code")), person if isinstance(person, int) else None,
                         reason.get("class"), reason, translate=True)
    except (KeyError, TypeError, ValueError):
        return str(reason.get("message", ""))
_BLOCK = 1 << 20  # pixels per block of rows


@dataclass(frozen=True)
class DoubtReason:
    """One reason to look at an image: ``code`` (stable, for programs), ``message`` (a sentence
    for the reviewer), the ``person`` id (None: no person, or the image as a whole) and the
    ``class_name`` it is about, its ``weight`` in the score, and figures in ``details``."""

    code: str
    message: str
    person: int | None
    class_name: str | None
    weight: float
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready: ``{"code", "message", "person", "class", "weight", ...details}``."""
        out = {"code": self.code, "message": self.message, "person": self.person, "class": self.class_name,
               "weight": round(float(self.weight), 4)}
        for key, value in self.details.items():
            out.setdefault(key, value)
        return out


@dataclass(frozen=True)
class Doubt:
    """An image's doubt: ``score`` 0..1 (higher: look first), its ``reasons`` heaviest first,
    and ``uncertain_share`` (share of person pixels with a small margin; None without
    confidence maps)."""

    score: float
    reasons: tuple[DoubtReason, ...]
    uncertain_share: float | None = None

    def reasons_json(self) -> list[dict]:
        return [r.as_dict() for r in self.reasons]

    def as_json(self) -> dict:
        """The JSON export's ``doubt`` section."""
        return {"score": self.score, "uncertain_share": self.uncertain_share, "reasons": self.reasons_json()}

    def store(self, workspace, image_id: int) -> None:
        """Keep it in a review workspace (:meth:`Workspace.set_doubt`, attached to the model
        result the image shows)."""
        workspace.set_doubt(image_id, self.score, self.reasons_json())


def _combine(reasons: Sequence[DoubtReason]) -> float:
    keep = 1.0
    for r in reasons:
        keep *= 1.0 - min(max(float(r.weight), 0.0), 1.0)
    return round(1.0 - keep, 4)


def _class_ids(names: Sequence[str]) -> dict[str, int]:
    return {str(n).casefold(): i for i, n in enumerate(names)}


def _name(names: Sequence[str], c: int) -> str:
    return str(names[c]) if 0 <= c < len(names) else f"class {c}"


def _row_blocks(shape: tuple[int, int]) -> Iterator[slice]:
    h, w = shape
    rows = max(1, _BLOCK // max(w, 1))
    for y in range(0, h, rows):
        yield slice(y, min(h, y + rows))


def _check_map(name: str, m: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if m is None:
        return None
    m = np.asarray(m)
    if m.shape != shape:
        raise ValueError(f"the {name} map {m.shape} and the label map {shape} differ in size")
    return m


# --------------------------------------------------------------------------- statistics

class _Stats:
    """Per (person, class) pixel counts and x moments over the maps, in one blocked pass.

    Persons are renumbered 0..P (0 = no person) so that the tables stay small whatever ids
    the person map uses.
    """

    def __init__(self, labels: np.ndarray, persons: np.ndarray, n: int):
        self.n = n
        seen = np.zeros(65536, dtype=np.int64)
        for rows in _row_blocks(labels.shape):
            seen += np.bincount(persons[rows].ravel(), minlength=65536)
        self.ids = np.flatnonzero(seen[1:]) + 1  # person ids present, ascending
        self.lut = np.zeros(65536, dtype=np.int64)
        self.lut[self.ids] = np.arange(1, self.ids.size + 1)
        size = (self.ids.size + 1) * n
        self.count = np.zeros(size, dtype=np.int64)
        self.sum_x = np.zeros(size, dtype=np.float64)
        self.sum_xx = np.zeros(size, dtype=np.float64)
        xs = np.arange(labels.shape[1], dtype=np.float64)
        for rows in _row_blocks(labels.shape):
            lab = labels[rows]
            key = (self.lut[persons[rows]] * n + lab).ravel()
            x = np.broadcast_to(xs, lab.shape).ravel()
            self.count += np.bincount(key, minlength=size)
            self.sum_x += np.bincount(key, weights=x, minlength=size)
            self.sum_xx += np.bincount(key, weights=x * x, minlength=size)

    def index(self, person: int) -> int:
        return int(self.lut[person])

    def pixels(self, person: int, classes: Sequence[int]) -> int:
        i = self.index(person) * self.n
        return int(sum(self.count[i + c] for c in classes))

    def centre_x(self, person: int, classes: Sequence[int]) -> float | None:
        i = self.index(person) * self.n
        n = sum(self.count[i + c] for c in classes)
        return float(sum(self.sum_x[i + c] for c in classes) / n) if n else None

    def spread_x(self, person: int) -> float:
        """Standard deviation of the person's pixels' x (all their classes but background)."""
        i = self.index(person) * self.n
        n = self.count[i + 1 : i + self.n].sum()
        if not n:
            return 0.0
        mean = self.sum_x[i + 1 : i + self.n].sum() / n
        return float(np.sqrt(max(self.sum_xx[i + 1 : i + self.n].sum() / n - mean * mean, 0.0)))


# --------------------------------------------------------------------------- checks

def uncertain_mask(labels: np.ndarray, score_map: np.ndarray, runner_up_score: np.ndarray | None = None,
                   rows: slice | None = None) -> np.ndarray:
    """Labelled pixels whose winning margin is small (see the module docstring), as a bool map
    (of ``rows`` only, when given): what the window's "doubt" view highlights."""
    sl = np.s_[:] if rows is None else rows
    score = np.asarray(score_map[sl], dtype=np.int16)
    if runner_up_score is not None:
        low = (score - np.asarray(runner_up_score[sl], dtype=np.int16)) < round(SMALL_MARGIN * 255)
    else:
        low = score < round(LOW_SCORE * 255)
    return low & (labels[sl] != 0)


def _uncertain_reasons(labels: np.ndarray, persons: np.ndarray, names: Sequence[str], stats: _Stats,
                       score_map: np.ndarray, runner_up: np.ndarray | None,
                       runner_up_score: np.ndarray | None,
                       scale: float = 1.0) -> tuple[list[DoubtReason], float | None]:
    """``scale``: photo pixels per map pixel (the maps are a regular sample of the photo)."""
    n = stats.n
    size = stats.count.size
    unc = np.zeros(size, dtype=np.int64)
    with_second = runner_up is not None and size * n <= 4_000_000
    second = np.zeros(size * n if with_second else 1, dtype=np.int64)
    for rows in _row_blocks(labels.shape):
        mask = uncertain_mask(labels, score_map, runner_up_score, rows)
        if not mask.any():
            continue
        key = stats.lut[persons[rows][mask]] * n + labels[rows][mask]
        unc += np.bincount(key, minlength=size)
        if with_second:
            ru = np.minimum(np.asarray(runner_up[rows][mask], dtype=np.int64), n - 1)
            second += np.bincount(key * n + ru, minlength=size * n)
    labelled = int(stats.count.reshape(-1, n)[:, 1:].sum())
    if labelled == 0:
        return [], None
    total_unc = int(unc.reshape(-1, n)[:, 1:].sum())
    reasons: list[DoubtReason] = []
    per_person = unc.reshape(-1, n)
    all_person = stats.count.reshape(-1, n)
    for idx in range(per_person.shape[0]):
        row = per_person[idx].copy()
        row[0] = 0
        k = int(row.sum())
        own = int(all_person[idx, 1:].sum())
        if k * scale < MIN_REGION_PIXELS or own == 0 or k / own < UNCERTAIN_PERSON_SHARE:
            continue
        person = int(stats.ids[idx - 1]) if idx else None
        top = int(np.argmax(row))
        cls = _name(names, top)
        share = k / own
        details = {"pixels": int(round(k * scale)), "share_of_person": round(share, 4)}
        if with_second:
            seconds = second[(idx * n + top) * n : (idx * n + top + 1) * n].copy()
            seconds[top] = 0
            if seconds.any():
                alt_id = int(np.argmax(seconds))
                details["second_choice"] = _name(names, alt_id)
        message = _sentence("uncertain-pixels", person, cls, {**details, "share_of_person": share}, False)
        reasons.append(DoubtReason("uncertain-pixels", message, person, cls, k / labelled, details))
    return reasons, total_unc / labelled


def _threshold_reasons(result, names: Sequence[str], keep: float, paste: float) -> list[DoubtReason]:
    reasons: list[DoubtReason] = []
    for person in result.persons:
        s = float(person.score)
        if keep < s < keep + NEAR:
            reasons.append(DoubtReason(
                "person-near-threshold",
                _sentence("person-near-threshold", int(person.id), None, {"score": s, "threshold": keep}, False),
                int(person.id), None, WEIGHTS["person-near-threshold"], {"score": round(s, 4), "threshold": keep}))
    for part in result.parts:
        s = float(part.score)
        if not abs(s - paste) < NEAR or s < keep:
            continue
        cls = _name(names, int(part.label))
        message = _sentence("part-near-threshold", part.person_id, cls,
                            {"score": s, "threshold": paste, "drawn": s >= paste}, False)
        reasons.append(DoubtReason("part-near-threshold", message, part.person_id, cls,
                                   WEIGHTS["part-near-threshold"],
                                   {"score": round(s, 4), "threshold": paste, "drawn": s >= paste,
                                    "part": int(part.id)}))
    return reasons


def _face_reasons(labels: np.ndarray, persons: np.ndarray, face: int, names: Sequence[str]) -> list[DoubtReason]:
    ys_all, xs_all, ps_all = [], [], []
    for rows in _row_blocks(labels.shape):
        r, c = np.nonzero(labels[rows] == face)
        if r.size:
            ys_all.append((r + rows.start).astype(np.int32))
            xs_all.append(c.astype(np.int32))
            ps_all.append(persons[rows][r, c])
    if not ys_all:
        return []
    ys, xs, ps = np.concatenate(ys_all), np.concatenate(xs_all), np.concatenate(ps_all)
    order = np.argsort(ps, kind="stable")
    ys, xs, ps = ys[order], xs[order], ps[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    ends = np.r_[starts[1:], ps.size]
    reasons = []
    cls = _name(names, face)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        person = int(ps[s])
        if person == 0 or e - s < 2 * MIN_REGION_PIXELS:
            continue
        r, c = ys[s:e], xs[s:e]
        y0, x0 = int(r.min()), int(c.min())
        mask = np.zeros((int(r.max()) - y0 + 1, int(c.max()) - x0 + 1), dtype=np.uint8)
        mask[r - y0, c - x0] = 1
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        areas = sorted((int(a) for a in stats[1:count, cv2.CC_STAT_AREA]), reverse=True)
        big = [a for a in areas if a >= max(MIN_REGION_PIXELS, SECOND_FACE_SHARE * areas[0])] if areas else []
        if len(big) >= 2:
            reasons.append(DoubtReason(
                "two-faces", _sentence("two-faces", person, cls, {"regions": len(big), "areas": big}, False),
                person, cls, WEIGHTS["two-faces"], {"regions": len(big), "areas": big}))
    return reasons


def _arm_reasons(stats: _Stats, ids: dict[str, int], names: Sequence[str]) -> list[DoubtReason]:
    need = ("face", "hair", "left-arm", "right-arm")
    if any(k not in ids for k in need):
        return []
    face, hair, left, right = (ids[k] for k in need)
    torso = [ids[t.casefold()] for t in _TORSO if t.casefold() in ids]
    reasons = []
    for person in stats.ids.tolist():
        facing: bool | None
        if stats.pixels(person, [face]) >= MIN_REGION_PIXELS:
            facing = True
        elif stats.pixels(person, [hair]) >= MIN_REGION_PIXELS:
            facing = False
        else:
            continue  # neither face nor hair: which way the person faces is unknown
        if torso and stats.pixels(person, torso) >= MIN_REGION_PIXELS:
            ref, ref_name = stats.centre_x(person, torso), "torso"
        elif facing:
            ref, ref_name = stats.centre_x(person, [face]), "face"
        else:
            continue
        tolerance = max(2.0, 0.5 * stats.spread_x(person))
        for arm, is_left in ((left, True), (right, False)):
            if stats.pixels(person, [arm]) < MIN_REGION_PIXELS:
                continue
            x = stats.centre_x(person, [arm])
            if ref is None or x is None or abs(x - ref) <= tolerance:
                continue  # along the body: no side to tell
            on_picture_right = x > ref
            expected_right = is_left == facing  # facing the camera, a left arm shows on the picture's right
            if on_picture_right == expected_right:
                continue
            cls = _name(names, arm)
            side = "right" if on_picture_right else "left"
            figures = {"facing_camera": facing, "side": side, "reference": ref_name}
            reasons.append(DoubtReason(
                "arm-side", _sentence("arm-side", person, cls, figures, False),
                person, cls, WEIGHTS["arm-side"],
                {"facing_camera": facing, "side": side, "reference": ref_name}))
    return reasons


def _no_person_reasons(stats: _Stats, names: Sequence[str]) -> list[DoubtReason]:
    reasons = []
    for c in range(1, stats.n):
        k = int(stats.count[c])  # renumbered person 0 = no person
        if k >= MIN_REGION_PIXELS:
            cls = _name(names, c)
            reasons.append(DoubtReason(
                "no-person", _sentence("no-person", None, cls, {"pixels": k}, False),
                None, cls, WEIGHTS["no-person"], {"pixels": k}))
    return reasons


# --------------------------------------------------------------------------- entry points

def doubt_of_maps(labels: np.ndarray, persons: np.ndarray, class_names: Sequence[str], *,
                  score_map: np.ndarray | None = None, runner_up: np.ndarray | None = None,
                  runner_up_score: np.ndarray | None = None, result=None,
                  paste_threshold: float = 0.5, keep_threshold: float = KEEP_THRESHOLD,
                  grid: tuple[np.ndarray, np.ndarray] | None = None) -> Doubt:
    """The doubt of two maps (a model result's or a reviewer's edited ones).

    ``labels`` (H, W) uint8, ``persons`` (H, W) uint16; the confidence maps are optional
    (uint8, same size, or, with ``grid`` = (rows, columns), at that grid of the label map: a
    sample, see the module docstring); ``result`` (the model's :class:`ParsingResult`) adds
    the score checks.
    """
    labels = np.asarray(labels)
    persons = np.asarray(persons)
    if labels.ndim != 2 or labels.shape != persons.shape:
        raise ValueError(f"label map {labels.shape} and person map {persons.shape} must be 2-D and the same size")
    if labels.dtype != np.uint8 or persons.dtype != np.uint16:
        raise ValueError(f"maps must be uint8 labels and uint16 persons, not {labels.dtype} and {persons.dtype}")
    shape = labels.shape
    if grid is not None:
        ys, xs = (np.asarray(g, dtype=np.int64) for g in grid)
        shape = (ys.size, xs.size)
    score_map = _check_map("score", score_map, shape)
    runner_up = _check_map("runner-up", runner_up, shape)
    runner_up_score = _check_map("runner-up score", runner_up_score, shape)
    names = tuple(str(n) for n in class_names)
    n = max(len(names), int(labels.max()) + 1 if labels.size else 1)
    ids = _class_ids(names)
    stats = _Stats(labels, persons, n)
    reasons: list[DoubtReason] = []
    share = None
    if score_map is not None and grid is not None:
        lab_s, per_s = labels.take(ys, 0).take(xs, 1), persons.take(ys, 0).take(xs, 1)
        scale = labels.size / max(lab_s.size, 1)
        found, share = _uncertain_reasons(lab_s, per_s, names, _Stats(lab_s, per_s, n), score_map, runner_up,
                                          runner_up_score, scale)
        reasons += found
    elif score_map is not None:
        found, share = _uncertain_reasons(labels, persons, names, stats, score_map, runner_up, runner_up_score)
        reasons += found
    if result is not None:
        reasons += _threshold_reasons(result, names, keep_threshold, paste_threshold)
    if "face" in ids:
        reasons += _face_reasons(labels, persons, ids["face"], names)
    reasons += _arm_reasons(stats, ids, names)
    reasons += _no_person_reasons(stats, names)
    reasons.sort(key=lambda r: (-r.weight, r.person if r.person is not None else -1, r.code))
    return Doubt(_combine(reasons), tuple(reasons), None if share is None else round(share, 4))


def doubt_of(result, *, paste_threshold: float = 0.5, keep_threshold: float = KEEP_THRESHOLD,
             score_map: np.ndarray | None = None, runner_up: np.ndarray | None = None,
             runner_up_score: np.ndarray | None = None, persons: np.ndarray | None = None) -> Doubt:
    """The doubt of a model :class:`~desktop.engine.result.ParsingResult`.

    ``paste_threshold``: the model configuration's ``parsing_ins_score_thr``. The confidence
    maps default to a regular sample of the result's ``confidence`` provider (at most
    :data:`UNCERTAIN_SAMPLE_PIXELS`), else to its ``score_map`` / ``runner_up`` /
    ``runner_up_score`` attributes. ``persons``: the person map when the caller has it
    already (else :func:`desktop.review.maps.person_map_of`).
    """
    from desktop.review.maps import person_map_of

    provider = getattr(result, "confidence", None)
    given = getattr(result, "_given_maps", None)  # maps set as arrays win over the provider
    if provider is not None and not given and score_map is None and runner_up is None and runner_up_score is None:
        ys, xs = sample_grid(np.asarray(result.labels).shape)
        maps = provider.sample(ys, xs)
        if persons is None:
            persons = person_map_of(result)
        return doubt_of_maps(np.asarray(result.labels, dtype=np.uint8), persons, result.class_names,
                             score_map=maps.score, runner_up=maps.runner_up, runner_up_score=maps.runner_up_score,
                             result=result, paste_threshold=paste_threshold, keep_threshold=keep_threshold,
                             grid=(ys, xs))
    if score_map is None:
        score_map = getattr(result, "score_map", None)
    if runner_up is None:
        runner_up = getattr(result, "runner_up", None)
    if runner_up_score is None:
        runner_up_score = getattr(result, "runner_up_score", None)
    if persons is None:
        persons = person_map_of(result)
    return doubt_of_maps(np.asarray(result.labels, dtype=np.uint8), persons, result.class_names,
                         score_map=score_map, runner_up=runner_up, runner_up_score=runner_up_score, result=result,
                         paste_threshold=paste_threshold, keep_threshold=keep_threshold)


def sample_grid(shape: tuple[int, int], max_pixels: int = UNCERTAIN_SAMPLE_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a regular grid over an (H, W) image, every k-th pixel from k // 2 on,
    with at most ``max_pixels`` points (every pixel when the image is that small)."""
    h, w = int(shape[0]), int(shape[1])
    step = 1
    while -(-h // step) * -(-w // step) > max_pixels:
        step += 1
    return np.arange(step // 2, h, step), np.arange(step // 2, w, step)


# --------------------------------------------------------------------------- batch helpers

def paste_threshold_of(source=None) -> float:
    """The model's ``parsing_ins_score_thr``: ``source`` is a loaded parser (its ``cfg``) or a
    model folder; the reference's default (0.5) when it cannot be read."""
    cfg = getattr(source, "cfg", None)
    if cfg is None and source is not None:
        try:
            from desktop.engine.config import load_config

            cfg = load_config(source)
        except Exception as exc:  # a doubt is never worth failing a batch
            log.info("The model configuration cannot be read for the doubt score (%s); using 0.5", exc)
    value = getattr(cfg, "parsing_ins_score_thr", None)
    return float(value) if isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0 else 0.5


def store_doubt(workspace, image_id: int, result, paste_threshold: float = 0.5) -> Doubt | None:
    """Compute the doubt of a model result and keep it in ``workspace``; None (logged) when
    that fails: a doubt score is a help, never a reason to fail the image."""
    try:
        doubt = doubt_of(result, paste_threshold=paste_threshold)
        doubt.store(workspace, image_id)
        return doubt
    except Exception as exc:
        log.warning("The doubt score of image %s could not be computed: %s", image_id, exc, exc_info=True)
        return None
