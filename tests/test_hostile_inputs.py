"""Issue 12, as a hostile tester would try it: no file or folder can exhaust memory, abort a
batch, lie about what happened or leave litter behind.

One test per class of problem (the issue's items 1-5 and 8), each with inputs generated
here (bombs are real zlib streams, see tests/hostile_files.py). The command line runs
in-process with a stand-in for the model (:class:`LabelsParser`): these tests are about
files, names and exit codes, and parsing a real network would only make them slow; the
real model's path is covered by tests/test_cli.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hostile_files import BOMBS, png_bomb_with_trailing_exif, tiff_tile_bomb
from imagefiles import pattern, raw_png, save_rgb
from PIL import Image

import desktop.cli as cli
from desktop.atomic import (
    ORPHAN_AFTER_SECONDS,
    STALE_AFTER_SECONDS,
    atomic_write_text,
    clean_stale_temporaries,
)
from desktop.engine.errors import ImageLoadError
from desktop.engine.result import ParsingResult
from desktop.imageio import MAX_ASPECT_RATIO, list_images, load_image, probe_size
from desktop.output_layout import OUTPUT_MARKER
from desktop.output_names import MAX_STEM_BYTES, output_stems
from desktop.provenance import PNG_SOURCE_KEY
from desktop.resources import default_class_names, palette

ROOT = Path(__file__).resolve().parent.parent
POSIX = os.name == "posix"


class LabelsParser:
    """Stand-in for the model: a deterministic label map from the pixels (no persons)."""

    info = {"name": "stand-in", "runtime": "none"}

    def __init__(self):
        self.calls = 0

    def parse(self, rgb, notes=None):
        self.calls += 1
        labels = (rgb[..., 0] // 13).astype(np.uint8)  # 0..19
        return ParsingResult(labels=labels, persons=[], parts=[], class_names=default_class_names(),
                             palette=palette(), timings={"total": 0.0}, model=dict(self.info), notes=list(notes or []))


@pytest.fixture
def run(capsys, monkeypatch):
    """Run the command line in-process with :class:`LabelsParser`; returns (code, stdout, stderr)."""
    parser = LabelsParser()
    monkeypatch.setattr(cli, "_load_parser", lambda args: parser)

    def _run(*args) -> tuple[int, str, str]:
        code = cli.main([str(a) if isinstance(a, Path) else a for a in args])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, out + err
        return code, out, err

    _run.parser = parser
    return _run


def files(folder: Path) -> list[str]:
    """Every file below ``folder`` (hidden ones too: a leftover temporary file must show)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.name != OUTPUT_MARKER)


def small_png(path: Path, seed: int = 0) -> Path:
    return save_rgb(path, pattern(24, 18, seed))


# ============================================================================ 1. bombs

_CHILD = textwrap.dedent(r"""
    import json, queue, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression fails, it does not swap
    from pathlib import Path
    import desktop.cli as cli
    from desktop.app.worker import PhotoLoader
    from desktop.engine.errors import ImageLoadError
    from desktop.imageio import is_image_file, list_images, load_image, probe_size

    def peak():
        # The child's own high-water mark: ru_maxrss would carry over the forking parent's
        # (a large pytest process) across exec, and hide a regression below it.
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("VmHWM")).split()[1]) // 1024  # MB

    folder = Path(sys.argv[1])
    bombs = sorted(p for p in folder.iterdir() if p.name.startswith("bomb"))
    idle = peak()
    report = {"idle_mb": idle, "files": {}}
    loader_box = queue.Queue()
    loader = PhotoLoader(loader_box, load_image)  # the GUI's photo loader, default limit
    for path in bombs:
        row = report["files"][path.name] = {}
        row["scan"] = is_image_file(path)
        row["probe"] = probe_size(path, max_pixels=1_000_000)
        if path.suffix not in (".ico", ".ico-bitmap"):  # Pillow decodes an icon's entry to open it
            row["probe_unlimited"] = probe_size(path, max_pixels=None)  # the size, still decoding nothing
        try:
            load_image(path, max_pixels=1_000_000)
            row["load"] = "loaded"
        except ImageLoadError as exc:
            row["load"] = str(exc)
        loader.request(str(path))
        row["gui"] = loader_box.get(timeout=60).error
        row["peak_mb"] = peak()
    report["listed"] = sorted(e.path.name for e in list_images([folder]) if e.ok)

    class Refusing:
        info = {}
        def parse(self, rgb, notes=None):
            raise AssertionError("a bomb reached the parser")

    cli._load_parser = lambda args: Refusing()
    report["cli_code"] = cli.main([str(folder), "--out", str(folder / "out"), "--max-pixels", "1000000", "--quiet"])
    report["final_mb"] = peak()
    print(json.dumps(report))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="peak memory is read from /proc/self/status (Linux)")
def test_bombs_are_refused_before_any_decoding_on_every_path(tmp_path):
    """Item 1: every container Pillow opens, declaring gigabytes in a few KB; the scan, the
    size probe, the decode, the GUI's photo loader and the command line all refuse it from
    the header, and peak memory stays at the idle process's."""
    for name, make in BOMBS.items():
        make(tmp_path / f"bomb.{name}")
    assert max(p.stat().st_size for p in tmp_path.iterdir()) < 3_000_000
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # small address space
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, row in report["files"].items():
        assert row["scan"] is True, name  # a bomb is an image to list, and to report as failed
        assert "too large" in row["load"] and "above the limit of 1,000,000 pixels" in row["load"], (name, row)
        assert row["gui"] and "too large" in row["gui"], (name, row)  # default limit, 80 megapixels
        if name != "bomb.icns":  # the icon's directory says 512 x 512; its entry is refused at decode
            assert row["probe"] is None, (name, row)
        if "probe_unlimited" in row and name != "bomb.icns":
            w, h = row["probe_unlimited"]
            assert w * h > 200_000_000, (name, row)
    assert report["listed"] == sorted(report["files"])
    assert report["cli_code"] == 1  # every file failed, none parsed
    assert report["final_mb"] - report["idle_mb"] < 40, report  # decoding any one would take 140 MB to 4 GB
    assert "Image was not the expected size" not in proc.stderr  # Pillow never decoded an icon entry


def test_the_issues_bomb_is_real_and_refused(tmp_path):
    """The issue's example: 2.4 MB declaring 50000 x 50000 (EXIF after the pixels), whose
    data really inflates (a refusal is not an accident of broken data); a huge tile in a
    small TIFF fails cleanly too."""
    bomb = png_bomb_with_trailing_exif(tmp_path / "bomb.png")
    assert 2_000_000 < bomb.stat().st_size < 3_000_000
    inflater = zlib.decompressobj()
    assert inflater.decompress(bomb.read_bytes()[41:41 + 65536], 1 << 20) == b"\x00" * (1 << 20)
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(bomb)
    tile = tiff_tile_bomb(tmp_path / "tile.tif")
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(tile)


# ============================================================================ 2. unreadable inputs

@pytest.mark.skipif(not POSIX, reason="symbolic links, FIFOs and byte file names are POSIX features")
def test_unreadable_inputs_are_one_failed_line_each(tmp_path, run):
    """Item 2: loops, dangling links, a FIFO, a device, a non-UTF-8 name, control characters
    and a name too long for a temporary file: one line each, the batch goes on, nothing raw
    reaches the terminal."""
    src = tmp_path / "in"
    src.mkdir()
    small_png(src / "good.png")
    os.symlink("s.jpg", src / "s.jpg")  # ln -s s.jpg s.jpg
    os.symlink("gone.png", src / "dangling.jpg")
    os.mkfifo(src / "pipe.jpg")
    with open(os.path.join(os.fsencode(src), b"bad\xff name.png"), "wb") as fh:
        fh.write(small_png(tmp_path / "x.png").read_bytes())
    evil = "evil\x1b[2J\nname\u202e.png"
    small_png(src / evil, seed=1)
    (src / "retitle\x1b]0;pwned\x07.jpg").write_text("not an image: fails, and its name is printed")
    long_name = "L" * 240 + ".png"
    small_png(src / long_name, seed=2)
    out = tmp_path / "out"

    # the folder, and the same files named one by one (as a shell glob does), and a device
    for inputs in ([src], sorted(src.iterdir()) + [Path("/dev/null")]):
        code, stdout, stderr = run(*inputs, "--out", out, "--formats", "json,labels")
        assert code == 1
        text = stdout + stderr
        assert "\x1b" not in text and "\u202e" not in text and "\udcff" not in text
        assert "\x07" not in text and "\r" not in text
        assert "evil\\x1b[2J\\nname\\u202e.png" in text and "bad\\xff name.png" in text
        failed = [line for line in stderr.splitlines() if line.startswith("  - ")]
        expected = {"s.jpg": "link that leads back to itself", "dangling.jpg": 'is a link to "gone.png"',
                    "pipe.jpg": "it is a named pipe", "retitle\\x1b]0;pwned\\x07.jpg": "is not an image"}
        if len(inputs) > 1:
            expected["null"] = "it is a device"
        assert len(failed) == len(expected), stderr
        for name, reason in expected.items():
            assert any(name in line and reason in line for line in failed), (name, stderr)
        assert f"4 parsed, 0 skipped, {len(expected)} failed" in stdout

    written = files(out)
    assert "bad\\xff name.json" not in written  # the name is kept as it is, bytes and all
    assert os.path.exists(os.path.join(os.fsencode(out), b"bad\xff name.json"))
    assert json.loads(Path(os.fsdecode(os.path.join(os.fsencode(out), b"bad\xff name.json"))).read_text())[
        "image"]["file"] == "bad\\xff name.png"
    assert f"{evil[:-4]}.json" in written
    long_outputs = [n for n in written if n.startswith("LLLL")]
    assert len(long_outputs) == 2 and all(len(n.encode()) <= 255 for n in long_outputs)
    stem = long_outputs[0].removesuffix(".json").removesuffix("_labels.png")
    assert len(stem.encode()) <= MAX_STEM_BYTES and stem[-9] == "~"
    assert not [n for n in written if ".tmp-" in n], written


def test_list_images_never_raises(tmp_path):
    if POSIX:
        os.symlink("loop", tmp_path / "loop")
    entries = list_images([tmp_path / "loop", tmp_path / "nul\x00name.png", tmp_path / "missing.png", tmp_path])
    assert all(not e.ok for e in entries)
    assert any("not a valid file name" in e.error for e in entries)


# ============================================================================ 3. output names

def test_output_names_do_not_depend_on_order_and_resume_checks_the_source(tmp_path, run):
    """Item 3: a.png parsed, a.jpg added, --skip-existing: a.jpg is parsed, never "skipped";
    names are a function of the image; outputs that record another source are replaced."""
    src, out = tmp_path / "in", tmp_path / "out"
    small_png(src / "a.png")
    assert run(src, "--out", out, "--formats", "json,labels")[0] == 0
    assert files(out) == ["a.json", "a_labels.png"]

    save_rgb(src / "a.jpg", pattern(24, 18, 3), quality=95)
    code, stdout, _ = run(src, "--out", out, "--formats", "json,labels", "--skip-existing")
    assert code == 0 and "2 parsed, 0 skipped, 0 failed" in stdout
    assert files(out) == ["a.json", "a_jpg.json", "a_jpg_labels.png", "a_labels.png", "a_png.json", "a_png_labels.png"]
    assert json.loads((out / "a_jpg.json").read_text())["image"]["file"] == "a.jpg"
    code, stdout, _ = run(src, "--out", out, "--formats", "json,labels", "--skip-existing")
    assert code == 0 and "0 parsed, 2 skipped" in stdout

    # The same names whatever the order or the subset named: a function of the image and its folder.
    pairs = [(src / "a.png", out), (src / "a.jpg", out)]
    assert output_stems(pairs) == output_stems(pairs[::-1])[::-1] == ["a_png", "a_jpg"]
    assert output_stems([(src / "a.jpg", out)]) == ["a_jpg"]

    # A photo replaced by another one under the same name: its outputs are not taken as done,
    # whether the JSON or only a PNG is there to tell.
    for formats in ("json,labels", "labels"):
        small_png(src / "a.png", seed=7 if formats == "labels" else 5)
        code, stdout, _ = run(src, "--out", out, "--formats", formats, "--skip-existing")
        assert code == 0 and "1 parsed, 1 skipped" in stdout and "made from another file" in stdout
    with Image.open(out / "a_png_labels.png") as im:
        assert im.info[PNG_SOURCE_KEY] == "a.png"

    # The same file name in two folders named separately: both kept, neither overwritten.
    small_png(tmp_path / "x" / "p.png", seed=1)
    small_png(tmp_path / "y" / "p.png", seed=2)
    assert run(tmp_path / "x" / "p.png", tmp_path / "y" / "p.png", "--out", tmp_path / "o2", "--formats", "json")[0] == 0
    names = files(tmp_path / "o2")
    assert len(names) == 2 and all(n.startswith("p_") and n.endswith(".json") for n in names)
    sources = {json.loads((tmp_path / "o2" / n).read_text())["image"]["sha256"] for n in names}
    assert len(sources) == 2


# ============================================================================ 4. --out at or above the inputs

def test_out_equal_to_or_above_the_input_skips_only_the_outputs(tmp_path, run):
    """Item 4: --out equal to the input folder, or above it, processes the photos (not "No
    images found"), skips only what we wrote, and never overwrites an input."""
    photos = tmp_path / "top" / "photos"
    small_png(photos / "p1.png", seed=1)
    small_png(photos / "p2.png", seed=2)
    for _ in range(2):  # the second run finds our outputs beside the photos and leaves them out
        code, stdout, _ = run(photos, "--out", photos)
        assert code == 0 and "2 parsed, 0 skipped, 0 failed" in stdout
    assert len(files(photos)) == 2 + 2 * 4
    code, stdout, _ = run(photos, "--out", photos, "--skip-existing")
    assert code == 0 and "0 parsed, 2 skipped" in stdout

    top = tmp_path / "top"
    for _ in range(2):  # --out above the input folder
        code, stdout, _ = run(photos, "--out", top, "--formats", "labels")
        assert code == 0 and "2 parsed, 0 skipped, 0 failed" in stdout
    assert sorted(p.name for p in top.glob("*.png")) == ["p1_labels.png", "p2_labels.png"]

    # A user's own photo named like an output of another photo is not overwritten.
    small_png(photos / "q.png", seed=3)
    keep = small_png(photos / "q_labels.png", seed=4).read_bytes()
    code, stdout, stderr = run(photos, "--out", photos, "--formats", "labels")
    assert code == 1 and "q.png" in stderr and "would replace" in stderr and "q_labels.png" in stderr
    assert (photos / "q_labels.png").read_bytes() == keep


# ============================================================================ 5. exit codes

def test_any_failure_exits_1(tmp_path, run):
    """Item 5: a missing file fails the run even when nothing else was to do."""
    code, stdout, stderr = run(tmp_path / "missing.jpg", "--out", tmp_path / "o")
    assert code == 1 and "1 failed" in stdout and "missing.jpg" in stderr and "does not exist" in stderr
    small_png(tmp_path / "a.png")
    assert run(tmp_path / "a.png", "--out", tmp_path / "o", "--formats", "json")[0] == 0
    code, stdout, _ = run(tmp_path / "a.png", tmp_path / "missing.jpg", "--out", tmp_path / "o", "--formats", "json",
                          "--skip-existing")
    assert code == 1 and "0 parsed, 1 skipped, 1 failed" in stdout
    assert run.parser.calls == 1


# ============================================================================ 8. leftovers and small lies

def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(not POSIX, reason="process ids are checked on POSIX only (Windows uses the age rule alone)")
def test_stale_temporaries_are_cleaned_on_the_next_run(tmp_path):
    """Item 8: a writer killed with SIGKILL leaves its temporary file; the next write into the
    folder removes it, and only it: not a live writer's, not a young one, not a user's file."""
    out = tmp_path / "out"
    out.mkdir()
    script = textwrap.dedent(f"""
        import os, signal
        from desktop.atomic import atomic_path
        with atomic_path({str(out / 'photo_labels.png')!r}) as tmp:
            tmp.write_bytes(b"half a PNG")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL
    (killed,) = [p for p in out.iterdir() if ".tmp-" in p.name]
    assert killed.name.startswith(".photo_labels.png.tmp-") and killed.name.endswith(".png")

    dead, live = _dead_pid(), os.getppid()

    def make(name: str, age: float, folder: bool = False) -> Path:
        path = out / name
        path.mkdir() if folder else path.write_text("x")
        return _age(path, age)

    keep = [
        make(f".b.json.tmp-{dead}-0123abcd.json", ORPHAN_AFTER_SECONDS / 4),  # orphan, but young
        make(f".c.json.tmp-{live}-0123abcd.json", ORPHAN_AFTER_SECONDS * 3),  # another run's, alive
        make(".notes.tmp-draft.txt", STALE_AFTER_SECONDS * 10),  # a user's file: not our naming
        make(f".d.tmp-{dead}-0123abcd", STALE_AFTER_SECONDS * 10, folder=True),  # not a file
    ]
    gone = [
        _age(killed, ORPHAN_AFTER_SECONDS * 2),  # the SIGKILLed writer's
        make(".e.json.tmp-89abcdef.json", STALE_AFTER_SECONDS + 60),  # an older version's naming
        make(f".m2fp-write-test-{dead}-k2j4h5g6", ORPHAN_AFTER_SECONDS * 2),  # the CLI's write test
        make(f".f.png.tmp-{live}-fedcba98.png", STALE_AFTER_SECONDS + 60),  # untouched for ten minutes
    ]

    atomic_write_text(out / "photo.json", "{}")  # the next run's first write into the folder
    left = {p.name for p in out.iterdir()}
    assert all(p.name in left for p in keep), left
    assert not any(p.name in left for p in gone), left
    assert (out / "photo.json").read_text() == "{}"
    assert clean_stale_temporaries(out) == []  # nothing more to take


def test_a_resumed_run_that_writes_nothing_still_cleans(tmp_path, run, monkeypatch):
    import desktop.atomic as atomic

    small_png(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    assert run(tmp_path / "in", "--out", out, "--formats", "json")[0] == 0
    leftover = out / ".a.json.tmp-999999999-0123abcd.json"
    leftover.write_text("{")
    _age(leftover, STALE_AFTER_SECONDS + 60)
    monkeypatch.setattr(atomic, "_cleaned_folders", set())  # as in a new process
    code, stdout, _ = run(tmp_path / "in", "--out", out, "--formats", "json", "--skip-existing")
    assert code == 0 and "1 skipped" in stdout
    assert files(out) == ["a.json"]


def _jpeg_with_orientation(path: Path, value: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = value
    Image.fromarray(pattern(30, 20)).save(path, exif=exif, quality=95)
    return path


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_invalid_exif_orientation_is_not_reported_as_turned(tmp_path, value):
    path = _jpeg_with_orientation(tmp_path / f"o{value}.jpg", value)
    image = load_image(path)
    assert image.size == (30, 20)
    assert not any("turned upright" in n for n in image.notes)
    assert f"EXIF orientation value {value} is not valid" in " ".join(image.notes)
    assert probe_size(path) == (30, 20)
    turned = load_image(_jpeg_with_orientation(tmp_path / "o6.jpg", 6))
    assert turned.size == (20, 30) and any("turned upright" in n for n in turned.notes)


def test_a_strip_image_is_refused_with_a_sentence(tmp_path, run):
    rows = zlib.compress((b"\x00" + b"\x80" * 100_000) * 2)
    strip = raw_png(tmp_path / "strip.png", 100_000, 2, 8, 0, rows)
    with pytest.raises(ImageLoadError) as exc:
        load_image(strip)
    assert f"is 100000 x 2 pixels: one side is more than {MAX_ASPECT_RATIO} times as long as the other" in str(exc.value)
    small_png(tmp_path / "ok.png")
    code, stdout, stderr = run(strip, tmp_path / "ok.png", "--out", tmp_path / "o", "--formats", "json")
    assert code == 1 and "1 parsed, 0 skipped, 1 failed" in stdout
    assert "too long and thin" in stderr and "ValueError" not in stderr


@pytest.mark.parametrize("extra, message", [
    (["--threads", "100000"], "at most"),
    (["--max-pixels", "inf"], "expected a number of pixels"),
    (["--max-pixels", "nan"], "expected a number of pixels"),
    (["--max-pixels", "1e400"], "expected a number of pixels"),
    (["--max-pixels", "-1"], "0 (no limit) or more"),
])
def test_out_of_range_numbers_are_argument_errors(tmp_path, run, extra, message):
    small_png(tmp_path / "a.png")
    code, _, stderr = run(tmp_path / "a.png", "--out", tmp_path / "o", *extra)
    assert code == 2 and message in stderr and run.parser.calls == 0


def test_thread_limit_follows_the_cores():
    cores = os.cpu_count() or 1
    parse = cli.build_arg_parser().parse_args
    assert parse(["a", "--out", "o", "--threads", str(4 * cores)]).threads == 4 * cores
    assert parse(["a", "--out", "o", "--max-pixels", "2e6"]).max_pixels == 2_000_000
