"""The one exception type for bad input, and the builders of its messages.

Every command catches :class:`FairensError`, prints its message on one line and exits
non-zero; anything else is a bug. Messages are built here so that they read alike and
tests can assert their exact text.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class FairensError(Exception):
    """Bad input (a setting, a file, a folder) or a failed check, explained in one line."""

    def __init__(self, message: str) -> None:
        # messages quote other libraries' errors, which may span lines
        super().__init__(" ".join(str(message).split()))


def bad_setting(key: str, value: object, allowed: str) -> FairensError:
    """``key=value`` is not allowed; ``allowed`` says what is."""
    return FairensError(f"{key}={value!r} is not allowed: {allowed}")


def unknown_name(key: str, value: object, known: Iterable[str]) -> FairensError:
    """``value`` is not one of the ``known`` names for setting ``key``."""
    return bad_setting(key, value, "known names are " + ", ".join(sorted(known)))


def bad_file(path: str | Path, problem: str) -> FairensError:
    """A file or folder at ``path`` cannot be used because of ``problem``."""
    return FairensError(f"{path}: {problem}")
