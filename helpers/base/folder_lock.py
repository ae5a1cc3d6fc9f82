"""One writer per folder: a run that writes a dataset or a run folder holds its lock, a second one is refused.

:func:`folder_lock` takes an exclusive ``flock`` on ``<folder>/.lock`` for as long as the ``with`` block runs and
writes the holder (job, pid, host, start time) into it. A second writer gets :class:`FolderBusyError`, naming the
holder. The operating system drops the lock when the process ends, however it ends (a crash or ``kill -9`` never
leaves a stale lock behind); the file itself stays and is harmless. Where ``fcntl`` does not exist (Windows) the lock
is not taken.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from helpers.base.errors import UserError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "FolderBusyError", "folder_lock"]

#: Name of the lock file inside a locked folder.
LOCK_FILE = ".lock"


class FolderBusyError(UserError, RuntimeError):
    """Another process is writing the folder."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"{info['job']} (pid {info['pid']} on {info['host']}, since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], job: str) -> Iterator[Path]:
    """Hold ``folder``'s write lock (the folder is created) while the block runs; yields the lock file's path.

    Raises:
        FolderBusyError: another process holds it (the message names that process and what to do).
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    if fcntl is None:
        yield path
        return
    handle = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(f"{root} is being written by {_holder(path)}",
                                  "wait for that run to finish, or write to another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"job": job, "pid": os.getpid(), "host": socket.gethostname(),
                                 "started": datetime.datetime.now().isoformat(timespec="seconds")}) + "\n")
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock
