"""Giving memory back: mapped file pages dropped after OpenVINO has read them."""

from __future__ import annotations

import mmap
import os
import sys

import numpy as np
import pytest

from desktop.engine.memory import drop_file_pages, release_unused_memory

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and madvise are Linux's")


def resident_kib(path) -> int:
    """This process's resident memory in the mappings of ``path``, from /proc/self/smaps."""
    target, total, current = os.path.realpath(path), 0, None
    with open("/proc/self/smaps", encoding="utf-8") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header line
                current = fields[5] if len(fields) > 5 else None
            elif fields[0] == "Rss:" and current == target:
                total += int(fields[1])
    return total


@linux_only
def test_dropped_pages_leave_memory_and_read_back_unchanged(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, 8 << 20, dtype=np.uint8)
    path = tmp_path / "weights.bin"
    path.write_bytes(data.tobytes())
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = np.frombuffer(mapped, dtype=np.uint8)
        assert int(view.sum(dtype=np.int64)) == int(data.sum(dtype=np.int64))  # every page touched
        assert resident_kib(path) >= 7 * 1024
        assert drop_file_pages(path) >= 8 << 20
        assert resident_kib(path) < 1024
        np.testing.assert_array_equal(view, data)  # read back from the file, unchanged
        del view


@linux_only
def test_only_read_only_shared_maps_of_that_file_are_touched(tmp_path):
    path = tmp_path / "scratch.bin"
    path.write_bytes(b"\0" * (1 << 20))
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as private:
        private[:5] = b"hello"  # a private, written copy: dropping it would lose the write
        assert drop_file_pages(path) == 0
        assert private[:5] == b"hello"
    assert drop_file_pages(tmp_path / "not-mapped.bin") == 0


def test_release_unused_memory_is_safe_to_call():
    release_unused_memory()
