"""desktop.cli: a batch over good and bad files parses what it can, reports the rest, and exits meaningfully."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagefiles import (
    animated_gif,
    exif_rotated_jpeg,
    pattern,
    save_rgb,
    truncated_copy,
)
from outputcheck import check_export
from PIL import Image

import desktop.cli as cli
from desktop.export import FORMATS, output_paths
from desktop.imageio import list_images, load_image
from desktop.output_layout import OUTPUT_MARKER

ROOT = Path(__file__).resolve().parent.parent
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
REAL_LOAD = cli._load_parser


@pytest.fixture(scope="module")
def small_photos(golden_images) -> dict[str, np.ndarray]:
    """The golden photos shrunk to a few dozen pixels, so each parse takes a fraction of a second."""
    out = {}
    for stem, path in golden_images.items():
        im = Image.open(path).convert("RGB")
        out[stem] = np.asarray(im.resize((48, max(8, round(48 * im.height / im.width)))))
    return out


class RecordingParser:
    """The session's tiny parser, remembering each result by the exact pixels it was given.

    Lets tests compare written files with the very result that was exported, without
    parsing twice or reloading the model for every CLI run (the real loading path is
    exercised by the model-error, progress-bar and subprocess tests).
    """

    def __init__(self, parser):
        self.parser = parser
        self.info = parser.info
        self.results: dict[bytes, object] = {}

    def parse(self, rgb, notes=None):
        result = self.parser.parse(rgb, notes=notes)
        self.results[rgb.tobytes()] = result
        return result

    def result_for(self, image_path: Path):
        image = load_image(image_path)
        return self.results[image.rgb.tobytes()], image


@pytest.fixture
def recorder(tiny_parser):
    return RecordingParser(tiny_parser)


@pytest.fixture
def run(tiny_model_dir, capsys, monkeypatch, recorder):
    """Run ``main`` in-process; returns (exit code, stdout, stderr).

    With ``model=True`` the tiny model's folder is passed and loading is served by
    :class:`RecordingParser` (after checking the CLI asked for the right folder/runtime);
    with ``model=False`` the real engine loads whatever ``--model`` the test passes.
    """

    def load(args):
        assert Path(args.model) == tiny_model_dir and args.runtime == "torch"
        return recorder

    def _run(*args: str | Path, model: bool = True) -> tuple[int, str, str]:
        argv = [str(a) for a in args]
        if model:
            argv += ["--model", str(tiny_model_dir), "--runtime", "torch"]
            if cli._load_parser is REAL_LOAD:  # unless the test installed its own loader
                monkeypatch.setattr(cli, "_load_parser", load)
        else:
            monkeypatch.setattr(cli, "_load_parser", REAL_LOAD)
        code = cli.main(argv)
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, out + err
        return code, out, err

    return _run


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if the CLI tries to load a model."""

    def refuse(args):
        raise AssertionError("the model should not have been loaded")

    monkeypatch.setattr(cli, "_load_parser", refuse)


def outputs(out: Path) -> list[str]:
    """Every file under ``out`` (temporary files included), but the marker of folders we created."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != OUTPUT_MARKER)


def assert_outputs_match(recorder: RecordingParser, image_path: Path, out_dir: Path, stem: str) -> dict:
    result, image = recorder.result_for(image_path)
    return check_export(result, image, output_paths(stem, out_dir, FORMATS))


# --------------------------------------------------------------------------- batches

def test_mixed_folder_recursive_mirrors_and_reports(tmp_path, run, small_photos, recorder):
    src = tmp_path / "in put"
    sub = src / "sub dir é"
    save_rgb(src / "photo 10.png", small_photos["astronaut"])
    save_rgb(src / "photo 2.jpg", small_photos["grace_hopper"], quality=95)
    save_rgb(src / ".hidden.png", small_photos["astronaut"])
    (src / "readme.txt").write_text("not an image, silently ignored")
    (src / "empty.png").write_bytes(b"")  # named like an image: listed, reported as failed
    (src / "notes.jpg").write_text("a text file named .jpg inside the folder")
    save_rgb(sub / "写真.png", small_photos["astronaut_crop"])
    exif_rotated_jpeg(sub / "rotated.jpg", width=40, height=24)
    animated_gif(sub / "anim.gif", size=(24, 20))
    Image.new("CMYK", (20, 16), (0, 200, 200, 10)).save(sub / "cmyk.jpg")
    Image.fromarray(pattern(20, 16)[..., 0].astype(np.uint16) * 257).save(sub / "gray16.png")
    truncated_copy(save_rgb(tmp_path / "whole.jpg", pattern(64, 64)), sub / "broken.jpg")  # header cut: still reported
    fake = tmp_path / "fake.jpg"
    fake.write_text("plain text")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    out = tmp_path / "out put"

    code, stdout, stderr = run(src, fake, empty, tmp_path / "missing.png", "--out", out, "--recursive")

    assert code == 1
    assert "7 parsed, 0 skipped, 6 failed" in stdout
    for name, reason in [("broken.jpg", "truncated"), ("fake.jpg", "is not an image Pillow can read"),
                         ("empty.jpg", "empty"), ("missing.png", "does not exist"),
                         ("empty.png", "empty"), ("notes.jpg", "is not an image Pillow can read")]:
        assert any(name in line and reason in line for line in stderr.splitlines()), (name, stderr)
    assert "readme" not in stdout + stderr and "hidden" not in stdout + stderr

    expected = []
    for stem in ["photo 10", "photo 2", "sub dir é/写真", "sub dir é/rotated", "sub dir é/anim", "sub dir é/cmyk", "sub dir é/gray16"]:
        expected += [f"{stem}_labels.png", f"{stem}_color.png", f"{stem}_overlay.png", f"{stem}.json"]
    assert outputs(out) == sorted(expected)

    for name in ("photo 2.jpg", "photo 10.png"):
        assert_outputs_match(recorder, src / name, out, Path(name).stem)
    for name in ("anim.gif", "cmyk.jpg", "gray16.png"):
        assert_outputs_match(recorder, sub / name, out / "sub dir é", Path(name).stem)
    doc = assert_outputs_match(recorder, sub / "写真.png", out / "sub dir é", "写真")
    assert doc["image"]["file"] == "写真.png"
    rotated = assert_outputs_match(recorder, sub / "rotated.jpg", out / "sub dir é", "rotated")
    assert (rotated["image"]["width"], rotated["image"]["height"]) == (24, 40)  # upright, not as stored
    assert Image.open(out / "sub dir é" / "rotated_overlay.png").size == (24, 40)
    anim = json.loads((out / "sub dir é" / "anim.json").read_text(encoding="utf-8"))
    assert "animated GIF with 3 frames: the first frame was parsed" in anim["notes"]
    assert any("16-bit" in n for n in json.loads((out / "sub dir é" / "gray16.json").read_text())["notes"])


def test_without_recursive_subfolders_are_ignored(tmp_path, run, small_photos):
    save_rgb(tmp_path / "in" / "img2.png", small_photos["astronaut"])
    save_rgb(tmp_path / "in" / "img10.png", small_photos["astronaut_crop"])
    save_rgb(tmp_path / "in" / "sub" / "deep.png", small_photos["astronaut"])
    code, stdout, _ = run(tmp_path / "in", "--out", tmp_path / "out", "--formats", "labels")
    assert code == 0
    assert outputs(tmp_path / "out") == ["img10_labels.png", "img2_labels.png"]
    lines = [ln for ln in stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == 2 and "img2.png" in lines[0] and "img10.png" in lines[1]  # natural order, one line each


def test_skip_existing_resumes_without_loading_the_model(tmp_path, run, small_photos, monkeypatch):
    for i, photo in enumerate(small_photos.values()):
        save_rgb(tmp_path / "in" / f"p{i}.png", photo)
    out = tmp_path / "out"
    assert run(tmp_path / "in", "--out", out, "--formats", "labels,json")[0] == 0

    def refuse(args):
        raise AssertionError("model loaded although every output exists")

    with monkeypatch.context() as m:
        m.setattr(cli, "_load_parser", refuse)
        code, stdout, _ = run(tmp_path / "in", "--out", out, "--formats", "labels,json", "--skip-existing")
    assert code == 0 and "0 parsed, 3 skipped, 0 failed" in stdout

    (out / "p1.json").unlink()  # an interrupted image: only it is redone
    (out / "p2_labels.png").write_bytes(b"stale")
    code, stdout, _ = run(tmp_path / "in", "--out", out, "--formats", "labels,json", "--skip-existing")
    assert code == 0 and "1 parsed, 2 skipped" in stdout and (out / "p1.json").is_file()
    assert (out / "p2_labels.png").read_bytes() == b"stale"

    code, stdout, _ = run(tmp_path / "in", "--out", out, "--formats", "labels,json")  # no --skip-existing: replace
    assert code == 0 and "3 parsed" in stdout
    assert Image.open(out / "p2_labels.png").mode == "P"


def test_one_bad_file_never_stops_the_batch(tmp_path, run, small_photos, monkeypatch, tiny_parser):
    for name in ("a.png", "b.png", "c.png"):
        save_rgb(tmp_path / "in" / name, small_photos["astronaut_crop"])

    class Flaky:
        info = tiny_parser.info

        def parse(self, rgb, notes=None):
            if Flaky.calls == 1:
                Flaky.calls += 1
                raise RuntimeError("boom in the middle")
            Flaky.calls += 1
            return tiny_parser.parse(rgb, notes=notes)

    Flaky.calls = 0
    monkeypatch.setattr(cli, "_load_parser", lambda args: Flaky())
    code, stdout, stderr = run(tmp_path / "in", "--out", tmp_path / "out", "--formats", "json")
    assert code == 1
    assert "2 parsed, 0 skipped, 1 failed" in stdout
    assert "b.png" in stderr and "unexpected error: RuntimeError: boom in the middle" in stderr
    assert outputs(tmp_path / "out") == ["a.json", "c.json"]


def test_ctrl_c_stops_cleanly(tmp_path, run, small_photos, monkeypatch, tiny_parser):
    for name in ("a.png", "b.png", "c.png"):
        save_rgb(tmp_path / "in" / name, small_photos["astronaut_crop"])

    class Interrupted:
        info = tiny_parser.info
        calls = 0

        def parse(self, rgb, notes=None):
            Interrupted.calls += 1
            if Interrupted.calls == 2:
                raise KeyboardInterrupt
            return tiny_parser.parse(rgb, notes=notes)

    monkeypatch.setattr(cli, "_load_parser", lambda args: Interrupted())
    code, stdout, _ = run(tmp_path / "in", "--out", tmp_path / "out", "--formats", "labels,json")
    assert code == 130
    assert "Interrupted" in stdout and "1 parsed" in stdout
    assert outputs(tmp_path / "out") == ["a.json", "a_labels.png"]  # nothing half-written, c never started


def test_pixel_limit_option(tmp_path, run, small_photos):
    save_rgb(tmp_path / "big.png", small_photos["astronaut"])  # 48 x 48
    save_rgb(tmp_path / "small.png", small_photos["astronaut"][:10, :10])
    code, stdout, stderr = run(tmp_path / "big.png", tmp_path / "small.png", "--out", tmp_path / "o", "--max-pixels", "1000")
    assert code == 1
    assert "1 parsed, 0 skipped, 1 failed" in stdout
    assert "big.png" in stderr and "too large" in stderr and "1,000" in stderr


def test_name_collisions_do_not_overwrite(tmp_path, run, small_photos):
    save_rgb(tmp_path / "in" / "photo.png", small_photos["astronaut"])
    save_rgb(tmp_path / "in" / "photo.jpg", small_photos["grace_hopper"])
    code, _, _ = run(tmp_path / "in", "--out", tmp_path / "o", "--formats", "json")
    assert code == 0
    assert outputs(tmp_path / "o") == ["photo_jpg.json", "photo_png.json"]  # see desktop.output_names
    files = {json.loads((tmp_path / "o" / n).read_text())["image"]["file"] for n in ("photo_jpg.json", "photo_png.json")}
    assert files == {"photo.jpg", "photo.png"}


def test_outputs_inside_the_input_folder_are_not_reparsed(tmp_path, run, small_photos):
    save_rgb(tmp_path / "pics" / "one.png", small_photos["astronaut"])
    for _ in range(2):
        code, stdout, _ = run(tmp_path / "pics", "--out", tmp_path / "pics" / "parsed", "--recursive")
        assert code == 0 and "1 parsed" in stdout
    assert outputs(tmp_path / "pics" / "parsed") == ["one.json", "one_color.png", "one_labels.png", "one_overlay.png"]


def test_visible_classes_option(tmp_path, run, small_photos):
    save_rgb(tmp_path / "a.png", small_photos["astronaut"])
    code, _, _ = run(tmp_path / "a.png", "--out", tmp_path / "o", "--formats", "labels,color", "--classes", "Socks,12")
    assert code == 0
    labels = np.asarray(Image.open(tmp_path / "o" / "a_labels.png"))
    color = np.asarray(Image.open(tmp_path / "o" / "a_color.png"))
    shown = np.isin(labels, [8, 12])
    assert shown.any() and (~shown & (labels > 0)).any()  # the image has both kinds of pixels
    assert color[shown].any(axis=1).all() and not color[~shown].any()


# --------------------------------------------------------------------------- unreadable inputs

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_unreadable_input_special_file(tmp_path, run, small_photos):
    """Works as root too: a FIFO named like an image cannot be read as one (and must not hang)."""
    save_rgb(tmp_path / "good.png", small_photos["astronaut"])
    os.mkfifo(tmp_path / "pipe.jpg")
    code, stdout, stderr = run(tmp_path / "pipe.jpg", tmp_path / "good.png", "--out", tmp_path / "o", "--formats", "json")
    assert code == 1 and "1 parsed, 0 skipped, 1 failed" in stdout
    assert "pipe.jpg" in stderr and "not a regular file" in stderr


@pytest.mark.skipif(IS_ROOT or os.name != "posix", reason="running as root (or on Windows): chmod 000 does not stop reading")
def test_unreadable_input_chmod_000(tmp_path, run, small_photos):
    locked = save_rgb(tmp_path / "locked.png", small_photos["astronaut"])
    save_rgb(tmp_path / "good.png", small_photos["astronaut"])
    locked.chmod(0)
    try:
        code, stdout, stderr = run(locked, tmp_path / "good.png", "--out", tmp_path / "o", "--formats", "json")
    finally:
        locked.chmod(0o644)
    assert code == 1 and "1 parsed" in stdout and "permission denied" in stderr


def test_unreadable_subfolder_is_reported(tmp_path, run, small_photos, monkeypatch):
    import desktop.imageio as imageio

    save_rgb(tmp_path / "in" / "ok.png", small_photos["astronaut"])
    save_rgb(tmp_path / "in" / "locked" / "x.png", small_photos["astronaut"])
    real = os.scandir
    monkeypatch.setattr(imageio.os, "scandir",
                        lambda p: (_ for _ in ()).throw(PermissionError(13, "Permission denied")) if str(p).endswith("locked") else real(p))
    code, stdout, stderr = run(tmp_path / "in", "--out", tmp_path / "o", "--recursive", "--formats", "json")
    assert code == 1 and "1 parsed, 0 skipped, 1 failed" in stdout
    assert "locked" in stderr and "permission denied" in stderr


# --------------------------------------------------------------------------- usage and model errors

def test_output_folder_that_is_a_file(tmp_path, run, small_photos, no_model):
    save_rgb(tmp_path / "a.png", small_photos["astronaut"])
    (tmp_path / "out").write_text("I am a file")
    code, stdout, stderr = run(tmp_path / "a.png", "--out", tmp_path / "out")
    assert code == 2
    assert "out" in stderr and "a file with that name already exists" in stderr
    code, _, stderr = run(tmp_path / "a.png", "--out", tmp_path / "out" / "below")
    assert code == 2 and "cannot" in stderr


@pytest.mark.skipif(IS_ROOT or os.name != "posix", reason="running as root: a read-only folder is still writable")
def test_read_only_output_folder(tmp_path, run, small_photos, no_model):
    save_rgb(tmp_path / "a.png", small_photos["astronaut"])
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        code, _, stderr = run(tmp_path / "a.png", "--out", tmp_path / "ro")
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert code == 2 and "cannot be written" in stderr


def test_model_not_found_and_broken(tmp_path, run, small_photos):
    save_rgb(tmp_path / "a.png", small_photos["astronaut"])
    code, _, stderr = run(tmp_path / "a.png", "--out", tmp_path / "o", "--model", tmp_path / "no-such-model", model=False)
    assert code == 2 and stderr.startswith("error: ") and "no-such-model" in stderr

    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "configuration.json").write_text("{ not json")
    (broken / "pytorch_model.pt").write_bytes(b"\x00" * 100)
    code, _, stderr = run(tmp_path / "a.png", "--out", tmp_path / "o", "--model", broken, model=False)
    assert code == 2 and stderr.startswith("error: ")
    assert not list((tmp_path / "o").glob("a*"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--opacity", "3"], "between 0 and 1"),
        (["--formats", "labels,pdf"], "pdf"),
        (["--max-pixels", "-5"], "--max-pixels"),
        (["--threads", "0"], "--threads"),
        (["--runtime", "cuda"], "invalid choice"),
        (["--classes", "Wings"], "Wings"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, run, no_model, extra, message):
    save_rgb(tmp_path / "a.png", pattern(8, 8))
    code, _, stderr = run(tmp_path / "a.png", "--out", tmp_path / "o", *extra)
    assert code == 2 and message in stderr


def test_missing_out_is_a_usage_error(tmp_path, run, no_model):
    code, _, stderr = run(tmp_path, model=False)
    assert code == 2 and "--out" in stderr


def test_empty_folder_is_not_an_error(tmp_path, run, no_model):
    (tmp_path / "empty").mkdir()
    code, _, stderr = run(tmp_path / "empty", "--out", tmp_path / "o")
    assert code == 0 and "No images found" in stderr


# --------------------------------------------------------------------------- output modes

def test_quiet_prints_only_failures(tmp_path, run, small_photos):
    save_rgb(tmp_path / "a.png", small_photos["astronaut"])
    code, stdout, stderr = run(tmp_path / "a.png", "--out", tmp_path / "o", "--quiet", "--formats", "json")
    assert (code, stdout, stderr) == (0, "", "")
    (tmp_path / "bad.png").write_text("nope")
    code, stdout, stderr = run(tmp_path / "a.png", tmp_path / "bad.png", "--out", tmp_path / "o", "-q", "--formats", "json")
    assert code == 1 and stdout == ""
    assert "bad.png" in stderr and "1 failed" in stderr and stderr.count("bad.png") == 1


def test_progress_bar_on_a_terminal(tmp_path, small_photos, tiny_model_dir, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    save_rgb(tmp_path / "a.png", small_photos["astronaut"])
    save_rgb(tmp_path / "b.png", small_photos["astronaut_crop"])
    code = cli.main([str(tmp_path), "--out", str(tmp_path / "o"), "--formats", "json",
                     "--model", str(tiny_model_dir), "--runtime", "torch"])
    text = term.getvalue()
    assert code == 0
    assert "2/2" in text and "img" in text and "\r" in text  # tqdm bar, redrawn in place
    assert not any(line.startswith("[1/2]") for line in text.splitlines())


def test_module_entry_point_in_a_subprocess(tmp_path, small_photos, tiny_model_dir):
    save_rgb(tmp_path / "good.png", small_photos["astronaut"])
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "desktop.cli", str(tmp_path / "good.png"), str(tmp_path / "bad.jpg"),
         "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir), "--runtime", "torch", "--formats", "labels"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "[" in proc.stdout and "good.png: parsed" in proc.stdout  # plain lines when not a TTY
    assert "bad.jpg" in proc.stderr
    assert (tmp_path / "o" / "good_labels.png").is_file()

    proc = subprocess.run(
        [sys.executable, "-m", "desktop.cli", str(tmp_path / "good.png"), "--out", str(tmp_path / "o"),
         "--model", str(tmp_path / "nowhere")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")


def test_batch_is_grouped_by_input_size(tmp_path, tiny_parser):
    """OpenVINO compiles once per network input size, so a batch runs size group by size
    group: groups in order of first appearance, files in listed order within a group, and
    EXIF rotation counts (a landscape file shown upright as portrait is a portrait)."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (60, 40)).save(folder / "1_landscape.png")
    Image.new("RGB", (40, 60)).save(folder / "2_portrait.png")
    Image.new("RGB", (90, 60)).save(folder / "3_landscape_bigger.png")  # same 3:2 shape: same input size
    (folder / "4_broken.jpg").write_bytes(b"not an image")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 60x40, shown rotated a quarter turn: 40x60
    Image.new("RGB", (60, 40)).save(folder / "5_rotated.jpg", exif=exif)
    jobs = cli.plan_jobs(list_images([folder]), tmp_path / "out", set())
    assert [j.entry.path.name for j in jobs][:2] == ["1_landscape.png", "2_portrait.png"]
    ordered = cli.order_by_input_size(jobs, tiny_parser)
    assert [j.entry.path.name for j in ordered] == [
        "1_landscape.png", "3_landscape_bigger.png", "4_broken.jpg", "2_portrait.png", "5_rotated.jpg"]
    assert tiny_parser.input_size(60, 40) == (640, 960) and tiny_parser.input_size(40, 60) == (960, 640)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_probing_sizes_never_opens_special_files(tmp_path):
    from desktop.imageio import probe_size

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    assert probe_size(fifo) is None  # returns at once: opening it would block for a writer
    assert probe_size(tmp_path) is None and probe_size(tmp_path / "missing.png") is None
