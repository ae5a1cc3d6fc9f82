"""Weight files every loader must refuse cleanly: malicious pickles (which would create a marker file if anything
unpickled them), an empty file, text, a web page (a download that got a sign-in page) and a truncated archive.

Shared by the loader tests (``tests/base/test_weights_file.py``) and the command-line fault suite
(``tests/faults/test_bad_files.py``).
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import torch

#: The kinds of bad file, in the order the tests report them.
BAD_FILES = ("malicious torch.save", "malicious pickle", "empty", "text", "web page", "truncated zip")


class Call:
    """Pickles as ``func(*args)`` (its ``__reduce__``): loading it with pickle would call ``func``."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def torch_bytes(data: Any, **kwargs: Any) -> bytes:
    """What ``torch.save(data, ..., **kwargs)`` writes."""
    buffer = io.BytesIO()
    torch.save(data, buffer, **kwargs)
    return buffer.getvalue()


def bad_weights_file(kind: str, folder: Path, marker: Path, suffix: str = ".pt") -> Path:
    """A file ``folder/<kind><suffix>`` of one of :data:`BAD_FILES`; the malicious ones run ``touch marker`` when
    unpickled."""
    path = folder / f"{kind.replace(' ', '_')}{suffix}"
    payload = Call(os.system, f"touch {marker}")
    if kind == "malicious torch.save":
        path.write_bytes(torch_bytes({"weight": payload}))
    elif kind == "malicious pickle":
        path.write_bytes(pickle.dumps(payload))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("these are not weights\n")
    elif kind == "web page":
        path.write_text("<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    elif kind == "truncated zip":
        data = torch_bytes({"weight": torch.arange(4096.0)})
        path.write_bytes(data[: len(data) // 2])
    else:
        raise AssertionError(kind)
    return path
