#!/usr/bin/env python3
"""Measure what each trim group of ``build_exe.spec`` saves, and check every variant still works.

    python packaging/measure_trim.py [--groups g1,g2] [--out artifacts/trim]

Builds the executable several times with one shared PyInstaller work folder (the
analysis, the slow part, is done once: trimming happens after it), each variant into a
temporary dist folder that is deleted after measuring:

- ``untrimmed``: ``M2FP_BUILD_TRIM=0 M2FP_BUILD_STRIP=0``, what PyInstaller bundles by itself;
- ``trimmed``: the shipped configuration;
- ``keep <group>``: the shipped configuration with one group kept (the group's saving is
  its size minus the trimmed size), and ``no strip`` likewise.

Each variant runs ``--self-test --test-model`` (both runtimes) and, on Linux with Xvfb,
is timed from start to the visible window. Prints a Markdown table and writes
``measurements.json``. Run it when changing a group; it is not part of CI (about two
minutes per variant on a 2-core machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _smoke_module():
    spec = importlib.util.spec_from_file_location("smoke_test", Path(__file__).with_name("smoke_test.py"))
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _trim_groups() -> list[str]:
    """Group names, read from the spec without PyInstaller (its text up to the build section)."""
    text = (ROOT / "build_exe.spec").read_text(encoding="utf-8")
    head = text.split("# --------------------------------------------------------------------------- stripping")[0]
    head = head.replace("from PyInstaller.utils.hooks import", "# from PyInstaller.utils.hooks import")
    namespace: dict = {"SPECPATH": str(ROOT)}
    exec(compile(head, "build_exe.spec", "exec"), namespace)  # noqa: S102 - our own file
    return list(namespace["TRIM_GROUPS"])


def measure_variant(smoke_mod, name: str, env: dict[str, str], work: Path, out: Path, gui: bool) -> dict:
    dist = Path(tempfile.mkdtemp(prefix="m2fp-measure-dist-"))
    try:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("M2FP_BUILD_")}
        full_env.update(env, M2FP_BUILD_MODEL_DIR=str(ROOT / "resources" / "test-model"))
        t0 = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "ERROR", "--distpath", str(dist),
             "--workpath", str(work), str(ROOT / "build_exe.spec")],
            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result: dict = {"variant": name, "env": env, "build_seconds": round(time.monotonic() - t0, 1)}
        if code != 0:
            result["error"] = f"build failed (exit {code})"
            return result
        variant_out = out / name.replace(" ", "-")
        variant_out.mkdir(parents=True, exist_ok=True)
        smoke = smoke_mod.Smoke(dist, variant_out)
        smoke.measure()
        smoke.self_test("self-test-torch", ["--test-model", "--runtime", "torch"])
        smoke.self_test("self-test-openvino", ["--test-model", "--runtime", "openvino"])
        if gui:
            smoke.gui(required=False)
        smoke.write_summary(t0)
        result.update(size_mb=smoke.summary["size_mb"], files=smoke.summary["files"],
                      startup=smoke.summary.get("startup_to_window_seconds"), failures=smoke.failures)
        return result
    finally:
        shutil.rmtree(dist, ignore_errors=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", help="comma-separated groups to measure one by one (default: all)")
    p.add_argument("--out", type=Path, default=ROOT / "artifacts" / "trim", help="results folder")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "measure", help="shared PyInstaller work folder")
    p.add_argument("--no-gui", action="store_true", help="skip the start-up timing")
    args = p.parse_args(argv)
    smoke_mod = _smoke_module()
    groups = args.groups.split(",") if args.groups else _trim_groups()
    variants = [("trimmed", {}, True), ("untrimmed", {"M2FP_BUILD_TRIM": "0", "M2FP_BUILD_STRIP": "0"}, True),
                ("no strip", {"M2FP_BUILD_STRIP": "0"}, False)]
    variants += [(f"keep {g}", {"M2FP_BUILD_KEEP": g}, False) for g in groups]
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name, env, gui in variants:
        print(f"building: {name} ...", flush=True)
        results.append(measure_variant(smoke_mod, name, env, args.work.resolve(), args.out.resolve(),
                                       gui and not args.no_gui))
        r = results[-1]
        print(f"  {r.get('size_mb')} MB, {r.get('files')} files, start-up {r.get('startup')}, "
              f"failures {r.get('failures', r.get('error'))}", flush=True)
    (args.out / "measurements.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    base = next((r for r in results if r["variant"] == "trimmed" and "size_mb" in r), None)
    print("\n| variant | size MB | files | saved by the group MB | self-tests | start-up to window s |")
    print("|---|---|---|---|---|---|")
    for r in results:
        saved = ""
        if base and r["variant"] != "trimmed" and "size_mb" in r:
            saved = f"{r['size_mb'] - base['size_mb']:.1f}"
        ok = "pass" if not r.get("failures") and "error" not in r else f"FAIL {r.get('failures') or r.get('error')}"
        print(f"| {r['variant']} | {r.get('size_mb', '-')} | {r.get('files', '-')} | {saved} | {ok} | "
              f"{r.get('startup') or ''} |")
    return 0 if all(not r.get("failures") and "error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
