"""The review's own logic, with no tkinter: maps a reviewer edits, the workspace store, edits."""
