"""The model's confidence per pixel (issue 16, part 1): score, runner-up class and its score.

Checked against the reference's ``semantic_max`` (the golden data) and against a dense
computation of the reference's per-class semantic outputs done here with NumPy; then how the
app uses them: the doubt's "uncertain pixels" reason, the doubt view's mask, the relabel
menu's order.

Tolerance of the parity with ``semantic_max`` (stored as float16): our uint8 score is
``round(255 * s)`` of a float32 ``s``; float16 carries 11 significant bits (a step of at most
2^-11 on 0.5..1, 0.12 of a uint8 level), so the two roundings can differ by one level where
``255 * s`` is near a half; more than one level would mean a different ``s``. The pixels
where nothing was pasted have ``semantic_max`` 0 and must be exactly 0 (background, no
evidence). Where a pixel's mask probability times its score is within float rounding of
0.5, our float32 arithmetic (the post-processing's bands) may paste where the reference did
not: the same 99.9 % the label map's parity allows.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from desktop.engine.confidence import ConfidenceProvider, to_uint8
from desktop.engine.postprocess import resize_matrix
from desktop.engine.result import ParsingResult, Person
from desktop.review.doubt import doubt_of, sample_grid, uncertain_mask
from desktop.review.relabel_hints import relabel_choices_for, runner_up_source

NAMES = ["astronaut", "grace_hopper", "astronaut_crop"]
AGREEMENT = 0.999
TOPK = 100


def _rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def parsed(tiny_parser, golden_images, data_dir):
    """name -> (result, raw logits, raw mask logits, prepared input, expected golden arrays)."""
    out = {}
    for name in NAMES:
        rgb = _rgb(golden_images[name])
        pending = tiny_parser.start_network(tiny_parser.prepare_input(rgb))()
        logits, masks = (np.asarray(o, dtype=np.float32) for o in pending.outputs)
        prepared = pending.prepared
        result = tiny_parser.finish(pending)
        exp = dict(np.load(data_dir / "m2fp-tiny" / "expected" / f"{name}.npz"))
        out[name] = (result, logits, masks, prepared, exp)
    return out


def _dense_semantic(logits, masks, prepared, cfg) -> np.ndarray:
    """The reference's per-class semantic outputs, straightforwardly (float64, every channel at
    the image's size): the top-100 (query, class) pairs, each scored with its class probability
    times its mask score, pasted into its class channel where probability x score > 0.5 when
    the score reaches ``parsing_ins_score_thr``, averaged per channel."""
    h, w = prepared.image_hw
    (rh, rw), (ph, pw) = prepared.resized_hw, prepared.padded_hw
    ay = resize_matrix(rh, h) @ resize_matrix(masks.shape[1], ph)[:rh]
    ax = resize_matrix(rw, w) @ resize_matrix(masks.shape[2], pw)[:rw]
    e = np.exp(logits.astype(np.float64) - logits.max(1, keepdims=True))
    probs = (e / e.sum(1, keepdims=True))[:, :-1]
    ncls = probs.shape[1]
    top = np.argsort(-probs.ravel(), kind="stable")[:TOPK]
    total = np.zeros((cfg.num_parsing, h, w))
    count = np.zeros((cfg.num_parsing, h, w))
    for idx in top.tolist():
        q, c = divmod(idx, ncls)
        if c >= cfg.num_parsing:
            continue
        logit = ay @ masks[q].astype(np.float64) @ ax.T
        prob = 1.0 / (1.0 + np.exp(-logit))
        binary = logit > 0
        score = probs[q, c] * (prob * binary).sum() / (binary.sum() + 1e-6)
        if score < cfg.parsing_ins_score_thr:
            continue
        product = prob * score
        hit = product > 0.5
        total[c] += np.where(hit, product, 0.0)
        count[c] += hit
    return total / np.maximum(count, 1)


@pytest.mark.parametrize("name", NAMES)
def test_score_matches_the_references_semantic_max(name, parsed):
    result, _logits, _masks, _prep, exp = parsed[name]
    ref = np.rint(exp["semantic_max"].astype(np.float32) * 255).astype(int)
    score = result.score_map
    assert score.shape == result.labels.shape and score.dtype == np.uint8
    diff = np.abs(score.astype(int) - ref)
    assert (diff <= 1).mean() >= AGREEMENT, f"within one level on {(diff <= 1).mean():.5f} of pixels"
    nothing = exp["semantic_max"] == 0
    assert nothing.any() and (score[nothing & (result.labels == 0)] == 0).all()
    assert (score[~nothing] > 0).mean() >= AGREEMENT
    # The label map is unchanged by the new maps and still the reference's.
    assert (result.labels == exp["semantic"]).mean() >= AGREEMENT


@pytest.mark.parametrize("name", NAMES)
def test_runner_up_matches_a_dense_computation(name, parsed, tiny_parser):
    result, logits, masks, prepared, _exp = parsed[name]
    sem = _dense_semantic(logits, masks, prepared, tiny_parser.cfg)
    order = np.argsort(-sem, axis=0, kind="stable")  # ties to the lower class id, as argmax
    first, second = order[0], order[1]
    second_value = np.take_along_axis(sem, order[1:2], 0)[0]
    runner = np.where(second_value > 0, second, 0)
    assert (first == result.labels).mean() >= AGREEMENT
    agree = (result.runner_up == runner).mean()
    assert agree >= AGREEMENT, f"runner-up agrees on {agree:.5f} of pixels"
    assert (np.abs(result.runner_up_score.astype(int) - to_uint8(second_value).astype(int)) <= 1).mean() >= AGREEMENT
    top_value = np.take_along_axis(sem, order[:1], 0)[0]
    assert (np.abs(result.score_map.astype(int) - to_uint8(top_value).astype(int)) <= 1).mean() >= AGREEMENT
    # There is something to agree on: most labelled pixels have a second choice.
    assert (result.runner_up_score[result.labels != 0] > 0).mean() > 0.3
    assert (result.runner_up_score <= result.score_map).all()


@pytest.mark.parametrize("name", NAMES)
def test_provider_top_class_is_the_label_map(name, parsed):
    result = parsed[name][0]
    h, w = result.labels.shape
    assert np.array_equal(result.confidence.top_class(np.arange(h), np.arange(w)), result.labels)


def test_windows_and_steps_are_slices_of_the_full_maps(parsed):
    result = parsed["grace_hopper"][0]
    provider = result.confidence
    full = provider.full()
    for (y0, y1, x0, x1, step) in [(0, 600, 0, 512, 1), (37, 411, 5, 300, 1), (10, 590, 3, 500, 3),
                                   (0, 600, 0, 512, 7), (599, 600, 511, 512, 1), (-5, 700, -3, 900, 2)]:
        got = provider.window(y0, y1, x0, x1, step)
        sl = np.s_[max(y0, 0) : min(y1, 600) : step, max(x0, 0) : min(x1, 512) : step]
        for a, b in zip(got, full, strict=True):
            assert np.array_equal(a, b[sl])
    # Any grid (a zoomed view's sample: repeated, unsorted indices) is the full maps' take.
    ys = np.array([5, 5, 6, 300, 200, 599])
    xs = np.array([511, 0, 0, 17, 256])
    for a, b in zip(provider.sample(ys, xs), full, strict=True):
        assert np.array_equal(a, b[np.ix_(ys, xs)])
    with pytest.raises(IndexError):
        provider.sample(np.array([600]), np.array([0]))
    # Small: the cropped low-res logits and the bands, not the photo's channels.
    assert provider.nbytes < 4 * 1024 * 1024 + sum(m.nbytes for m in full)


def test_results_read_back_without_the_model_have_no_confidence(parsed):
    """The session's store packs the provider's uncertain pixels, not the provider (larger than
    the rest of the result); a result built from maps has none."""
    from desktop.app.result_store import pack_result, unpack_result
    from desktop.review.maps import person_map_of, result_from_maps
    from desktop.review.uncertain_store import full_uncertain_mask, stored_uncertain_mask

    result = parsed["astronaut"][0]
    back = unpack_result(pack_result(result))
    assert back.confidence is None and back.score_map is None
    fresh = full_uncertain_mask(result)
    fresh = fresh.full() if hasattr(fresh, "full") else np.asarray(fresh, dtype=bool)
    assert np.array_equal(stored_uncertain_mask(back).full(), fresh)
    rebuilt = result_from_maps(result.labels, person_map_of(result), result)
    assert rebuilt.confidence is None and rebuilt.score_map is None and rebuilt.runner_up is None
    # The doubt view says so (and shows the reasons' regions instead).
    from desktop.app.doubt_panel import has_confidence, no_confidence_message

    assert has_confidence(result) and has_confidence(back) and not has_confidence(rebuilt)
    assert "parse this photo again" in no_confidence_message()
    # The workspace's codec stores no provider (see bench/bench_confidence.py for why).
    from desktop.review.result_codec import decode_result, encode_result

    stored = decode_result(encode_result(result))
    assert stored.confidence is None and np.array_equal(stored.labels, result.labels)


def test_the_provider_owns_its_inputs():
    """A runtime may reuse its output buffer for the next photo: the provider keeps copies."""
    masks = np.full((2, 8, 8), 5.0, dtype=np.float32)
    provider = ConfidenceProvider.from_outputs(masks, {(0, 3): 0.9, (1, 4): 0.8}, image_hw=(32, 32),
                                               resized_hw=(32, 32), padded_hw=(32, 32), paste_threshold=0.5,
                                               num_classes=20)
    before = provider.window(0, 32, 0, 32)
    masks[:] = -5.0
    after = provider.window(0, 32, 0, 32)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert (before.score == to_uint8(np.float32(0.9) / (1 + np.exp(np.float32(-5.0))))).all()
    assert (before.runner_up == 4).all() and (provider.top_class(np.arange(32), np.arange(32)) == 3).all()


# ------------------------------------------------------------------ synthetic hesitation
def _hesitant_result(margin: float) -> ParsingResult:
    """A 64x80 photo: one person; two queries cover the same box, one as Upper-clothes (5), the
    other as Coat (7), with scores ``margin`` apart: a small margin is a hesitant model."""
    h4, w4 = 16, 20
    masks = np.full((3, h4, w4), -8.0, dtype=np.float32)
    masks[0, 4:12, 5:15] = 8.0  # Upper-clothes
    masks[1, 4:12, 5:15] = 8.0  # Coat
    masks[2, 2:14, 3:17] = 8.0  # background query pasted as class 0 around (never wins inside)
    scores = {(0, 5): 0.9, (1, 7): 0.9 - margin, (2, 0): 0.55, (2, 20): 0.95}
    provider = ConfidenceProvider.from_outputs(masks, scores, image_hw=(64, 80), resized_hw=(64, 80),
                                               padded_hw=(64, 80), paste_threshold=0.5, num_classes=20)
    ys, xs = np.arange(64), np.arange(80)
    labels = provider.top_class(ys, xs)
    from desktop.resources import default_class_names, palette

    person_mask = labels != 0
    ry, rx = np.nonzero(person_mask)
    bbox = (int(rx.min()), int(ry.min()), int(np.ptp(rx)) + 1, int(np.ptp(ry)) + 1)
    person = Person(id=1, score=0.95, mask=person_mask, bbox=bbox, area=int(person_mask.sum()))
    return ParsingResult(labels=labels, persons=[person], parts=[], class_names=default_class_names(),
                         palette=palette()[:20], confidence=provider)


def test_the_doubt_names_uncertain_pixels_and_the_models_second_choice():
    hesitant = doubt_of(_hesitant_result(margin=0.02))
    reasons = [r for r in hesitant.reasons if r.code == "uncertain-pixels"]
    assert len(reasons) == 1
    r = reasons[0]
    assert r.person == 1 and r.class_name == "UpperClothes" and r.details["second_choice"] == "Coat"
    assert hesitant.uncertain_share > 0.5
    sure = doubt_of(_hesitant_result(margin=0.4))
    assert not any(r.code == "uncertain-pixels" for r in sure.reasons)
    assert sure.uncertain_share < 0.2 and sure.score < hesitant.score


def test_the_doubt_samples_large_photos_on_a_grid():
    ys, xs = sample_grid((6000, 8000))
    assert ys.size * xs.size <= 2_000_000 and ys.size * xs.size > 1_500_000
    assert (np.diff(ys) == np.diff(ys)[0]).all() and ys[0] == (ys[1] - ys[0]) // 2
    ys, xs = sample_grid((600, 512))
    assert np.array_equal(ys, np.arange(600)) and np.array_equal(xs, np.arange(512))


def test_the_doubt_view_mask_is_the_uncertain_pixels_of_the_visible_sample():
    from desktop.app.doubt_panel import uncertain_view_mask

    result = _hesitant_result(margin=0.02)
    ys, xs = np.arange(10, 50, 2), np.arange(0, 80, 3)
    mask = uncertain_view_mask(result, result.confidence, ys, xs)
    full = uncertain_mask(result.labels, result.score_map, result.runner_up_score)
    assert np.array_equal(mask, full[np.ix_(ys, xs)]) and mask.any()


def test_relabel_offers_the_runner_up_first():
    result = _hesitant_result(margin=0.02)
    labels = result.labels.copy()
    persons = np.where(labels != 0, 1, 0).astype(np.uint16)
    y, x = 32, 40  # inside the hesitant box: Upper-clothes, Coat second
    assert labels[y, x] == 5
    calls = []
    source = runner_up_source(result, labels.shape)
    assert callable(source)

    def spy(y0, y1, x0, x1):
        calls.append((y0, y1, x0, x1))
        return source(y0, y1, x0, x1)

    from desktop.review import edits

    choices = edits.relabel_choices(labels, persons, x, y, spy)
    assert choices[0] == 7 and 5 not in choices
    # Only the region's box is computed, not the photo.
    (y0, y1, x0, x1), = calls
    assert (y1 - y0) * (x1 - x0) < labels.size
    assert relabel_choices_for(labels, persons, x, y, result)[0] == 7
    # Without the model's confidence (or for maps of another size): the usual order.
    plain = edits.relabel_choices(labels, persons, x, y)
    assert relabel_choices_for(labels, persons, x, y, None) == plain
    assert runner_up_source(result, (10, 10)) is None
