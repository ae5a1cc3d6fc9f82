"""``python -m helpers video`` on the tiny generator: EG3D's interpolation videos (keyframes, spline, camera path,
kinds, grid), mesh turntables, the MP4/GIF writer and the command's errors."""

from __future__ import annotations

import math

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from helpers import cli
from helpers.base import cameras, video_file
from helpers.base.video_file import write_video
from helpers.eg3d.loading import load
from helpers.eg3d.subject import latent_z
from helpers.generation.videos import (
    VideoConfig,
    frame_count,
    interpolation_frames,
    keyframe_seeds,
    video_camera,
)
from helpers.mesh import Mesh, save_mesh
from tests.user_errors import one_line_error


@pytest.fixture(scope="module")
def generator():
    return load("tiny-random", device="cpu")


def _frames(path):
    reader = imageio.get_reader(path)
    try:
        return [frame for frame in reader]
    finally:
        reader.close()


def test_camera_path_is_gen_videos_ellipse():
    total = 8
    for frame in range(total):
        phase = 2 * 3.14 * frame / total
        official = cameras.official_lookat_pose(torch.tensor(3.14 / 2 + 0.35 * math.sin(phase), dtype=torch.float64),
                                                torch.tensor(3.14 / 2 - 0.05 + 0.25 * math.cos(phase),
                                                             dtype=torch.float64))
        ours = cameras.unpack(video_camera(frame, total))[0]
        np.testing.assert_allclose(ours.numpy().reshape(-1, 4, 4), official.numpy().reshape(-1, 4, 4), atol=1e-6)
        yaw_only = cameras.orbit_angles(cameras.unpack(video_camera(frame, total, "yaw"))[0].double())
        assert float(yaw_only[1]) == pytest.approx(3.14 / 2 - math.pi / 2 - 0.05, abs=1e-5)


def test_keyframes_fill_the_grid_as_the_script():
    config = VideoConfig(seeds=(3, 4, 5), grid=(2, 1), num_keyframes=2)
    assert keyframe_seeds(config).tolist() == [[[3, 4], [5, 3]]]  # seeds repeated to fill h × w × keyframes
    assert frame_count(config) == 2 * 120
    with pytest.raises(ValueError, match="do not fill a 2x1 grid"):
        VideoConfig(seeds=(1, 2, 3), grid=(2, 1))
    assert VideoConfig(seeds=(1,), psi=0.7, truncation_cutoff=0).truncation == (1.0, 14)


def test_frames_pass_through_the_keyframes(generator):
    """At each keyframe the spline returns that seed's w: the frame is the render of the seed's face."""
    config = VideoConfig(seeds=(0, 1), w_frames=2, kind="image_raw", sample_mult=1.0)
    frames = list(interpolation_frames(generator, config))
    assert len(frames) == frame_count(config) == 4 and frames[0].dtype == np.uint8
    cond = cameras.camera_vector(3.14 / 2 - math.pi / 2, 3.14 / 2 - math.pi / 2)
    ws = generator.mapping(latent_z([1], generator.config.z_dim), cond, truncation_psi=1.0, truncation_cutoff=14)
    out = generator.synthesize(ws, video_camera(2, 4), super_resolution=False,
                               draws=generator.draws(1, generator=torch.Generator().manual_seed(2)))
    expected = (out["image_raw"][0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(frames[2].astype(int) - expected.astype(int)).max() <= 1
    assert generator.config.rendering.depth_resolution == load("tiny-random").config.rendering.depth_resolution


def test_depth_grid_video_and_per_seed_videos(tmp_path, capsys):
    out = tmp_path / "v"
    assert cli.main(["video", "--checkpoint", "tiny-random", "--seeds", "0-3", "--grid", "2x1", "--w-frames", "2",
                     "--kind", "depth", "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    frames = _frames(out / "interpolation.mp4")
    resolution = load("tiny-random").neural_rendering_resolution
    assert len(frames) == 2 * 2 and frames[0].shape == (resolution, 2 * resolution, 3)
    assert frames[0].min() < 40 and frames[0].max() > 215  # stretched to the full range per cell
    assert cli.main(["video", "--checkpoint", "tiny-random", "--seeds", "5,7", "--no-interpolate", "--w-frames", "1",
                     "--out", str(out), "--format", "gif", "--device", "cpu", "--no-progress"]) == 0
    assert (out / "5.gif").is_file() and (out / "7.gif").is_file()
    assert "7.gif: 1 frames" in capsys.readouterr().out


def test_mesh_turntable(tmp_path, capsys):
    mesh = Mesh(np.array([[0, 0, 0], [0.2, 0, 0], [0, 0.2, 0], [0, 0, 0.2]], np.float32),
                np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]))
    save_mesh(mesh, tmp_path / "tet.ply")
    assert cli.main(["video", "--mesh", str(tmp_path / "tet.ply"), "--frames", "6", "--size", "65", "--out",
                     str(tmp_path), "--no-progress"]) == 0
    frames = _frames(tmp_path / "tet_turntable.mp4")
    assert len(frames) == 6 and frames[0].shape == (66, 66, 3)  # padded to even sides for H.264
    one_line_error(capsys, ["video", "--mesh", str(tmp_path / "none.ply"), "--out", str(tmp_path)], "no such mesh")
    one_line_error(capsys, ["video", "--seeds", "0-2", "--grid", "2x1", "--checkpoint", "tiny-random", "--out",
                            str(tmp_path)], "do not fill a 2x1 grid")
    one_line_error(capsys, ["video", "--seeds", "0", "--grid", "2y", "--out", str(tmp_path)], "grid")


def test_writer_checks_frames_and_falls_back_to_gif(tmp_path, monkeypatch):
    frames = [np.full((8, 10, 3), v, np.uint8) for v in (0, 128, 255)]
    with pytest.raises(ValueError, match="share one size"):
        write_video(tmp_path / "a.mp4", [*frames, np.zeros((6, 6, 3), np.uint8)])
    with pytest.raises(ValueError, match="at least one frame"):
        write_video(tmp_path / "b.mp4", [])
    assert not list(tmp_path.iterdir())  # nothing half written is left
    monkeypatch.setattr(video_file, "can_write_mp4", lambda: False)
    with pytest.warns(UserWarning, match="imageio-ffmpeg"):
        path = write_video(tmp_path / "c.mp4", frames, 10)
    assert path == tmp_path / "c.gif" and len(_frames(path)) == 3
