"""``--self-test``: passes on a healthy installation, fails with a reason on a broken one.

The command-line tests run ``python -m desktop --self-test`` in a subprocess, exactly as
CI runs the packaged executable; the check functions are also tested directly with
results that were damaged on purpose, to show each check can fail.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop import selftest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, tmp_path: Path, stdout_closed: bool = False) -> subprocess.CompletedProcess:
    """``python -m desktop ARGS`` with the log folder and model search kept inside ``tmp_path``."""
    env = dict(os.environ)
    env.pop("M2FP_MODEL_DIR", None)
    env.update(M2FP_LOG_DIR=str(tmp_path / "logs"), XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    if stdout_closed:
        # A windowed build starts without a console: fd 1 closed makes sys.stdout None here too.
        code = (
            "import os, sys; os.close(1); sys.stdout = None; "
            "from desktop.__main__ import main; sys.exit(main())"
        )
        return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True, timeout=600)
    return subprocess.run([sys.executable, "-m", "desktop", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_self_test_with_test_model_passes(tmp_path):
    report = tmp_path / "report" / "self-test.txt"
    proc = run_cli("--self-test", "--test-model", "--self-test-report", str(report), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert selftest.PASS_PREFIX in proc.stdout
    assert "agrees with the stored result" in proc.stdout
    assert selftest.FAIL_PREFIX not in proc.stdout
    assert report.read_text(encoding="utf-8").splitlines()[-1].startswith(selftest.PASS_PREFIX)


@pytest.mark.slow
def test_self_test_fails_on_a_broken_model_folder(tmp_path, tiny_model_dir):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "configuration.json").write_bytes((tiny_model_dir / "configuration.json").read_bytes())
    weights = (tiny_model_dir / "pytorch_model.pt").read_bytes()
    (broken / "pytorch_model.pt").write_bytes(weights[: len(weights) // 3])  # an interrupted copy
    proc = run_cli("--self-test", "--model", str(broken), "--runtime", "torch", tmp_path=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(selftest.FAIL_PREFIX)
    assert "could not be loaded" in last and "pytorch_model.pt" in last
    assert selftest.PASS_PREFIX not in proc.stdout


@pytest.mark.slow
def test_self_test_without_console_writes_the_report_to_the_log_folder(tmp_path):
    """Windowed builds have no stdout: the verdict must still reach a file, and no GUI is imported."""
    proc = run_cli("--self-test", "--model", str(tmp_path / "missing"), tmp_path=tmp_path, stdout_closed=True)
    assert proc.returncode == 1, proc.stderr
    report = (tmp_path / "logs" / "self-test.txt").read_text(encoding="utf-8")
    assert report.strip().splitlines()[-1].startswith(selftest.FAIL_PREFIX)
    assert "does not exist" in report


def test_self_test_does_not_import_tkinter(tmp_path):
    """The flag is checked before any GUI import, so the self-test runs on machines without a display."""
    code = (
        "import sys; from desktop.__main__ import main; "
        "code = main(['--self-test', '--model', sys.argv[1]]); "
        "print('tkinter loaded' if 'tkinter' in sys.modules else 'no tkinter'); sys.exit(code)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "no tkinter"


def test_bad_command_line_is_a_usage_error(tmp_path, capsys):
    assert selftest.main(["--self-test", "--test-model", "--model", str(tmp_path)]) == 2
    assert "not allowed with" in capsys.readouterr().err


# --------------------------------------------------------------------------- the checks themselves

@pytest.fixture(scope="module")
def sample_result(tiny_parser):
    return tiny_parser.parse_file(selftest.sample_path())


def test_stored_result_matches_the_torch_runtime(sample_result):
    expected = selftest.load_expected()
    assert selftest.check_consistency(sample_result, expected.labels.shape) == []
    assert selftest.compare_expected(sample_result, expected) == []


def test_consistency_check_catches_broken_results(sample_result):
    h, w = sample_result.labels.shape
    assert selftest.check_consistency(sample_result, (h, w + 1))[0].startswith("label map is")

    bad_labels = sample_result.labels.copy()
    bad_labels[0, 0] = 42
    problems = selftest.check_consistency(dataclasses.replace(sample_result, labels=bad_labels), (h, w))
    assert problems == [f"label map holds class id 42, only 0..{len(sample_result.class_names) - 1} exist"]

    part = sample_result.parts[0]
    wrong_area = dataclasses.replace(part, area=part.area + 1)
    problems = selftest.check_consistency(
        dataclasses.replace(sample_result, parts=[wrong_area, *sample_result.parts[1:]]), (h, w))
    assert any("area" in p for p in problems)

    orphan = dataclasses.replace(part, person_id=99)
    problems = selftest.check_consistency(
        dataclasses.replace(sample_result, parts=[orphan, *sample_result.parts[1:]]), (h, w))
    assert any("person 99, which does not exist" in p for p in problems)


def test_comparison_catches_a_different_result(sample_result):
    expected = selftest.load_expected()
    shifted = np.roll(sample_result.labels, 40, axis=1)
    problems = selftest.compare_expected(dataclasses.replace(sample_result, labels=shifted), expected)
    assert problems and problems[0].startswith("label map agrees with the stored one on")

    fewer = dataclasses.replace(sample_result, parts=sample_result.parts[:-1])
    assert f"{len(fewer.parts)} parts found" in "; ".join(selftest.compare_expected(fewer, expected))

    part = sample_result.parts[0]
    drifted = dataclasses.replace(part, score=part.score + 0.05)
    problems = selftest.compare_expected(
        dataclasses.replace(sample_result, parts=[drifted, *sample_result.parts[1:]]), expected)
    assert any("score" in p for p in problems)


def test_test_model_is_recognised_by_its_weights(tmp_path, tiny_model_dir):
    expected = selftest.load_expected()
    assert selftest.is_test_model(tiny_model_dir, expected)
    other = tmp_path / "other"
    other.mkdir()
    data = bytearray((tiny_model_dir / "pytorch_model.pt").read_bytes())
    data[-1] ^= 1
    (other / "pytorch_model.pt").write_bytes(bytes(data))
    assert not selftest.is_test_model(other, expected)


def test_main_writes_report_file_and_returns_the_code(tmp_path, monkeypatch, capsys):
    def fake(use_test_model, model_dir, report, *, runtime):
        report("line one")
        report(f"{selftest.FAIL_PREFIX}: on purpose ({use_test_model}, {runtime})")
        return 1

    monkeypatch.setattr(selftest, "run_self_test", fake)
    path = tmp_path / "sub" / "report.txt"
    code = selftest.main(["--self-test", "--test-model", "--runtime", "torch", "--self-test-report", str(path)])
    assert code == 1
    assert path.read_text(encoding="utf-8") == f"line one\n{selftest.FAIL_PREFIX}: on purpose (True, torch)\n"
    assert "line one" in capsys.readouterr().out
