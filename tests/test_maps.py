"""The reviewer's two maps: derived from a model result, and the parts they give back."""

from __future__ import annotations

import numpy as np

from desktop.engine.result import ParsingResult, Part, Person, mask_bbox
from desktop.review.maps import consistency_problems, instances_from_maps, person_map_of


def _result(labels, persons, parts) -> ParsingResult:
    return ParsingResult(labels=labels, persons=persons, parts=parts,
                         class_names=tuple(f"c{i}" for i in range(20)), palette=np.zeros((20, 3), np.uint8))


def _person(pid, score, mask):
    return Person(id=pid, score=score, mask=mask, bbox=mask_bbox(mask), area=int(mask.sum()))


def _part(pid, label, score, mask, person):
    return Part(id=pid, label=label, name=f"c{label}", score=score, mask=mask, bbox=mask_bbox(mask),
                area=int(mask.sum()), person_id=person)


def test_person_map_follows_part_links_then_person_masks():
    labels = np.zeros((6, 8), np.uint8)
    labels[1:5, 1:4] = 13  # face, left block
    labels[1:5, 5:7] = 2   # hair, right block
    labels[0, 0] = 5       # covered by no part: falls back to person masks
    p1 = np.zeros_like(labels, bool)
    p1[0:6, 0:4] = True
    p2 = np.zeros_like(labels, bool)
    p2[0:6, 3:8] = True  # overlaps p1 on column 3
    face = labels == 13
    hair = labels == 2
    result = _result(labels, [_person(1, 0.9, p1), _person(2, 0.8, p2)],
                     [_part(1, 13, 0.7, face, 1), _part(2, 2, 0.6, hair, None)])
    pm = person_map_of(result)
    assert pm.dtype == np.uint16
    assert (pm[face] == 1).all()        # the face part's person, even on column 3 where p2 overlaps
    assert (pm[hair] == 0).all()        # a part linked to no person stays unlinked
    assert pm[0, 0] == 1                # no part covers it: the person mask decides
    assert (pm[labels == 0] == 0).all() # background never carries a person
    assert consistency_problems(labels, pm) == []


def test_instances_give_back_the_maps():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 20, (40, 50)).astype(np.uint8)
    persons = rng.integers(0, 4, (40, 50)).astype(np.uint16)
    persons[labels == 0] = 0
    insts = instances_from_maps(labels, persons)
    rebuilt_l = np.zeros_like(labels)
    rebuilt_p = np.zeros_like(persons)
    total = 0
    for inst in insts:
        full = inst.full_mask(labels.shape)
        assert full.sum() == inst.area and mask_bbox(full) == inst.bbox
        if inst.label == 0:
            assert (full == ((persons == inst.person) & (labels != 0))).all()
            continue
        assert (labels[full] == inst.label).all() and (persons[full] == inst.person).all()
        rebuilt_l[full] = inst.label
        rebuilt_p[full] = inst.person
        total += inst.area
    assert total == np.count_nonzero(labels)
    assert (rebuilt_l == labels).all() and (rebuilt_p == persons).all()
    assert [(i.person, i.label) for i in insts] == sorted((i.person, i.label) for i in insts)


def test_consistency_problems_name_what_is_wrong():
    labels = np.zeros((3, 3), np.uint8)
    persons = np.zeros((3, 3), np.uint16)
    persons[1, 1] = 2
    assert consistency_problems(labels, persons) == ["1 background pixel(s) carry a person id"]
    assert "differ in size" in consistency_problems(labels, persons[:2])[0]
    assert instances_from_maps(labels, np.zeros_like(persons)) == []


def test_person_map_of_a_real_parse(tiny_parser, golden_images):
    result = tiny_parser.parse_file(golden_images["astronaut"])
    pm = person_map_of(result)
    assert pm.shape == result.labels.shape
    assert consistency_problems(result.labels, pm) == []
    linked = {(p.person_id or 0, p.label) for p in result.parts}
    for inst in instances_from_maps(result.labels, pm, with_persons=False):
        # every (person, class) region of the map is explained by a part link or a person mask
        assert (inst.person, inst.label) in linked or inst.person in {p.id for p in result.persons} or inst.person == 0
