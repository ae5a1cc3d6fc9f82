"""Errors a user can act on: one line, ``<what> — <what to do>``, with no traceback on the command line.

Raise :class:`UserError` (or a subclass) for anything the user can fix: a wrong flag value, a missing or unreadable
file, a folder made with other settings, a busy folder. ``python -m helpers`` prints ``error: <message>`` for it and
exits with code 2 (the traceback only with ``--debug`` or ``HELPERS_DEBUG=1``). Subclasses may also derive from the
built-in exception they stand for (``ValueError``, ``FileNotFoundError``…) so that existing ``except`` clauses hold.
"""

from __future__ import annotations

import errno

__all__ = ["DISK_FULL_ERRNOS", "READ_ONLY_ERRNOS", "UserError", "is_disk_error", "user_message"]

#: ``OSError.errno`` values that mean "the disk, not the data": no space or quota left; a read-only file system.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
READ_ONLY_ERRNOS = frozenset({errno.EROFS})


class UserError(Exception):
    """An error the user can fix. ``what`` says what is wrong, ``todo`` what to do; ``str()`` joins them."""

    def __init__(self, what: str, todo: str = "") -> None:
        self.what, self.todo = what, todo
        super().__init__(f"{what} — {todo}" if todo else what)


def user_message(what: str, todo: str) -> str:
    """``"<what> — <what to do>"``: the one-line form of every user-facing error."""
    return f"{what} — {todo}"


def is_disk_error(error: BaseException) -> bool:
    """Whether ``error`` is a full disk, an exceeded quota or a read-only file system (no fault of the data)."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS | READ_ONLY_ERRNOS
