"""One writer per folder: a run that writes a dataset or a run folder holds its lock, a second one is refused.

:func:`folder_lock` takes an exclusive ``flock`` on ``<folder>/.lock`` for as long as the ``with`` block runs and
writes the holder (job, pid, host, start time) into it (``shared=True``: a lock the shards of one run hold
together, which still keeps out an exclusive holder). A second writer gets :class:`FolderBusyError`, naming the
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
import sys
from collections.abc import Iterator
from pathlib import Path

from helpers.base.errors import UserError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "FolderBusyError", "exclusive_file_lock", "folder_lock"]

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
def folder_lock(folder: str | os.PathLike[str], job: str, *, shared: bool = False) -> Iterator[Path]:
    """Hold ``folder``'s write lock (the folder is created) while the block runs; yields the lock file's path.

    ``shared``: hold it together with other shared holders (the shards of one sharded run), which still keeps out
    an exclusive holder (an unsharded run, a merge) and is kept out by one.

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
            fcntl.flock(handle.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(f"{root} is being written by {_holder(path)}",
                                  "wait for that run to finish, or write to another folder") from None
        handle.seek(0)
        handle.truncate()  # shared holders overwrite each other's record: any one of them names the run
        handle.write(json.dumps({"job": job, "pid": os.getpid(), "host": socket.gethostname(),
                                 "started": datetime.datetime.now().isoformat(timespec="seconds")}) + "\n")
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock


@contextlib.contextmanager
def exclusive_file_lock(path: str | os.PathLike[str], waiting: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file ``path`` while the block runs, waiting for another holder to let go
    (``waiting`` is printed once to stderr meanwhile); the file exists only while it is held. For work that two
    processes may start at once and only one should do, such as downloading one file."""
    if fcntl is None:
        yield
        return
    told = False
    while True:
        handle = open(path, "a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not told:
                print(f"{waiting}: waiting for it to finish", file=sys.stderr, flush=True)
                told = True
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:  # the holder before us removed the file: lock the one now under the name instead
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # before letting go, so that a waiter sees it is stale
        handle.close()
