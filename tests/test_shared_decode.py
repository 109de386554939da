"""The window's photo loader and parse worker decode a photo once between them."""

from __future__ import annotations

import threading
import time

import pytest

from desktop.app.shared_decode import SharedDecoder


def test_two_threads_share_one_decode(tmp_path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    calls = []

    def slow_load(path):
        calls.append(path)
        time.sleep(0.2)
        return object()

    shared = SharedDecoder(slow_load)
    results = []
    threads = [threading.Thread(target=lambda: results.append(shared(photo))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results[0] is results[1]
    assert shared(photo) is results[0]  # still shared while it is the latest photo
    other = tmp_path / "b.jpg"
    other.write_bytes(b"y")
    shared(other)
    assert shared(photo) is not results[0] and len(calls) == 3  # only the latest one is kept
    photo.write_bytes(b"changed")
    assert shared(photo) is not results[0]


def test_errors_reach_every_caller(tmp_path):
    photo = tmp_path / "bad.jpg"
    photo.write_bytes(b"x")

    def failing(path):
        raise ValueError("cannot read it")

    shared = SharedDecoder(failing)
    with pytest.raises(ValueError, match="cannot read"):
        shared(photo)
    with pytest.raises(FileNotFoundError):
        SharedDecoder(lambda p: open(p, "rb"))(tmp_path / "missing.jpg")
