"""The frugal post-processing computes what the reference's full-resolution path computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from desktop.engine.cell_geometry import Axis, CellGeometry, upsample_plain
from desktop.engine.config import load_config
from desktop.engine.postprocess import (
    BANDS_MAX_FRACTION,
    _candidates,
    _composed_band,
    _Resizer,
    mask_score,
    postprocess,
    resize_matrix,
)
from desktop.engine.postprocess_cells import sigmoid_
from desktop.engine.preprocess import Prepared, resized_shape
from desktop.engine.result import mask_bbox


@pytest.mark.parametrize("size_in,size_out", [(160, 640), (192, 768), (750, 600), (972, 457), (1333, 1920), (507, 1000)])
def test_resize_matrix_is_pytorch_bilinear(size_in, size_out):
    x = torch.randn(2, 5, size_in)
    ref = F.interpolate(x[None], size=(5, size_out), mode="bilinear", align_corners=False)[0]
    ours = x @ torch.from_numpy(resize_matrix(size_in, size_out).astype(np.float32)).T
    assert float((ours - ref).abs().max()) < 1e-5


@pytest.mark.parametrize("hw", [(1080, 1920), (457, 301), (3000, 4000), (7, 700)])
def test_composed_band_is_the_product_of_the_resize_matrices(hw):
    """The resizer's bands hold the non-zero entries of the two-step resize matrix, computed
    from the factors' entries exactly as the dense product of the factors gives them."""
    prep = _prepared(*hw)
    for low, padded, resized, full in zip((prep.padded_hw[0] // 4, prep.padded_hw[1] // 4), prep.padded_hw, prep.resized_hw, hw, strict=True):
        step1 = resize_matrix(low, padded)[:resized]
        step2 = resize_matrix(resized, full)
        nz2 = step2 != 0
        first, second = nz2.argmax(1), resized - 1 - nz2[:, ::-1].argmax(1)  # each row's entries
        dense = step2[np.arange(full), first, None] * step1[first] + np.where(second > first, step2[np.arange(full), second], 0.0)[:, None] * step1[second]
        assert np.allclose(dense, step2 @ step1, rtol=0, atol=1e-12)
        idx, w, (lo, hi) = _composed_band(low, padded, resized, full)
        for row in range(full):
            cols = np.flatnonzero(dense[row])
            assert idx[row, : cols.size].tolist() == cols.tolist() and (idx[row, cols.size :] == cols[-1]).all()
            assert np.array_equal(w[row, : cols.size], dense[row, cols].astype(np.float32)) and not w[row, cols.size :].any()
        nz = dense != 0
        assert np.array_equal(lo, nz.argmax(0)) and np.array_equal(hi, full - 1 - nz[::-1].argmax(0))


def _prepared(h: int, w: int) -> Prepared:
    rh, rw = resized_shape(h, w)
    ph, pw = -(-rh // 32) * 32, -(-rw // 32) * 32
    return Prepared(torch.zeros(1, 3, ph, pw), (h, w), (rh, rw))


def _reference_upsample(masks: torch.Tensor, prep: Prepared) -> torch.Tensor:
    x = F.interpolate(masks[None], size=prep.padded_hw, mode="bilinear", align_corners=False)
    x = x[:, :, : prep.resized_hw[0], : prep.resized_hw[1]]
    return F.interpolate(x, size=prep.image_hw, mode="bilinear", align_corners=False)[0]


@pytest.mark.parametrize("hw", [(1080, 1920), (480, 640), (457, 301)])
def test_windowed_upsampling_equals_full_resize(hw):
    """Inside the window: the reference's values; outside it: nothing positive is lost."""
    prep = _prepared(*hw)
    low_hw = (prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    gen = torch.Generator().manual_seed(0)
    # A blob of positive logits in a negative field, the shape of a real part mask.
    low = -torch.rand(low_hw, generator=gen) * 4
    r, c = low_hw[0] // 3, low_hw[1] // 2
    low[r : r + 9, c : c + 5] = torch.rand(9, 5, generator=gen) * 6 - 1
    full = _reference_upsample(low[None], prep)[0]
    resizer = _Resizer.for_image(low_hw, prep)
    win = resizer.window((low > 0).numpy())
    y0, y1, x0, x1 = win
    inside = resizer.upsample(low.numpy(), win)
    assert float(np.abs(inside - full[y0:y1, x0:x1].numpy()).max()) < 1e-4
    outside = full.clone()
    outside[y0:y1, x0:x1] = -1
    assert not bool((outside > 0).any())
    assert (y1 - y0) * (x1 - x0) < full.numel() / 10  # the point of it: a small window


def test_postprocess_without_confident_queries_is_empty(tiny_model_dir):
    """Near-uniform class scores (what untrained weights give): no instance, all background."""
    cfg = load_config(tiny_model_dir)
    prep = _prepared(300, 200)
    logits = torch.zeros(cfg.decoder.num_queries, cfg.decoder.num_classes + 1)
    masks = torch.randn(cfg.decoder.num_queries, prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    parsed = postprocess(logits, masks, prep, cfg)
    assert parsed.labels.shape == (300, 200) and not parsed.labels.any()
    assert parsed.parts == [] and parsed.persons == []


@pytest.mark.parametrize("hw", [(457, 301), (1080, 1920)])
def test_interpolated_window_is_pytorchs_resize_with_its_exact_sign(hw):
    """A window over most of the image goes through the reference's two interpolations in plain
    float32 (into reused buffers): within a few units in the last place of PyTorch's floats,
    and ``probabilities`` finds exactly where PyTorch's are > 0, also for logits a hair from 0
    and when the buffers are reused; the probabilities are the sigmoid there, 0 elsewhere."""
    prep = _prepared(*hw)
    low_hw = (prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    gen = torch.Generator().manual_seed(1)
    resizer = _Resizer.for_image(low_hw, prep)
    for n in range(3):
        low = torch.randn(low_hw, generator=gen) + 1
        if n == 2:  # +-3 on the left, values far too close to 0 for the plain floats on the right
            checker = (torch.arange(low_hw[0])[:, None] + torch.arange(low_hw[1])[None, :]) % 2 == 0
            low = torch.where(checker, 3.0, -3.0)
            low[:, low_hw[1] // 2 :] = torch.randn(low_hw[0], low_hw[1] - low_hw[1] // 2, generator=gen) * 1e-9
        win = resizer.window((low > 0).numpy())
        y0, y1, x0, x1 = win
        assert (y1 - y0) * (x1 - x0) > BANDS_MAX_FRACTION * hw[0] * hw[1]
        ref = _reference_upsample(low[None], prep)[0, y0:y1, x0:x1].numpy()
        ours = resizer.upsample(low.numpy(), win)
        assert np.abs(ours - ref).max() <= 8 * np.spacing(np.float32(np.abs(low.numpy()).max()))
        prob, inside, n_pos, total = resizer.probabilities(low.numpy(), win, np.empty(ref.size, np.float32))
        assert np.array_equal(inside, ref > 0) and n_pos == int((ref > 0).sum())
        if n == 2:  # many values decided by the reference's exact floats
            assert (np.abs(ours) <= 3 * 1e-5).sum() > ours.size // 4
        expected = np.where(ref > 0, 1 / (1 + np.exp(-ours.astype(np.float64))), 0.0)
        assert np.allclose(prob, expected, rtol=3e-7, atol=0) and abs(total - expected.sum()) <= 1e-6 * max(expected.sum(), 1)


def _class_logits(rows: list[dict[int, float]], num_classes: int) -> torch.Tensor:
    """(Q, C+1) logits whose softmax gives each query the class probabilities in ``rows``
    (the rest on "no object")."""
    probs = torch.full((len(rows), num_classes + 1), 1e-6, dtype=torch.float64)
    for q, row in enumerate(rows):
        for label, p in row.items():
            probs[q, label] = p
        probs[q, -1] = 1 - sum(row.values())
    return probs.log().float()


def _mask_logits(kinds: list[str], low_hw: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """Low-res mask logits of a few shapes: the whole image (all or mostly positive), its left
    half (a filled box), large and small blobs, nothing."""
    h4, w4 = low_hw
    out = -torch.rand(len(kinds), h4, w4, generator=gen) * 4
    for q, kind in enumerate(kinds):
        if kind == "none":
            continue
        if kind in ("whole", "full"):
            out[q] = torch.randn(h4, w4, generator=gen) * 2 + 3 if kind == "whole" else torch.rand(h4, w4, generator=gen) + 1
            continue
        if kind == "left":
            out[q] = -1.0
            out[q, :, : w4 // 2] = 1.0
            continue
        bh, bw = {"large": (h4 * 4 // 5, w4 * 4 // 5), "medium": (h4 // 2, w4 // 2)}.get(kind, (6, 5))
        if kind == "small":  # anywhere
            r = int(torch.randint(0, h4 - bh + 1, (1,), generator=gen))
            c = int(torch.randint(0, w4 - bw + 1, (1,), generator=gen))
        else:  # large: bottom right, medium: centre, corner: top left
            r, c = {"large": (h4 - bh, w4 - bw), "medium": (h4 // 4, w4 // 4), "corner": (0, 0)}[kind]
        out[q, r : r + bh, c : c + bw] = torch.randn(bh, bw, generator=gen) * 3 + 1
    return out


def _straightforward(logits, masks, prep, cfg, scores=None):
    """The same arithmetic without shortcuts: every candidate on its own with full-image paste
    channels, the label map by argmax over them, overlaps over whole masks. ``scores``
    ((query, class) -> score) replaces the computed scores where given."""
    h, w = prep.image_hw
    resizer = _Resizer.for_image(tuple(masks.shape[-2:]), prep)
    reference = _reference_upsample(masks, prep)  # PyTorch's own resize: the masks' signs
    channels = torch.zeros(cfg.num_parsing, h, w)
    counts = torch.zeros(cfg.num_parsing, h, w)
    kept = []
    for inst in _candidates(logits.numpy(), cfg):
        win = resizer.window((masks[inst.query] > 0).numpy())
        if win is None:
            continue
        y0, y1, x0, x1 = win
        logit = torch.from_numpy(resizer.upsample(masks[inst.query].numpy(), win).copy())
        # Where the reference's logit is > 0: its own floats (the bands' are PyTorch's floats
        # too, of its matrix form).
        binary = reference[inst.query, y0:y1, x0:x1] > 0 if resizer.interpolated(win) else logit > 0
        prob = torch.from_numpy(sigmoid_(logit.numpy().copy()))
        score = inst.class_score * mask_score(float((prob * binary).double().sum()), int(binary.sum()))
        if scores is not None:
            score = scores.get((inst.query, inst.label), score)  # absent: could never be kept or pasted
        is_person = inst.label == cfg.num_parsing
        if (is_person and score > 0.1) or (not is_person and inst.label != 0 and score >= 0.1):
            mask = np.zeros((h, w), dtype=bool)
            mask[y0:y1, x0:x1] = binary.numpy()
            kept.append((inst.label, score, mask))
        if not is_person and score >= cfg.parsing_ins_score_thr:
            pasted = prob * score
            hit = pasted > 0.5
            channels[inst.label, y0:y1, x0:x1] += torch.where(hit, pasted, 0.0)
            counts[inst.label, y0:y1, x0:x1] += hit
    labels = (channels / counts.clamp(min=1)).argmax(0).to(torch.uint8).numpy()
    persons = sorted((k for k in kept if k[0] == cfg.num_parsing), key=lambda k: -k[1])
    parts = sorted((k for k in kept if k[0] != cfg.num_parsing), key=lambda k: -k[1])
    owners = []
    for _, _, mask in parts:
        overlaps = [int((mask & p[2]).sum()) for p in persons]
        owners.append(1 + int(np.argmax(overlaps)) if overlaps and max(overlaps) > 0 else None)
    return labels, persons, parts, owners


@pytest.mark.parametrize("hw,full_person", [((457, 301), False), ((300, 420), False), ((300, 420), True)])
def test_postprocess_equals_straightforward_computation(tiny_model_dir, hw, full_person):
    """Same label map, instances, masks, boxes, areas and person links as the plain per-instance
    computation, and scores that differ only by the rounding of a sum: the shortcuts
    (thresholded probability, reused buffers, skipped instances, windowed pasting, work on
    worker threads a few queries ahead, boxes and overlaps) change nothing. With persons that
    fill their boxes (the whole image, its left half), overlaps are partly known without
    counting. Torch tensors are accepted as well as arrays, with the same results."""
    cfg = load_config(tiny_model_dir)
    prep = _prepared(*hw)
    low_hw = (prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    person = cfg.num_parsing
    # (class probabilities, mask shape) per query: persons, parts kept or not, pasted or not,
    # background below and above the paste threshold, two classes on one query, empty masks.
    queries = [
        ({person: 0.95}, "medium"), ({person: 0.6}, "small"), ({person: 0.16}, "small"),
        ({0: 0.2}, "whole"), ({0: 0.7}, "medium"), ({0: 0.5}, "small"),
        ({2: 0.9}, "whole"), ({2: 0.8}, "large"), ({2: 0.35}, "medium"), ({2: 0.15}, "small"),
        ({5: 0.45, 7: 0.45}, "whole"), ({5: 0.5, person: 0.3}, "large"), ({7: 0.9}, "corner"),
        ({7: 0.7}, "none"), ({9: 0.99}, "medium"), ({9: 0.6}, "whole"), ({11: 0.25}, "large"),
        ({11: 0.55, 0: 0.25}, "medium"), ({14: 0.4, 2: 0.4}, "small"), ({19: 0.97}, "large"),
    ] + ([({person: 0.2}, "full"), ({person: 0.5}, "left")] if full_person else [])
    logits = _class_logits([q[0] for q in queries], cfg.decoder.num_classes)
    masks = _mask_logits([q[1] for q in queries], low_hw, torch.Generator().manual_seed(hw[0]))
    parsed = postprocess(logits.numpy(), masks.numpy(), prep, cfg, threads=2)
    from_tensors = postprocess(logits, masks, prep, cfg, threads=1)
    assert np.array_equal(from_tensors.labels, parsed.labels) and from_tensors.instance_scores == parsed.instance_scores
    labels, persons, parts, owners = _straightforward(logits, masks, prep, cfg, scores=parsed.instance_scores)
    assert np.array_equal(parsed.labels, labels)
    assert len(np.unique(labels)) > 4  # several classes won somewhere
    _, own_persons, own_parts, _ = _straightforward(logits, masks, prep, cfg)
    for ours, theirs in ((parsed.persons, own_persons), (parsed.parts, own_parts)):
        assert len(ours) == len(theirs)
        for a, (_, score, _) in zip(ours, theirs, strict=True):
            assert abs(a.score - score) <= 2e-7 * score
    assert [(p.score, p.id) for p in parsed.persons] == [(s, n + 1) for n, (_, s, _) in enumerate(persons)]
    for ours, (_, _, mask) in zip(parsed.persons, persons, strict=True):
        assert np.array_equal(ours.full_mask(), mask) and ours.bbox == mask_bbox(mask) and ours.area == int(mask.sum())
        assert ours.part_ids == tuple(n + 1 for n, o in enumerate(owners) if o == ours.id)
    assert [(p.label, p.score, p.person_id) for p in parsed.parts] == [(lab, s, o) for (lab, s, _), o in zip(parts, owners, strict=True)]
    for ours, (_, _, mask) in zip(parsed.parts, parts, strict=True):
        assert np.array_equal(ours.full_mask(), mask) and ours.bbox == mask_bbox(mask) and ours.area == int(mask.sum())
    if full_person:
        assert all(o is not None for o in owners) and len(set(owners)) > 1
        assert any(int(p[2].sum()) == hw[0] * hw[1] for p in persons)
        assert any(int(p[2].sum()) == np.prod(mask_bbox(p[2])[2:]) < hw[0] * hw[1] for p in persons)
    else:
        assert any(o is None for o in owners) and any(o is not None for o in owners)


# -- cell by cell (photos much larger than the network input) ---------------------------------

def _upscaled(h: int, w: int, rh: int, rw: int) -> Prepared:
    """A photo (h, w) whose network input is (rh, rw): the geometry of a camera photo, at a
    size the straightforward computation can still hold in memory."""
    return Prepared(torch.zeros(1, 3, -(-rh // 32) * 32, -(-rw // 32) * 32), (h, w), (rh, rw))


QUERY_MIX = [
    ({20: 0.95}, "medium"), ({20: 0.6}, "small"), ({20: 0.2}, "full"), ({20: 0.5}, "left"),
    ({0: 0.2}, "whole"), ({0: 0.7}, "medium"), ({2: 0.62}, "whole"), ({2: 0.8}, "large"),
    ({2: 0.35}, "medium"), ({5: 0.45, 7: 0.45}, "whole"), ({5: 0.5, 20: 0.3}, "large"), ({7: 0.9}, "corner"),
    ({7: 0.7}, "none"), ({9: 0.99}, "medium"), ({9: 0.6}, "whole"), ({11: 0.55, 0: 0.25}, "medium"),
    ({14: 0.4, 2: 0.4}, "small"), ({19: 0.97}, "large"),
]


@pytest.mark.parametrize("geometry,scale", [((701, 933, 190, 251), 1), ((1000, 420, 250, 104), 1),
                                            ((480, 640, 470, 630), 1), ((701, 933, 190, 251), 8)])
def test_cells_equal_straightforward_computation(tiny_model_dir, geometry, scale):
    """Cell by cell: the same masks, boxes, areas and person links as the plain computation, the
    same label map bit for bit when pasted with the same scores, and scores that differ only by
    the rounding of the plain computation's float32 sum. Noisy synthetic logits (many outline
    cells, large spreads) and smooth ones (whole cells decided), 1 to 4 pixels per cell; scaled
    up, as a trained model's (tens: cells whose every sigmoid is 1 are counted, not summed)."""
    cfg = load_config(tiny_model_dir)
    h, w, rh, rw = geometry
    prep = _upscaled(h, w, rh, rw)
    low_hw = (prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    queries = [({cfg.num_parsing if c == 20 else c: p for c, p in probs.items()}, kind) for probs, kind in QUERY_MIX]
    logits = _class_logits([q[0] for q in queries], cfg.decoder.num_classes)
    masks = _mask_logits([q[1] for q in queries], low_hw, torch.Generator().manual_seed(h))
    # Half the queries smooth (a camera photo's masks), half noisy.
    smooth = F.avg_pool2d(masks[None], 9, stride=1, padding=4, count_include_pad=False)[0]
    masks[1::2] = smooth[1::2] * 3
    masks *= scale
    parsed = postprocess(logits, masks, prep, cfg, method="cells")
    # How the work falls on the workers (which queries, which classes' bounds first) changes nothing.
    for threads in (1, 3):
        again = postprocess(logits, masks, prep, cfg, method="cells", threads=threads)
        assert np.array_equal(again.labels, parsed.labels) and again.instance_scores == parsed.instance_scores
        assert [p.mask for p in again.parts] == [p.mask for p in parsed.parts]
    labels, persons, parts, owners = _straightforward(logits, masks, prep, cfg, scores=parsed.instance_scores)
    assert np.array_equal(parsed.labels, labels)
    assert len(np.unique(labels)) > 4
    _, own_persons, own_parts, _ = _straightforward(logits, masks, prep, cfg)
    for ours, theirs in ((parsed.persons, own_persons), (parsed.parts, own_parts)):
        assert len(ours) == len(theirs)
        for a, (_, score, _) in zip(ours, theirs, strict=True):
            assert abs(a.score - score) <= 2e-7 * score
    assert [p.score for p in parsed.persons] == [s for _, s, _ in persons]
    for ours, (_, _, mask) in zip(parsed.persons, persons, strict=True):
        assert np.array_equal(ours.full_mask(), mask) and ours.bbox == mask_bbox(mask) and ours.area == int(mask.sum())
        assert ours.part_ids == tuple(n + 1 for n, o in enumerate(owners) if o == ours.id)
    assert [(p.label, p.score, p.person_id) for p in parsed.parts] == [(lab, s, o) for (lab, s, _), o in zip(parts, owners, strict=True)]
    for ours, (_, _, mask) in zip(parsed.parts, parts, strict=True):
        assert np.array_equal(ours.full_mask(), mask) and ours.bbox == mask_bbox(mask) and ours.area == int(mask.sum())


def test_auto_method_goes_cell_by_cell_from_twice_the_input_size(tiny_model_dir):
    """Same results either way on a photo 2.5 times the network input (auto picks cells)."""
    cfg = load_config(tiny_model_dir)
    prep = _upscaled(500, 650, 200, 260)
    low_hw = (prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    logits = _class_logits([q[0] for q in QUERY_MIX[:12]], cfg.decoder.num_classes)
    masks = F.avg_pool2d(_mask_logits([q[1] for q in QUERY_MIX[:12]], low_hw, torch.Generator().manual_seed(3))[None],
                         5, stride=1, padding=2)[0] * 3
    auto, direct = postprocess(logits, masks, prep, cfg), postprocess(logits, masks, prep, cfg, method="direct")
    assert len(auto.parts) == len(direct.parts) > 3
    for a, d in zip(auto.parts + auto.persons, direct.parts + direct.persons, strict=True):
        assert a.mask == d.mask and a.bbox == d.bbox and a.area == d.area and abs(a.score - d.score) <= 2e-7 * d.score
    labels, *_ = _straightforward(logits, masks, prep, cfg, scores=auto.instance_scores)
    assert np.array_equal(auto.labels, labels)
    with pytest.raises(ValueError):
        postprocess(logits, masks, prep, cfg, method="fast")


@pytest.mark.parametrize("hw", [(3024, 4032), (1080, 1920), (457, 301), (640, 853)])
def test_pixel_logits_are_the_references_floats(hw):
    """At any list of pixels, the cell geometry reproduces both reference forms bit for bit:
    PyTorch's second interpolation (its fused multiply-adds), both interpolations from the
    network's map, and the band arithmetic; and the plain float32 interpolation's floats."""
    prep = _prepared(*hw)
    low_hw = (prep.padded_hw[0] // 4, prep.padded_hw[1] // 4)
    low = torch.randn(low_hw, generator=torch.Generator().manual_seed(hw[1])) * 3
    resizer = _Resizer.for_image(low_hw, prep)
    geo = CellGeometry.for_image(prep.resized_hw, hw)
    step1 = torch._C._nn.upsample_bilinear2d(low[None, None], prep.padded_hw, False, None, None)
    p = step1[0, 0, : prep.resized_hw[0], : prep.resized_hw[1]].contiguous().numpy()
    full = _reference_upsample(low[None], prep)[0].numpy()
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, hw[0], 50_000), rng.integers(0, hw[1], 50_000)
    assert np.array_equal(geo.interpolated(p, ys, xs).view(np.int32), full[ys, xs].view(np.int32))
    exact = geo.exact(low.numpy(), *resizer.low_axes, ys, xs)
    assert np.array_equal(exact.view(np.int32), full[ys, xs].view(np.int32))
    rh, rw = prep.resized_hw
    plain_p = upsample_plain(low.numpy(), *resizer.low_axes, window=(0, rh, 0, rw))
    whole = (0, hw[0], 0, hw[1])
    plain = resizer.upsample(low.numpy(), whole)
    assert np.array_equal(geo.plain(plain_p, ys, xs).view(np.int32), plain[ys, xs].view(np.int32))
    assert np.array_equal(upsample_plain(plain_p, geo.rows, geo.cols), plain)
    # From the network's map, cell by cell, without the resized grid (pixels grouped by cell).
    ci, cj = geo.rows.i0[ys], geo.cols.i0[xs]
    cells, cell = np.unique(ci * rw + cj, return_inverse=True)
    in_cells = geo.plain_in_cells(low.numpy(), *resizer.low_axes, cells // rw, cells % rw, cell, ys, xs)
    assert np.array_equal(in_cells.view(np.int32), plain[ys, xs].view(np.int32))
    win = (hw[0] // 5, hw[0] // 2, hw[1] // 3, hw[1] // 2)
    band = resizer.upsample(low.numpy(), win)
    yy, xx = np.mgrid[win[0] : win[1], win[2] : win[3]]
    assert np.array_equal(resizer.bands.values(low.numpy(), yy, xx).view(np.int32), band.view(np.int32))


@pytest.mark.parametrize("n_in,n_out", [(640, 6000), (853, 8000), (640, 3024), (1080, 1920), (640, 640)])
def test_gauss_rules_sum_polynomials_over_each_cells_pixels_exactly(n_in, n_out):
    axis = Axis.resize(n_in, n_out)
    assert axis.first[-1] == n_out and (axis.count > 0).all() and np.array_equal(np.repeat(np.arange(n_in), axis.count), axis.i0)
    positions = axis.l1.astype(np.float64)
    for m in (2, 4):
        nodes, weights = axis.gauss_rule(m)
        assert ((nodes >= -1e-12) & (nodes <= 1 + 1e-12)).all() and (weights >= 0).all()
        for degree in range(2 * m):
            exact = np.add.reduceat(positions**degree, axis.first[:-1])
            assert np.allclose((weights * nodes**degree).sum(1), exact, rtol=1e-9, atol=1e-9)
