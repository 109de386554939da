"""The window's export with the interchange formats: checkboxes, one layout, a folder beside the photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gui_helpers import make_image_folder, screenshot, wait_for, xvfb_display  # noqa: F401 - fixture
from PIL import Image
from test_gui_window import gui_env, make_window, open_and_wait  # noqa: F401 - fixtures

from desktop.app.export_dialog import INTERCHANGE_TITLES
from desktop.app.settings import Settings
from desktop.formats import INTERCHANGE_FORMATS, read_labelme

pytestmark = pytest.mark.gui


def test_export_this_image_in_interchange_formats_lands_where_export_all_would(make_window, tmp_path,  # noqa: F811
                                                                              golden_images, tiny_model_dir):
    photos = make_image_folder(tmp_path / "photos", golden_images, corrupt=False)
    sub = photos / "trip"
    sub.mkdir()
    moved = sub / golden_images["astronaut_crop"].name
    (photos / moved.name).rename(moved)
    win = make_window(settings=Settings(model_dir=str(tiny_model_dir), recursive=True))
    open_and_wait(win, [photos])
    assert list(INTERCHANGE_TITLES) == list(INTERCHANGE_FORMATS)
    key = next(e.key for e in win.images if e.path == moved)
    win.select(key)
    wait_for(win.root, lambda: win.current_result is not None, 30, "the image to show")
    win.open_export_dialog("current")
    dialog = win.export_dialog
    assert dialog.folder.get() == str(tmp_path / "photos_parsing")  # beside the photos, not inside
    for fmt in ("json", "cihp", "coco", "labelme"):
        dialog.format_vars[fmt].set(True)
    screenshot(win.root, "gui_export_formats", dialog)
    dialog.start()
    wait_for(win.root, lambda: win.export_job is None, 60, "the export")
    out = tmp_path / "photos_parsing"
    assert "Exported 1 of 1" in dialog.progress_text.cget("text"), dialog.progress_text.cget("text")
    stem = moved.stem
    # The same subfolder as "export all" uses: trip/, for the per-image files and every format.
    assert (out / "trip" / f"{stem}.json").is_file()
    result = win.store.get(key)
    cat = np.asarray(Image.open(out / "cihp" / "Category_ids" / "trip" / f"{stem}.png"))
    np.testing.assert_array_equal(cat, result.labels)
    coco = json.loads((out / "coco" / "annotations" / "instances.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == [f"trip/{moved.name}"]
    back = read_labelme(out / "labelme" / "trip" / f"{stem}.json", result.class_names)
    np.testing.assert_array_equal(back.labels, result.labels)
    dialog.close()
    assert set(win.settings.export_formats) >= {"cihp", "coco", "labelme"}  # remembered

    # Reopening the photos with subfolders does not pick up the export (it is beside them anyway,
    # and marked as ours).
    from desktop.imageio import list_images

    assert all(out not in e.path.parents for e in list_images([tmp_path], recursive=True))
