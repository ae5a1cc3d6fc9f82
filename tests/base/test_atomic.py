"""Atomic writes: the final name appears only with complete content, nothing is left on failure."""

from __future__ import annotations

import os
import stat

import pytest

from helpers.base.atomic import atomic_path, link_or_copy, write_text_atomic


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
