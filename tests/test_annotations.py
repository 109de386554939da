"""Existing annotations: both layouts, every PNG encoding, one clear message per bad file, writing back."""

from __future__ import annotations

import numpy as np
import pytest
from hostile_files import png_bomb
from PIL import Image

from desktop.formats import read_cihp
from desktop.resources import default_class_names, palette
from desktop.review.annotations import AnnotationError, AnnotationSet

NAMES = default_class_names()
H, W = 12, 16


def _labels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 20, (H, W)).astype(np.uint8)
    out[0, 0], out[0, 1] = 0, 19  # both ends of the range
    return out


def _photo(path, w: int = W, h: int = H):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (90, 120, 200)).save(path)
    return path


def _save(path, array, mode=None, palette_=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.ascontiguousarray(array)
    if mode == "P":
        im = Image.frombytes("P", (array.shape[1], array.shape[0]), array.astype(np.uint8).tobytes())
        im.putpalette(palette_)
    else:
        im = Image.fromarray(array)
        assert mode is None or im.mode == mode, im.mode
    im.save(path)
    return path


@pytest.fixture
def cihp(tmp_path):
    """A CIHP root: a.jpg with class and person ids, b.jpg with class ids only, c.jpg without annotation."""
    root = tmp_path / "CIHP"
    for name in ("a", "b", "c"):
        _photo(root / "Images" / f"{name}.jpg")
    labels = _labels()
    persons = np.where(labels != 0, (np.arange(W)[None, :] // 8 + 1), 0).astype(np.uint8)
    _save(root / "Category_ids" / "a.png", labels, "L")
    _save(root / "Human_ids" / "a.png", persons, "L")
    _save(root / "Category_ids" / "b.png", _labels(1), "L")
    return root, labels, persons


def test_cihp_layout_reads_classes_and_persons(cihp):
    root, labels, persons = cihp
    aset = AnnotationSet.open(root)
    assert aset.layout == "cihp" and aset.has_person_maps
    items = {i.file: i for i in aset.items}
    assert sorted(items) == ["a.jpg", "b.jpg", "c.jpg"]
    a = aset.load(items["a.jpg"])
    np.testing.assert_array_equal(a.labels, labels)
    np.testing.assert_array_equal(a.persons, persons)
    b = aset.load(items["b.jpg"])  # no Human_ids file for b: no persons, and no invented ones
    assert b.persons is None and b.person_map().dtype == np.uint16 and not b.person_map().any()
    with pytest.raises(AnnotationError) as err:
        aset.load(items["c.jpg"])
    assert "no annotation" in str(err.value) and "c.jpg" in str(err.value) and "Category_ids" in str(err.value)


def test_a_cihp_root_needs_images_and_category_ids(tmp_path):
    (tmp_path / "R" / "Images").mkdir(parents=True)
    with pytest.raises(AnnotationError, match="no Category_ids folder"):
        AnnotationSet.open(tmp_path / "R")
    with pytest.raises(AnnotationError, match="does not exist"):
        AnnotationSet.open(tmp_path / "R" / "Images", tmp_path / "nowhere")


@pytest.mark.parametrize("encoding", ["indexed", "grey", "grey16", "rgb-grey", "rgb-palette"])
def test_label_png_encodings_give_the_class_ids(tmp_path, encoding):
    labels = _labels(3)
    _photo(tmp_path / "photos" / "sub" / "p.jpg")
    path = tmp_path / "labels" / "sub" / "p.png"
    if encoding == "indexed":  # the value is the class id whatever colours the file's palette holds
        _save(path, labels, "P", palette_=list(range(256)) * 3)
    elif encoding == "grey":
        _save(path, labels, "L")
    elif encoding == "grey16":
        _save(path, labels.astype(np.uint16), "I;16")
    elif encoding == "rgb-grey":
        _save(path, np.repeat(labels[:, :, None], 3, axis=2), "RGB")
    else:
        _save(path, np.asarray(palette())[labels], "RGB")
    aset = AnnotationSet.open(tmp_path / "photos", tmp_path / "labels", recursive=True)
    assert [i.file for i in aset.items] == ["sub/p.jpg"] and aset.layout == "folder"
    ann = aset.load(aset.items[0])
    assert ann.encoding == encoding and ann.persons is None
    np.testing.assert_array_equal(ann.labels, labels)

    # Written back corrected, in the same encoding, by default beside the original folder.
    fixed = labels.copy()
    fixed[5:8, 5:9] = 14
    written = aset.write(aset.items[0], fixed, None, ann)
    assert written == [tmp_path / "labels_corrected" / "sub" / "p.png"]
    again = AnnotationSet.open(tmp_path / "photos", tmp_path / "labels_corrected", recursive=True)
    back = again.load(again.items[0])
    assert back.encoding == (encoding if encoding != "grey16" else "grey")  # same values, 8 bits suffice
    np.testing.assert_array_equal(back.labels, fixed)
    if encoding == "indexed":
        assert Image.open(written[0]).getpalette()[:6] == [0, 1, 2, 3, 4, 5]  # the file's own palette kept
    np.testing.assert_array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(path)))  # untouched


def test_an_unknown_colour_names_the_file_and_the_colour(tmp_path):
    _photo(tmp_path / "photos" / "p.jpg")
    rgb = np.asarray(palette())[_labels()].copy()
    rgb[3, 4] = (1, 2, 3)
    _save(tmp_path / "labels" / "p.png", rgb, "RGB")
    aset = AnnotationSet.open(tmp_path / "photos", tmp_path / "labels")
    with pytest.raises(AnnotationError) as err:
        aset.load(aset.items[0])
    text = str(err.value)
    assert str(tmp_path / "labels" / "p.png") in text and "(1, 2, 3)" in text and "#010203" in text


def test_each_bad_file_gets_its_own_message(tmp_path):
    photos, labels = tmp_path / "photos", tmp_path / "labels"
    for name in ("missing", "small", "garbage", "big_id", "bomb", "folder", "good"):
        _photo(photos / f"{name}.jpg")
    _save(labels / "small.png", np.zeros((H, W - 1), np.uint8), "L")
    (labels / "garbage.png").write_bytes(b"this is not a PNG at all")
    bad = _labels()
    bad[2, 2] = 25
    _save(labels / "big_id.png", bad, "L")
    png_bomb(labels / "bomb.png", side=50_000)  # declares 2.5 gigapixels
    (labels / "folder.png").mkdir()
    _save(labels / "good.png", _labels(), "L")
    aset = AnnotationSet.open(photos, labels)
    messages = {}
    for item in aset.items:
        try:
            aset.load(item)
        except AnnotationError as exc:
            messages[item.key] = str(exc)
    assert sorted(messages) == ["big_id", "bomb", "folder", "garbage", "missing", "small"]
    assert "does not exist" in messages["missing"] and "missing.png" in messages["missing"]
    assert "15 x 12 pixels" in messages["small"] and "16 x 12" in messages["small"]
    assert "garbage.png" in messages["garbage"] and "not a readable PNG" in messages["garbage"]
    assert "class id 25" in messages["big_id"]
    assert "50000 x 50000" in messages["bomb"]  # refused from the header: nothing decoded
    assert "not a file" in messages["folder"]


def test_a_label_above_the_pixel_limit_is_refused_before_decoding(tmp_path):
    (tmp_path / "labels").mkdir()
    png_bomb(tmp_path / "labels" / "p.png", side=50_000)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "p.jpg").write_bytes(b"not an image")  # its size cannot be known first
    aset = AnnotationSet.open(tmp_path / "photos", tmp_path / "labels")
    with pytest.raises(AnnotationError, match="too large"):
        aset.load(aset.items[0], max_pixels=10_000_000)


def test_labels_beside_the_photos_are_not_taken_for_photos(tmp_path):
    _photo(tmp_path / "both" / "p.jpg")
    _save(tmp_path / "both" / "p.png", _labels(), "L")
    aset = AnnotationSet.open(tmp_path / "both", tmp_path / "both")
    assert [i.file for i in aset.items] == ["p.jpg"]
    np.testing.assert_array_equal(aset.load(aset.items[0]).labels, _labels())


def test_writing_over_the_original_needs_to_be_asked(tmp_path):
    _photo(tmp_path / "photos" / "p.jpg")
    original = _save(tmp_path / "labels" / "p.png", _labels(), "L")
    aset = AnnotationSet.open(tmp_path / "photos", tmp_path / "labels")
    ann = aset.load(aset.items[0])
    fixed = np.zeros_like(ann.labels)
    with pytest.raises(AnnotationError, match="would replace the original"):
        aset.write(aset.items[0], fixed, None, ann, dest_root=tmp_path / "labels")
    np.testing.assert_array_equal(np.asarray(Image.open(original)), _labels())
    assert aset.write(aset.items[0], fixed, None, ann, dest_root=tmp_path / "labels", overwrite=True) == [original]
    assert not np.asarray(Image.open(original)).any()
    assert not list((tmp_path / "labels").glob(".*tmp*"))  # written atomically, nothing left over


def test_cihp_written_back_in_its_layout(cihp, tmp_path):
    root, labels, persons = cihp
    aset = AnnotationSet.open(root)
    items = {i.file: i for i in aset.items}
    a = aset.load(items["a.jpg"])
    fixed_labels, fixed_persons = labels.copy(), persons.astype(np.uint16)
    fixed_labels[0:3, 0:3] = 13
    fixed_persons[0:3, 0:3] = 1
    written = aset.write(items["a.jpg"], fixed_labels, fixed_persons, a)
    dest = tmp_path / "CIHP_corrected"
    assert {p.relative_to(dest).as_posix() for p in written} == {
        "Category_ids/a.png", "Human_ids/a.png", "Instance_ids/a.png", "Instance_ids/a.txt"}
    back = read_cihp(dest, "a", NAMES)
    np.testing.assert_array_equal(back.labels, fixed_labels)
    np.testing.assert_array_equal(back.persons, fixed_persons)
    assert Image.open(dest / "Category_ids" / "a.png").mode == "L"  # grey, as CIHP's own files
    # b had no Human_ids: the copy has none either (no person ids invented for a training loader).
    b = aset.load(items["b.jpg"])
    written = aset.write(items["b.jpg"], b.labels, np.ones(b.labels.shape, np.uint16), b)
    assert [p.relative_to(dest).as_posix() for p in written] == ["Category_ids/b.png"]
    assert not (dest / "Human_ids" / "b.png").exists()


def test_corrected_maps_must_fit(cihp):
    root, labels, _persons = cihp
    aset = AnnotationSet.open(root)
    item = next(i for i in aset.items if i.file == "a.jpg")
    ann = aset.load(item)
    with pytest.raises(ValueError, match="differ in size"):
        aset.write(item, labels[:-1], None, ann)
    with pytest.raises(ValueError, match="class id 20"):
        aset.write(item, np.full_like(labels, 20), None, ann)


# --------------------------------------------------------------------------- take the model's region

def test_model_persons_are_renumbered_to_the_annotations():
    from desktop.review.annotation_edits import model_persons_for_annotation

    ann = np.array([[1, 1, 2, 2, 0, 0]], np.uint16)
    mod = np.array([[5, 5, 5, 7, 7, 9]], np.uint16)  # 5 mostly over 1, 7 over 2, 9 over nobody
    np.testing.assert_array_equal(model_persons_for_annotation(ann, mod), [[1, 1, 1, 2, 2, 3]])


def test_take_the_models_region_is_an_undoable_edit():
    from desktop.review.annotation_edits import disagreement_region, take_model_region

    labels = np.zeros((6, 8), np.uint8)
    persons = np.zeros((6, 8), np.uint16)
    labels[1:5, 1:4], persons[1:5, 1:4] = 14, 1  # annotated Left-arm of person 1
    model = labels.copy()
    model[1:5, 1:4] = 15  # the model says Right-arm there
    model[0, 6] = 2  # and Hair elsewhere, not connected to it
    model_persons = np.where(model != 0, 1, 0).astype(np.uint16)
    region = disagreement_region(labels, model, 2, 2)
    assert region.area == 12 and region.label == 15
    assert disagreement_region(labels, model, 7, 5).empty  # they agree there
    before_l, before_p = labels.copy(), persons.copy()
    edit = take_model_region(labels, persons, model, model_persons, 2, 2)
    assert edit.pixels == 12
    assert (labels[1:5, 1:4] == 15).all() and labels[0, 6] == 0  # only the clicked region
    edit.undo(labels, persons)
    np.testing.assert_array_equal(labels, before_l)
    np.testing.assert_array_equal(persons, before_p)
    # An annotation without persons takes the classes only.
    edit = take_model_region(labels, persons, model, None, 6, 0)
    assert labels[0, 6] == 2 and persons[0, 6] == 0 and edit.pixels == 1
