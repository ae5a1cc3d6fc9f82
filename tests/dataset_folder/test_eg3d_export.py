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


def _ffhq_like(root: Path, count: int = 3) -> Path:
    """A tiny EG3D training folder as dataset_tool.py writes FFHQ: 00000/img0000000N.png and dataset.json."""
    labels = []
    for i in range(count):
        name = f"{i // 1000:05d}/img{i:08d}.png"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / name)
        labels.append([name, cameras.camera_vector(0.1 * i, 0.0)[0].tolist()])
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


@pytest.mark.parametrize("as_zip", [False, True])
def test_merge_with_ffhq_continues_its_numbering(dataset: Path, tmp_path: Path, as_zip: bool) -> None:
    base = _ffhq_like(tmp_path / "ffhq")
    if as_zip:
        with zipfile.ZipFile(tmp_path / "ffhq.zip", "w") as archive:
            for file in sorted(p for p in base.rglob("*") if p.is_file()):
                archive.write(file, file.relative_to(base).as_posix())
        base = tmp_path / "ffhq.zip"
    merged = export_eg3d(dataset, tmp_path / ("merged.zip" if as_zip else "merged"), mirror=True, merge_with=base,
                         progress=False)
    names, labels, data = eg3d_labels(merged)  # EG3D's rule: one label per image file
    assert names == [f"00000/img{i:08d}.png" for i in range(3 + 6)]
    ffhq = json.loads((tmp_path / "ffhq" / "dataset.json").read_text())["labels"]
    listed = json.loads(zipfile.ZipFile(merged).read("dataset.json") if as_zip
                        else (merged / "dataset.json").read_text())["labels"]
    assert listed[:3] == ffhq  # FFHQ first, unchanged; then each of ours followed by its mirror, as LPFF's script
    assert data[0] == (tmp_path / "ffhq" / ffhq[0][0]).read_bytes()
    ours = sorted(read_samples(dataset).values(), key=lambda r: r["id"])
    assert data[3] == (dataset / ours[0]["files"]["image"]).read_bytes()
    np.testing.assert_allclose(labels[3], ours[0]["camera"], atol=1e-6)
    np.testing.assert_allclose(labels[4], cameras.flip_camera(ours[0]["camera"]).numpy(), atol=1e-6)
    image, mirrored = (np.asarray(Image.open(io.BytesIO(data[k]))) for k in (3, 4))
    assert np.array_equal(mirrored, image[:, ::-1])


def test_merge_with_an_incomplete_folder_is_refused(dataset: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    base = _ffhq_like(tmp_path / "ffhq")
    (base / "00000" / "img00000001.png").unlink()
    with pytest.raises(DatasetFolderError, match="1 labelled images are missing"):
        export_eg3d(dataset, tmp_path / "x", merge_with=base, progress=False)
    one_line_error(capsys, ["export-eg3d", str(dataset), str(tmp_path / "y"), "--merge-with", str(tmp_path)],
                   "not an EG3D training folder")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
