"""Review workspace benchmark: reopening, result decoding, database size, verdict saving.

    python bench/bench_workspace.py [--photos 1000] [--list 10000] [--variants 30]

Figures printed (targets from the workspace issue in brackets):

1. a workspace of ``--photos`` parsed 1920x1080 photos, reopened in a fresh process: time to a
   usable list (open, read every row, natural sort by name) [< 2 s], to the first result
   decoded [< 0.3 s] and to its first overlay drawn (result + photo decoded, colours
   blended); database size per photo [< 100 KB];
2. saving a verdict (one ``set_verdict`` call, as the GUI thread makes it): median, 95th
   percentile and worst, idle and while a worker thread stores results [< 5 ms];
3. a workspace of ``--list`` images reopened: time to a usable list;
4. the codec against a baseline in the same run: the same results stored as PNGs (label map
   as an 8-bit PNG, every mask cropped and as a 1-bit PNG), the form first considered.

The maps come from the golden reference outputs (``tests/data/m2fp-tiny/expected/*.npz``),
never from noise, in two layouts:

- **golden, full frame**: one golden output (label map, every part and person mask)
  upscaled to fill the 1920x1080 frame (bilinear, so edges are smooth as the model's are),
  then cropped, scaled and mirrored differently for each photo. The golden model has random
  weights: its 14 parts and 3 persons each cover most of the frame in fragments, several
  times the detail of a trained model's output. A worst case, not a typical photo;
- **golden persons**: 1 to 4 golden outputs, each scaled to a person's size (35-75 % of the
  frame height) and placed on a background, as people stand in a photo: every person brings
  its golden parts (fragmented as above) and its golden person masks, inside its own box.

The photos for the overlay are the golden photos upscaled to 1920x1080. Each layout has
``--variants`` different results; the 1,000 rows store them in turn (each row is a full copy:
SQLite keeps no duplicates apart, so the file's size is what 1,000 distinct photos give).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import peak_rss_mb  # noqa: E402
from desktop.engine.result import ParsingResult, Part, Person, mask_bbox  # noqa: E402
from desktop.imageio import ImageEntry  # noqa: E402
from desktop.resources import default_class_names, palette  # noqa: E402
from desktop.review.model_key import ModelIdentity  # noqa: E402
from desktop.review.result_codec import _crop_of, decode_result  # noqa: E402
from desktop.review.workspace import Status, Workspace  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "m2fp-tiny"
W, H = 1920, 1080
MODEL = ModelIdentity("b" * 64, "openvino", "exact", "damo/cv_resnet101_image-multiple-human-parsing")


# --------------------------------------------------------------------------- golden maps

class Golden:
    """One golden output rendered smooth at a working resolution (masks and label map)."""

    def __init__(self, stem: str, size: tuple[int, int]):
        d = np.load(GOLDEN / "expected" / f"{stem}.npz")
        h, w = d["semantic"].shape
        self.size = size

        def up(a: np.ndarray) -> np.ndarray:
            return np.asarray(Image.fromarray(a.astype(np.float32)).resize(size, Image.BILINEAR))

        def unpack(rows: np.ndarray) -> list[np.ndarray]:
            return [np.unpackbits(r)[: h * w].reshape(h, w).astype(bool) for r in rows]

        sem = d["semantic"]
        classes = np.unique(sem)
        self.labels = classes[np.stack([up(sem == c) for c in classes]).argmax(0)].astype(np.uint8)
        self.parts = [(int(lab), float(s), up(m) > 0.5) for lab, s, m in
                      zip(d["part_labels"], d["part_scores"], unpack(d["part_masks"]), strict=True)]
        self.persons = [(float(s), up(m) > 0.5) for s, m in zip(d["human_scores"], unpack(d["human_masks"]),
                                                                strict=True)]


def _result(labels: np.ndarray, persons: list[tuple[float, np.ndarray]],
            parts: list[tuple[int, float, np.ndarray, int]]) -> ParsingResult:
    names = default_class_names()
    person_objs = []
    part_objs = []
    for i, (lab, score, mask, owner) in enumerate(parts, start=1):
        part_objs.append(Part(i, lab, names[lab], score, mask, mask_bbox(mask), int(mask.sum()), owner))
    for pid, (score, mask) in enumerate(persons, start=1):
        person_objs.append(Person(pid, score, mask, mask_bbox(mask), int(mask.sum()),
                                  tuple(p.id for p in part_objs if p.person_id == pid)))
    return ParsingResult(labels=labels, persons=person_objs, parts=part_objs, class_names=names,
                         palette=palette()[: len(names)],
                         timings={"decode": 0.03, "preprocess": 0.05, "forward": 3.1, "postprocess": 0.3, "total": 3.45},
                         model={"name": MODEL.name, "runtime": "openvino", "precision": "exact"}, notes=[])


def full_frame(g: Golden, rng: np.random.Generator) -> ParsingResult:
    """Crop a random 1920x1080 window of a larger render, maybe mirrored."""
    gw, gh = g.size
    x, y = int(rng.integers(0, gw - W + 1)), int(rng.integers(0, gh - H + 1))
    flip = bool(rng.integers(0, 2))

    def cut(a: np.ndarray) -> np.ndarray:
        c = a[y : y + H, x : x + W]
        return np.ascontiguousarray(c[:, ::-1] if flip else c)

    persons = [(s, cut(m)) for s, m in g.persons]
    owner = [int(np.argmax([(pm & cut(m)).sum() for _s, pm in persons])) + 1 for _lab, _s, m in g.parts]
    parts = [(lab, s, cut(m), o) for (lab, s, m), o in zip(g.parts, owner, strict=True)]
    return _result(cut(g.labels), persons, parts)


def persons_layout(goldens: list[Golden], rng: np.random.Generator) -> ParsingResult:
    """1-4 golden outputs scaled to person size and placed on a background."""
    labels = np.zeros((H, W), np.uint8)
    persons: list[tuple[float, np.ndarray]] = []
    parts: list[tuple[int, float, np.ndarray, int]] = []
    for _ in range(int(rng.integers(1, 5))):
        g = goldens[int(rng.integers(0, len(goldens)))]
        ph = int(H * rng.uniform(0.35, 0.75))
        pw = int(ph * rng.uniform(0.45, 0.7))
        x0, y0 = int(rng.integers(0, W - pw)), int(rng.integers(0, H - ph))

        def place(a: np.ndarray, box: tuple[int, int, int, int] = (x0, y0, pw, ph)) -> np.ndarray:
            x, y, w, h = box
            out = np.zeros((H, W), a.dtype)
            out[y : y + h, x : x + w] = np.asarray(Image.fromarray(a).resize((w, h), Image.NEAREST))
            return out

        lab = place(g.labels)
        labels[lab != 0] = lab[lab != 0]
        body = np.zeros((H, W), bool)
        for _s, m in g.persons:
            body |= place(m.astype(np.uint8)).astype(bool)
        pid = len(persons) + 1
        persons.append((float(rng.uniform(0.6, 0.99)), body & (lab != 0)))
        for lab_id, s, m in g.parts:
            parts.append((lab_id, s, place(m.astype(np.uint8)).astype(bool), pid))
    return _result(labels, persons, parts)


def make_variants(kind: str, n: int, seed: int = 0) -> list[ParsingResult]:
    rng = np.random.default_rng(seed)
    stems = ["astronaut", "astronaut_crop", "grace_hopper"]
    if kind == "full":
        goldens = [Golden(s, (int(W * 1.25), int(H * 1.25))) for s in stems]
        return [full_frame(goldens[i % 3], rng) for i in range(n)]
    goldens = [Golden(s, (800, 1080)) for s in stems]
    return [persons_layout(goldens, rng) for _ in range(n)]


# --------------------------------------------------------------------------- baseline codec

def png_baseline(result: ParsingResult) -> int:
    """Bytes of the same result as an 8-bit PNG label map and cropped 1-bit PNG masks."""
    total = 0
    buf = io.BytesIO()
    Image.fromarray(result.labels).save(buf, "PNG")
    total += len(buf.getvalue())
    for inst in [*result.persons, *result.parts]:
        (_x, _y, w, _h), crop = _crop_of(inst.mask)
        if not w:
            continue
        buf = io.BytesIO()
        Image.fromarray(crop).convert("1").save(buf, "PNG")
        total += len(buf.getvalue())
    return total


# --------------------------------------------------------------------------- building

def build_workspace(path: Path, photos: int, variants: list[ParsingResult]) -> dict:
    """A workspace of ``photos`` images (placeholder files) with the variants stored in turn."""
    folder = path.parent / "photos"
    folder.mkdir(exist_ok=True)
    entries = []
    for i in range(photos):
        p = folder / f"IMG_{i:05d}.jpg"
        p.write_bytes(i.to_bytes(4, "little"))
        entries.append(ImageEntry(p, folder, Path(p.name)))
    enc_times, store_times = [], []
    encoded = []
    for r in variants:
        t = time.perf_counter()
        encoded.append(Workspace.encode(r))
        enc_times.append(time.perf_counter() - t)
    with Workspace.open(path) as ws:
        ids = ws.add_images(entries)
        for i, iid in enumerate(ids):
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            t = time.perf_counter()
            ws.store_result(iid, encoded[i % len(encoded)], MODEL, sha256=sha, size=4, mtime_ns=0)
            store_times.append(time.perf_counter() - t)
    return {"encode_ms": 1000 * statistics.median(enc_times), "store_ms": 1000 * statistics.median(store_times),
            "bytes_per_photo": path.stat().st_size / photos,
            "blob_kb": statistics.mean(len(e.data) for e in encoded) / 1024}


# --------------------------------------------------------------------------- reopening (child)

def reopen_child(path: str, photo: str | None) -> None:
    """Run in a fresh interpreter: print the reopening figures as JSON."""
    from desktop.render import blend
    from desktop.review.listing import sort_records

    t0 = time.perf_counter()
    ws = Workspace.open(path)
    records = sort_records(ws.records(), "name")
    t_list = time.perf_counter() - t0
    out = {"list_s": t_list, "rows": len(records), "rss_mb": peak_rss_mb()}
    if photo:
        t0 = time.perf_counter()
        labels = ws.load_labels(records[0].id)  # what the window draws first
        rgb = np.asarray(Image.open(photo).convert("RGB"))
        blend(rgb, labels, palette(), 0.5)
        out["first_overlay_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert ws.load_result(records[0].id) is not None
        out["first_result_s"] = time.perf_counter() - t0
        times = []
        for r in records[1:11]:
            t = time.perf_counter()
            ws.load_result(r.id)
            times.append(time.perf_counter() - t)
        out["result_median_s"] = statistics.median(times)
        out["rss_mb"] = peak_rss_mb()
    ws.close()
    print(json.dumps(out))


def reopen(path: Path, photo: Path | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path)] + ([str(photo)] if photo else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- verdicts

def verdict_times(path: Path, n: int, with_writer: bool, encoded) -> list[float]:
    ws = Workspace.open(path)
    ids = [r.id for r in ws.records()]
    stop = threading.Event()

    def writer() -> None:  # a parse worker storing results meanwhile, as fast as it can
        k = 0
        while not stop.is_set():
            ws.store_result(ids[k % len(ids)], encoded, MODEL, sha256=hashlib.sha256(f"w{k}".encode()).hexdigest())
            k += 1

    thread = threading.Thread(target=writer, daemon=True) if with_writer else None
    if thread:
        thread.start()
    rng = np.random.default_rng(1)
    statuses = list(Status)
    times = []
    for i in range(n):
        iid = int(ids[int(rng.integers(0, len(ids)))])
        t = time.perf_counter()
        ws.set_verdict(iid, statuses[i % len(statuses)])
        times.append(time.perf_counter() - t)
        time.sleep(0.002)
    stop.set()
    if thread:
        thread.join()
    ws.close()
    return times


def build_list(path: Path, n: int) -> float:
    """``n`` images with distinct stored results (small ones: the listing reads no result data)."""
    folder = path.parent / "many"
    folder.mkdir(exist_ok=True)
    entries = []
    for i in range(n):
        p = folder / f"photo {i}.jpg"
        p.write_bytes(b"x")
        entries.append(ImageEntry(p, folder, Path(p.name)))
    labels = np.zeros((64, 64), np.uint8)
    labels[10:50, 20:40] = 5
    small = Workspace.encode(_result(labels, [(0.9, labels > 0)], [(5, 0.8, labels > 0, 1)]))
    t0 = time.perf_counter()
    with Workspace.open(path) as ws:
        ids = ws.add_images(entries)
        for i, iid in enumerate(ids):
            ws.store_result(iid, small, MODEL, sha256=hashlib.sha256(f"l{i}".encode()).hexdigest())
            if i % 3 == 0:
                ws.set_verdict(iid, Status.ACCEPTED, note=f"checked {i}")
    return time.perf_counter() - t0


def stats_ms(times: list[float]) -> str:
    ms = sorted(1000 * t for t in times)
    return (f"median {statistics.median(ms):.2f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms, "
            f"worst {ms[-1]:.2f} ms ({len(ms)} saves)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--list", type=int, default=10_000)
    ap.add_argument("--variants", type=int, default=30)
    ap.add_argument("--verdicts", type=int, default=300)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        reopen_child(args.child[0], args.child[1] if len(args.child) > 1 else None)
        return
    with tempfile.TemporaryDirectory(prefix="bench-workspace-") as tmp:
        tmp = Path(tmp)
        os.environ["M2FP_DATA_DIR"] = str(tmp / "data")
        photo = tmp / "photo.jpg"
        Image.open(GOLDEN / "images" / "astronaut.png").convert("RGB").resize((W, H), Image.BICUBIC).save(photo, quality=92)
        print(f"{args.photos} parsed 1920x1080 photos, {args.variants} distinct results per layout "
              f"(maps from the golden outputs)\n")
        for kind, title in (("full", "golden, full frame (worst case)"), ("persons", "golden persons")):
            t = time.perf_counter()
            variants = make_variants(kind, args.variants)
            made = time.perf_counter() - t
            n_inst = statistics.mean(len(r.persons) + len(r.parts) for r in variants)
            folder = tmp / kind
            folder.mkdir()
            ws_path = folder / "review.m2fpws"
            built = build_workspace(ws_path, args.photos, variants)
            blobs = [Workspace.encode(r).data for r in variants[:5]]
            t = time.perf_counter()
            for blob in blobs:
                decode_result(blob)
            decode_ms = 1000 * (time.perf_counter() - t) / len(blobs)
            base = statistics.mean(png_baseline(r) for r in variants[:10]) / 1024
            reopened = reopen(ws_path, photo)
            print(f"[{title}] maps made in {made:.1f} s; {n_inst:.1f} persons + parts per photo")
            print(f"  database size per photo: {built['bytes_per_photo'] / 1024:.1f} KB (target < 100 KB); "
                  f"stored result {built['blob_kb']:.1f} KB; baseline PNG form {base:.1f} KB")
            print(f"  encode {built['encode_ms']:.0f} ms, store {built['store_ms']:.1f} ms, decode {decode_ms:.0f} ms "
                  f"per result (worker thread)")
            print(f"  reopen (fresh process): usable list {reopened['list_s']:.3f} s (target < 2 s); first overlay "
                  f"(label map + photo decoded, blended) {reopened['first_overlay_s']:.3f} s; first whole result "
                  f"decoded {reopened['first_result_s']:.3f} s (target < 0.3 s), next ones "
                  f"{reopened['result_median_s']:.3f} s median; peak RSS {reopened['rss_mb']:.0f} MB")
            if kind == "persons":
                encoded = Workspace.encode(variants[0])
                print("  saving a verdict, idle:            " + stats_ms(verdict_times(ws_path, args.verdicts, False, encoded)))
                print("  saving a verdict, worker storing:  " + stats_ms(verdict_times(ws_path, args.verdicts, True, encoded)))
            print()
        list_path = tmp / "list" / "many.m2fpws"
        list_path.parent.mkdir()
        built_s = build_list(list_path, args.list)
        reopened = reopen(list_path, None)
        print(f"[{args.list:,} images] built in {built_s:.1f} s; reopen: usable list {reopened['list_s']:.3f} s "
              f"(target < 2 s), {reopened['rows']:,} rows, peak RSS {reopened['rss_mb']:.0f} MB")
        print(f"\npeak RSS of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
