"""The review panel: the image's verdict (buttons and keys), its note, the reviewer's name.

The panel only shows and collects; the review controller saves. Two rules shape it:

- **A note is never lost.** Typing is saved NOTE_DELAY_MS after the last key (well under the
  one second a crash may cost), and at once when the image changes or the window closes
  (:meth:`VerdictPanel.flush`). The note is tied to the image it was typed for, so a save
  that fires after the user moved on still goes to the right image.
- **A verdict changes only when asked.** The buttons call ``on_verdict``; pressing the
  verdict an image already has does nothing (the controller decides and says so).
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from desktop.app.theme import COLORS
from desktop.app.verdict_icons import CHANGED_COLOR, VerdictIcons
from desktop.i18n import N_, _, ngettext, pgettext

NOTE_DELAY_MS = 300
NOTE_HINT = N_("Note (saved as you type)")  # translated where shown

#: (verdict value, button text (marked; translated where shown), key shown) in the order of the buttons.
VERDICT_BUTTONS = (
    ("accepted", N_("Accept"), "Y"),
    ("needs_fix", N_("Needs fix"), "X"),
    ("rejected", N_("Reject"), "R"),
    ("not_reviewed", N_("Not reviewed"), "U"),
)


class VerdictPanel(ttk.Frame):
    """``on_verdict(value)``; ``on_note(image_id, text)``; ``on_reviewer()`` (change the name)."""

    def __init__(self, master: tk.Misc, *, unit: int, icons: VerdictIcons,
                 on_verdict: Callable[[str], None], on_note: Callable[[int, str], None],
                 on_reviewer: Callable[[], None]):
        super().__init__(master, style="Side.TFrame")
        self._on_verdict = on_verdict
        self._on_note = on_note
        u = self._u = unit
        self._icons = icons
        self._image_id: int | None = None
        self._saved_text = ""
        self._pending: str | None = None
        self._loading = False
        self._writable = True

        # Compact (about 150 px): at 1024x640 the classes below must still show without scrolling.
        head = ttk.Frame(self, style="Side.TFrame")
        head.pack(fill="x")
        ttk.Label(head, text=pgettext("panel", "Review"), style="SideHeading.TLabel").pack(side="left")
        self.reviewer_button = ttk.Button(head, text="", style="Small.TButton", takefocus=False, command=on_reviewer)
        self.reviewer_button.pack(side="right")
        from desktop.app.widgets import Tooltip

        Tooltip(self.reviewer_button, _("The name written with your verdicts, notes and edits: click to change it"))

        grid = ttk.Frame(self, style="Side.TFrame")
        grid.pack(fill="x", pady=(u // 5, 0))
        self.buttons: dict[str, ttk.Button] = {}
        for i, (value, text, key) in enumerate(VERDICT_BUTTONS):
            b = ttk.Button(grid, text=_("{verdict} ({key})").format(verdict=_(text), key=key), image=icons.get(value), compound="left",
                           style="Verdict.TButton", takefocus=False, command=lambda v=value: self._on_verdict(v))
            b.grid(row=i // 2, column=i % 2, sticky="ew", padx=(0, u // 4 if i % 2 == 0 else 0), pady=(0, u // 8))
            self.buttons[value] = b
        grid.columnconfigure(0, weight=1, uniform="v")
        grid.columnconfigure(1, weight=1, uniform="v")
        Tooltip(self.buttons["accepted"], _("Accept (Y). Space accepts and goes to the next image not reviewed."))
        Tooltip(self.buttons["not_reviewed"], _("Back to “not reviewed” (U)"))

        # Who gave the verdict and when; a warning when the photo changed since. Shown when there is one.
        self.detail = ttk.Label(self, text="", style="SideValueMuted.TLabel", wraplength=u * 14, justify="left")
        self.changed_label = tk.Label(self, text="", background=COLORS.surface, foreground=CHANGED_COLOR,
                                      wraplength=u * 14, justify="left", anchor="w")

        # The note: its label is a grey hint inside the empty field (a label row would cost the
        # classes below their place at 1024x640); "Saving…"/"Saved" goes beside the heading.
        self.note_status = ttk.Label(head, text="", style="SideValueMuted.TLabel")
        self.note_status.pack(side="right", padx=(0, u // 3))
        self.note = tk.Text(self, height=2, width=24, wrap="word", undo=True, relief="solid", borderwidth=1,
                            highlightthickness=1, highlightcolor=COLORS.accent, highlightbackground=COLORS.border,
                            background=COLORS.surface, foreground=COLORS.text, insertbackground=COLORS.text,
                            padx=u // 4, pady=u // 8, font="TkDefaultFont")
        self.note.pack(fill="x", pady=(u // 5, 0))
        self.note_row = self.note  # what the verdict's details are packed above
        self.note.tag_configure("hint", foreground=COLORS.muted)
        self._hint = False
        self.note.bind("<<Modified>>", self._modified)
        self.note.bind("<FocusIn>", lambda _e: self._hide_hint(), add="+")
        self.note.bind("<FocusOut>", lambda _e: (self.flush(), self._show_hint()), add="+")
        # Escape leaves the note (so the review keys work again); the text stays as typed.
        self.note.bind("<Escape>", lambda _e: (self.flush(), self.winfo_toplevel().focus_set(), "break")[-1])
        self.show(None)

    # -- what the controller tells us ------------------------------------------------------
    def show(self, image_id: int | None, verdict: str = "not_reviewed", note: str = "", *, detail: str = "",
             changed: bool = False, can_accept: bool = True) -> None:
        """Show an image's review (``image_id`` None: no image). Saves a pending note first."""
        if image_id != self._image_id:
            self.flush()
        self._image_id = image_id
        self.set_verdict(verdict, detail=detail, changed=changed)
        if self.note_text() != note or image_id is None or (self._hint and note):
            self._set_text(note)
        self._show_hint()
        self._saved_text = note
        self._pending = None
        self.note_status.configure(text="")
        self._apply_state(can_accept)

    def set_verdict(self, verdict: str, *, detail: str = "", changed: bool = False) -> None:
        self._verdict = verdict
        for value, button in self.buttons.items():
            button.configure(style="VerdictOn.TButton" if value == verdict and self._image_id is not None
                             else "Verdict.TButton")
        self.detail.configure(text=detail)
        if detail:
            self.detail.pack(anchor="w", fill="x", pady=(self._u // 8, 0), before=self.note_row)
        else:
            self.detail.pack_forget()
        if changed:
            self.changed_label.configure(text=_("⚠ The image changed on disk since this verdict: look again and "
                                                "confirm or change it."))
            self.changed_label.pack(anchor="w", fill="x", before=self.note_row)
        else:
            self.changed_label.pack_forget()

    def set_writable(self, writable: bool, can_accept: bool = True) -> None:
        self._writable = writable
        self._apply_state(can_accept)

    def _apply_state(self, can_accept: bool) -> None:
        on = self._writable and self._image_id is not None
        for value, button in self.buttons.items():
            button.state(["!disabled"] if on and (can_accept or value != "accepted") else ["disabled"])
        self.note.configure(state="normal" if on else "disabled",
                            background=COLORS.surface if on else COLORS.bg)

    def set_reviewer(self, name: str, changeable: bool = True) -> None:
        self.reviewer_button.configure(text=f"✎ {name}")
        self.reviewer_button.state(["!disabled"] if changeable else ["disabled"])

    def reviewer_text(self) -> str:
        return str(self.reviewer_button.cget("text")).removeprefix("✎ ")

    @property
    def image_id(self) -> int | None:
        return self._image_id

    def note_text(self) -> str:
        """What the reviewer wrote (the grey hint's characters left out)."""
        if not self._hint:
            return self.note.get("1.0", "end-1c")
        ranges = self.note.tag_ranges("hint")
        parts, start = [], "1.0"
        for a, b in zip(ranges[::2], ranges[1::2], strict=True):
            parts.append(self.note.get(start, a))
            start = b
        parts.append(self.note.get(start, "end-1c"))
        return "".join(parts)

    def _set_text(self, text: str, hint: bool = False) -> None:
        self._loading = True
        state = str(self.note.cget("state"))
        self.note.configure(state="normal")
        self.note.delete("1.0", "end")
        self.note.insert("1.0", text, ("hint",) if hint else ())
        self.note.edit_reset()
        self.note.edit_modified(False)
        self.note.configure(state=state)
        self._hint = hint
        self._loading = False

    def _show_hint(self) -> None:
        if not self._hint and self._image_id is not None and not self.note_text() \
                and self.focus_get() is not self.note:
            self._set_text(_(NOTE_HINT), hint=True)

    def _hide_hint(self) -> None:
        """Remove the hint's own characters (text typed or pasted meanwhile stays)."""
        if not self._hint:
            return
        self._loading = True
        ranges = self.note.tag_ranges("hint")
        if ranges:
            self.note.delete(*ranges)
        self.note.edit_modified(False)
        self._hint = False
        self._loading = False
        if self.note_text() and self._image_id is not None:
            self._save_soon()  # text arrived before the hint left: its change event was just spent

    # -- note autosave -------------------------------------------------------------------------
    def _modified(self, _event: tk.Event) -> None:
        if not self.note.edit_modified():
            return
        self.note.edit_modified(False)
        if self._loading or self._image_id is None:
            return
        self._hide_hint()  # typed (or pasted) before the hint was cleared: keep only what was typed
        self._save_soon()

    def _save_soon(self) -> None:
        if self._pending is not None:
            self.after_cancel(self._pending)
        self._pending = self.after(NOTE_DELAY_MS, self.flush)
        self.note_status.configure(text=_("Saving…"))

    def flush(self) -> None:
        """Save the note now if it changed (image switch, close, focus leaving the note)."""
        if self._pending is not None:
            try:
                self.after_cancel(self._pending)
            except tk.TclError:
                pass
            self._pending = None
        if self._image_id is None:
            return
        text = self.note_text()
        if text == self._saved_text:
            if str(self.note_status.cget("text")) == _("Saving…"):
                self.note_status.configure(text=_("Saved"))
            return
        self._on_note(self._image_id, text)
        self._saved_text = text

    def note_saved(self, ok: bool, message: str = "") -> None:
        """The controller's answer to ``on_note``."""
        self.note_status.configure(text=_("Saved") if ok else message, foreground=COLORS.muted if ok else COLORS.error)


class VerdictCounts(ttk.Frame):
    """The status bar's count of verdicts, each with its icon: "✓ 12  ! 3  ✕ 1  ○ 84"."""

    ORDER = ("accepted", "needs_fix", "rejected", "not_reviewed")
    #: For the log and tests only (English like the rest of the log); the window shows :meth:`tip`.
    LOG_WORDS = {"accepted": "accepted", "needs_fix": "marked “needs fix”", "rejected": "rejected",
                 "not_reviewed": "not reviewed yet"}

    @staticmethod
    def tip(value: str, n: int) -> str:
        """"12 images accepted": the count of one verdict as a sentence."""
        if value == "accepted":
            return ngettext("{n} image accepted", "{n} images accepted", n).format(n=n)
        if value == "needs_fix":
            return ngettext("{n} image marked “needs fix”", "{n} images marked “needs fix”", n).format(n=n)
        if value == "rejected":
            return ngettext("{n} image rejected", "{n} images rejected", n).format(n=n)
        return ngettext("{n} image not reviewed yet", "{n} images not reviewed yet", n).format(n=n)

    def __init__(self, master: tk.Misc, *, icons: VerdictIcons, unit: int):
        super().__init__(master, style="Status.TFrame")
        from desktop.app.widgets import Tooltip

        self.labels: dict[str, ttk.Label] = {}
        self._counts: dict[str, int] = {}
        for value in self.ORDER:
            label = ttk.Label(self, text="0", image=icons.get(value), compound="left", style="Status.TLabel")
            label.pack(side="left", padx=(0, unit // 6))
            Tooltip(label, lambda v=value: self.tip(v, self._counts.get(v, 0)))
            self.labels[value] = label
        self.changed = ttk.Label(self, text="", style="StatusWarn.TLabel")
        self.changed.pack(side="left")
        Tooltip(self.changed, _("Images changed on disk since their verdict: look again and confirm"))

    def set_counts(self, counts: dict[str, int], changed: int, visible: bool = True) -> None:
        self._counts = {value: counts.get(value, 0) for value in self.labels}
        for value, label in self.labels.items():
            label.configure(text=f"{counts.get(value, 0):,}")
        self.changed.configure(text=_("⚠ {n} changed").format(n=f"{changed:,}") if changed else "")
        if not visible:
            for label in self.labels.values():
                label.configure(text="")

    def text(self) -> str:
        """The counts as words (tests, the log)."""
        return ", ".join(f"{self.labels[v].cget('text')} {self.LOG_WORDS[v]}" for v in self.ORDER)


def badge_for(entry) -> str:
    """The badge over a parsed image for its verdict (empty when not reviewed)."""
    text = {"accepted": _("✓ Accepted"), "needs_fix": _("! Needs fix"), "rejected": _("✕ Rejected")}.get(
        entry.verdict, "")
    if entry.changed:
        text = (text + "  ·  " if text else "") + _("⚠ Changed on disk since review")
    return text


def configure_styles(root: tk.Misc, unit: int) -> None:
    """The verdict buttons: plain, and the current verdict's (accent outline, bold)."""
    style = ttk.Style(root)
    pad = max(2, unit // 5)
    style.configure("Verdict.TButton", padding=(pad, pad), anchor="w")
    style.configure("VerdictOn.TButton", padding=(pad, pad), anchor="w", background=COLORS.accent_light,
                    bordercolor=COLORS.accent, lightcolor=COLORS.accent, darkcolor=COLORS.accent)
    style.map("VerdictOn.TButton", background=[("active", COLORS.accent_light), ("disabled", COLORS.accent_light)])
