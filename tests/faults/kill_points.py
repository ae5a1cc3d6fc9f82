"""Kill a command with SIGKILL at a random moment of its work, for the crash-and-resume tests.

A moment is "when ``ready()`` first holds, plus a random delay": ``ready`` watches the run's own
output (manifest lines, a checkpoint file), so kills land inside the work on slow and fast machines
alike, and the delay spreads them over writes, renames and log appends. The random generator is
seeded (``HELPERS_FAULT_SEED``, default 0) and each test says its seed when it fails.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("HELPERS_FAULT_SEED", "0"))


def rng(name: str) -> random.Random:
    """The seeded random source of one test."""
    return random.Random(f"{SEED}:{name}")


def helpers_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "helpers", *args]


def kill_when(command: list[str], ready: Callable[[], bool], delay_s: float, timeout_s: float = 180) -> bool:
    """Start ``command``; once ``ready()`` holds, wait ``delay_s`` and SIGKILL it.

    Returns True when the kill landed, False when the command ended first (it must then have succeeded).
    """
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and not ready():
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{command} did not reach its kill point in {timeout_s:.0f} s")
        time.sleep(0.005)
    end = time.monotonic() + delay_s
    while process.poll() is None and time.monotonic() < end:
        time.sleep(0.002)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    if process.returncode == -signal.SIGKILL:
        return True
    assert process.returncode == 0, f"{command} failed before the kill: {stderr.decode()[-2000:]}"
    return False


def line_count(path: Path) -> int:
    """Complete lines in a text file (0 when it does not exist)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def finish(command: list[str]) -> subprocess.CompletedProcess:
    """Run ``command`` to the end; fail the test with its stderr if it does not succeed."""
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done
