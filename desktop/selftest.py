"""``--self-test``: prove that this installation (above all a packaged build) can parse a photo.

A PyInstaller build can look fine and still be broken: a shared library left out, a
resource not bundled, a kernel that computes garbage. Users cannot diagnose that, so the
executable checks itself end to end with the same code path as the app: find and load a
model, decode the bundled sample photo, parse it, then check the result:

- the label map has the photo's shape and only known class ids;
- persons and parts are consistent (ids, areas, boxes and person links agree with masks);
- with the bundled test model (``--test-model``, or any model folder whose weights are the
  test model's), the result agrees with the label map and instances stored in
  ``resources/test-model/selftest/`` (generated once with the PyTorch runtime by
  ``packaging/make_selftest_expected.py``);
- the model download (``modelscope.hub``, imported only when a user clicks Download) can
  be imported: a build that lost it fails here rather than in a user's hands.

The exit code is 0 on success and 1 on failure (2 for a bad command line), and the
reason is printed, logged, and written to ``--self-test-report PATH`` when given. A
windowed Windows build has no console (``sys.stdout`` is ``None``): the report then goes
to ``self-test.txt`` in the log folder unless a path is given, so the result is never lost.

Nothing here imports tkinter: the self-test runs on machines without a display (CI).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from desktop import APP_NAME, __version__
from desktop.cli_language import WideTextHelpFormatter
from desktop.i18n import _
from desktop.userdirs import user_dir

log = logging.getLogger(__name__)

Report = Callable[[str], Any]

SAMPLE = ("samples", "astronaut.png")
TEST_MODEL = ("test-model",)
EXPECTED_DIR = "selftest"
EXPECTED_JSON = "expected.json"
EXPECTED_LABELS = "astronaut-labels.png"

# Agreement with the stored result. The parity tests hold our torch path to 99.9 % of
# pixels against the ModelScope reference; the stored map was computed by our torch path,
# so a healthy build (torch or OpenVINO, float32) sits far above these. A broken kernel or
# a wrong library gives a different map altogether, far below them.
MIN_PIXEL_AGREEMENT = 0.999
SCORE_TOLERANCE = 2e-3

# Markers scripts and CI look for: English in every language (the lines after them are translated).
PASS_PREFIX = "SELF-TEST PASSED"
FAIL_PREFIX = "SELF-TEST FAILED"


class SelfTestFailure(Exception):
    """A check did not hold; ``str()`` is the reason shown to the user."""


@dataclass
class Expected:
    """The stored result for the sample photo with the test model."""

    labels: np.ndarray
    persons: list[dict[str, float]]
    parts: list[dict[str, float]]
    weights_sha256: str
    weights_size: int
    meta: dict[str, Any] = field(default_factory=dict)


def _resources() -> Path:
    from desktop.resources import resources_dir

    return resources_dir()


def test_model_dir() -> Path:
    """The tiny model bundled with the application (random weights: checks the machinery only)."""
    return _resources().joinpath(*TEST_MODEL)


def sample_path() -> Path:
    return _resources().joinpath(*SAMPLE)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_expected(folder: Path | None = None) -> Expected:
    """Read the stored label map (PNG) and instance statistics (JSON) for the sample photo."""
    from PIL import Image

    folder = folder or test_model_dir() / EXPECTED_DIR
    meta = json.loads((folder / EXPECTED_JSON).read_text(encoding="utf-8"))
    with Image.open(folder / EXPECTED_LABELS) as im:
        labels = np.asarray(im.convert("L")).copy()
    return Expected(
        labels=labels,
        persons=list(meta["persons"]),
        parts=list(meta["parts"]),
        weights_sha256=str(meta["weights_sha256"]),
        weights_size=int(meta["weights_size"]),
        meta=meta,
    )


def is_test_model(model_dir: Path, expected: Expected) -> bool:
    """Whether ``model_dir`` holds exactly the test model's weights (size first: hashing 250 MB is slow)."""
    weights = model_dir / "pytorch_model.pt"
    try:
        if weights.stat().st_size != expected.weights_size:
            return False
    except OSError:
        return False
    return sha256_of(weights) == expected.weights_sha256


# --------------------------------------------------------------------------- checks

def check_consistency(result: Any, image_hw: tuple[int, int]) -> list[str]:
    """Problems with a ParsingResult that any model, trained or not, must never show.

    Returns a list of reasons (empty when all holds), so the report can name every one.
    """
    problems: list[str] = []
    h, w = image_hw
    labels = result.labels
    if labels.shape != (h, w):
        problems.append(f"label map is {labels.shape[1]}x{labels.shape[0]}, the photo is {w}x{h}")
    if labels.dtype != np.uint8:
        problems.append(f"label map has dtype {labels.dtype}, expected uint8")
    n_classes = len(result.class_names)
    if labels.size and int(labels.max()) >= n_classes:
        problems.append(f"label map holds class id {int(labels.max())}, only 0..{n_classes - 1} exist")
    if result.palette.shape != (n_classes, 3):
        problems.append(f"palette has shape {result.palette.shape}, expected ({n_classes}, 3)")

    def check_instance(kind: str, inst: Any) -> None:
        if inst.mask.shape != (h, w):
            problems.append(f"{kind} {inst.id}: mask shape {inst.mask.shape} differs from the photo's {(h, w)}")
            return
        area = inst.mask.area
        if inst.area != area:
            problems.append(f"{kind} {inst.id}: area {inst.area} but its mask has {area} pixels")
        if int(np.count_nonzero(inst.crop())) != area:
            problems.append(f"{kind} {inst.id}: box {inst.bbox} does not contain its mask")
        if not 0.0 <= inst.score <= 1.0:
            problems.append(f"{kind} {inst.id}: score {inst.score} outside 0..1")

    persons = {p.id: p for p in result.persons}
    parts = {p.id: p for p in result.parts}
    if [p.id for p in result.persons] != list(range(1, len(result.persons) + 1)):
        problems.append(f"person ids are {[p.id for p in result.persons]}, expected 1..{len(result.persons)}")
    if len(parts) != len(result.parts):
        problems.append("two parts share an id")
    for person in result.persons:
        check_instance("person", person)
        for pid in person.part_ids:
            if pid not in parts or parts[pid].person_id != person.id:
                problems.append(f"person {person.id} lists part {pid}, which does not belong to it")
    for part in result.parts:
        check_instance("part", part)
        if not 1 <= part.label < n_classes:
            problems.append(f"part {part.id}: class id {part.label} outside 1..{n_classes - 1}")
        elif part.name != result.class_names[part.label]:
            problems.append(f"part {part.id}: named {part.name!r}, class {part.label} is {result.class_names[part.label]!r}")
        if part.person_id is not None:
            owner = persons.get(part.person_id)
            if owner is None:
                problems.append(f"part {part.id} belongs to person {part.person_id}, which does not exist")
            elif part.id not in owner.part_ids:
                problems.append(f"part {part.id} belongs to person {owner.id}, which does not list it")
    return problems


def compare_expected(result: Any, expected: Expected) -> list[str]:
    """Differences between ``result`` and the stored test-model result that exceed the tolerances."""
    problems: list[str] = []
    if result.labels.shape != expected.labels.shape:
        return [f"label map shape {result.labels.shape} differs from the stored {expected.labels.shape}"]
    agreement = float((result.labels == expected.labels).mean())
    if agreement < MIN_PIXEL_AGREEMENT:
        problems.append(
            f"label map agrees with the stored one on {agreement:.2%} of pixels (at least {MIN_PIXEL_AGREEMENT:.1%} expected)"
        )
    n_pixels = result.labels.size

    def match(kind: str, ours: list[Any], stored: list[dict[str, float]], labelled: bool) -> None:
        if len(ours) != len(stored):
            problems.append(f"{len(ours)} {kind}s found, the stored result has {len(stored)}")
            return
        remaining = list(ours)
        for exp in stored:
            same = [o for o in remaining if not labelled or o.label == exp["label"]]
            if not same:
                problems.append(f"no {kind} of class {exp['label']} (stored score {exp['score']:.4f})")
                continue
            best = min(same, key=lambda o: abs(o.score - exp["score"]))
            remaining.remove(best)
            what = f"{kind} of class {exp['label']}" if labelled else kind
            if abs(best.score - exp["score"]) > SCORE_TOLERANCE:
                problems.append(f"{what}: score {best.score:.4f}, stored {exp['score']:.4f}")
            if abs(best.area - exp["area"]) > (1 - MIN_PIXEL_AGREEMENT) * n_pixels:
                problems.append(f"{what}: {best.area} pixels, stored {exp['area']}")

    match("person", result.persons, expected.persons, labelled=False)
    match("part", result.parts, expected.parts, labelled=True)
    return problems


# --------------------------------------------------------------------------- the test

def _environment() -> str:
    frozen = "frozen build" if getattr(sys, "frozen", False) else "source checkout"
    return (
        f"{APP_NAME} {__version__} ({frozen}), Python {sys.version.split()[0]}, "
        f"{platform.system()} {platform.release()} {platform.machine()}"
    )


def run_self_test(
    use_test_model: bool,
    model_dir: str | Path | None = None,
    report: Report = print,
    *,
    runtime: str = "auto",
) -> int:
    """Load a model, parse the bundled sample, check the result; 0 when everything holds.

    ``use_test_model`` picks the bundled tiny model (and compares with its stored result);
    otherwise ``model_dir`` or the usual search (``M2FP_MODEL_DIR``, ``models/`` beside the
    executable, the user cache) is used. ``runtime`` is ``auto`` (what the app uses),
    ``torch`` or ``openvino``; asking for one that cannot run is a failure, not a fallback,
    because a silent fallback would hide a broken build. ``report`` receives one line at a time.
    """
    t_start = time.perf_counter()

    def say(line: str) -> None:
        log.info("self-test: %s", line)
        report(line)

    say(_environment())
    try:
        from desktop.engine import HumanParser
        from desktop.engine.errors import M2FPError

        if use_test_model:
            if model_dir is not None:
                raise SelfTestFailure(_("--test-model and --model cannot be used together"))
            model_dir = test_model_dir()
        warnings: list[str] = []
        collector = _WarningCollector(warnings)
        engine_log = logging.getLogger("desktop.engine")
        engine_log.addHandler(collector)
        try:
            t0 = time.perf_counter()
            parser = HumanParser.load(model_dir, runtime=runtime, precision="exact")
            load_s = time.perf_counter() - t0
        except M2FPError as exc:
            raise SelfTestFailure(_("the model could not be loaded: {reason}").format(reason=exc)) from None
        finally:
            engine_log.removeHandler(collector)
        info = parser.info
        kernel = f" ({info['openvino_kernel']})" if info.get("runtime") == "openvino" and "openvino_kernel" in info else ""
        say(
            f"model {info.get('name')} from {info.get('source')} ({info.get('found_in')}), "
            f"runtime {info.get('runtime')}{kernel}, loaded in {load_s:.1f} s"
        )
        for warning in warnings:
            say(f"warning: {warning}")
        if runtime != "auto" and info.get("runtime") != runtime:
            raise SelfTestFailure(
                f"the {runtime} runtime was requested but {info.get('runtime')} was used"
                + (f" ({warnings[-1]})" if warnings else "")
            )

        sample = sample_path()
        if not sample.is_file():
            raise SelfTestFailure(_("the sample photo {path} is missing from the installation").format(path=sample))
        try:
            result = parser.parse_file(sample)
        except M2FPError as exc:
            raise SelfTestFailure(_("the sample photo could not be parsed: {reason}").format(reason=exc)) from None
        from PIL import Image

        with Image.open(sample) as im:
            image_hw = (im.height, im.width)
        say(
            f"parsed {sample.name} ({image_hw[1]}x{image_hw[0]}) in {result.timings.get('total', 0):.2f} s: "
            f"{len(result.persons)} person(s), {len(result.parts)} part(s), "
            f"classes {result.classes_present()}"
        )
        problems = check_consistency(result, image_hw)

        expected_dir = test_model_dir() / EXPECTED_DIR
        source = Path(info.get("source", ""))
        if problems:
            pass  # a broken result: comparing it with the stored one adds nothing
        elif not (expected_dir / EXPECTED_JSON).is_file():
            if use_test_model:
                problems.append(f"the stored result {expected_dir / EXPECTED_JSON} is missing from the installation")
        else:
            expected = load_expected(expected_dir)
            if use_test_model or is_test_model(source, expected):
                problems += compare_expected(result, expected)
                if not problems:
                    say("result agrees with the stored result for the test model")
            else:
                say("no stored result for this model: checked shape, class ids and instance consistency")
        problem = _check_download_support(say)
        if problem:
            problems.append(problem)
        if problems:
            raise SelfTestFailure("; ".join(problems))
    except SelfTestFailure as exc:
        say(f"{FAIL_PREFIX}: {exc}")
        return 1
    except Exception as exc:  # noqa: BLE001 - a broken build fails in unforeseen ways; report them all
        for line in traceback.format_exc().rstrip().splitlines():
            log.error("%s", line)
        say(f"{FAIL_PREFIX}: unexpected {type(exc).__name__}: {exc}")
        return 1
    say(f"{PASS_PREFIX} in {time.perf_counter() - t_start:.1f} s (runtime {info.get('runtime')})")
    return 0


def _check_download_support(say: Report) -> str | None:
    """The app's "Download model" needs ``modelscope.hub``, imported only when used: check it is there.

    A build that lost it (trimmed too much) would only fail when a user without a model
    clicks Download, so a frozen build fails the self-test; a source checkout may simply
    not have the optional package, which is only reported.
    """
    try:
        from modelscope.hub.snapshot_download import snapshot_download  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError or a broken package
        if getattr(sys, "frozen", False):
            return f"the model download is broken in this build ({type(exc).__name__}: {exc})"
        say(f"model download unavailable (modelscope: {type(exc).__name__}: {exc})")
        return None
    say("model download available (modelscope.hub)")
    return None


class _WarningCollector(logging.Handler):
    """Keeps the engine's warnings (e.g. an OpenVINO fallback) so the report can show them."""

    def __init__(self, sink: list[str]):
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


# --------------------------------------------------------------------------- command line

def default_report_path() -> Path:
    """``self-test.txt`` in the app's log folder (``M2FP_LOG_DIR`` overrides it, like the app's log).

    Computed here rather than imported from ``desktop.app`` so the self-test never imports tkinter.
    """
    return user_dir("log", "M2FP_LOG_DIR") / "self-test.txt"


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="m2fp-desktop", formatter_class=WideTextHelpFormatter,
        description=_("Check that this installation can load a model and parse the bundled sample photo."),
        epilog=_("Exit codes: 0 passed, 1 failed (the reason is printed), 2 bad command line."),
    )
    p.add_argument("--self-test", action="store_true", required=True, help=_("run the self-test"))
    source = p.add_mutually_exclusive_group()
    source.add_argument("--test-model", action="store_true",
                        help=_("use the small test model bundled with the application and compare with its stored "
                               "result"))
    source.add_argument("--model", type=Path, metavar="DIR", help=_("model folder to test (default: the usual search)"))
    p.add_argument("--runtime", choices=("auto", "torch", "openvino"), default="auto",
                   help=_("inference runtime (default: auto, as the app); a named runtime that cannot run fails the "
                           "test"))
    p.add_argument("--self-test-report", type=Path, metavar="PATH",
                   help=_("also write the report to this file (default when there is no console: self-test.txt in the "
                           "log folder)"))
    return p


def main(argv: Sequence[str]) -> int:
    """Entry point for ``--self-test`` from :mod:`desktop.__main__`; returns the exit code."""
    from desktop.cli_language import init_cli_language

    init_cli_language()  # the window's language, argparse's words included
    parser = build_arg_parser()
    console = sys.stdout
    if console is None or sys.stderr is None:
        # Windowed build without a console: argparse and warnings must not write to None.
        sys.stdout = sys.stdout or open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        sys.stderr = sys.stderr or open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    report_path = args.self_test_report or (default_report_path() if console is None else None)
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        if console is not None:
            print(line, file=console, flush=True)

    code = run_self_test(args.test_model, args.model, report, runtime=args.runtime)
    if report_path is not None:
        try:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        except OSError as exc:
            if console is not None:
                print(_("Cannot write the self-test report to {path}: {reason}").format(path=report_path, reason=exc),
                      file=console)
            return code or 1
    return code


if __name__ == "__main__":
    sys.exit(main(["--self-test", *sys.argv[1:]]))
