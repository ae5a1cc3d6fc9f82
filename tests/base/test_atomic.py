"""Atomic writes: the final name appears only with complete content, nothing is left on failure."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from helpers.base.atomic import atomic_path, link_or_copy, save_safetensors_atomic, save_torch_atomic, write_text_atomic


def test_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "data.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt"
        tmp.write_text("partial")
        assert not target.exists()
    assert target.read_text() == "partial"
    assert list(target.parent.iterdir()) == [target]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_text_atomic(tmp_path / "data.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new but broken")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = write_text_atomic(tmp_path / "x.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_link_or_copy_shares_the_bytes_and_leaves_no_temporary(tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"payload")
    dst = link_or_copy(src, tmp_path / "sub" / "b.bin")
    assert dst.read_bytes() == b"payload" and os.path.samefile(src, dst)  # same file system: a hard link
    assert sorted(p.name for p in dst.parent.iterdir()) == ["b.bin"]


def test_safetensors_bytes_do_not_depend_on_the_process(tmp_path):
    """safetensors writes its metadata in hash order, which changes between processes; ours sorts it."""
    script = ("import sys, torch; from helpers.base.atomic import save_safetensors_atomic; "
              "save_safetensors_atomic(sys.argv[1], {'w': torch.arange(6.0).reshape(2, 3), 'b': torch.ones(2)}, "
              "{'format': 'x', 'version': '1', 'dtype': 'float32', 'base': '{}', 'é': 'ü'})")
    paths = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for path in paths:
        subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert len({path.read_bytes() for path in paths}) == 1
    with safe_open(str(paths[0]), "pt") as f:
        assert f.metadata() == {"format": "x", "version": "1", "dtype": "float32", "base": "{}", "é": "ü"}
        assert torch.equal(f.get_tensor("w"), torch.arange(6.0).reshape(2, 3))


def test_a_full_disk_under_torch_save_is_named_as_such(tmp_path, monkeypatch):
    """torch's zip writer turns a failed write into ``RuntimeError: unexpected pos``; the error is ENOSPC again."""
    import builtins

    real_open = builtins.open

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *args):
            self.handle.close()

    monkeypatch.setattr(builtins, "open", lambda *a, **k: Full(real_open(*a, **k)) if "w" in str(a[1:2]) else
                        real_open(*a, **k))
    target = tmp_path / "state.pt"
    with pytest.raises(OSError) as info:
        save_torch_atomic(target, {"w": torch.zeros(1000)})
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []  # no temporary left, nothing under the name
