"""``merge`` refuses what would make a wrong dataset silently (``helpers.dataset_folder.merge``): a folder that does not
exist, missing shards (unless ``--allow-partial``, which warns), a shard that is still writing, a second writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import cli
from helpers.base.folder_lock import FolderBusyError, folder_lock
from helpers.dataset_folder.layout import FORMAT_NAME, MANIFEST, META, DatasetFolderError, sample_id
from helpers.dataset_folder.manifest import (
    ManifestWriter,
    manifest_paths,
    read_samples,
    shard_manifest_name,
)
from helpers.dataset_folder.merge import MERGED_SHARDS, MissingShardsError, merge_folders
from helpers.generation.generate_dataset import write_lock

META_JSON = {"format": FORMAT_NAME, "generator": {"checkpoint": "tiny-random"}, "settings": {"truncation_psi": 0.7}}


def sharded_folder(root: Path, shards: dict[int, list[int]], count: int) -> Path:
    """A dataset folder as shards of ``count`` leave it: meta.json, and for each shard index its seeds' files and
    manifest."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / META).exists():
        (root / META).write_text(json.dumps(META_JSON))
    for index, seeds in shards.items():
        with ManifestWriter(root / shard_manifest_name(index, count), fsync=False) as lines:
            for seed in seeds:
                sid = sample_id(seed)
                (root / "images").mkdir(exist_ok=True)
                (root / "images" / f"{sid}.png").write_bytes(b"png")
                lines.append({"id": sid, "seed": seed, "files": {"image": f"images/{sid}.png"}, "camera": [0.0] * 25})
    return root


def quiet(_message: str) -> None:
    pass


def test_a_folder_that_does_not_exist_is_refused_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such dataset folder"):
        merge_folders(tmp_path / "typo_dir")
    assert not (tmp_path / "typo_dir").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFolderError, match="not a dataset folder"):
        merge_folders(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []
    source = sharded_folder(tmp_path / "part0", {0: [0]}, 1)
    with pytest.raises(FileNotFoundError, match="part9"):
        merge_folders(tmp_path / "all", [source, tmp_path / "part9"])
    assert not (tmp_path / "all").exists()


def test_missing_shards_are_refused_then_merged_with_allow_partial_and_completed_later(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = sharded_folder(tmp_path / "set", {0: [0, 3], 2: [2, 5]}, 3)
    with pytest.raises(MissingShardsError, match=r"shard\(s\) 1/3 .*manifest\.shard001-of-003\.jsonl"):
        merge_folders(root, log=quiet)
    assert [p.name for p in manifest_paths(root)] == [shard_manifest_name(0, 3), shard_manifest_name(2, 3)]

    assert cli.main(["merge", str(root), "--allow-partial"]) == 0
    assert "WARNING: shard(s) 1/3" in capsys.readouterr().out
    assert sorted(read_samples(root)) == [sample_id(s) for s in (0, 2, 3, 5)]
    assert json.loads((root / META).read_text())[MERGED_SHARDS] == ["0/3", "2/3"]

    sharded_folder(root, {1: [1, 4]}, 3)  # the missing shard finishes: a plain merge adds it, with no warning
    messages: list[str] = []
    assert merge_folders(root, log=messages.append) == 6
    assert messages == [] and [p.name for p in manifest_paths(root)] == [MANIFEST]
    assert json.loads((root / META).read_text())[MERGED_SHARDS] == ["0/3", "1/3", "2/3"]


def test_shards_in_folders_of_their_own_count_together(tmp_path: Path) -> None:
    parts = [sharded_folder(tmp_path / f"part{i}", {i: [i]}, 2) for i in range(2)]
    with pytest.raises(MissingShardsError, match=r"shard\(s\) 1/2"):
        merge_folders(tmp_path / "all", parts[:1], log=quiet)
    assert merge_folders(tmp_path / "all", parts, log=quiet) == 2


def test_a_shard_still_writing_or_another_writer_is_refused(tmp_path: Path) -> None:
    root = sharded_folder(tmp_path / "set", {0: [0], 1: [1]}, 2)
    with write_lock(root, (1, 2)):
        with pytest.raises(FolderBusyError, match="generate shard 1/2"):
            merge_folders(root, log=quiet)
    assert len(manifest_paths(root)) == 2  # untouched
    with write_lock(root, (2, 3)):  # a shard that has not written its manifest yet holds the folder too
        with pytest.raises(FolderBusyError, match="generate shard 2/3"):
            merge_folders(root, log=quiet, allow_partial=True)
    with folder_lock(root, "generate"):
        with pytest.raises(FolderBusyError, match="is being written by generate"):
            merge_folders(root, log=quiet)
    assert merge_folders(root, log=quiet) == 2


def test_shards_share_the_folder_and_keep_out_an_unsharded_run(tmp_path: Path) -> None:
    root = tmp_path / "set"
    with write_lock(root, (0, 2)), write_lock(root, (1, 2)):  # two shards of one run write together
        with pytest.raises(FolderBusyError, match=r"generate shard \d/2"):
            with write_lock(root, None):
                pass
        with pytest.raises(FolderBusyError, match="generate shard 1/2"):  # the same shard twice
            with write_lock(root, (1, 2)):
                pass
    with write_lock(root, None):
        with pytest.raises(FolderBusyError, match="being written by generate"):
            with write_lock(root, (0, 2)):
                pass
