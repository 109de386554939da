"""Raw network outputs -> label map, persons and parts, at the image's own size.

The reference upsamples all queries' mask logits to the full image before it selects
instances (100 x H x W floats: 3.7 s and gigabytes on a 1920x1080 photo). The selection
does not need full-resolution masks: an instance's final score is its class probability
times a mask score in [0, 1], and every threshold (0.1 for parts and persons,
``parsing_ins_score_thr`` for pasting) is at least 0.1. So we first keep only the top-k
(query, class) pairs whose class probability reaches 0.1 (exactly the ones that can
survive), and upsample only those queries, one small chunk at a time, with the
reference's two-step resize (to the padded input, crop, to the image). The results are
the reference's, computed for a handful of masks instead of a hundred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .config import ModelConfig
from .preprocess import Prepared
from .result import Part, Person, mask_bbox

TOPK = 100  # the reference's test_topk_per_image
MIN_INSTANCE_SCORE = 0.1  # parts need score >= 0.1, persons > 0.1
CHUNK = 4  # queries upsampled at once: bounds peak memory on large photos


@dataclass
class Instance:
    query: int
    label: int
    class_score: float
    score: float = 0.0
    mask: np.ndarray | None = None


@dataclass
class Parsed:
    labels: np.ndarray  # (H, W) uint8
    label_max: np.ndarray  # (H, W) float32, the winning channel's averaged probability
    persons: list[Person]
    parts: list[Part]


def _candidates(logits: torch.Tensor, cfg: ModelConfig) -> list[Instance]:
    """The top-k (query, class) pairs that can still reach an instance threshold."""
    scores = F.softmax(logits.float(), dim=-1)[:, :-1]  # drop "no object"
    num_classes = scores.shape[1]
    k = min(TOPK, scores.numel())
    top_scores, top_idx = scores.flatten().topk(k, sorted=False)
    keep = top_scores >= min(MIN_INSTANCE_SCORE, cfg.parsing_ins_score_thr)
    return [
        Instance(query=int(i) // num_classes, label=int(i) % num_classes, class_score=float(s))
        for s, i in zip(top_scores[keep].tolist(), top_idx[keep].tolist(), strict=True)
    ]


def _upsample(masks: torch.Tensor, prep: Prepared) -> torch.Tensor:
    """(n, h/4, w/4) mask logits -> (n, H, W), as the reference resizes them."""
    x = F.interpolate(masks[None], size=prep.padded_hw, mode="bilinear", align_corners=False)
    rh, rw = prep.resized_hw
    x = x[:, :, :rh, :rw]
    return F.interpolate(x, size=prep.image_hw, mode="bilinear", align_corners=False)[0]


def postprocess(logits: torch.Tensor, masks: torch.Tensor, prep: Prepared, cfg: ModelConfig) -> Parsed:
    """``logits``: (Q, C+1) for one image; ``masks``: (Q, h/4, w/4) mask logits."""
    h, w = prep.image_hw
    num_parsing = cfg.num_parsing
    thr = cfg.parsing_ins_score_thr
    candidates = _candidates(logits, cfg)
    by_query: dict[int, list[Instance]] = {}
    for inst in candidates:
        by_query.setdefault(inst.query, []).append(inst)

    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, torch.Tensor] = {}
    queries = sorted(by_query)
    masks = masks.float()
    for start in range(0, len(queries), CHUNK):
        chunk = queries[start : start + CHUNK]
        full = _upsample(masks[chunk], prep)
        for q, mask_logit in zip(chunk, full, strict=True):
            binary = mask_logit > 0
            prob = mask_logit.sigmoid()
            mask_score = float((prob * binary).sum() / (binary.sum() + 1e-6))
            for inst in by_query[q]:
                inst.score = inst.class_score * mask_score
                is_person = inst.label == num_parsing
                if (is_person and inst.score > MIN_INSTANCE_SCORE) or (
                    not is_person and inst.label != 0 and inst.score >= MIN_INSTANCE_SCORE
                ):
                    inst.mask = binary.numpy().copy()
                if not is_person and inst.score >= thr:
                    # Paste into the class channel where prob * score > 0.5, then average.
                    pasted = prob * inst.score
                    hit = pasted > 0.5
                    if inst.label not in sums:
                        sums[inst.label] = torch.zeros((h, w), dtype=torch.float32)
                        counts[inst.label] = torch.zeros((h, w), dtype=torch.float32)
                    sums[inst.label] += torch.where(hit, pasted, 0.0)
                    counts[inst.label] += hit
        del full

    # Argmax over the class channels; channels never pasted are 0 everywhere, and ties go to
    # the lower class id (as torch.argmax does), hence the strict comparison in id order.
    best = torch.zeros((h, w), dtype=torch.float32)
    labels = torch.zeros((h, w), dtype=torch.uint8)
    for label in sorted(sums):
        avg = sums[label] / counts[label].clamp_(min=1.0)
        better = avg > best
        best = torch.where(better, avg, best)
        labels[better] = label
    del sums, counts

    person_insts = sorted((i for i in candidates if i.mask is not None and i.label == num_parsing), key=lambda i: -i.score)
    part_insts = sorted((i for i in candidates if i.mask is not None and i.label != num_parsing), key=lambda i: -i.score)
    persons = [
        Person(id=n + 1, score=i.score, mask=i.mask, bbox=mask_bbox(i.mask), area=int(i.mask.sum()))
        for n, i in enumerate(person_insts)
    ]
    names = cfg.classes
    parts = []
    for n, inst in enumerate(part_insts):
        parts.append(
            Part(
                id=n + 1,
                label=inst.label,
                name=names[inst.label] if inst.label < len(names) else str(inst.label),
                score=inst.score,
                mask=inst.mask,
                bbox=mask_bbox(inst.mask),
                area=int(inst.mask.sum()),
                person_id=_owner(inst.mask, persons),
            )
        )
    persons = [
        Person(p.id, p.score, p.mask, p.bbox, p.area, tuple(pt.id for pt in parts if pt.person_id == p.id)) for p in persons
    ]
    return Parsed(labels.numpy(), best.numpy(), persons, parts)


def _owner(mask: np.ndarray, persons: list[Person]) -> int | None:
    """The person whose mask overlaps ``mask`` most (the higher score on a tie), or None."""
    best_id, best_overlap = None, 0
    x, y, bw, bh = mask_bbox(mask)
    if bw == 0:
        return None
    window = mask[y : y + bh, x : x + bw]
    for person in persons:  # ordered by descending score
        overlap = int(np.count_nonzero(window & person.mask[y : y + bh, x : x + bw]))
        if overlap > best_overlap:
            best_id, best_overlap = person.id, overlap
    return best_id
