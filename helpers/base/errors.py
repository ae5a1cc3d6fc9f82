"""Errors a user can act on: one line, ``<what> — <what to do>``, with no traceback on the command line.

Raise :class:`UserError` (or a subclass) for anything the user can fix: a wrong flag value, a missing or unreadable
file, a folder made with other settings, a busy folder. ``python -m helpers`` prints ``error: <message>`` for it and
exits with code 2 (the traceback only with ``--debug`` or ``HELPERS_DEBUG=1``). Subclasses may also derive from the
built-in exception they stand for (``ValueError``, ``FileNotFoundError``…) so that existing ``except`` clauses hold.
"""

from __future__ import annotations

__all__ = ["UserError", "user_message"]


class UserError(Exception):
    """An error the user can fix. ``what`` says what is wrong, ``todo`` what to do; ``str()`` joins them."""

    def __init__(self, what: str, todo: str = "") -> None:
        self.what, self.todo = what, todo
        super().__init__(f"{what} — {todo}" if todo else what)


def user_message(what: str, todo: str) -> str:
    """``"<what> — <what to do>"``: the one-line form of every user-facing error."""
    return f"{what} — {todo}"
