"""M2FP Human Parsing desktop application.

The package is split in three layers that only ever depend downwards:
``desktop.engine`` (model, pre/post-processing, results; never imports tkinter),
``desktop.imageio`` / ``desktop.export`` / ``desktop.cli`` (files in, files out),
and ``desktop.app`` (the Tkinter window, a thin layer over the engine).
"""

__version__ = "0.1.0"
APP_NAME = "M2FP Human Parsing"
APP_ID = "m2fp-desktop"
