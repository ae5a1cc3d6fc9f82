"""The notebooks' shared set-up and data: folders, the GPU warning, figures that survive export, the shared generated
set (reused, extended with the folder's own settings) and public datasets (found, or downloaded after the licence;
smoke mode's stand-ins over HTTP through the same download)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import plotly.io as pio
import pytest
import torch

from helpers import datasets, notebook
from helpers.dataset_folder import read_samples
from helpers.download.http_download import default_cache_dir
from helpers.generation import GenerateConfig, MeshSettings, SampleSettings, generate
from helpers.notebook import notebook_session
from helpers.notebook.standin_data import write_standin


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(notebook.OUTPUTS_ENV, str(tmp_path / "outputs"))
    monkeypatch.setenv("HELPERS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(notebook.DATA_ENV, raising=False)
    monkeypatch.setenv(notebook.SMOKE_ENV, "1")
    return tmp_path


def test_folders_follow_the_environment(folders: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert notebook.output_dir("job") == folders / "outputs" / "smoke" / "job" and (folders / "outputs/smoke/job").is_dir()
    assert notebook.data_root() == folders / "outputs" / "smoke" / "data"  # smoke runs never touch real data
    monkeypatch.setenv(notebook.SMOKE_ENV, "0")
    assert notebook.output_dir("job") == folders / "outputs" / "job"
    assert notebook.data_root() == folders / "cache" / "datasets"  # where `datasets download` puts a dataset
    assert notebook.public_dataset_dir("prosopo") == folders / "cache" / "datasets" / "prosopo"
    monkeypatch.setenv(notebook.DATA_ENV, str(folders / "data"))
    assert notebook.generated_dataset_dir("ffhq512-128") == folders / "data" / "generated-ffhq512-128"
    assert notebook.generated_dataset_dir("/x/my model.pkl").name == "generated-my_model"


def test_start_notebook_warns_in_full_mode_without_gpu(folders: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    lines: list[str] = []
    session = notebook.start_notebook("job", echo=lines.append)
    assert session.smoke and session.device == "cpu" and session.precision == "fp32" and not session.drive
    assert session.out == folders / "outputs" / "smoke" / "job" and not any("WARNING" in line for line in lines)
    assert str(session.out) in lines[1] and "cpu" in lines[1]
    assert pio.renderers.default == "plotly_mimetype+notebook"  # an HTML copy beside each live figure
    monkeypatch.setenv(notebook.SMOKE_ENV, "0")
    lines.clear()
    session = notebook.start_notebook("job", keep_on_drive=True, echo=lines.append)
    assert not session.drive and "KEEP_ON_DRIVE works in Colab" in lines[0]
    assert any(line.startswith("WARNING: no GPU") and "Change runtime type" in line for line in lines)


def test_public_dataset_downloads_the_stand_in_after_the_licence(folders: Path) -> None:
    lines: list[str] = []
    with pytest.raises(datasets.LicenceNotAcceptedError, match="tick ACCEPT_LICENCE"):
        notebook.public_dataset("prosopo", source=notebook.STAND_IN, echo=lines.append)
    assert any("Licence" in line for line in lines)  # shown before the refusal
    root = notebook.public_dataset("prosopo", accept_licence=True, source=notebook.STAND_IN, progress=False,
                                   echo=lines.append)
    assert root == notebook.public_dataset_dir("prosopo") and (root / "input").is_dir()
    assert len(list((root / "depth128x128").glob("*.png"))) == len(list((root / "input").glob("*.png"))) == 12
    fetched = [json.loads(p.read_text()) for p in (root / ".fetched").glob("*.json")]
    assert fetched and all(f["source"]["url"].startswith("http://127.0.0.1:") for f in fetched)  # over HTTP
    lines.clear()
    assert notebook.public_dataset("prosopo", echo=lines.append) == root  # found: no licence, no download
    assert lines == [f"prosopo: using {root}"]


def test_coarse_stand_in_has_params_images_and_a_face_model(tmp_path: Path) -> None:
    root = write_standin("3dfacenet-coarse", tmp_path / "coarse")
    pairs = sorted(p.stem for p in (root / "CoarseData" / "subject01").iterdir())
    assert len(pairs) == 6 and pairs[0] == pairs[1]  # <name>.png + <name>.txt
    assert (root / "BFM" / "01_MorphableModel.mat").is_file() and (root / "BFM" / "model_info.mat").is_file()
    with pytest.raises(ValueError, match="stand-ins exist for"):
        write_standin("ffhq-eg3d-labels", tmp_path / "x")


def test_generated_dataset_is_made_reused_and_extended_with_its_own_settings(folders: Path) -> None:
    lines: list[str] = []
    out = notebook.generated_dataset("tiny-random", 2, echo=lines.append)
    assert out == notebook.generated_dataset_dir("tiny-random") and len(read_samples(out)) == 2
    assert "holds 0 of the 2 samples" in lines[0] and "s per sample here" in lines[1]
    lines.clear()
    assert notebook.generated_dataset("tiny-random", 2, echo=lines.append) == out
    assert lines == [f"{out}: all 2 samples of tiny-random are there"]


def test_generated_dataset_extends_a_folder_with_its_own_settings(folders: Path) -> None:
    """A folder notebook 01 made with meshes is extended with meshes, not refused for other settings."""
    out = notebook.generated_dataset_dir("tiny-random")
    meshes = SampleSettings(mesh=MeshSettings(resolution=12, level=0.5))
    generate(GenerateConfig(out=out, seeds=(0,), checkpoint="tiny-random", settings=meshes, progress=False),
             log=lambda *_: None)
    assert notebook.generated_dataset("tiny-random", 2, echo=lambda _: None) == out
    records = read_samples(out)
    assert sorted(records) == ["seed00000000", "seed00000001"] and all("mesh" in r["files"] for r in records.values())


def test_keep_on_drive_mounts_drive_and_moves_outputs_and_cache_there(folders: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """In Colab (a stand-in google.colab here) KEEP_ON_DRIVE mounts Drive and points outputs and the cache at it."""
    mounted: list[str] = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(pio.renderers, "default", "colab")
    drive = folders / "MyDrive" / "eg3d-face-toolkit"
    monkeypatch.setattr(notebook_session, "DRIVE_FOLDER", drive)  # not /content/drive on this machine
    session = notebook.start_notebook("job", keep_on_drive=True, echo=lambda _: None)
    assert mounted == ["/content/drive"] and session.drive
    assert session.out == drive / "outputs" / "smoke" / "job" and default_cache_dir() == drive / "cache"
    assert pio.renderers.default == "colab"  # Colab keeps its own renderer
