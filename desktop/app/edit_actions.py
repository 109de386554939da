"""Edit mode's click tools, the relabel menu and the person actions, on the current image.

Part of :class:`desktop.app.edit_controller.EditController` (a mixin, kept apart so each
module stays short): every action here runs one Tk-free operation of
:mod:`desktop.review.edits` or :mod:`desktop.review.person_edits` through the controller's
``_run`` (which records it for undo, redraws the changed rectangle and schedules the save)
and says what happened in the status bar.
"""

from __future__ import annotations

import tkinter as tk

import numpy as np

from desktop.i18n import _, class_display_name
from desktop.review import edits, person_edits
from desktop.review.edit_core import EditError
from desktop.review.relabel_hints import relabel_choices_for

__all__ = ["EditActions"]


class EditActions:
    """Click tools and person actions (see the module docstring). Relies on the controller's
    ``session``, ``cv`` (the model's result), ``label``, ``person``, ``tool``, ``tools``, ``panel``, ``_ready``, ``_run``,
    ``status``, ``set_person``, ``_class_names`` and ``_palette``."""

    def click(self, tool: str, x: float, y: float, shift: bool = False) -> None:
        """Apply a click tool at image position (x, y); Shift for the whole part or person."""
        if tool == "fill":
            self._run(lambda lab, per: edits.fill(lab, per, x, y, self.label, self.person))
        elif tool == "picker":
            self.pick(x, y)
        elif tool == "move":
            if shift:
                self._run(lambda lab, per: person_edits.move_part_to_person(
                    lab, per, *self._part_at(lab, per, x, y), self.person))
            else:
                self._run(lambda lab, per: person_edits.move_region_to_person(lab, per, x, y, self.person))
        elif tool == "new_person":
            s = self.session or self._ready()
            before = set(s.person_ids) if s is not None else set()
            if shift:
                edit = self._run(lambda lab, per: person_edits.new_person_from_part(
                    lab, per, *self._part_at(lab, per, x, y)))
            else:
                edit = self._run(lambda lab, per: person_edits.new_person_from_region(lab, per, x, y))
            if edit is not None and not edit.empty and self.session is not None:
                new = sorted(set(self.session.person_ids) - before)
                if new:
                    self.set_person(new[0])
                    self.status(_("Person {person} is new; it is now the chosen person.").format(person=new[0]))
        elif tool == "swap":
            if shift:
                self._run(lambda lab, per: person_edits.swap_left_right(
                    lab, per, self._part_at(lab, per, x, y)[0], class_names=self._class_names()))
            else:
                self._run(lambda lab, per: person_edits.swap_left_right_region(
                    lab, per, x, y, class_names=self._class_names()))
        elif tool == "relabel":
            self.relabel_menu(x, y)
        else:
            raise ValueError(f"{tool!r} is not a click tool")

    @staticmethod
    def _part_at(labels: np.ndarray, persons: np.ndarray, x: float, y: float) -> tuple[int, int]:
        """(person, class) of the pixel clicked (for whole-part and whole-person actions)."""
        picked = edits.pick(labels, persons, x, y)
        if picked is None:
            raise EditError(_("Click inside the photo."))
        label, person = picked
        return person, label

    def pick(self, x: float, y: float) -> None:
        s = self._ready()
        if s is None:
            return
        picked = edits.pick(s.labels, s.persons, x, y)
        if picked is None:
            self.status(_("Click inside the photo."))
            return
        label, person = picked
        if label != 0:
            self.label = label
        if person != 0:
            self.person = person
        if label == 0:
            self.status(_("That pixel is background: the class and person are unchanged."))
        elif person:
            self.status(_("Picked {cls} of person {person}.").format(cls=self._class_title(label), person=person))
        else:
            self.status(_("Picked {cls}, which belongs to no person.").format(cls=self._class_title(label)))
        self.tool = self._tool_before_picker if self._tool_before_picker != "picker" else "brush"
        self.tools.place_items()
        self.panel.refresh()

    def fill_polygon(self, points: list[tuple[float, float]]) -> None:
        self._run(lambda lab, per: edits.polygon_fill(lab, per, points, self.label, self.person))

    def relabel(self, x: float, y: float, label: int) -> None:
        """Give the region under (x, y) class ``label`` (keeping its person)."""
        s = self.session
        person = None
        if s is not None:
            picked = edits.pick(s.labels, s.persons, x, y)
            if picked is not None and picked[0] == 0:  # background needs a person to become a part
                person = self.person
        self._run(lambda lab, per: edits.relabel_region(lab, per, x, y, label, person))

    def relabel_menu(self, x: float, y: float, x_root: int | None = None, y_root: int | None = None) -> tk.Menu | None:
        """The short menu of new classes for the region under (x, y), most likely first."""
        s = self._ready()
        if s is None:
            return None
        names = self._class_names()
        try:
            choices = relabel_choices_for(s.labels, s.persons, x, y, self.cv.result, num_classes=len(names))
        except EditError as exc:
            self.status(str(exc))
            return None
        current = int(s.labels[int(y), int(x)])
        menu = tk.Menu(self.root, tearoff=False)
        menu.add_command(label=_("Relabel this {cls} region as:").format(cls=self._class_title(current)),
                         state="disabled")
        for c in choices[:6]:
            menu.add_command(label=self._class_title(c), image=self._swatch(c), compound="left",
                             command=lambda c=c: self.relabel(x, y, c))
        rest = sorted(choices[6:])
        if rest:
            more = tk.Menu(menu, tearoff=False)
            for c in rest:
                more.add_command(label=self._class_title(c), image=self._swatch(c), compound="left",
                                 command=lambda c=c: self.relabel(x, y, c))
            menu.add_cascade(label=_("Other classes"), menu=more)
        self.relabel_popup = menu
        if x_root is not None and y_root is not None:
            try:
                menu.tk_popup(x_root, y_root)
            finally:
                menu.grab_release()
        return menu

    def _class_title(self, label: int) -> str:
        """A class as the reviewer reads it (translated; the files keep the model's names)."""
        names = self._class_names()
        return class_display_name(names[label]) if 0 <= label < len(names) else str(label)

    def _swatch(self, label: int) -> tk.PhotoImage:
        if label not in self._swatches:
            palette = self._palette()
            rgb = palette[label] if label < len(palette) else (0, 0, 0)
            img = tk.PhotoImage(master=self.root, width=12, height=12)
            img.put("#8a94a3", to=(0, 0, 12, 12))
            img.put("#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3])), to=(1, 1, 11, 11))
            self._swatches[label] = img
        return self._swatches[label]

    # -- person actions (the edit bar's Person menu)
    def new_person(self) -> None:
        s = self._ready()
        if s is None:
            return
        try:
            pid = max(person_edits.new_person_id(s.persons), max(s.extra_persons, default=0) + 1)
        except EditError as exc:
            self.status(str(exc))
            return
        s.extra_persons.add(pid)
        self.set_person(pid)
        self.status(_("Person {person} is new: paint or fill its parts, or give it regions with Move to person.")
                    .format(person=pid))

    def merge_into(self, keep: int) -> None:
        absorb = self.person
        edit = self._run(lambda lab, per: person_edits.merge_persons(lab, per, keep, absorb))
        if edit is not None and not edit.empty:
            self._gone(absorb)
            self.set_person(keep)
            self.status(_("Person {absorbed} is now part of person {kept} (Ctrl+Z undoes it).").format(
                absorbed=absorb, kept=keep))

    def delete_person(self) -> None:
        pid = self.person
        edit = self._run(lambda lab, per: person_edits.delete_person(lab, per, pid))
        if edit is not None and not edit.empty:
            self._gone(pid)
            self.status(_("Person {person} and its parts are now background (Ctrl+Z undoes it).").format(person=pid))

    def _gone(self, pid: int) -> None:
        """Person ``pid`` has no pixel left (merged or deleted): off the choosers at once."""
        s = self.session
        if s is not None:
            s.person_ids = tuple(p for p in s.person_ids if p != pid)
            self.panel.refresh()

    def swap_person(self) -> None:
        pid = self.person
        edit = self._run(lambda lab, per: person_edits.swap_left_right(lab, per, pid,
                                                                        class_names=self._class_names()))
        if edit is not None and not edit.empty:
            self.status(_("Left and right are swapped for person {person} (Ctrl+Z undoes it).").format(person=pid))
