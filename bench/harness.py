"""Torch-free helpers the benchmarks share: peak resident memory, a private X display.

Kept apart from :mod:`bench.common` (which imports torch to build model folders) so the GUI
and workspace benchmarks, which never load a network, measure their memory without torch's.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["peak_rss_mb", "start_xvfb"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process. VmHWM where there is one: a child's ru_maxrss
    starts at its parent's peak on Linux (kept across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_xvfb(timeout: float = 20.0) -> tuple[subprocess.Popen, str]:
    """A private Xvfb (1600x1000, 96 dpi) on a free display: (its process, ``":N"``); exits
    the benchmark with a sentence when Xvfb is missing or does not start."""
    exe = shutil.which("Xvfb")
    if exe is None:
        sys.exit("Xvfb is not installed (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp",
                             "-dpi", "96"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not number.endswith(b"\n"):
        chunk = os.read(read_fd, 16)
        if not chunk:
            break
        number += chunk
    os.close(read_fd)
    if not number.strip():
        proc.kill()
        sys.exit("Xvfb did not start")
    return proc, f":{number.decode().strip()}"
