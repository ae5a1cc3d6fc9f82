"""The command line: help, version, errors, and the demo job end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import cli


def test_help_lists_commands(capsys):
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert "python -m helpers" in capsys.readouterr().out


def test_unknown_command_is_an_error(capsys):
    assert cli.main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "invalid choice" in err and " — " in err and len(err.splitlines()) == 1


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "helpers", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in result.stdout


def test_demo_writes_meshes_and_viewer(tmp_path):
    from helpers.base.depth_png import read_depth_png
    from helpers.mesh import load_mesh

    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--views", "2", "--resolution", "40", "--volume-resolution", "48", "--no-screenshot",
            "--photo", ""]
    assert cli.main(args) == 0
    summary = json.loads((out / "demo.json").read_text())
    assert len(summary["views"]) == 2
    html = (out / "viewer.html").read_text()
    assert "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js embedded: works offline
    volume = load_mesh(out / "meshes" / "head_volume.ply")
    assert volume.num_faces > 1000
    for view in summary["views"]:
        mesh = load_mesh(out / "meshes" / f"{view['name']}.ply")
        assert mesh.num_faces > 100
        # The depth mesh and the volume mesh describe the same head in the same frame.
        assert view["p95_distance_to_volume_mesh"] < 0.03
        depth = read_depth_png(out / "depth" / f"{view['name']}.png", summary["depth_png"]["near"], summary["depth_png"]["far"])
        assert depth.shape == (40, 40) and (depth > 0).any()
        camera = np.load(out / "cameras" / f"{view['name']}.npy")
        assert camera.shape == (25,) and camera.dtype == np.float32


def test_demo_with_an_eg3d_generator(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--views", "1", "--volume-resolution", "24", "--no-screenshot", "--checkpoint",
            "tiny-random", "--photo", ""]
    assert cli.main(args) == 0
    summary = json.loads((out / "demo.json").read_text())
    assert summary["subject"].startswith("EG3D tiny-random")
    view = summary["views"][0]
    from PIL import Image

    image = np.asarray(Image.open(out / "images" / f"{view['name']}.png"))
    assert image.shape == (512, 512, 3)  # EG3D's super-resolved image
    assert (out / "viewer.html").stat().st_size > 1_000_000


def test_demo_reads_a_checkpoint_file(tmp_path, eg3d_reference):
    from helpers.demo import DemoConfig, run_demo

    config = DemoConfig(out=tmp_path, views=1, volume_resolution=16, screenshot=False, photo="",
                        checkpoint=str(eg3d_reference / "eg3d_tiny.pkl"))
    summary = run_demo(config)
    assert "eg3d_tiny.pkl" in summary["subject"]
    assert (tmp_path / "meshes" / f"{summary['views'][0]['name']}.ply").exists()


def test_demo_turns_the_astronaut_into_a_mesh_with_the_model_it_can_reach(tmp_path, capsys):
    """The photo stage: detection, landmarks, crop and camera fit offline; a depth model when one loads (here a
    random U-Net file), else one line and the crop with its camera."""
    from helpers.depth.models import DepthModelConfig, build_depth_model, save_depth_model

    model = DepthModelConfig(start_filts=4, n_blocks=3, input_size=32)
    checkpoint = save_depth_model(build_depth_model(model), model, tmp_path / "unet.pt")
    common = ["--views", "1", "--resolution", "32", "--volume-resolution", "24", "--no-screenshot"]
    assert cli.main(["demo", "--out", str(tmp_path / "with"), "--model", str(checkpoint), *common]) == 0
    photo = json.loads((tmp_path / "with" / "demo.json").read_text())["photo"]
    assert photo["method"] == "depth" and photo["mesh"]["faces"] > 0 and len(photo["camera"]) == 25
    assert (tmp_path / "with" / "photo" / "mesh.ply").is_file() and (tmp_path / "with" / "photo" / "turntable.gif").is_file()
    assert "astronaut" in (tmp_path / "with" / "viewer.html").read_text()  # the photo's sample comes first

    assert cli.main(["demo", "--out", str(tmp_path / "without"), "--model", str(tmp_path / "missing.pt"), *common]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[1/5]")]
    assert len(lines) == 2 and "no depth model" in lines[1] and "camera fitted" in lines[1]
    photo = json.loads((tmp_path / "without" / "demo.json").read_text())["photo"]
    assert photo["depth_model"] is None and (tmp_path / "without" / "photo" / "overview.png").is_file()
