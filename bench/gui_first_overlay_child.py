"""One start of the real window for bench_first_overlay.py: when does the first overlay show?

``python bench/gui_first_overlay_child.py MODEL PHOTO WHEN START_WALL_TIME`` with the tree to
measure first on PYTHONPATH and DISPLAY set. The window is the app's (``MainWindow``, the
default parser factory: every core, the worker at lower priority). ``WHEN`` is ``at-once``
(the photo is opened as soon as the window shows, while the model still loads: a user who
starts the app with a photo in hand) or ``when-ready`` (opened once the model is ready and the
worker's warm-up has had its chance: a user who picks the photo a little later). Prints one JSON
line: seconds from process start to the window, to the model ready, to the overlay drawn, and
from opening the photo to the overlay; and whether torch was imported. Imports no torch itself.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    model, photo, when, start_wall = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    def since_start() -> float:
        return time.time() - start_wall

    from desktop.app import create_root
    from desktop.app.main_window import MainWindow
    from desktop.app.settings import Settings

    root, dnd = create_root()
    win = MainWindow(root, Settings(model_dir=model, geometry="1280x800+0+0"), dnd=dnd)
    root.deiconify()
    state: dict[str, float] = {}
    view = win.canvas_view
    real_show, real_set = view.show, view.set_result

    def drawn(result) -> None:
        if result is not None and "overlay" not in state:
            root.update_idletasks()  # the canvas items are placed: what the user sees next frame
            state["overlay"] = since_start()
            root.after(200, root.quit)

    def show(rgb, result=None, **kwargs):
        real_show(rgb, result, **kwargs)
        drawn(result)

    def set_result(result):
        real_set(result)
        drawn(result)

    view.show, view.set_result = show, set_result

    def open_photo() -> None:
        state["open"] = since_start()
        win.open_paths([photo])

    def control() -> None:
        if "window" not in state:
            state["window"] = since_start()
            if when == "at-once":
                open_photo()
        if win.model_state == "ready" and "ready" not in state:
            state["ready"] = since_start()
            if when == "when-ready":  # let the worker's warm-up (compile for the last size) run first
                root.after(3000, open_photo)
        if win.model_state == "missing":
            state["error"] = 1.0
            root.quit()
            return
        root.after(20, control)

    root.after_idle(control)
    root.after(600_000, root.quit)
    root.mainloop()
    info = dict(win.model_info)
    worker = win.worker
    win.close(force=True)
    if worker is not None:
        worker.join(120)
    out = {k: round(v, 3) for k, v in state.items()}
    if "overlay" in state and "open" in state:
        out["open_to_overlay"] = round(state["overlay"] - state["open"], 3)
    out.update(torch="torch" in sys.modules, runtime=info.get("runtime", "?"), load_seconds=info.get("load_seconds"))
    print(json.dumps(out))
    return 0 if "overlay" in state else 1


if __name__ == "__main__":
    sys.exit(main())
