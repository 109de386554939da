"""The real app in a process of its own, for the tests that kill it (test_gui_review_process.py).

Runs :func:`desktop.app.run` exactly as a double-click does (it reopens the last workspace),
with two differences a test needs: the parser is the tiny model on PyTorch with one thread
(no OpenVINO conversion in a test), and a test hook: every 50 ms the window reads
``$M2FP_TEST_COMMANDS`` (a file of JSON lines the test appends to) and does what a user would,
through the same widgets (typing into the note field, so its autosave runs as for typing).
It prints ``ready WINDOW`` (its X window id) once the last workspace is open, and ``done N {verdicts}`` after each command
(``report`` does nothing else: the test waits with it for keys to take effect).
With ``$M2FP_TEST_PARSE_REPEATS`` set, every parse is that many parses long and prints
``parsing`` as it starts (test_quit_mid_parse.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, as for `python -m`


def main() -> int:
    import desktop.app.main_window as mw

    def tiny(model_dir, progress):
        from desktop.engine import HumanParser

        parser = HumanParser.load(model_dir, runtime="torch", num_threads=1, progress=progress)
        repeats = int(os.environ.get("M2FP_TEST_PARSE_REPEATS", "0") or 0)
        return _Announced(parser, repeats) if repeats else parser

    mw.default_parser_factory = tiny
    original = mw.MainWindow.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.root.after(300, lambda: _hook(self))

    mw.MainWindow.__init__ = init
    from desktop.app import run

    return run([])


class _Announced:
    """The parser made slow by real work (each photo parsed ``repeats`` times, in PyTorch),
    printing ``parsing`` when a parse starts: the quitting test quits mid-parse."""

    def __init__(self, inner, repeats: int):
        self.inner, self.repeats = inner, repeats

    @property
    def info(self):
        return self.inner.info

    def parse(self, rgb, *, notes=None):
        print("parsing", flush=True)
        for _ in range(self.repeats):
            result = self.inner.parse(rgb, notes=notes)
        return result


def _hook(win) -> None:
    path = os.environ["M2FP_TEST_COMMANDS"]
    state = {"done": 0, "ready": False}

    def tick() -> None:
        if not state["ready"] and win.review.workspace is not None and win.canvas_view.rgb is not None:
            state["ready"] = True
            print(f"ready {int(win.root.wm_frame(), 16)}", flush=True)  # the X window to send keys to
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError:
            lines = []
        for line in lines[state["done"]:]:
            cmd = json.loads(line)
            if cmd["do"] == "type_note":
                note = win.review.panel.note
                note.focus_set()
                note.insert("end", cmd["text"])
            elif cmd["do"] == "select":
                key = next(e.key for e in win.images if e.display_name == cmd["name"])
                win.select(key)
            elif cmd["do"] == "focus_window":
                win.root.focus_set()
            state["done"] += 1
            verdicts = {e.display_name: e.verdict for e in win.images}
            print(f"done {state['done']} {json.dumps(verdicts)}", flush=True)
        win.root.after(50, tick)

    tick()


if __name__ == "__main__":
    sys.exit(main())
