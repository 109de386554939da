"""Cheap checks of the PyInstaller build description (the real build runs in packaging/smoke_test.py).

``build_exe.spec`` is plain Python run by PyInstaller with its build classes in scope.
Here it runs with stand-ins that record what they are given, so we can check what a
build would bundle and leave out without spending ten minutes building.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build_exe.spec"
RESOURCES = ROOT / "resources"


class _Target:
    """Records the arguments of one PyInstaller build step (Analysis, PYZ, EXE, COLLECT, BUNDLE)."""

    calls: dict[str, _Target] = {}

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        _Target.calls[type(self).__name__] = self


class Analysis(_Target):
    # What a real analysis might produce: (name, source, kind) tuples.
    PURE = [
        ("desktop.selftest", "desktop/selftest.py", "PYMODULE"),
        ("desktop.engine.parser", "desktop/engine/parser.py", "PYMODULE"),
        ("torch", "torch/__init__.py", "PYMODULE"),
        ("torch.nn.functional", "torch/nn/functional.py", "PYMODULE"),
        ("torch.testing", "torch/testing/__init__.py", "PYMODULE"),
        ("torch.testing._internal.logging_tensor", "x.py", "PYMODULE"),
        ("torch.testing._internal.opinfo.core", "x.py", "PYMODULE"),
        ("torch.distributed.rpc", "x.py", "PYMODULE"),
        ("torch.distributed.fsdp", "x.py", "PYMODULE"),
        ("torch.utils.tensorboard.writer", "x.py", "PYMODULE"),
        ("torch._inductor.codegen", "x.py", "PYMODULE"),
        ("torch._inductor.codegen.wrapper", "x.py", "PYMODULE"),
        ("torch.cuda.nccl", "x.py", "PYMODULE"),
        ("openvino.frontend.pytorch.ts_decoder", "x.py", "PYMODULE"),
        ("openvino.frontend.onnx", "x.py", "PYMODULE"),
        ("openvino.tools.ovc.convert", "x.py", "PYMODULE"),
        ("modelscope.hub.snapshot_download", "x.py", "PYMODULE"),
        ("modelscope.utils.file_utils", "x.py", "PYMODULE"),
        ("modelscope.models.cv.anydoor", "x.py", "PYMODULE"),
        ("modelscope.pipelines", "x.py", "PYMODULE"),
        ("tkinterdnd2.TkinterDnD", "x.py", "PYMODULE"),
        ("numpy._core.tests.test_api", "x.py", "PYMODULE"),
        ("tests.test_selftest", "x.py", "PYMODULE"),
        ("sympy.core", "x.py", "PYMODULE"),
        ("networkx.algorithms", "x.py", "PYMODULE"),
    ]
    BINARIES = [
        ("torch/lib/libtorch_cpu.so", "x", "BINARY"),
        ("torch/lib/libc10.so", "x", "BINARY"),
        ("torch/lib/libtorchbind_test.so", "x", "BINARY"),
        ("torch/lib/libtorch_cuda.so", "x", "BINARY"),
        ("torch/lib/libcudnn.so.9", "x", "BINARY"),
        ("torch/bin/test_api", "x", "BINARY"),
        ("openvino/libs/libopenvino.so.2641", "x", "BINARY"),
        ("openvino/libs/libopenvino_intel_cpu_plugin.so", "x", "BINARY"),
        ("openvino/libs/libopenvino_ir_frontend.so.2641", "x", "BINARY"),
        ("openvino/libs/libopenvino_pytorch_frontend.so.2641", "x", "BINARY"),
        ("openvino/libs/libopenvino_intel_gpu_plugin.so", "x", "BINARY"),
        ("openvino\\libs\\openvino_intel_npu_plugin.dll", "x", "BINARY"),
        ("openvino/libs/libopenvino_onnx_frontend.so.2641", "x", "BINARY"),
        ("tkinterdnd2/tkdnd/linux-x64/libtkdnd2.10.3.so", "x", "BINARY"),
        ("libtk8.6.so", "x", "BINARY"),
    ]
    DATAS = [
        ("resources/classes.json", "x", "DATA"),
        ("torch/include/ATen/core/Tensor.h", "x", "DATA"),
        ("torch/test/atest", "x", "DATA"),
        ("torch/nn/functional.py", "x", "DATA"),
        ("torch/_inductor/codegen/wrapper.py", "x", "DATA"),
        ("torch/_inductor/kernel/templates/triton_mm.py.jinja", "x", "DATA"),
        ("torch/cuda/nccl.py", "x", "DATA"),
        ("tkinterdnd2/tkdnd/linux-x64/tkdnd.tcl", "x", "DATA"),
        ("_tk_data/tk.tcl", "x", "DATA"),
        ("_tk_data/demos/widget", "x", "DATA"),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pure = list(self.PURE)
        # What the spec asks for by hand (OpenVINO's run-time loaded libraries) joins the analysis.
        self.binaries = list(self.BINARIES) + [
            (f"{dest}/{Path(src).name}", src, "BINARY") for src, dest in kwargs.get("binaries", [])
        ]
        self.datas = list(self.DATAS)
        self.scripts = []


class PYZ(_Target):
    pass


class EXE(_Target):
    pass


class COLLECT(_Target):
    pass


class BUNDLE(_Target):
    pass


OPENVINO_LIBS = ["libopenvino_intel_cpu_plugin.so", "libopenvino_intel_gpu_plugin.so",
                 "libopenvino_ir_frontend.so.2641", "libopenvino_paddle_frontend.so.2641"]


def _fake_hooks() -> types.ModuleType:
    """Stand-in for PyInstaller.utils.hooks, so these tests need neither PyInstaller nor a build."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.PY_DYLIB_PATTERNS = ["*.dll", "*.dylib", "lib*.so"]

    def collect_dynamic_libs(package, destdir=None, search_patterns=None):
        assert package == "openvino" and "*.so.*" in search_patterns  # versioned libraries too
        return [(f"/site/openvino/libs/{name}", "openvino/libs") for name in OPENVINO_LIBS]

    hooks.collect_dynamic_libs = collect_dynamic_libs
    hooks.collect_submodules = lambda package, **kw: [package, f"{package}.sub"]
    return hooks


def run_spec(tmp_path: Path, monkeypatch, **env: str) -> dict[str, _Target]:
    """Execute build_exe.spec with recording stand-ins; return the build steps it created."""
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", _fake_hooks())
    for key in ("M2FP_BUILD_TRIM", "M2FP_BUILD_KEEP", "M2FP_BUILD_MODEL_DIR", "M2FP_BUILD_CONSOLE", "M2FP_BUILD_STRIP"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _Target.calls = {}
    namespace = {
        "__name__": "__main__", "__file__": str(SPEC),
        "SPECPATH": str(ROOT), "DISTPATH": str(tmp_path / "dist"), "workpath": str(tmp_path / "work"),
        "Analysis": Analysis, "PYZ": PYZ, "EXE": EXE, "COLLECT": COLLECT, "BUNDLE": BUNDLE,
    }
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)  # noqa: S102
    return dict(_Target.calls)


@pytest.fixture
def built(tmp_path, monkeypatch) -> dict[str, _Target]:
    return run_spec(tmp_path, monkeypatch)


def _names(toc) -> set[str]:
    return {entry[0] for entry in toc}


def test_spec_is_valid_python_with_one_folder_windowed_build(built):
    ast.parse(SPEC.read_text(encoding="utf-8"))
    exe, coll = built["EXE"], built["COLLECT"]
    assert exe.kwargs["exclude_binaries"] is True, "one-file build: torch would be unpacked on every start"
    assert exe.kwargs["console"] is False, "the default build must be windowed"
    assert exe.kwargs["upx"] is False and coll.kwargs["upx"] is False
    assert exe.kwargs["name"] == coll.kwargs["name"] == "m2fp-desktop"
    script = Path(built["Analysis"].args[0][0])
    assert script == ROOT / "packaging" / "launcher.py" and script.is_file()


def test_console_variant_for_ci(tmp_path, monkeypatch):
    assert run_spec(tmp_path, monkeypatch, M2FP_BUILD_CONSOLE="1")["EXE"].kwargs["console"] is True


def test_resources_are_bundled_without_build_helpers(built):
    datas = built["Analysis"].kwargs["datas"]
    bundled = {(Path(dest) / Path(src).name).as_posix() for src, dest in datas}
    for needed in (
        "resources/classes.json",
        "resources/parsing-result.schema.json",
        "resources/icons/app.png",
        "resources/samples/astronaut.png",
        "resources/test-model/configuration.json",
        "resources/test-model/pytorch_model.pt",
        "resources/test-model/selftest/expected.json",
        "resources/test-model/selftest/astronaut-labels.png",
    ):
        assert needed in bundled, f"{needed} is not bundled"
    assert all(Path(src).is_file() for src, _ in datas)
    assert not [b for b in bundled if b.endswith((".py", ".pyc", ".md"))], "build helpers or notes bundled"
    assert not [b for b in bundled if "tests/" in b], "test files bundled"


def test_tests_are_excluded(built):
    analysis = built["Analysis"]
    assert "tests" in analysis.kwargs["excludes"] and "pytest" in analysis.kwargs["excludes"]
    pure = _names(analysis.pure)
    assert "tests.test_selftest" not in pure
    assert "numpy._core.tests.test_api" not in pure
    assert "torch/test/atest" not in _names(analysis.datas)
    assert "torch/bin/test_api" not in _names(analysis.binaries)


def test_trim_removes_unused_and_keeps_what_inference_needs(built):
    analysis = built["Analysis"]
    pure, binaries, datas = _names(analysis.pure), _names(analysis.binaries), _names(analysis.datas)
    for kept in ("desktop.selftest", "desktop.engine.parser", "torch", "sympy.core", "torch.nn.functional", "torch.testing",
                 "torch.testing._internal.logging_tensor", "torch.distributed.rpc",
                 "openvino.frontend.pytorch.ts_decoder", "openvino.tools.ovc.convert",
                 "modelscope.hub.snapshot_download", "modelscope.utils.file_utils", "tkinterdnd2.TkinterDnD"):
        assert kept in pure, f"{kept} was removed but is needed"
    for gone in ("torch.testing._internal.opinfo.core", "torch.distributed.fsdp", "torch.utils.tensorboard.writer",
                 "torch._inductor.codegen", "openvino.frontend.onnx", "modelscope.models.cv.anydoor",
                 "modelscope.pipelines", "networkx.algorithms"):
        assert gone not in pure, f"{gone} should be left out"
    for kept in ("torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "openvino/libs/libopenvino.so.2641",
                 "openvino/libs/libopenvino_intel_cpu_plugin.so", "openvino/libs/libopenvino_ir_frontend.so.2641",
                 "openvino/libs/libopenvino_pytorch_frontend.so.2641",
                 "tkinterdnd2/tkdnd/linux-x64/libtkdnd2.10.3.so", "libtk8.6.so"):
        assert kept in binaries, f"{kept} was removed but is needed"
    for gone in ("torch/lib/libtorchbind_test.so", "torch/lib/libtorch_cuda.so", "torch/lib/libcudnn.so.9",
                 "openvino/libs/libopenvino_intel_gpu_plugin.so", "openvino\\libs\\openvino_intel_npu_plugin.dll",
                 "openvino/libs/libopenvino_onnx_frontend.so.2641"):
        assert gone not in binaries, f"{gone} should be left out"
    assert {"resources/classes.json", "torch/nn/functional.py", "tkinterdnd2/tkdnd/linux-x64/tkdnd.tcl",
            "_tk_data/tk.tcl"} <= datas
    assert not datas & {"torch/include/ATen/core/Tensor.h", "torch/_inductor/codegen/wrapper.py",
                        "torch/_inductor/kernel/templates/triton_mm.py.jinja", "_tk_data/demos/widget"}
    # A kept module keeps its source copy even when its name looks like a GPU library.
    assert "torch.cuda.nccl" in pure and "torch/cuda/nccl.py" in datas


def test_openvino_cpu_plugin_and_frontends_are_collected(built):
    analysis = built["Analysis"]
    binaries = _names(analysis.binaries)
    assert {"openvino/libs/libopenvino_intel_cpu_plugin.so", "openvino/libs/libopenvino_ir_frontend.so.2641"} <= binaries
    assert not binaries & {"openvino/libs/libopenvino_intel_gpu_plugin.so", "openvino/libs/libopenvino_paddle_frontend.so.2641"}
    hidden = analysis.kwargs["hiddenimports"]
    assert {"openvino", "openvino.frontend.pytorch", "openvino.tools.ovc", "desktop.selftest"} <= set(hidden)


def test_trim_report_and_switches(tmp_path, monkeypatch):
    run_spec(tmp_path, monkeypatch)
    report = json.loads((tmp_path / "work" / "m2fp-trim-report.json").read_text())
    assert report["openvino-unused"]["files"] == 5 and report["_kept_groups"] == []

    kept = run_spec(tmp_path, monkeypatch, M2FP_BUILD_KEEP="openvino-unused")["Analysis"]
    assert "openvino/libs/libopenvino_intel_gpu_plugin.so" in _names(kept.binaries)
    assert "torch/lib/libtorchbind_test.so" not in _names(kept.binaries)

    untrimmed = run_spec(tmp_path, monkeypatch, M2FP_BUILD_TRIM="0")["Analysis"]
    assert _names(Analysis.BINARIES) <= _names(untrimmed.binaries)
    assert "openvino/libs/libopenvino_intel_gpu_plugin.so" in _names(untrimmed.binaries)
    assert _names(untrimmed.pure) == _names(Analysis.PURE)


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("strip") is None, reason="Linux strip")
def test_only_torch_libraries_are_stripped(tmp_path, monkeypatch):
    """Stripping libraries patched by auditwheel (numpy's OpenBLAS) breaks them: only torch's are."""
    import torch

    lib = next(Path(torch.__file__).parent.joinpath("lib").glob("libshm.so*"))
    original = lib.read_bytes()
    monkeypatch.setattr(Analysis, "BINARIES", [
        ("torch/lib/libshm.so", str(lib), "BINARY"),
        ("numpy.libs/libscipy_openblas64_.so", str(lib), "BINARY"),
    ])
    analysis = run_spec(tmp_path, monkeypatch)["Analysis"]
    sources = {dest: Path(src) for dest, src, _ in analysis.binaries}
    assert sources["numpy.libs/libscipy_openblas64_.so"] == lib
    stripped = sources["torch/lib/libshm.so"]
    assert stripped.is_relative_to(tmp_path / "work") and stripped.stat().st_size < len(original)
    assert lib.read_bytes() == original, "the installed library must not be touched"
    report = json.loads((tmp_path / "work" / "m2fp-trim-report.json").read_text())
    assert list(report["_stripped"]) == ["torch/lib/libshm.so"]
    assert run_spec(tmp_path, monkeypatch, M2FP_BUILD_STRIP="0")["Analysis"].binaries[0][1] == str(lib)


def test_build_time_model_goes_beside_the_executable(tmp_path, monkeypatch):
    model = ROOT / "resources" / "test-model"
    run_spec(tmp_path, monkeypatch, M2FP_BUILD_MODEL_DIR=str(model))
    copied = tmp_path / "dist" / "m2fp-desktop" / "models" / model.name
    assert (copied / "configuration.json").read_bytes() == (model / "configuration.json").read_bytes()
    assert (copied / "pytorch_model.pt").stat().st_size == (model / "pytorch_model.pt").stat().st_size


def test_build_refuses_a_folder_that_is_not_a_model(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="not a model folder"):
        run_spec(tmp_path, monkeypatch, M2FP_BUILD_MODEL_DIR=str(tmp_path))


def test_launcher_calls_freeze_support_before_importing_the_app():
    tree = ast.parse((ROOT / "packaging" / "launcher.py").read_text(encoding="utf-8"))
    main_block = next(n for n in tree.body if isinstance(n, ast.If))
    first, second = main_block.body[0], main_block.body[1]
    assert isinstance(first, ast.Expr) and ast.unparse(first) == "multiprocessing.freeze_support()"
    assert isinstance(second, ast.ImportFrom) and second.module == "desktop.__main__"


def test_bundled_test_model_is_the_golden_tiny_model():
    """The self-test's stored result belongs to these exact weights; drift would fail every build."""
    bundled = RESOURCES / "test-model"
    golden = ROOT / "tests" / "data" / "m2fp-tiny" / "model"
    for name in ("configuration.json", "pytorch_model.pt"):
        assert (bundled / name).read_bytes() == (golden / name).read_bytes(), f"{name} differs from the tiny model"
    expected = json.loads((bundled / "selftest" / "expected.json").read_text())
    weights = (bundled / "pytorch_model.pt").read_bytes()
    assert expected["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    assert expected["weights_size"] == len(weights)
    assert (RESOURCES / "samples" / expected["sample"]).is_file()


def test_build_outputs_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"/build/", "/dist/", "/artifacts/"} <= set(ignored)
