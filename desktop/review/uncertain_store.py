"""The model's uncertain pixels, kept with a stored result so the doubt view survives a reopen.

The doubt view highlights the pixels :func:`desktop.review.doubt.uncertain_mask` marks (a small
winning margin). Those come from the engine's confidence provider (``result.confidence``), whose
inputs are not stored in the workspace (240-410 KB a 1080p photo, more than the result itself:
see :mod:`desktop.engine.confidence`). The mask itself is small: a 1-bit image, stored by
:mod:`desktop.review.result_codec` as CCITT Group 4 inside the same result record (an optional
header entry, so older records simply have none and older versions of the app ignore it).
Reviewers work over days; without it, everything parsed in an earlier session lost its
uncertain pixels.

Computing the mask at full resolution never builds full-size float maps, and skips most of the
photo: a pixel can only be uncertain where two different classes are pasted (with one class
pasted the runner-up's score is 0 and the winner's above 0.5, a margin far above
:data:`~desktop.review.doubt.SMALL_MARGIN`; with none, the label is background), and where a
class can be pasted is known from the low-resolution mask logits (:func:`_candidates`). Only
those pixels' bands of rows and runs of columns are computed, through the provider's
``window(..., step=1)``: the same arithmetic, so the same pixels, as the doubt view of a
freshly parsed result. The cost is
measured by ``bench/bench_uncertain_store.py``.

Tk-free: called by the codec in the parse worker (any thread) and by the doubt view's worker.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from desktop.review.doubt import uncertain_mask

__all__ = ["STORED_ATTRIBUTE", "full_uncertain_mask", "stored_uncertain_mask", "uncertain_at", "with_stored_uncertain"]

#: The attribute of a decoded :class:`~desktop.engine.result.ParsingResult` holding its stored
#: mask (not a dataclass field, like ``_given_maps``: codecs that store the fields never see it).
STORED_ATTRIBUTE = "_stored_uncertain"
#: Full-resolution rows computed together (a window's maps stay a few MB even 8,000 pixels wide).
_BAND_ROWS = 64
#: Candidate column runs closer than this are computed as one window (fewer, larger windows).
_MERGE_GAP = 64


def stored_uncertain_mask(result: Any) -> Any | None:
    """The uncertain pixels read back from the workspace with ``result`` (a RunMask, or a bool
    array), or None (parsed in this session, stored before masks were kept, or unreadable)."""
    return getattr(result, "__dict__", {}).get(STORED_ATTRIBUTE)


def with_stored_uncertain(result: Any, mask: Any | None) -> Any:
    """``result`` carrying ``mask`` as its stored uncertain pixels (returns ``result``)."""
    if mask is not None:
        result.__dict__[STORED_ATTRIBUTE] = mask
    return result


def _candidates(provider: Any) -> np.ndarray | None:
    """A low-resolution map of where a pixel can be uncertain, indexed by each full-resolution
    pixel's first low-res row and column (``idx[:, 0]`` of the provider's bands); None when
    nowhere. A full-res logit is a convex combination of the low-res logits its band entries
    name, so a class can be pasted at a pixel only if one of them passes the paste threshold
    (the provider's own ``reach`` test); a pixel is a candidate when that holds for two classes."""
    from desktop.engine.confidence import _paste_logit  # the provider's own threshold, margin included

    y_band, x_band = provider._y, provider._x  # read-only use of the provider's geometry
    low_h, low_w = y_band.lo.size, x_band.lo.size
    reach: dict[int, np.ndarray] = {}
    for q in provider._queries:
        hit = q.low > _paste_logit(max(s for _label, s in q.pasted))
        for label in {label for label, _s in q.pasted}:
            r = reach.setdefault(label, np.zeros((low_h, low_w), dtype=bool))
            r[q.ly0:q.ly0 + hit.shape[0], q.lx0:q.lx0 + hit.shape[1]] |= hit
    if len(reach) < 2:
        return None
    # Forward dilation over the span of a pixel's band entries (ascending from idx[:, 0]).
    ry = int((y_band.idx[:, -1] - y_band.idx[:, 0]).max())
    rx = int((x_band.idx[:, -1] - x_band.idx[:, 0]).max())
    count = np.zeros((low_h, low_w), dtype=np.uint16)
    for r in reach.values():
        d = r.copy()
        for k in range(1, ry + 1):
            d[:-k] |= r[k:]
        e = d.copy()
        for k in range(1, rx + 1):
            e[:, :-k] |= d[:, k:]
        count += e
    candidates = count >= 2
    return candidates if candidates.any() else None


def _runs(row: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """[start, end) of the True runs of ``row``, runs closer than ``gap`` merged."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], row, [False])).view(np.int8)))
    out: list[list[int]] = []
    for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
        if out and a - out[-1][1] < gap:
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _from_provider(labels: np.ndarray, provider: Any) -> np.ndarray:
    h, w = labels.shape
    mask = np.zeros((h, w), dtype=bool)
    low = _candidates(provider)
    if low is None:
        return mask
    first_y = provider._y.idx[:, 0]
    first_x = provider._x.idx[:, 0]
    # Bands of _BAND_ROWS full-res rows: the low-res rows they draw on, their candidate columns
    # (as full-res column runs), then the provider's exact maps over each run.
    for y0 in range(0, h, _BAND_ROWS):
        y1 = min(h, y0 + _BAND_ROWS)
        lows = low[int(first_y[y0]):int(first_y[y1 - 1]) + 1].any(0)
        if not lows.any():
            continue
        cols = lows[first_x]  # full-res columns whose first low-res column is a candidate
        lab = labels[y0:y1]
        for x0, x1 in _runs(cols & lab.any(0), _MERGE_GAP):
            maps = provider.window(y0, y1, x0, x1, step=1)
            mask[y0:y1, x0:x1] = uncertain_mask(lab[:, x0:x1], maps.score, maps.runner_up_score)
    return mask


def full_uncertain_mask(result: Any) -> Any | None:
    """The uncertain pixels of ``result`` at full resolution (what the doubt view highlights):
    from maps set on the result, else its confidence provider, else what was stored with it;
    None when it has none of these."""
    labels = np.asarray(result.labels)
    given = getattr(result, "__dict__", {}).get("_given_maps") or {}
    if given.get("score") is not None:
        return uncertain_mask(labels, np.asarray(given["score"]), given.get("runner_up_score"))
    provider = getattr(result, "confidence", None)
    if provider is not None:
        return _from_provider(labels, provider)
    return stored_uncertain_mask(result)


def uncertain_at(mask: Any, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """A stored mask at the grid ``ys`` x ``xs`` (a screen's sample): (len(ys), len(xs)) bool."""
    if isinstance(mask, np.ndarray):
        return mask.take(ys, axis=0).take(xs, axis=1)
    return np.asarray(mask.sample(np.asarray(ys), np.asarray(xs)), dtype=bool)
