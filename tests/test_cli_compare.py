"""``python -m desktop.cli compare``: both layouts, per-file failures, CSV/JSON, workspace reuse."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import desktop.cli as cli
from desktop.imageio import load_image
from desktop.resources import default_class_names, palette
from desktop.review.compare import agreement, confusion_matrix
from desktop.review.workspace import Workspace

NAMES = default_class_names()


class _Counting:
    """The session's tiny parser, counting what it parses."""

    def __init__(self, parser):
        self.parser = parser
        self.info = parser.info
        self.cfg = parser.cfg
        self.class_names = parser.class_names
        self.palette = parser.palette
        self.parsed: list[str] = []

    def input_size(self, width, height):
        return self.parser.input_size(width, height)

    def parse(self, rgb, notes=None):
        self.parsed.append(rgb.tobytes())
        return self.parser.parse(rgb, notes=notes)


@pytest.fixture
def run(tiny_model_dir, tiny_parser, capsys, monkeypatch):
    """Run ``main(["compare", ...])`` in-process: (exit code, stdout, stderr, parser or None)."""

    def _run(*args):
        used: list[_Counting] = []

        def load(parsed_args):
            assert Path(parsed_args.model) == tiny_model_dir and parsed_args.runtime == "torch"
            used.append(_Counting(tiny_parser))
            return used[-1]

        monkeypatch.setattr(cli, "_load_parser", load)
        code = cli.main(["compare", *(str(a) for a in args), "--model", str(tiny_model_dir), "--runtime", "torch"])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, out + err
        return code, out, err, (used[0] if used else None)

    return _run


@pytest.fixture
def model_labels(tiny_parser):
    cache: dict[Path, np.ndarray] = {}

    def labels_of(path: Path) -> np.ndarray:
        if path not in cache:
            cache[path] = tiny_parser.parse(load_image(path).rgb).labels
        return cache[path]

    return labels_of


def _photos(folder: Path, golden_images, names=("a", "b")) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, src in zip(names, golden_images.values(), strict=False):
        path = folder / f"{name}.jpg"
        Image.open(src).convert("RGB").resize((64, 48)).save(path, quality=95)
        out.append(path)
    return out


@pytest.fixture
def cihp_root(tmp_path, golden_images, model_labels):
    """a: annotated exactly as the model says; b: a block annotated otherwise; c: no annotation;
    d: an annotation of another size."""
    root = tmp_path / "CIHP"
    a, b = _photos(root / "Images", golden_images)
    (root / "Category_ids").mkdir()
    Image.fromarray(model_labels(a)).save(root / "Category_ids" / "a.png")
    wrong = model_labels(b).copy()
    wrong[10:30, 10:40] = 14
    Image.fromarray(wrong).save(root / "Category_ids" / "b.png")
    for name in ("c", "d"):
        Image.new("RGB", (64, 48), (200, 200, 200)).save(root / "Images" / f"{name}.jpg")
    Image.new("L", (48, 64)).save(root / "Category_ids" / "d.png")
    return root, {"a.jpg": model_labels(a), "b.jpg": wrong}, {"a.jpg": a, "b.jpg": b}


def test_cihp_root_figures_csv_and_json(tmp_path, run, cihp_root, model_labels):
    root, annotations, photos = cihp_root
    js, cs = tmp_path / "figures.json", tmp_path / "figures.csv"
    code, out, err, parser = run(root, "--json", js, "--csv", cs)
    assert code == 1  # two images could not be compared; the others were
    assert len(parser.parsed) == 2  # c and d were not even parsed: their annotation was checked first
    assert 'There is no annotation for "' in err and "c.jpg" in err and "Category_ids/c.png" in err
    assert "48 x 64 pixels" in err and "64 x 48" in err and "d.jpg" in err
    assert "2 images compared, 2 failed" in out and "mIoU" in out

    confusions = {f: confusion_matrix(annotations[f], model_labels(photos[f])) for f in annotations}
    figs = {f: agreement(c) for f, c in confusions.items()}
    assert figs["a.jpg"].miou == 1.0 and figs["b.jpg"].miou < 1.0
    dataset = agreement(sum(confusions.values()))
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc == {
        "dataset": {"pixel_accuracy": dataset.pixel_accuracy, "mean_accuracy": dataset.mean_accuracy,
                    "miou": dataset.miou, "class_iou": dataset.class_iou_by_name(NAMES)},
        "images": [{"file": f, "pixel_accuracy": figs[f].pixel_accuracy, "miou": figs[f].miou}
                   for f in ("b.jpg", "a.jpg")],  # worst first
    }
    rows = list(csv.reader(io.StringIO(cs.read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["file", "pixel_accuracy", "mean_accuracy", "miou"] and rows[0][4] == "IoU Background"
    assert len(rows[0]) == 4 + len(NAMES)
    assert [r[0] for r in rows[1:]] == ["(dataset)", "b.jpg", "a.jpg"]
    assert float(rows[1][3]) == dataset.miou and float(rows[2][1]) == figs["b.jpg"].pixel_accuracy
    hat = NAMES.index("Hat")
    expected_hat = figs["a.jpg"].class_iou[hat]
    assert rows[3][4 + hat] == ("" if np.isnan(expected_hat) else repr(float(expected_hat)))
    assert f"{100 * dataset.miou:.2f} %" in out


def test_folder_of_colour_labels_and_an_unknown_colour(tmp_path, run, golden_images, model_labels):
    photos = _photos(tmp_path / "photos", golden_images, names=("a", "b", "c"))
    labels = tmp_path / "labels"
    labels.mkdir()
    pal = np.asarray(palette())
    Image.fromarray(pal[model_labels(photos[0])]).save(labels / "a.png")  # RGB in the CIHP palette
    Image.fromarray(model_labels(photos[1])).save(labels / "b.png")  # grey
    bad = pal[model_labels(photos[2])].copy()
    bad[5, 5] = (7, 8, 9)
    Image.fromarray(bad).save(labels / "c.png")
    js = tmp_path / "f.json"
    code, out, err, _parser = run(photos[0].parent, labels, "--json", js)
    assert code == 1
    assert "c.png" in err and "(7, 8, 9)" in err and "#070809" in err
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert [(i["file"], i["miou"], i["pixel_accuracy"]) for i in doc["images"]] == [("a.jpg", 1.0, 1.0),
                                                                                    ("b.jpg", 1.0, 1.0)]
    assert doc["dataset"]["miou"] == 1.0


def test_workspace_reuses_results_and_stores_figures(tmp_path, run, cihp_root):
    root, _annotations, _photos_ = cihp_root
    ws_path = tmp_path / "w.m2fpws"
    js1, js2 = tmp_path / "1.json", tmp_path / "2.json"
    code, _out, _err, parser = run(root, "--workspace", ws_path, "--json", js1)
    assert code == 1 and len(parser.parsed) == 2
    code, out, _err, parser = run(root, "--workspace", ws_path, "--json", js2, "--quiet")
    assert code == 1 and parser is None  # every comparable image was parsed before: the model is not loaded
    assert js1.read_text(encoding="utf-8") == js2.read_text(encoding="utf-8")
    assert "[1/" not in out  # --quiet: no line per image, the figures still
    doc = json.loads(js2.read_text(encoding="utf-8"))
    with Workspace.open(ws_path, read_only=True) as ws:
        records = {r.name: r for r in ws.records()}
        for entry in doc["images"]:
            record = records[entry["file"]]
            assert (record.pixel_accuracy, record.miou) == (entry["pixel_accuracy"], entry["miou"])
            stored = ws.comparison(record.id)
            assert stored.confusion.shape == (20, 20)
            assert agreement(stored.confusion).miou == entry["miou"]
            assert stored.details["annotation"].endswith(f"Category_ids/{Path(entry['file']).stem}.png")
            assert record.doubt is not None  # parsed by compare: its doubt was computed too
        assert records["c.jpg"].miou is None and not records["c.jpg"].has_result


def test_usage_errors(tmp_path, run):
    (tmp_path / "R" / "Images").mkdir(parents=True)
    code, _out, err, _ = run(tmp_path / "R")
    assert code == 2 and "no Category_ids folder" in err
    code, _out, err, _ = run(tmp_path / "nowhere", tmp_path / "R")
    assert code == 2 and "does not exist" in err
    (tmp_path / "R" / "Category_ids").mkdir()
    code, _out, err, _ = run(tmp_path / "R", "--csv", tmp_path / "missing" / "f.csv")
    assert code == 2 and "does not exist" in err
    code, out, err, _ = run(tmp_path / "R")
    assert code == 0 and "No images found" in err


def test_help_states_the_definitions(capsys):
    assert cli.main(["compare", "--help"]) == 0
    text = capsys.readouterr().out
    for phrase in ("TP / (TP + FP + FN)", "ONE matrix summed over all images", "background included",
                   "occur in the annotation or the prediction", "worst first"):
        assert phrase in " ".join(text.split()) or phrase in text
