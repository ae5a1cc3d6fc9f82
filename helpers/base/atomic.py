"""Crash-safe file writing: a file appears under its final name only once it is complete.

Every writer in the toolkit goes through :func:`atomic_path`, so an interrupted run (Colab
disconnect, SIGKILL, full disk) never leaves a half-written file under a name that readers trust.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

#: The names :func:`atomic_path` gives its temporary files: ``.<stem>.<12 hex digits>.tmp<suffix>``.
TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.[A-Za-z0-9]+)?$")


def remove_temporary_files(folders: Iterable[str | os.PathLike[str]]) -> int:
    """Delete the temporary files of :func:`atomic_path` that a killed process left in ``folders`` (not below
    them); returns how many. Call it only while no other process writes there (e.g. holding the folder's lock)."""
    removed = 0
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            if entry.is_file() and TEMPORARY_NAME.match(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    The temporary file lives in the same directory (so the final ``os.replace`` is atomic on
    POSIX and Windows) and keeps the final suffix (so libraries that pick a format from the
    extension still work). On an exception the temporary file is removed and ``path`` is left
    as it was. Parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name that is not created here: the writer creates it, so it gets the usual
    # permissions (mkstemp would make it 0600).
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(error, OSError) and error.filename is None and error.errno is not None:
            raise type(error)(error.errno, error.strerror or os.strerror(error.errno), os.fspath(path)) from error
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_png_atomic(path: str | os.PathLike[str], array: Any) -> Path:
    """Write an (H, W) or (H, W, 3) uint8 / (H, W) uint16 array as a PNG atomically; returns the path."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return Path(path)


def write_gif_atomic(path: str | os.PathLike[str], frames: Sequence[Any], milliseconds: int = 80) -> Path:
    """Write (H, W, 3) uint8 frames as a looping animated GIF atomically (PIL, no video library); returns the path."""
    from PIL import Image

    if not len(frames):
        raise ValueError("a GIF needs at least one frame")
    images = [Image.fromarray(frame) for frame in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=milliseconds, loop=0)
    return Path(path)


def write_npy_atomic(path: str | os.PathLike[str], array: Any) -> Path:
    """Write a numpy array as ``.npy`` atomically; returns the path."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)
    return Path(path)


class _WriteErrors:
    """A binary file that keeps the ``OSError`` of a failed ``write`` (torch's zip writer turns it into a bare
    ``RuntimeError: unexpected pos``, which says nothing of the full disk)."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.error = handle, None

    def write(self, data: Any) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


def save_torch_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """``torch.save(obj)`` to ``path`` atomically; a full disk comes out as ``OSError(ENOSPC, path)``."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        recorder = _WriteErrors(handle)
        try:
            torch.save(obj, recorder)
        except RuntimeError:
            if recorder.error is None:
                raise
            raise recorder.error from None
    return Path(path)


def save_safetensors_atomic(path: str | os.PathLike[str], tensors: dict[str, Any],
                            metadata: dict[str, str] | None = None) -> Path:
    """Write ``{name: tensor}`` and string ``metadata`` as a safetensors file, atomically; the same tensors and
    metadata always give the same bytes (safetensors itself writes the metadata in hash order, which changes from
    one process to the next: here its keys are sorted)."""
    import json
    import struct

    from safetensors.torch import save

    data = save(tensors, metadata=metadata)
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    extra = header.pop("__metadata__", None)
    ordered = ({"__metadata__": dict(sorted(extra.items()))} if extra else {}) | header
    text = json.dumps(ordered, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    return write_bytes_atomic(path, struct.pack("<Q", len(text)) + text + data[8 + length:])


def link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Put the file ``src`` at ``dst`` atomically: a hard link when both are on one file system, else a copy."""
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)  # same file system: no copy
        except OSError:
            shutil.copyfile(src, tmp)
    return Path(dst)
