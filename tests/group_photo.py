"""A group-photo parsing result with many persons, for GUI tests and screenshots.

The tiny test model finds one or two random regions; real group photos have 10-20 persons.
:class:`GroupParser` wraps the real parser (the real work still runs, so timing and threads
are real) and replaces its answer with :func:`group_result`: ``persons`` side-by-side
figures, each with hair, face, upper clothes, pants and shoes, built at the photo's size.
"""

from __future__ import annotations

import numpy as np

from desktop.engine.result import ParsingResult, Part, Person, mask_bbox
from desktop.resources import default_class_names, palette

# (class id, top, bottom) of each figure's parts, as fractions of the figure's height.
FIGURE = ((2, 0.00, 0.10), (13, 0.10, 0.22), (5, 0.22, 0.55), (9, 0.55, 0.92), (18, 0.92, 1.00))


def group_result(h: int, w: int, persons: int = 12, model: dict | None = None) -> ParsingResult:
    """``persons`` figures in a row across an (h, w) photo; person 1 scores highest; ``model``:
    the ``model`` section (default: a made-up model's)."""
    names = default_class_names()
    labels = np.zeros((h, w), np.uint8)
    person_list: list[Person] = []
    part_list: list[Part] = []
    slot = w / persons
    top, bottom = int(h * 0.15), int(h * 0.95)
    for p in range(persons):
        x0, x1 = int(p * slot + slot * 0.15), int((p + 1) * slot - slot * 0.15)
        figure = np.zeros((h, w), bool)
        figure[top:bottom, x0:x1] = True
        ids = []
        for label, f0, f1 in FIGURE:
            y0, y1 = top + int((bottom - top) * f0), top + int((bottom - top) * f1)
            mask = np.zeros((h, w), bool)
            mask[y0:y1, x0:x1] = True
            labels[mask] = label
            part_id = len(part_list) + 1
            part_list.append(Part(part_id, label, names[label], 0.9, mask, mask_bbox(mask), int(mask.sum()), p + 1))
            ids.append(part_id)
        person_list.append(Person(p + 1, round(0.99 - 0.02 * p, 2), figure, mask_bbox(figure), int(figure.sum()),
                                  tuple(ids)))
    return ParsingResult(labels, person_list, part_list, names, palette().copy(), timings={"total": 0.1},
                         model=dict(model or {"name": "group"}), notes=[])


class GroupParser:
    """The real parser's work, answered with a ``persons``-person group result."""

    def __init__(self, inner, persons: int = 12):
        self.inner = inner
        self.persons = persons

    @property
    def info(self):
        return self.inner.info

    def parse(self, rgb, *, notes=None):
        self.inner.parse(rgb, notes=notes)
        # As made by the loaded model (else the window would flag it as another model's result).
        return group_result(rgb.shape[0], rgb.shape[1], self.persons, model=self.inner.info)
