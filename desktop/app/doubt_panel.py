"""Doubt in the window (issue 16): the score stored with every parse, its reasons in the side
panel, and a "doubt" view highlighting where the model may be wrong.

- **Stored with the result.** :func:`store_doubt_of` runs in the parse worker's thread right
  after the review controller stored a result (``ReviewController.save``): the list then
  sorts by it ("Doubt", the most doubtful first) without recomputing anything.
- **Reasons in the reviewer's words.** :class:`DoubtPanel` shows the image's score and each
  stored reason through :func:`desktop.review.doubt.reason_text` (the app's language).
- **The "doubt" view.** With the engine's confidence (``result.confidence``, results parsed
  in this session) the uncertain pixels (:func:`uncertain_mask`) are highlighted over a dimmed
  photo; only the visible part, at screen resolution (the canvas's sample), is computed, in a
  worker thread (a 48-megapixel photo's full maps would take seconds): the view shows the
  dimmed photo until it is ready, then redraws. Results read back from the workspace carry no
  confidence (its inputs, the network's mask logits, are not stored: see
  :mod:`desktop.engine.confidence`), but the uncertain pixels themselves are stored with them
  (:mod:`desktop.review.uncertain_store`): the view samples that mask, the same highlight a
  freshly parsed result gives. Only results stored before the mask was kept (or whose mask
  cannot be read) have neither: for them the view shows the regions the reasons name
  (the part of the person concerned, the whole person for a score near the threshold, the
  pixels linked to no person) and the status bar says that parsing the photo again shows the
  uncertain pixels. The reasons' mask is computed once per result.
"""

from __future__ import annotations

import logging
import threading
import tkinter as tk
from tkinter import ttk
from typing import Any

import numpy as np

from desktop.app.entry_figures import list_figures
from desktop.i18n import _
from desktop.review.doubt import doubt_of, paste_threshold_of, reason_text, uncertain_mask
from desktop.review.uncertain_store import stored_uncertain_mask, uncertain_at

log = logging.getLogger(__name__)

__all__ = ["DOUBT_MODE", "DoubtController", "DoubtPanel", "doubt_highlight", "list_figures", "store_doubt_of"]

DOUBT_MODE = "doubt"
#: The highlight of doubtful pixels (a warm orange, unlike most CIHP class colours), and how
#: much the photo is dimmed around it so it stands out.
HIGHLIGHT = np.array([255, 96, 0], dtype=np.float32)
HIGHLIGHT_ALPHA = 0.75
DIM = 0.45


# ------------------------------------------------------------------ worker thread
def store_doubt_of(review: Any, ws: Any, iid: int, result: Any) -> None:
    """Compute the doubt of a result just stored and keep it (worker thread). Never raises: a
    doubt score is a help, not a reason to lose a result."""
    try:
        worker = getattr(review.window, "worker", None)
        threshold = paste_threshold_of(getattr(worker, "parser", None))
        doubt = doubt_of(result, paste_threshold=threshold)
    except Exception:  # noqa: BLE001 - logged; the result itself is stored
        log.warning("The doubt score of image %s could not be computed", iid, exc_info=True)
        return
    with review._lock:
        if review.workspace is not ws or ws.read_only:
            return
        try:
            doubt.store(ws, iid)
        except Exception:  # noqa: BLE001 - see above
            log.warning("The doubt score of image %s could not be stored", iid, exc_info=True)


# ------------------------------------------------------------------ the view
def no_confidence_message() -> str:
    """What the doubt view says for a result without the model's confidence (translated when shown)."""
    return _("The model's uncertain pixels were not stored with this result (it was parsed by an earlier "
             "version of the app): parse this photo again to see them (shown now: the regions the doubt's "
             "reasons name).")


def has_confidence(result: Any) -> bool:
    """Whether the result can show its uncertain pixels (the engine's confidence, maps given, or
    the mask stored with it in the workspace)."""
    return (getattr(result, "confidence", None) is not None or bool(getattr(result, "_given_maps", None))
            or stored_uncertain_mask(result) is not None)


def uncertain_view_mask(result: Any, provider: Any, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The uncertain pixels at the grid ``ys`` x ``xs`` (a screen's sample): the provider's maps
    there, against the model's labels there. Tk-free (runs in a worker thread)."""
    if provider is None:  # a result read back from the workspace: the mask stored with it
        stored = stored_uncertain_mask(result)
        if stored is None:
            raise ValueError("the result has neither the model's confidence nor stored uncertain pixels")
        return uncertain_at(stored, ys, xs)
    maps = provider.sample(ys, xs)
    labels = np.asarray(result.labels).take(ys, axis=0).take(xs, axis=1)
    return uncertain_mask(labels, maps.score, maps.runner_up_score)


def reason_mask(labels: np.ndarray, persons: np.ndarray, reasons: list[dict], class_names) -> np.ndarray:
    """(H, W) bool: the pixels the reasons are about (see the module docstring)."""
    ids = {str(n).casefold(): i for i, n in enumerate(class_names)}
    mask = np.zeros(labels.shape, dtype=bool)
    for r in reasons:
        person = r.get("person") if isinstance(r.get("person"), int) else None
        cls = ids.get(str(r.get("class") or "").casefold())
        code = r.get("code")
        if code == "person-near-threshold" and person is not None:
            mask |= (persons == person) & (labels != 0)
        elif cls is not None:
            mask |= (labels == cls) & (persons == (person or 0))
        elif person is not None:
            mask |= (persons == person) & (labels != 0)
    return mask


def doubt_highlight(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo dimmed, with ``mask``'s pixels in the highlight colour (same shape as photo)."""
    out = photo.astype(np.float32) * DIM
    out[mask] = photo[mask].astype(np.float32) * (1 - HIGHLIGHT_ALPHA) + HIGHLIGHT * HIGHLIGHT_ALPHA
    return out.astype(np.uint8)


class DoubtPanel(ttk.Frame):
    """Side-panel section: the doubt score, its reasons (folded: two rows when closed, so the
    class list below stays on screen at 1024x640), and the "doubt" view's switch."""

    #: Whether the reasons are unfolded (kept from image to image, as the reviewer left it).
    unfolded = False

    def __init__(self, master: tk.Misc, *, unit: int, view_mode: tk.StringVar, on_mode) -> None:
        super().__init__(master, style="Side.TFrame")
        u = unit
        head = ttk.Frame(self, style="Side.TFrame")
        head.pack(fill="x")
        self.heading = ttk.Label(head, text=_("Doubt"), style="SideHeading.TLabel")
        self.heading.pack(side="left")
        self.score = ttk.Label(head, text="", style="SideValue.TLabel")
        self.score.pack(side="right")
        row = ttk.Frame(self, style="Side.TFrame")
        row.pack(fill="x", pady=(u // 6, 0))
        self.radio = ttk.Radiobutton(row, text=_("Show doubtful pixels"), value=DOUBT_MODE, variable=view_mode,
                                     style="Side.TRadiobutton", command=on_mode, takefocus=False)
        self.radio.pack(side="left")
        self.fold = ttk.Button(row, text="", style="Small.TButton", command=self.toggle, takefocus=False)
        self.fold.pack(side="right")
        self.reasons = ttk.Label(self, text="", style="SideValueMuted.TLabel", justify="left", wraplength=u * 14)
        self.separator = ttk.Separator(self, orient="horizontal", style="Side.TSeparator")
        self.separator.pack(fill="x", pady=u // 3)
        self._u = u
        self._count = 0
        self._layout()

    def toggle(self) -> None:
        DoubtPanel.unfolded = not DoubtPanel.unfolded
        self._layout()

    def _layout(self) -> None:
        arrow = "▾" if DoubtPanel.unfolded else "▸"
        self.fold.configure(text=_("Why? ({n})").format(n=self._count) + " " + arrow)
        self.fold.state(["!disabled" if self._count else "disabled"])
        if DoubtPanel.unfolded and self._count:
            self.reasons.pack(anchor="w", fill="x", pady=(self._u // 6, 0), before=self.separator)
        else:
            self.reasons.pack_forget()

    def show(self, score: float | None, reasons: list[dict]) -> None:
        if score is None:
            self.score.configure(text=_("not parsed yet"))
        else:
            self.score.configure(text=f"{score:.0%}")
        self.reasons.configure(text="\n".join("• " + reason_text(r) for r in reasons[:8]))
        self._count = len(reasons)
        self._layout()

    @property
    def text(self) -> str:
        """Everything the panel says (tests, the log)."""
        return str(self.score.cget("text")) + "\n" + str(self.reasons.cget("text"))


class DoubtController:
    """``window.doubt``: keeps :class:`DoubtPanel` on the image shown; draws the doubt view."""

    def __init__(self, window: Any) -> None:
        self.w = window
        self.cv = window.canvas_view
        self.panel = DoubtPanel(window.side.upper.inner, unit=window.u, view_mode=window.view_mode,
                                on_mode=self.show_mode)
        # Below the review panel's separator; shown only while there is something to say
        # (no reasons: no section, so the class list keeps its place on small screens).
        slaves = window.side.upper.inner.pack_slaves()
        i = slaves.index(window.review.panel) if window.review.panel in slaves else -1
        self.anchor = slaves[i + 1] if 0 <= i < len(slaves) - 1 else window.review.panel
        self.score: float | None = None
        self.reasons: list[dict] = []
        self._mask_key: tuple | None = None
        self._mask: np.ndarray | None = None
        self._computing: set[int] = set()  # tried once per session: a failure is not retried in a loop
        # The doubt view's uncertain pixels for the shown sample, computed in a thread.
        self._view_key: tuple | None = None
        self._view_mask: np.ndarray | None = None
        self._view_busy = False
        self._view_next: tuple | None = None  # the latest sample asked for while busy
        self.cv.extra_modes[DOUBT_MODE] = self._compose
        self.cv.result_listeners.append(self.refresh)
        self.refresh()

    def last_widget(self) -> tk.Widget:
        """What another section placed below this one packs itself after."""
        return self.panel if self.panel.winfo_manager() else self.anchor

    def show_mode(self) -> None:
        """The "doubt" view (not kept in the settings: a view for a moment, not a preference)."""
        self.w.view_mode.set(DOUBT_MODE)
        self.cv.set_options(mode=DOUBT_MODE)
        self._say_if_no_confidence()

    def _say_if_no_confidence(self) -> None:
        """In the doubt view, a result without the model's confidence gets one sentence."""
        result = self.cv.result
        if self.cv.mode != DOUBT_MODE or result is None or has_confidence(result):
            return
        set_status = getattr(self.w, "set_status", None)
        if set_status is not None:
            set_status(no_confidence_message())

    def refresh(self) -> None:
        """Read the shown image's doubt from the workspace (after a new image or result)."""
        key, ws = self.w.current_key, getattr(self.w.review, "workspace", None)
        score, reasons = None, []
        if key is not None and ws is not None and self.cv.result is not None:
            iid = self.w.review.image_id_for(key)
            if iid is not None:
                try:
                    score, reasons = ws.doubt(iid)
                except Exception:  # noqa: BLE001 - an unreadable doubt is shown as none
                    log.warning("The doubt of %s cannot be read", key, exc_info=True)
        self.score, self.reasons = score, reasons
        self._mask_key = self._mask = None
        self.panel.show(score, reasons)
        if reasons:
            if not self.panel.winfo_manager():
                self.panel.pack(fill="x", after=self.anchor)
        elif self.panel.winfo_manager():
            self.panel.pack_forget()
        if score is None and key is not None and ws is not None and not ws.read_only and self.cv.result is not None:
            self._compute_later(key, ws, self.cv.result)
        if self.cv.mode == DOUBT_MODE:
            self._say_if_no_confidence()
            self.cv.request_redraw()

    def _compute_later(self, key: str, ws: Any, result: Any) -> None:
        """A result stored before doubt scores existed (or whose score could not be stored):
        computed now in a thread, stored, and shown (the list too)."""
        review = self.w.review
        iid = review.image_id_for(key)
        if iid is None or iid in self._computing:
            return
        self._computing.add(iid)

        def run() -> None:
            try:
                store_doubt_of(review, ws, iid, result)
            finally:
                review.inbox.put(("call", lambda: self._computed(key, iid)))

        threading.Thread(target=run, name="doubt-score", daemon=True).start()

    def _computed(self, key: str, iid: int) -> None:
        self.w.review._refresh_id(iid)  # the list's entry (its doubt), and the panel if shown
        if key == self.w.current_key:
            self.refresh()

    def _compose(self, sample: Any) -> np.ndarray | None:
        result = self.cv.result
        if result is None:
            return None
        provider = getattr(result, "confidence", None)
        if provider is not None and not getattr(result, "_given_maps", None):
            key = (id(result), sample.key)
            if self._view_key == key and self._view_mask is not None:
                return doubt_highlight(sample.photo, self._view_mask)
            self._view_request((key, result, provider, sample.ys, sample.xs))
            return doubt_highlight(sample.photo, np.zeros(sample.photo.shape[:2], dtype=bool))
        score = getattr(result, "score_map", None)
        if score is not None:
            runner = getattr(result, "runner_up_score", None)
            labels = result.labels.take(sample.ys, axis=0).take(sample.xs, axis=1)
            sc = score.take(sample.ys, axis=0).take(sample.xs, axis=1)
            ru = None if runner is None else runner.take(sample.ys, axis=0).take(sample.xs, axis=1)
            mask = uncertain_mask(labels, sc, ru)
        elif stored_uncertain_mask(result) is not None:  # read back from the workspace: sampled once per view
            key = (id(result), sample.key)
            if self._view_key != key or self._view_mask is None:
                self._view_key, self._view_mask = key, uncertain_view_mask(result, None, sample.ys, sample.xs)
            mask = self._view_mask
        else:
            full = self._reason_mask(result)
            mask = full.take(sample.ys, axis=0).take(sample.xs, axis=1)
        return doubt_highlight(sample.photo, mask)

    def _view_request(self, job: tuple) -> None:
        """Compute the uncertain pixels of a sample in a thread (the newest request wins)."""
        if self._view_busy:
            self._view_next = job
            return
        self._view_busy = True
        key, result, provider, ys, xs = job
        inbox = self.w.review.inbox

        def run() -> None:
            mask = None
            try:
                mask = uncertain_view_mask(result, provider, ys, xs)
            except Exception:  # noqa: BLE001 - the view stays dimmed; logged
                log.warning("The uncertain pixels could not be computed", exc_info=True)
            inbox.put(("call", lambda: self._view_done(key, mask)))

        threading.Thread(target=run, name="doubt-view", daemon=True).start()

    def _view_done(self, key: tuple, mask: np.ndarray | None) -> None:
        self._view_busy = False
        if mask is not None:
            self._view_key, self._view_mask = key, mask
        job, self._view_next = self._view_next, None
        if job is not None and job[0] != key:
            self._view_request(job)
        elif mask is not None and self.cv.mode == DOUBT_MODE:
            self.cv.request_redraw()

    def _reason_mask(self, result: Any) -> np.ndarray:
        key = (id(result), len(self.reasons))
        if self._mask_key != key or self._mask is None:
            from desktop.review.maps import person_map_of

            self._mask = reason_mask(result.labels, person_map_of(result), self.reasons, result.class_names)
            self._mask_key = key
        return self._mask
