"""Interchange formats (desktop.formats), proven with the tools' own importers.

Every format is written from plausible drawn maps (three people, one half hidden, parts of
no person, a part in the image's corner) and from a real result of the tiny model, then read
with the library its tool uses: datumaro (CVAT's dataset library: ``cvat``,
``voc_segmentation``, ``coco_instances``), pycocotools and labelme's label-file loader. Each
class mask must equal the label map's pixel for pixel, and every person's parts must be
grouped as in our maps. Our readers must give the same maps back, and refuse malformed files
with one sentence naming the file.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from formatdata import many_people_maps, plausible_maps
from imagefiles import bomb_png, pattern, save_rgb
from PIL import Image

from desktop.formats import (
    INTERCHANGE_FORMATS,
    FormatError,
    FormatReadError,
    FormatRun,
    ImageMaps,
    cihp_stems,
    cvat_mask_stems,
    read_cihp,
    read_cvat_mask,
    read_labelme,
)
from desktop.formats.cvat_mask import voc_colormap
from desktop.resources import default_class_names, palette

NAMES = default_class_names()
PALETTE = palette()
# pycocotools' decode trips NumPy 2's copy-keyword deprecation (its code, not ours).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@dataclass
class Written:
    out: Path
    photos: Path
    items: list[ImageMaps]

    def by_stem(self, stem: str) -> ImageMaps:
        return next(m for m in self.items if m.stem == stem)


@pytest.fixture(scope="module")
def written(tmp_path_factory, tiny_parser, golden_images) -> Written:
    """Every format written for three images: two drawn (one in a subfolder, with a space and
    an accent in its name) and the tiny model's parsing of a real photo."""
    root = tmp_path_factory.mktemp("formats")
    photos = root / "photos"
    drawn1 = ImageMaps(*plausible_maps(120, 160, seed=1), name="group.png", stem="group",
                       image_path=save_rgb(photos / "group.png", pattern(160, 120)))
    drawn2 = ImageMaps(*plausible_maps(90, 128, seed=2), name="sub/photo 2 é.png", stem="sub/photo 2 é",
                       image_path=save_rgb(photos / "sub" / "photo 2 é.png", pattern(128, 90, seed=1)))
    real = photos / golden_images["astronaut_crop"].name
    real.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(golden_images["astronaut_crop"], real)
    result = tiny_parser.parse_file(real)
    model = ImageMaps.from_result(result, name=real.name, stem=real.stem, image_path=real)
    assert len(result.persons) >= 2 and len(np.unique(model.labels)) >= 3, "the tiny model's result is too plain"
    out = root / "out"
    run = FormatRun(out, INTERCHANGE_FORMATS, NAMES, PALETTE)
    for maps in (drawn1, drawn2, model):
        run.add(maps)
    run.finish()
    return Written(out, photos, [drawn1, drawn2, model])


def parts_of(maps: ImageMaps) -> dict[tuple[int, int], np.ndarray]:
    """(person, class) -> full-size mask of that part."""
    out = {}
    for person, cls in {(int(p), int(c)) for p, c in zip(maps.persons[maps.labels > 0], maps.labels[maps.labels > 0],
                                                         strict=True)}:
        out[(person, cls)] = (maps.persons == person) & (maps.labels == cls)
    return out


def copy_photos(written: Written, images_dir: Path) -> None:
    """The photos beside an annotation file, as CVAT exports them "with images"."""
    for maps in written.items:
        target = images_dir / maps.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(maps.image_path, target)


def item_maps(written: Written, item_id: str) -> ImageMaps:
    return next(m for m in written.items if m.name.rsplit(".", 1)[0] == item_id)


# --------------------------------------------------------------------------- the tools' importers

def test_cvat_xml_imports_with_datumaro_persons_as_groups(written):
    import datumaro as dm
    from datumaro.components.annotation import AnnotationType

    copy_photos(written, written.out / "cvat" / "images")
    ds = dm.Dataset.import_from(str(written.out / "cvat"), "cvat")
    cats = ds.categories()[AnnotationType.label]
    assert {c.name for c in cats} == set(NAMES[1:])  # every class but background is declared
    seen = set()
    for item in ds:
        maps = item_maps(written, item.id)
        seen.add(maps.stem)
        labels = np.zeros_like(maps.labels)
        persons = np.zeros_like(maps.persons)
        masks = [a for a in item.annotations if a.type == AnnotationType.mask]
        assert len(masks) == len(parts_of(maps))  # one mask per (person, class) part
        for ann in masks:
            m = ann.image.astype(bool)
            assert not labels[m].any(), "parts overlap"
            labels[m] = NAMES.index(cats[ann.label].name)
            persons[m] = ann.group  # the person; 0 (no group_id) for parts of no person
        np.testing.assert_array_equal(labels, maps.labels)
        np.testing.assert_array_equal(persons, maps.persons)
    assert seen == {m.stem for m in written.items}


def test_cvat_xml_writes_no_group_for_parts_of_no_person(written):
    root = ET.parse(written.out / "cvat" / "annotations.xml").getroot()
    image = next(i for i in root.iter("image") if i.get("name") == "group.png")
    by_label = {}
    for mask in image.iter("mask"):
        by_label.setdefault(mask.get("label"), []).append(mask.get("group_id"))
    assert by_label["Hat"] == [None] and by_label["Gloves"] == [None]  # the drawn parts of no person
    assert sorted(by_label["Face"]) == ["1", "2", "3"]
    assert root.find("version").text == "1.1" and root.find("meta/task/labels") is not None


def test_cvat_mask_imports_with_datumaro_voc_segmentation(written):
    import datumaro as dm
    from datumaro.components.annotation import AnnotationType

    ds = dm.Dataset.import_from(str(written.out / "cvat-mask"), "voc_segmentation")
    cats = ds.categories()[AnnotationType.label]
    assert [c.name for c in cats][: len(NAMES)] == ["background", *NAMES[1:]]
    seen = set()
    for item in ds:
        maps = item_maps(written, item.id)
        seen.add(maps.stem)
        parts = parts_of(maps)
        labels = np.zeros_like(maps.labels)
        objects = [a for a in item.annotations if a.type == AnnotationType.mask]
        assert len(objects) == len(parts)  # one object per (person, class) part
        for ann in objects:
            m = ann.image.astype(bool)
            cls = NAMES.index(cats[ann.label].name) if ann.label else 0
            labels[m] = cls
            owners = np.unique(maps.persons[m])
            assert len(owners) == 1 and np.array_equal(m, parts[(int(owners[0]), cls)])  # exactly one part
        np.testing.assert_array_equal(labels, maps.labels)
    assert seen == {m.stem for m in written.items}
    assert cvat_mask_stems(written.out / "cvat-mask") == [m.stem for m in written.items]


def test_coco_decodes_with_pycocotools_and_imports_with_datumaro(written):
    from pycocotools import mask as mask_utils

    path = written.out / "coco" / "annotations" / "instances.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    assert 0 not in cats and cats[len(NAMES)] == "Person" and all(cats[i] == NAMES[i] for i in range(1, len(NAMES)))
    assert [i["id"] for i in doc["images"]] == [1, 2, 3]
    assert len({a["id"] for a in doc["annotations"]}) == len(doc["annotations"])
    for image in doc["images"]:
        maps = next(m for m in written.items if m.name == image["file_name"])
        assert (image["width"], image["height"]) == (maps.width, maps.height)
        anns = [a for a in doc["annotations"] if a["image_id"] == image["id"]]
        labels = np.zeros_like(maps.labels)
        persons = np.zeros_like(maps.persons)
        person_masks = {}
        for a in anns:
            m = mask_utils.decode(a["segmentation"]).astype(bool)
            assert a["iscrowd"] == 0 and a["area"] == int(m.sum())
            x, y, w, h = a["bbox"]
            assert m[y : y + h, x : x + w].sum() == a["area"] and m.any(axis=0)[x] and m.any(axis=1)[y]
            k = a["attributes"]["person"]
            if a["category_id"] == len(NAMES):
                person_masks[k] = m
                continue
            assert not labels[m].any()
            labels[m] = a["category_id"]
            persons[m] = k
        np.testing.assert_array_equal(labels, maps.labels)
        np.testing.assert_array_equal(persons, maps.persons)
        ids = sorted(int(p) for p in np.unique(maps.persons) if p)
        assert sorted(person_masks) == ids  # one Person annotation per person, none for person 0
        for k, m in person_masks.items():
            np.testing.assert_array_equal(m, (maps.persons == k) & (maps.labels > 0))

    import datumaro as dm
    from datumaro.components.annotation import AnnotationType

    copy_photos(written, written.out / "coco" / "images")
    ds = dm.Dataset.import_from(str(written.out / "coco" / "annotations" / "instances.json"), "coco_instances")
    n_masks = sum(1 for item in ds for a in item.annotations if a.type == AnnotationType.mask)
    assert n_masks == len(doc["annotations"])
    for item in ds:
        for a in item.annotations:
            assert "person" in a.attributes


def test_labelme_loads_in_labelme_and_rasterises_to_the_label_map(written, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from labelme._label_file import LabelFile
    from labelme.utils.shape import shapes_to_label

    for maps in written.items:
        path = written.out / "labelme" / f"{maps.stem}.json"
        lf = LabelFile(str(path))  # also opens the photo through imagePath and checks its size
        assert lf.image_data and not Path(lf.image_path).is_absolute()
        cls, ins = shapes_to_label((maps.height, maps.width), lf.shapes, {n: i for i, n in enumerate(NAMES)})
        np.testing.assert_array_equal(cls, maps.labels)
        assert len(lf.shapes) == len(parts_of(maps))
        for n, shape in enumerate(lf.shapes, start=1):
            region = ins == n
            assert shape["shape_type"] == "mask"
            assert set(np.unique(maps.persons[region]).tolist()) == {shape["group_id"] or 0}
    raw = json.loads((written.out / "labelme" / "group.json").read_text(encoding="utf-8"))
    assert raw["imageData"] is None and raw["imagePath"] == "../../photos/group.png"
    hat = next(s for s in raw["shapes"] if s["label"] == "Hat")
    assert hat["group_id"] is None


def test_cihp_layout_reads_as_m2fp_reads_it(written):
    root = written.out / "cihp"
    assert cihp_stems(root) == sorted(m.stem for m in written.items)
    for maps in written.items:
        cat = np.asarray(Image.open(root / "Category_ids" / f"{maps.stem}.png"))
        hum = np.asarray(Image.open(root / "Human_ids" / f"{maps.stem}.png"))
        ins = np.asarray(Image.open(root / "Instance_ids" / f"{maps.stem}.png"))
        np.testing.assert_array_equal(cat, maps.labels)
        np.testing.assert_array_equal(hum, maps.persons)
        assert cat.dtype == np.uint8 and hum.dtype == np.uint8  # 8-bit, as the released data
        # Human instances x categories, as M2FP's loader builds its training instances:
        # every part of a person, none for pixels of no person.
        m2fp_parts = {(int(h), int(c)) for h in np.unique(hum) if h for c in np.unique(cat[hum == h]) if c}
        assert m2fp_parts == {k for k in parts_of(maps) if k[0]}
        expected = np.where((maps.persons > 0) & (maps.labels > 0),
                            maps.labels.astype(int) + 20 * (maps.persons.astype(int) - 1), 0)
        np.testing.assert_array_equal(ins, expected)
        rows = [tuple(map(int, r.split())) for r in
                (root / "Instance_ids" / f"{maps.stem}.txt").read_text().splitlines()]
        assert rows == sorted({(c + 20 * (h - 1), c, h) for h, c in m2fp_parts})


def test_cihp_writes_16_bit_when_ids_exceed_8_bits(tmp_path):
    labels, persons = many_people_maps(300)
    maps = ImageMaps(labels, persons, name="crowd.jpg", stem="crowd")
    run = FormatRun(tmp_path, ["cihp"], NAMES, PALETTE)
    run.add(maps)
    run.finish()
    hum = np.asarray(Image.open(tmp_path / "cihp" / "Human_ids" / "crowd.png"))
    ins = np.asarray(Image.open(tmp_path / "cihp" / "Instance_ids" / "crowd.png"))
    assert hum.max() == 300 and ins.max() == 13 + 20 * 299
    back = read_cihp(tmp_path / "cihp", "crowd", NAMES)
    np.testing.assert_array_equal(back.labels, labels)
    np.testing.assert_array_equal(back.persons, persons)


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("fmt", ["cihp", "cvat-mask", "labelme"])
def test_readers_give_the_same_maps_back(written, fmt):
    for maps in written.items:
        if fmt == "cihp":
            back = read_cihp(written.out / "cihp", maps.stem, NAMES)
        elif fmt == "cvat-mask":
            back = read_cvat_mask(written.out / "cvat-mask", maps.stem, NAMES)
        else:
            back = read_labelme(written.out / "labelme" / f"{maps.stem}.json", NAMES)
        np.testing.assert_array_equal(back.labels, maps.labels)
        np.testing.assert_array_equal(back.persons, maps.persons)
        assert back.labels.dtype == np.uint8 and back.persons.dtype == np.uint16 and back.notes == []


def test_cvat_mask_from_cvat_itself_reads_classes_without_persons(written, tmp_path):
    """CVAT's own export has RGB class masks and no ObjectPersons: classes come back, persons are 0."""
    src = written.out / "cvat-mask"
    dst = tmp_path / "cvat-export"
    shutil.copytree(src, dst)
    shutil.rmtree(dst / "ObjectPersons")
    maps = written.by_stem("group")
    rgb = PALETTE[maps.labels]
    Image.fromarray(rgb).save(dst / "SegmentationClass" / "group.png")  # RGB, as datumaro paints it
    back = read_cvat_mask(dst, "group", NAMES)
    np.testing.assert_array_equal(back.labels, maps.labels)
    assert not back.persons.any() and "no persons" in back.notes[0]


def test_labelme_reader_rasterises_hand_drawn_shapes_like_labelme(tmp_path, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from labelme.utils.shape import shapes_to_label

    shapes = [
        {"label": "UpperClothes", "points": [[10.4, 12.2], [40.7, 15.1], [44.2, 50.9], [8.1, 47.3]],
         "shape_type": "polygon", "group_id": 1, "flags": {}, "description": "", "mask": None},
        {"label": "Face", "points": [[30, 2], [50.5, 20.5]], "shape_type": "rectangle", "group_id": 2,
         "flags": {}, "description": "", "mask": None},
        {"label": "hair", "points": [[60, 30], [66.5, 35]], "shape_type": "circle", "group_id": None,
         "flags": {}, "description": "", "mask": None},
        {"label": "Face", "points": [[0, 0], [70, 50]], "shape_type": "line", "group_id": None,
         "flags": {}, "description": "", "mask": None},
    ]
    path = tmp_path / "hand.json"
    path.write_text(json.dumps({"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": "x.png",
                                "imageData": None, "imageHeight": 60, "imageWidth": 80}))
    back = read_labelme(path, NAMES)
    lookup = {n: i for i, n in enumerate(NAMES)} | {"hair": 2}
    cls, _ins = shapes_to_label((60, 80), shapes[:3], lookup)  # labelme's own rasterisation
    np.testing.assert_array_equal(back.labels, cls)
    assert set(np.unique(back.persons[back.labels == 5]).tolist()) == {1}
    assert not back.persons[back.labels == 2].any()
    assert back.notes == ["1 line or point shape skipped: it covers no area"]


# --------------------------------------------------------------------------- streaming, resume, limits

def test_folder_files_are_assembled_from_kept_and_new_images_in_run_order(tmp_path):
    out = tmp_path / "out"
    a = ImageMaps(*plausible_maps(60, 80, 1), name="a.jpg", stem="a")
    b = ImageMaps(*plausible_maps(60, 80, 2), name="b.jpg", stem="b")
    c = ImageMaps(*plausible_maps(60, 80, 3), name="c.jpg", stem="c")
    first = FormatRun(out, ["cvat", "coco", "cvat-mask"], NAMES, PALETTE)
    first.add(a)
    first.add(b)
    first.finish()
    # A later run (say --skip-existing) parses only c and keeps a and b from the first.
    second = FormatRun(out, ["cvat", "coco", "cvat-mask"], NAMES, PALETTE)
    assert second.has("a") and second.has("b") and not second.has("c")
    second.add(c)
    assert second.keep("b") and second.keep("a") and not second.keep("nothing-here")
    second.finish(order=["a", "b", "c"])
    xml_names = [i.get("name") for i in ET.parse(out / "cvat" / "annotations.xml").getroot().iter("image")]
    assert xml_names == ["a.jpg", "b.jpg", "c.jpg"]
    coco = json.loads((out / "coco" / "annotations" / "instances.json").read_text())
    assert [(i["id"], i["file_name"]) for i in coco["images"]] == [(1, "a.jpg"), (2, "b.jpg"), (3, "c.jpg")]
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
    listed = (out / "cvat-mask" / "ImageSets" / "Segmentation" / "default.txt").read_text().split()
    assert listed == ["a", "b", "c"]

    # A damaged piece: that image is left out with a message, the file stays sound.
    (out / "cvat" / ".fragments" / "b.json").write_text('{"name": "b.jpg"\n')
    third = FormatRun(out, ["cvat"], NAMES, PALETTE)
    for stem in "abc":
        third.keep(stem)
    with pytest.raises(FormatError, match="b was left out"):
        third.finish()
    xml_names = [i.get("name") for i in ET.parse(out / "cvat" / "annotations.xml").getroot().iter("image")]
    assert xml_names == ["a.jpg", "c.jpg"]


def test_cvat_mask_refuses_more_objects_than_voc_colours_and_the_other_formats_go_on(tmp_path):
    crowd = ImageMaps(*many_people_maps(130), name="crowd.jpg", stem="crowd")  # 260 parts
    fine = ImageMaps(*plausible_maps(60, 80), name="fine.jpg", stem="fine")
    run = FormatRun(tmp_path, ["cvat-mask", "labelme"], NAMES, PALETTE)
    with pytest.raises(FormatError, match="260 parts, more than the 254"):
        run.add(crowd)
    run.add(fine)
    run.finish()
    assert (tmp_path / "labelme" / "crowd.json").is_file()
    assert not (tmp_path / "cvat-mask" / "SegmentationClass" / "crowd.png").exists()
    assert (tmp_path / "cvat-mask" / "ImageSets" / "Segmentation" / "default.txt").read_text() == "fine\n"


def test_cvat_mask_object_colours_are_vocs():
    cmap = voc_colormap()
    assert cmap[0].tolist() == [0, 0, 0] and cmap[1].tolist() == [128, 0, 0] and cmap[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in cmap.tolist()}) == 256


def test_writers_refuse_unsafe_names(tmp_path):
    labels, persons = plausible_maps(20, 30)
    for stem in ("../escape", "/abs", "a/../b", ""):
        with pytest.raises(FormatError):
            ImageMaps(labels, persons, name="x.jpg", stem=stem)
    with pytest.raises(FormatError):
        ImageMaps(labels, persons, name="C:\\x.jpg", stem="x")


def test_writing_streams_with_bounded_memory(tmp_path):
    """Assembling the run's files holds one image at a time: 200 images' XML and JSON are
    assembled with far less extra memory than their total size."""
    import tracemalloc

    labels, persons = plausible_maps(240, 320)
    run = FormatRun(tmp_path, ["cvat", "coco"], NAMES, PALETTE)
    for i in range(200):
        run.add(ImageMaps(labels, persons, name=f"img{i}.jpg", stem=f"img{i}"))
    tracemalloc.start()
    run.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    total = (tmp_path / "cvat" / "annotations.xml").stat().st_size + \
        (tmp_path / "coco" / "annotations" / "instances.json").stat().st_size
    assert total > 2_000_000 and peak < total / 10


# --------------------------------------------------------------------------- malformed inputs

def _png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def cihp_copy(written, tmp_path):
    dst = tmp_path / "cihp"
    shutil.copytree(written.out / "cihp", dst)
    return dst


@pytest.mark.parametrize("damage, words", [
    ("text", "not a readable PNG"),
    ("truncated", "not a readable PNG"),
    ("bomb", "too large"),
    ("missing", "does not exist"),
    ("bad-class", "class id 25"),
    ("human-size", "differs from"),
    ("jpeg", "not a PNG"),
])
def test_cihp_reader_refuses_malformed_files(cihp_copy, damage, words):
    cat = cihp_copy / "Category_ids" / "group.png"
    hum = cihp_copy / "Human_ids" / "group.png"
    if damage == "text":
        cat.write_text("not an image")
    elif damage == "truncated":
        cat.write_bytes(cat.read_bytes()[:60])
    elif damage == "bomb":
        bomb_png(cat)
    elif damage == "missing":
        cat.unlink()
    elif damage == "bad-class":
        cat.write_bytes(_png_bytes(np.full((120, 160), 25, np.uint8)))
    elif damage == "human-size":
        hum.write_bytes(_png_bytes(np.zeros((10, 10), np.uint8)))
    elif damage == "jpeg":
        Image.fromarray(np.zeros((120, 160), np.uint8)).save(cat, format="JPEG")
    with pytest.raises(FormatReadError) as err:
        read_cihp(cihp_copy, "group", NAMES)
    assert words in str(err.value) and str(err.value.path) in str(err.value)


@pytest.fixture
def mask_copy(written, tmp_path):
    dst = tmp_path / "cvat-mask"
    shutil.copytree(written.out / "cvat-mask", dst)
    return dst


@pytest.mark.parametrize("damage, words", [
    ("labelmap-fields", "4 (name:r,g,b:parts:actions)"),
    ("labelmap-colour", "not three numbers"),
    ("labelmap-duplicate", "colour another label already has"),
    ("unknown-colour", "does not list"),
    ("foreign-label", 'label "Bicycle"'),
    ("object-colour", "not a VOC object colour"),
    ("persons-row", "not three whole numbers"),
    ("persons-range", "outside 1..255"),
    ("bomb", "too large"),
])
def test_cvat_mask_reader_refuses_malformed_files(mask_copy, damage, words):
    labelmap = mask_copy / "labelmap.txt"
    cls = mask_copy / "SegmentationClass" / "group.png"
    if damage == "labelmap-fields":
        labelmap.write_text("background:0,0,0:\n")
    elif damage == "labelmap-colour":
        labelmap.write_text("background:0,0,0::\nHat:300,0,0::\n")
    elif damage == "labelmap-duplicate":
        labelmap.write_text("background:0,0,0::\nHat:0,0,0::\n")
    elif damage == "unknown-colour":
        cls.write_bytes(_png_bytes(np.full((120, 160, 3), 7, np.uint8)))
    elif damage == "foreign-label":
        labelmap.write_text(labelmap.read_text() + "Bicycle:1,2,3::\n")
        cls.write_bytes(_png_bytes(np.tile(np.array([1, 2, 3], np.uint8), (120, 160, 1))))
    elif damage == "object-colour":
        (mask_copy / "SegmentationObject" / "group.png").write_bytes(_png_bytes(np.full((120, 160, 3), 5, np.uint8)))
    elif damage == "persons-row":
        (mask_copy / "ObjectPersons" / "group.txt").write_text("1 2 x\n")
    elif damage == "persons-range":
        (mask_copy / "ObjectPersons" / "group.txt").write_text("999 2 1\n")
    elif damage == "bomb":
        bomb_png(cls)
    with pytest.raises(FormatReadError) as err:
        read_cvat_mask(mask_copy, "group", NAMES)
    assert words in str(err.value) and str(err.value.path) in str(err.value)


def _labelme_doc(written) -> dict:
    return json.loads((written.out / "labelme" / "group.json").read_text(encoding="utf-8"))


def _b64_png(arr: np.ndarray) -> str:
    return base64.b64encode(_png_bytes(arr)).decode()


@pytest.mark.parametrize("damage, words", [
    ("not-json", "not valid JSON"),
    ("nested", "not valid JSON"),
    ("list", "no JSON object"),
    ("no-size", "image size"),
    ("huge", "too large"),
    ("no-shapes", '"shapes"'),
    ("unknown-label", 'label "Bicycle"'),
    ("bad-base64", "not base64"),
    ("mask-size", "mask for a"),
    ("mask-bomb", "mask for a"),
    ("mask-garbage", "not a readable image"),
    ("outside", "outside the"),
    ("group-text", "group_id"),
    ("group-negative", "group_id"),
    ("points", "not two numbers"),
    ("shape-type", "shape type"),
    ("polygon-2", "fewer than 3 points"),
])
def test_labelme_reader_refuses_malformed_files(written, tmp_path, damage, words):
    doc = _labelme_doc(written)
    shape = doc["shapes"][0]
    text = None
    if damage == "not-json":
        text = "{ this is not json"
    elif damage == "nested":
        text = "[" * 200_000
    elif damage == "list":
        text = "[]"
    elif damage == "no-size":
        del doc["imageHeight"]
    elif damage == "huge":
        doc["imageHeight"] = doc["imageWidth"] = 1_000_000
    elif damage == "no-shapes":
        del doc["shapes"]
    elif damage == "unknown-label":
        shape["label"] = "Bicycle"
    elif damage == "bad-base64":
        shape["mask"] = "@@@"
    elif damage == "mask-size":
        shape["mask"] = _b64_png(np.ones((3, 3), np.uint8))
    elif damage == "mask-bomb":
        path = bomb_png(tmp_path / "bomb.png")
        shape["mask"] = base64.b64encode(path.read_bytes()).decode()
    elif damage == "mask-garbage":
        shape["mask"] = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10).decode()
    elif damage == "outside":
        shape["points"] = [[150.0, 100.0], [170.0, 130.0]]
    elif damage == "group-text":
        shape["group_id"] = "one"
    elif damage == "group-negative":
        shape["group_id"] = -3
    elif damage == "points":
        shape["points"] = [[1, "a"], [2, 3]]
    elif damage == "shape-type":
        shape["shape_type"] = "cuboid"
    elif damage == "polygon-2":
        shape.update(shape_type="polygon", points=[[1, 1], [5, 5]], mask=None)
    path = tmp_path / "damaged.json"
    path.write_text(text if text is not None else json.dumps(doc), encoding="utf-8")
    with pytest.raises(FormatReadError) as err:
        read_labelme(path, NAMES)
    assert words in str(err.value) and str(path) in str(err.value)


def test_readers_never_leak_other_exceptions_on_random_bytes(tmp_path, written):
    rng = np.random.default_rng(7)
    cihp = tmp_path / "cihp"
    shutil.copytree(written.out / "cihp", cihp)
    lm = tmp_path / "lm.json"
    for trial in range(30):
        blob = rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes()
        if trial % 2:
            blob = b"\x89PNG\r\n\x1a\n" + blob
        (cihp / "Category_ids" / "group.png").write_bytes(blob)
        lm.write_bytes(blob)
        for call in (lambda: read_cihp(cihp, "group", NAMES), lambda: read_labelme(lm, NAMES)):
            with pytest.raises(FormatReadError):
                call()


def test_export_run_feeds_formats_and_goes_on_after_a_failure(tmp_path):
    """desktop.export_run (the window's export): per-image files and formats, one failure reported."""
    from test_export import synthetic_result

    from desktop.export import ExportOptions
    from desktop.export_run import plan_export, run_export
    from desktop.imageio import load_image

    photos = tmp_path / "photos"
    good = save_rgb(photos / "a.png", pattern(32, 24))
    sub = save_rgb(photos / "sub" / "b.png", pattern(32, 24))
    missing = photos / "c.png"
    images = [("k1", good, "a.png"), ("k2", sub, "sub/b.png"), ("k3", missing, "c.png")]
    out = tmp_path / "export"
    plan = plan_export(images, {"k1", "k2", "k3"}, out, photos)
    one = plan_export(images, {"k2"}, out, photos)
    assert one == [plan[1]]  # "this image" lands where "all images" puts it
    results = {"k1": synthetic_result(), "k2": synthetic_result(), "k3": None}
    value = run_export(plan, out, ExportOptions(formats={"json", "coco", "cihp"}), get_result=results.get,
                       load_image=load_image, report=lambda *a: None, cancel=threading.Event())
    assert value["keys"] == ["k1", "k2"] and [n for n, _ in value["failures"]] == ["c.png"]
    assert (out / "sub" / "b.json").is_file() and (out / "cihp" / "Category_ids" / "sub" / "b.png").is_file()
    coco = json.loads((out / "coco" / "annotations" / "instances.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == ["a.png", "sub/b.png"]


def test_a_palette_repeating_colours_fails_cvat_mask_only(tmp_path):
    dull = PALETTE.copy()
    dull[5] = dull[4]
    run = FormatRun(tmp_path, ["cvat-mask", "labelme"], NAMES, dull)
    with pytest.raises(FormatError, match="different colour for every class"):
        run.add(ImageMaps(*plausible_maps(40, 60), name="a.jpg", stem="a"))
    run.finish()
    assert (tmp_path / "labelme" / "a.json").is_file() and not (tmp_path / "cvat-mask" / "labelmap.txt").exists()
