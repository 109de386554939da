"""How much a reviewer changed the model's result, per class: the provenance of an edited image.

Computed by comparing the model's maps with the edited ones (not by adding up undo records,
which would count a pixel painted and then erased), so it is right whatever sequence of
edits, undos and reverts led there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ClassChange", "ChangeStatistics", "change_statistics"]


@dataclass(frozen=True)
class ClassChange:
    """Pixel counts for one class id."""

    gained: int  # pixels of this class now that were another class in the model's result
    lost: int  # pixels of this class in the model's result that are another class now
    reassigned: int  # pixels of this class in both whose person changed


@dataclass(frozen=True)
class ChangeStatistics:
    """What differs between the model's maps and the edited maps."""

    changed_pixels: int  # class or person differs
    relabelled_pixels: int  # class differs
    reassigned_pixels: int  # same class, other person
    per_class: dict[int, ClassChange] = field(default_factory=dict)  # only classes with a change

    @property
    def edited(self) -> bool:
        return self.changed_pixels > 0

    def as_dict(self, class_names: tuple[str, ...] | list[str] | None = None) -> dict:
        """JSON-ready form; classes get their names when ``class_names`` is given."""
        classes = []
        for cid, ch in sorted(self.per_class.items()):
            entry: dict = {"id": cid}
            if class_names is not None and 0 <= cid < len(class_names):
                entry["name"] = class_names[cid]
            entry.update(gained=ch.gained, lost=ch.lost, reassigned=ch.reassigned)
            classes.append(entry)
        return {
            "changed_pixels": self.changed_pixels,
            "relabelled_pixels": self.relabelled_pixels,
            "reassigned_pixels": self.reassigned_pixels,
            "classes": classes,
        }


def change_statistics(
    model_labels: np.ndarray, model_persons: np.ndarray, labels: np.ndarray, persons: np.ndarray
) -> ChangeStatistics:
    """Compare the model's (labels, persons) with the edited ones, pixel by pixel."""
    shapes = {model_labels.shape, model_persons.shape, labels.shape, persons.shape}
    if len(shapes) != 1:
        raise ValueError(f"the maps differ in size: {sorted(shapes)}")
    changed = labels != model_labels
    changed |= persons != model_persons
    idx = np.flatnonzero(changed)
    if idx.size == 0:
        return ChangeStatistics(0, 0, 0, {})
    before = model_labels.reshape(-1)[idx]
    after = labels.reshape(-1)[idx]
    relabelled = before != after
    gained = np.bincount(after[relabelled], minlength=256)
    lost = np.bincount(before[relabelled], minlength=256)
    reassigned = np.bincount(after[~relabelled], minlength=256)
    per_class = {
        int(c): ClassChange(int(gained[c]), int(lost[c]), int(reassigned[c]))
        for c in np.flatnonzero(gained + lost + reassigned).tolist()
    }
    n_rel = int(np.count_nonzero(relabelled))
    return ChangeStatistics(int(idx.size), n_rel, int(idx.size) - n_rel, per_class)
