"""``--ray``: a batch on a (local, 2-CPU) Ray instance writes what a local run writes, reports
failures the same way, survives a worker that dies, and explains a missing Ray in one line.

One Ray instance serves the whole module (starting one takes seconds); tests that need Ray are
skipped where it is not installed (CI installs requirements-cluster.txt, see dev.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from batch_runs import assert_same_outputs, run_cli
from imagefiles import save_rgb, small_copy, truncated_copy
from PIL import Image

import desktop.cli as cli
from desktop.cluster_ray import ClusterError, ray_address


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    tests = Path(__file__).resolve().parent  # workers import the test's actor class from here
    env = {"PYTHONPATH": os.pathsep.join((str(tests.parent), str(tests))), **{k: os.environ[k] for k in ("M2FP_CACHE_DIR", "M2FP_NATIVE_DIR", "M2FP_CONFIG_DIR")
                                  if k in os.environ}}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env},
             _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(golden_images, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i, (stem, path) in enumerate(sorted(golden_images.items())):
        small_copy(path, folder / "sub" / f"{stem}.png" if i == 2 else folder / f"{stem}.png", 64 if i % 2 else 48)
    truncated_copy(folder / f"{sorted(golden_images)[0]}.png", folder / "broken.png")
    return folder


def test_ray_batch_writes_what_a_local_run_writes(ray_session, photos, tiny_model_dir, tmp_path, capsys):
    base = [photos, "--recursive", "--model", tiny_model_dir, "--runtime", "torch", "--threads", "1",
            "--formats", "labels,overlay,json"]
    local = run_cli([*base, "--out", tmp_path / "local"], capsys)
    ray = run_cli([*base, "--out", tmp_path / "ray", "--ray"], capsys)
    assert local[0] == ray[0] == 1  # the broken file, in both
    assert "3 parsed, 0 skipped, 1 failed" in ray[1] and "Model: cluster" in ray[1]
    assert local[2] == ray[2] and "broken.png" in ray[2]  # the same failure line
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")
    assert_same_outputs(tmp_path / "local" / "sub", tmp_path / "ray" / "sub")


def _workspace_state(path: Path) -> dict:
    """What a reviewer sees of a workspace, by image name: status, note, error, persons, model,
    doubt, and the stored result's two maps (labels, persons) and person scores."""
    from desktop.review.maps import person_map_of
    from desktop.review.workspace import Workspace

    state = {}
    with Workspace.open(path, read_only=True) as ws:
        for r in ws.records():
            result = ws.load_result(r.id)
            maps = None if result is None else (result.labels.tobytes(), person_map_of(result).tobytes(),
                                                [round(p.score, 5) for p in result.persons])
            state[r.rel] = (r.status.value, ws.note(r.id), r.error, r.persons, r.model_key,
                            None if r.doubt is None else round(r.doubt, 5), r.changed_since_review, maps)
    return state


@pytest.fixture
def own_photos(photos, tmp_path) -> Path:
    """A copy of the photos this test may change."""
    import shutil

    return Path(shutil.copytree(photos, tmp_path / "photos"))


def test_a_workspace_filled_on_ray_equals_a_local_one(ray_session, own_photos, tiny_model_dir, tmp_path, capsys,
                                                      monkeypatch):
    from desktop.cluster_ray import RayBatch

    base = [own_photos, "--recursive", "--model", tiny_model_dir, "--runtime", "torch", "--threads", "1",
            "--formats", "labels,overlay,json"]
    local = run_cli([*base, "--workspace", tmp_path / "local.m2fpws", "--out", tmp_path / "local"], capsys)
    ray = run_cli([*base, "--workspace", tmp_path / "ray.m2fpws", "--out", tmp_path / "ray", "--ray"], capsys)
    assert local[0] == ray[0] == cli.EXIT_FAILED  # the broken file, in both; the rest is stored
    assert "3 parsed, 0 reused from the workspace, 1 failed" in ray[1]
    assert local[2] == ray[2] and "broken.png" in ray[2]  # the same failure line
    state = _workspace_state(tmp_path / "ray.m2fpws")
    assert state == _workspace_state(tmp_path / "local.m2fpws")
    assert state["broken.png"][2] and state["broken.png"][7] is None  # its failure is remembered
    assert sum(s[7] is not None for s in state.values()) == 3
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")  # with the review and doubt in the JSON
    assert_same_outputs(tmp_path / "local" / "sub", tmp_path / "ray" / "sub")

    # A second run sends only what changed; the verdict and note of a changed photo are kept.
    from desktop.review.workspace import Workspace

    sent: list[list[str]] = []
    outcomes = RayBatch.outcomes

    def spy(self, jobs, **kwargs):
        sent.append([job.entry.path.name for job in jobs])
        return outcomes(self, jobs, **kwargs)

    monkeypatch.setattr(RayBatch, "outcomes", spy)
    (own_photos / "broken.png").unlink()
    again = run_cli([*base, "--workspace", tmp_path / "ray.m2fpws", "--ray"], capsys)
    assert again[0] == cli.EXIT_OK and sent == [] and "0 parsed, 3 reused" in again[1]
    changed = sorted(p for p in own_photos.glob("*.png"))[0]
    with Workspace.open(tmp_path / "ray.m2fpws") as ws:
        ws.set_verdict(ws.find_image(changed), "needs_fix", "the left arm is wrong")
    rgb = np.asarray(Image.open(changed).convert("RGB"))
    save_rgb(changed, rgb[:, ::-1])  # mirrored: new content, parsed again
    again = run_cli([*base, "--workspace", tmp_path / "ray.m2fpws", "--ray"], capsys)
    assert again[0] == cli.EXIT_OK and sent == [[changed.name]] and "1 parsed, 2 reused" in again[1]
    status, note, error, _persons, _key, doubt, flagged, maps = _workspace_state(tmp_path / "ray.m2fpws")[changed.name]
    assert (status, note, error, flagged) == ("needs_fix", "the left arm is wrong", None, True)
    assert maps is not None and maps != state[changed.name][7] and doubt is not None


class _DiesOnce:
    """Mixed into the actor: its process exits on its first batch (once per test: a marker file)."""

    marker = ""

    def __call__(self, batch):
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)  # as a lost machine or an out-of-memory kill: no exception, no cleanup
        return super().__call__(batch)


def test_images_of_a_lost_worker_are_retried_and_results_come_back(ray_session, photos, tiny_model_dir,
                                                                   tiny_parser, tmp_path):
    from desktop.cluster_ray import ParseActor, RayBatch
    from desktop.export import ExportOptions
    from desktop.imageio import list_images, load_image

    actor = type("DiesOnceActor", (_DiesOnce, ParseActor), {"marker": str(tmp_path / "died")})
    jobs = [job for job in cli.plan_jobs(list_images([photos], recursive=True), tmp_path / "out", set())
            if job.entry.ok and job.entry.path.name != "broken.png"]
    batch = RayBatch(tiny_model_dir, address=None, runtime="torch", precision="exact", threads=1, actor_class=actor)
    got = {job.entry.path: (outcome, result) for job, outcome, result in
           batch.outcomes(jobs, options=ExportOptions(formats=frozenset({"json"})), max_pixels=0, collect=True)}
    assert (tmp_path / "died").exists()  # a worker did die
    assert sorted(got) == sorted(job.entry.path for job in jobs)
    for path, (outcome, result) in got.items():
        assert outcome.result().startswith("parsed in")
        local = tiny_parser.parse(load_image(path).rgb)  # results back on the driver (for a workspace)
        assert np.array_equal(result.labels, local.labels)
        # (the actor runs 1 thread, the session's parser 2: float sums round differently)
        assert [p.score for p in result.persons] == pytest.approx([p.score for p in local.persons], abs=1e-5)
    assert batch.model_info.get("runtime") == "torch"


@pytest.mark.parametrize("where", [["--out", "out"], ["--workspace", "review.m2fpws"]])
def test_a_missing_ray_is_one_line_and_exit_2(where, photos, tiny_model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, out, err = run_cli([photos, where[0], tmp_path / where[1], "--model", tiny_model_dir, "--ray"], capsys)
    assert code == cli.EXIT_USAGE
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "requirements-cluster.txt" in lines[0]


@pytest.mark.parametrize("text, expected", [
    (None, None), ("local", None), ("auto", "auto"), ("ray://head:10001", "ray://head:10001"),
    ("10.0.0.5:6379", "10.0.0.5:6379"), ("[::1]:6379", "[::1]:6379"),
])
def test_ray_addresses(text, expected):
    assert ray_address(text) == expected


def test_an_input_after_ray_is_not_taken_for_an_address(photos, tiny_model_dir, tmp_path, capsys):
    pytest.importorskip("ray")
    code, _out, err = run_cli([photos, "--out", tmp_path / "out", "--model", tiny_model_dir, "--ray", photos / "sub"],
                           capsys)
    assert code == cli.EXIT_USAGE and "is not a cluster address" in err
    with pytest.raises(ClusterError):
        ray_address("photos/")


def test_ray_stays_an_optional_extra():
    import re

    root = Path(__file__).resolve().parent.parent
    spec = (root / "build_exe.spec").read_text(encoding="utf-8")
    assert re.search(r'excludes=\[[^\]]*"ray"', spec), "the packaged app must not carry Ray"
    assert "ray" not in (root / "requirements.txt").read_text(encoding="utf-8").lower()
    cluster = (root / "requirements-cluster.txt").read_text(encoding="utf-8")
    assert "ray[data]" in cluster and "torch" not in cluster.split("-r requirements.txt")[-1]
