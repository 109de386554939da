"""View ▸ Language: follow the system, English or Simplified Chinese; remembered in the settings.

The choice takes effect at the next start (every label, menu and message is made in one
language when the window is built; rebuilding a window mid-review would risk the work in
it), and the menu says so right away, in the language chosen: someone who picks 简体中文
because they do not read English must be able to read the answer.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable

from desktop.app.settings import Settings
from desktop.i18n import (
    LANGUAGE_NAMES,
    N_,
    SUPPORTED,
    _,
    current_language,
    gettext_in,
    resolve_language,
    system_language,
)

#: Said in the language chosen, not the one the app speaks now.
RESTART_MESSAGE = N_("Restart the app to see it in {language}.")


class LanguageMenu:
    """The Language submenu of ``parent`` (a ``tk.Menu``).

    ``save()`` writes the settings; ``notify(text)`` tells the user (the status bar).
    """

    def __init__(self, parent: tk.Menu, settings: Settings, *, save: Callable[[], object],
                 notify: Callable[[str], object]):
        self.settings = settings
        self._save = save
        self._notify = notify
        self.var = tk.StringVar(parent, value=settings.language)
        self.menu = tk.Menu(parent)
        system = LANGUAGE_NAMES[system_language()]
        self.menu.add_radiobutton(label=_("System language ({language})").format(language=system), value="",
                                  variable=self.var, command=self._changed)
        self.menu.add_separator()
        for language in SUPPORTED:  # each named in itself: readable by whoever needs it
            self.menu.add_radiobutton(label=LANGUAGE_NAMES[language], value=language, variable=self.var,
                                      command=self._changed)
        parent.add_cascade(label=_("Language"), menu=self.menu)

    def _changed(self) -> None:
        self.choose(self.var.get())

    def choose(self, choice: str) -> str:
        """Remember ``choice`` (``""``, ``en`` or ``zh_CN``) and return what the user is told."""
        self.var.set(choice)
        if choice == self.settings.language:
            return ""
        self.settings.language = choice
        self._save()
        effective = resolve_language(choice)
        if effective == current_language():
            message = ""
        else:
            message = gettext_in(effective, RESTART_MESSAGE).format(
                language=LANGUAGE_NAMES[effective])
        if message:
            self._notify(message)
        return message

