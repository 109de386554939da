"""The edit bar shown above the photo in edit mode: tools, class and person, size, view, undo.

Two rows of plain widgets; every choice goes to the controller
(:class:`desktop.app.edit_controller.EditController`), which calls :meth:`EditPanel.refresh`
whenever what the bar shows may have changed (another image, undo available, new persons).
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import TYPE_CHECKING

import numpy as np

from desktop.app.edit_tools import TOOLS
from desktop.app.theme import COLORS, unit
from desktop.app.widgets import Swatch, Tooltip
from desktop.i18n import N_, _, class_display_name, class_display_names

if TYPE_CHECKING:
    from desktop.app.edit_controller import EditController

__all__ = ["EditPanel", "VIEWS", "VIEW_TITLES"]

VIEWS = ("edited", "differences", "model")
VIEW_TITLES = {"edited": N_("Edited"), "differences": N_("Differences"), "model": N_("Model's result")}


def _hex(rgb) -> str:
    r, g, b = (int(v) for v in np.asarray(rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


class _Flow(ttk.Frame):
    """Groups of widgets left to right, wrapping onto more rows when the bar is narrow: the
    photo's column is as wide as the window leaves it, and no button may be cut off."""

    def __init__(self, master: tk.Misc, gap: int, **kwargs) -> None:
        super().__init__(master, **kwargs)
        self.gap = gap
        self.groups: list[ttk.Frame] = []
        self._layout: tuple = ()
        self.bind("<Configure>", lambda _e: self.reflow())

    def group(self) -> ttk.Frame:
        g = ttk.Frame(self, style="Toolbar.TFrame")
        self.groups.append(g)
        return g

    def reflow(self) -> None:
        width = self.winfo_width()
        if width <= 1:
            width = sum(g.winfo_reqwidth() + 3 * self.gap for g in self.groups)
        x = y = row_h = 0
        places = []
        for g in self.groups:
            w, h = g.winfo_reqwidth(), g.winfo_reqheight()
            if x > 0 and x + w > width:
                x, y, row_h = 0, y + row_h + self.gap // 2, 0
            places.append((g, x, y))
            x += w + 3 * self.gap
            row_h = max(row_h, h)
        layout = tuple((x, y) for _g, x, y in places) + (y + row_h,)
        if layout == self._layout:
            return
        self._layout = layout
        for g, x, y in places:
            g.place(x=x, y=y)
        self.configure(height=y + row_h)


def _columns(text: str) -> int:
    """Width of ``text`` in average characters: a Chinese character is about two (Tk's ``width``)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


class EditPanel(ttk.Frame):
    """Tool buttons, class and person choosers, brush size, view, undo/redo/revert, a note."""

    def __init__(self, master: tk.Misc, controller: EditController, class_names: tuple[str, ...],
                 palette: np.ndarray) -> None:
        super().__init__(master, style="Toolbar.TFrame", padding=(unit(master) // 3, unit(master) // 4))
        self.ctrl = controller
        self.class_names = tuple(class_names)
        self.palette = np.asarray(palette)
        u = unit(self)
        gap = max(4, u // 3)
        style = ttk.Style(self)
        # A read-only combobox is a choice here, not a disabled field: keep it white.
        style.map("Edit.TCombobox", fieldbackground=[("readonly", COLORS.surface)],
                  selectbackground=[("readonly", COLORS.surface)], selectforeground=[("readonly", COLORS.text)])
        self.tool_var = tk.StringVar(self, value=controller.tool)
        self.view_var = tk.StringVar(self, value=controller.view)
        self.class_var = tk.StringVar(self)
        self.person_var = tk.StringVar(self)

        flow = self.flow = _Flow(self, gap=gap, style="Toolbar.TFrame")
        flow.pack(fill="x")
        # The class and the person are groups of their own: one group holding both is wider than the
        # photo's column of a small window (the flow never splits a group).
        tools, person_tools, size, paint, person_group, views, history = (flow.group() for _i in range(7))
        self.tool_buttons: dict[str, ttk.Radiobutton] = {}
        for i, tool in enumerate(TOOLS):
            b = ttk.Radiobutton(tools if i < 6 else person_tools, text=_(tool.title), value=tool.name, variable=self.tool_var, style="Toolbutton",
                                command=lambda: controller.set_tool(self.tool_var.get()), takefocus=False)
            b.pack(side="left", padx=(0, 1))
            Tooltip(b, _(tool.tip))
            self.tool_buttons[tool.name] = b

        ttk.Label(size, text=_("Size"), style="Status.TLabel").pack(side="left")
        self.smaller = ttk.Button(size, text="−", width=2, style="Small.TButton", takefocus=False,
                                  command=lambda: controller.step_size(-1))
        self.smaller.pack(side="left")
        self.size_label = ttk.Label(size, text="", width=7, anchor="center", style="Status.TLabel")
        self.size_label.pack(side="left")
        self.larger = ttk.Button(size, text="+", width=2, style="Small.TButton", takefocus=False,
                                 command=lambda: controller.step_size(1))
        self.larger.pack(side="left")
        Tooltip(self.size_label, _("Brush and eraser diameter in photo pixels: , and . or Ctrl+wheel."))

        ttk.Label(paint, text=_("Class"), style="Status.TLabel").pack(side="left")
        self.swatch = Swatch(paint, max(10, u - 2), "#000000", COLORS.surface)
        self.swatch.pack(side="left", padx=(0, 2))
        names = class_display_names(self.class_names[1:])
        self.class_box = ttk.Combobox(paint, textvariable=self.class_var, values=names, state="readonly",
                                      width=max(_columns(n) for n in names) + 1, takefocus=False, style="Edit.TCombobox")
        self.class_box.pack(side="left")
        self.class_box.bind("<<ComboboxSelected>>", self._class_chosen)
        Tooltip(self.class_box, _("The class the brush, fill and polygon paint (the picker sets it too)."))
        ttk.Label(person_group, text=_("Person"), style="Status.TLabel").pack(side="left")
        self.person_box = ttk.Combobox(person_group, textvariable=self.person_var, state="readonly", width=10,
                                       takefocus=False, style="Edit.TCombobox")
        self.person_box.pack(side="left")
        self.person_box.bind("<<ComboboxSelected>>", self._person_chosen)
        Tooltip(self.person_box, _("The person new paint belongs to; every body part belongs to one person."))
        self.person_menu_button = ttk.Menubutton(person_group, text=_("Person ▾"), style="Toolbutton", takefocus=False)
        self.person_menu = tk.Menu(self.person_menu_button, tearoff=False, postcommand=self._fill_person_menu)
        self.person_menu_button.configure(menu=self.person_menu)
        self.person_menu_button.pack(side="left", padx=(2, 0))
        Tooltip(self.person_menu_button, _("New person, merge two persons, delete a person, swap left and right."))

        ttk.Label(views, text=_("Show"), style="Status.TLabel").pack(side="left")
        self.view_buttons: dict[str, ttk.Radiobutton] = {}
        for view in VIEWS:
            b = ttk.Radiobutton(views, text=_(VIEW_TITLES[view]), value=view, variable=self.view_var,
                                style="Toolbutton", command=lambda: controller.set_view(self.view_var.get()),
                                takefocus=False)
            b.pack(side="left", padx=(0, 1))
            self.view_buttons[view] = b
        Tooltip(self.view_buttons["edited"], _("Your corrected parsing (C cycles the three views)."))
        Tooltip(self.view_buttons["differences"], _("Grey out what you did not change: your changes stand out (C)."))
        Tooltip(self.view_buttons["model"], _("The model's result, as parsed (C cycles the three views)."))

        self.undo_button = ttk.Button(history, text=_("↶ Undo"), style="Toolbutton", takefocus=False,
                                      command=controller.undo)
        self.undo_button.pack(side="left")
        Tooltip(self.undo_button, _("Undo the last change to this image (Ctrl+Z)."))
        self.redo_button = ttk.Button(history, text=_("↷ Redo"), style="Toolbutton", takefocus=False,
                                      command=controller.redo)
        self.redo_button.pack(side="left")
        Tooltip(self.redo_button, _("Redo (Ctrl+Y or Ctrl+Shift+Z)."))
        self.revert_button = ttk.Button(history, text=_("Revert…"), style="Toolbutton", takefocus=False,
                                        command=controller.revert)
        self.revert_button.pack(side="left", padx=(gap, 0))
        Tooltip(self.revert_button, _("Put back the model's result for this image (asks first; Ctrl+Z undoes it)."))

        self.note = ttk.Label(self, text="", style="StatusWarn.TLabel", anchor="w", justify="left")
        self._person_values: list[int] = []

    # -- choices -----------------------------------------------------------------------------------
    def _class_chosen(self, _event: tk.Event | None = None) -> None:
        i = self.class_box.current()
        if i >= 0:
            self.ctrl.set_label(i + 1)  # the list leaves out the background (the eraser paints it)
        self.ctrl.focus_canvas()

    def _person_chosen(self, _event: tk.Event | None = None) -> None:
        i = self.person_box.current()
        if 0 <= i < len(self._person_values):
            self.ctrl.set_person(self._person_values[i])
        self.ctrl.focus_canvas()

    def _fill_person_menu(self) -> None:
        m, ctrl = self.person_menu, self.ctrl
        m.delete(0, "end")
        person = ctrl.person
        m.add_command(label=_("New person"), command=ctrl.new_person)
        merge = tk.Menu(m, tearoff=False)
        others = [p for p in ctrl.person_ids() if p != person]
        for pid in others:
            merge.add_command(label=_("Person {person}").format(person=pid), command=lambda p=pid: ctrl.merge_into(p))
        m.add_cascade(label=_("Merge person {person} into").format(person=person), menu=merge,
                      state="normal" if others else "disabled")
        m.add_command(label=_("Swap left and right of person {person}").format(person=person),
                      command=ctrl.swap_person)
        m.add_separator()
        m.add_command(label=_("Delete person {person} and its parts").format(person=person),
                      command=ctrl.delete_person)

    # -- showing the controller's state ---------------------------------------------------------------
    def refresh(self) -> None:
        ctrl = self.ctrl
        self.tool_var.set(ctrl.tool)
        self.view_var.set(ctrl.view)
        label = ctrl.label
        if 0 < label < len(self.class_names):
            self.class_var.set(class_display_name(self.class_names[label]))
            color = self.palette[label] if label < len(self.palette) else (0, 0, 0)
            self.swatch.set_color(_hex(color))
        self._person_values = ctrl.person_ids()
        if ctrl.person not in self._person_values:
            self._person_values = sorted({*self._person_values, ctrl.person})
        self.person_box.configure(values=[_("Person {person}").format(person=p) for p in self._person_values])
        self.person_var.set(_("Person {person}").format(person=ctrl.person))
        self.size_label.configure(text=_("{n} px").format(n=ctrl.size))
        session = ctrl.session
        has = session is not None or ctrl.can_start_session()
        self.undo_button.state(["!disabled"] if session is not None and session.history.can_undo else ["disabled"])
        self.redo_button.state(["!disabled"] if session is not None and session.history.can_redo else ["disabled"])
        self.revert_button.state(["!disabled"] if session is not None and session.edited_now() else ["disabled"])
        for b in (*self.tool_buttons.values(), *self.view_buttons.values(), self.class_box, self.person_box,
                  self.person_menu_button):
            b.state(["!disabled"] if has else ["disabled"])
        if has:
            self.class_box.state(["readonly"])
            self.person_box.state(["readonly"])
        note = ctrl.note()
        self.note.configure(text=note)
        if note:
            self.note.pack(fill="x", pady=(unit(self) // 4, 0))
        else:
            self.note.pack_forget()
