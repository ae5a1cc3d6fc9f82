"""One writer per folder: a second process is refused with the holder's name; a dead holder leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from helpers.base.errors import UserError
from helpers.base.folder_lock import FolderBusyError, folder_lock

HOLD = "from helpers.base.folder_lock import folder_lock\nimport sys, time\nwith folder_lock(sys.argv[1], 'generate'):\n" \
       "    print('held', flush=True)\n    time.sleep(60)\n"


def _holder(folder) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_until_the_first_ends(tmp_path):
    process = _holder(tmp_path / "set")
    try:
        with pytest.raises(FolderBusyError) as error, folder_lock(tmp_path / "set", "merge"):
            pass
        message = str(error.value)
        assert f"pid {process.pid}" in message and "generate" in message and " — " in message
        assert isinstance(error.value, UserError)
    finally:
        process.send_signal(signal.SIGKILL)  # a crash: the operating system releases the lock
        process.wait()
    with folder_lock(tmp_path / "set", "merge") as path:
        assert path.name == ".lock" and "merge" in path.read_text()


def test_the_lock_is_reentrant_across_sequential_runs(tmp_path):
    for job in ("first", "second"):
        with folder_lock(tmp_path, job):
            pass
    assert sorted(os.listdir(tmp_path)) == [".lock"]
    started = time.perf_counter()
    with folder_lock(tmp_path, "third"):
        assert time.perf_counter() - started < 1
