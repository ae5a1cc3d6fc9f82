"""``export-eg3d``: a dataset folder as EG3D's training reads it.

:func:`eg3d_labels` follows the rule of EG3D's ``ImageFolderDataset`` (``training/dataset.py``): every file under
the root (or in the zip) whose extension PIL knows is an image, named by its path relative to the root; each one is
looked up in the root's ``dataset.json`` (``dict(labels)[name]``), in sorted order; the labels become a float32 array.
A generated folder as written fails that rule (its depth and mask PNGs have no label); its export passes it.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import cli
from helpers.base import cameras
from helpers.dataset_folder import read_samples
from helpers.dataset_folder.eg3d_export import export_eg3d
from helpers.dataset_folder.layout import DatasetFolderError
from helpers.generation import generate_dataset as gen
from tests.user_errors import one_line_error


def eg3d_labels(path: Path) -> tuple[list[str], np.ndarray, list[bytes]]:
    """(image names, (N, 25) float32 labels, image bytes) as EG3D's ImageFolderDataset finds them."""
    if path.is_dir():
        names = {os.path.relpath(os.path.join(folder, f), path) for folder, _, files in os.walk(path) for f in files}
        read = lambda name: (path / name).read_bytes()  # noqa: E731
    else:
        archive = zipfile.ZipFile(path)
        names = set(archive.namelist())
        read = archive.read
    Image.init()
    images = sorted(n for n in names if os.path.splitext(n)[1].lower() in Image.EXTENSION)
    labels = dict(json.loads(read("dataset.json"))["labels"])
    array = np.array([labels[name.replace("\\", "/")] for name in images]).astype(np.float32)
    return images, array, [read(name) for name in images]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "set"
    gen.generate(gen.GenerateConfig(out=out, seeds=(0, 1, 2), checkpoint="tiny-random", batch_size=3, device="cpu",
                                    progress=False), log=lambda *_: None)
    return out


def test_a_generated_folder_as_written_is_not_what_eg3d_reads(dataset: Path) -> None:
    with pytest.raises(KeyError, match="depth/seed00000000.png"):
        eg3d_labels(dataset)


@pytest.mark.parametrize("as_zip", [False, True])
def test_the_export_has_one_label_per_image(dataset: Path, tmp_path: Path, as_zip: bool) -> None:
    dest = export_eg3d(dataset, tmp_path / ("eg3d.zip" if as_zip else "eg3d"), progress=False)
    names, labels, data = eg3d_labels(dest)
    records = sorted(read_samples(dataset).values(), key=lambda r: r["id"])
    assert names == [r["files"]["image"] for r in records]
    assert labels.shape == (3, 25) and np.array_equal(labels, np.array([r["camera"] for r in records], np.float32))
    assert data == [(dataset / name).read_bytes() for name in names]  # the images themselves, not re-encoded


def test_mirror_adds_flipped_images_with_flipped_cameras(dataset: Path, tmp_path: Path) -> None:
    names, labels, data = eg3d_labels(export_eg3d(dataset, tmp_path / "eg3d", mirror=True, progress=False))
    assert len(names) == 6 and names[1] == "images/seed00000000_mirror.png"
    original = np.asarray(Image.open(dataset / names[0]))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data[1]))), original[:, ::-1])
    assert np.allclose(labels[1], cameras.flip_camera(labels[0]).numpy(), atol=1e-7)
    assert np.allclose(cameras.flip_camera(labels[1]).numpy(), labels[0], atol=1e-6)
    assert labels[1][3] == -labels[0][3]  # the camera moves to the other side: x of its position changes sign


def test_rebalancing_replicas_become_copies(dataset: Path, tmp_path: Path) -> None:
    import shutil

    folder = Path(shutil.copytree(dataset, tmp_path / "set"))
    lines = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    for line, count in zip(lines, (1, 3, 2)):
        line["replicas"] = count
    (folder / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    names, labels, _ = eg3d_labels(export_eg3d(folder, tmp_path / "eg3d", mirror=True, progress=False))
    assert len(names) == 2 * (1 + 3 + 2)
    assert "images/seed00000001_02.png" in names and "images/seed00000001_mirror_02.png" in names
    names, _, _ = eg3d_labels(export_eg3d(folder, tmp_path / "once", replicas=False, progress=False))
    assert len(names) == 3


def test_the_command(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["export-eg3d", str(dataset), str(tmp_path / "eg3d.zip"), "--mirror", "--no-progress"]) == 0
    assert "6 images with their cameras in dataset.json" in capsys.readouterr().out
    one_line_error(capsys, ["export-eg3d", str(dataset), str(tmp_path / "eg3d.zip")], "already exists")
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, ["export-eg3d", str(tmp_path / "empty"), str(tmp_path / "x")], "no samples")
    with pytest.raises(DatasetFolderError, match="already exists"):
        export_eg3d(dataset, tmp_path / "eg3d.zip")
