"""The exception types for bad input, and the builders of their messages.

Every command catches :class:`FairensError`, prints its message on one line and exits
with 2 for a :class:`UsageError` (a setting or flag that is not allowed) and 1 for any
other (a file, a folder or data that cannot be used; a failed check); anything else is a
bug. Messages are built here so that they read alike and tests can assert their exact text.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from pathlib import Path

MAX_MESSAGE = 800  # characters of one error line


class FairensError(Exception):
    """Bad input (a setting, a file, a folder) or a failed check, explained in one line."""

    def __init__(self, message: str) -> None:
        # messages quote other libraries' errors, which may span lines and run long (a
        # state dict's every mismatched tensor): one line, of a bounded length
        text = " ".join(str(message).split())
        if len(text) > MAX_MESSAGE:
            cut = MAX_MESSAGE - 40
            text = f"{text[:cut]} ... ({len(text) - cut:,} more characters)"
        super().__init__(text)


class UsageError(FairensError):
    """A setting or command-line flag that is not allowed (exit status 2)."""


def is_int(value: object) -> bool:
    """An integer (Python's or NumPy's), and not a bool (which Python counts as one)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def bad_setting(key: str, value: object, allowed: str) -> UsageError:
    """``key=value`` is not allowed; ``allowed`` says what is."""
    return UsageError(f"{key}={value!r} is not allowed: {allowed}")


def unknown_name(key: str, value: object, known: Iterable[str]) -> UsageError:
    """``value`` is not one of the ``known`` names for setting ``key``."""
    return bad_setting(key, value, "known names are " + ", ".join(sorted(known)))


def name_list(names: Iterable[object], limit: int = 5) -> str:
    """``a, b, c`` or, past ``limit`` names, the first ``limit`` and a count: messages stay
    one short line whatever a file announces."""
    names = [str(name) for name in names]
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit:,} more"


def bad_file(path: str | Path, problem: str) -> FairensError:
    """A file or folder at ``path`` cannot be used because of ``problem``."""
    return FairensError(f"{path}: {problem}")


def exit_status(error: FairensError) -> int:
    """2 for a usage error, 1 for any other."""
    return 2 if isinstance(error, UsageError) else 1


def check_flag(key: str, value: object) -> None:
    """Refuse a setting that must be true or false and is not a boolean."""
    if not isinstance(value, bool):
        raise bad_setting(key, value, "true or false")
