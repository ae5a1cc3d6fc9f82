"""EG3D's latent-interpolation videos (``gen_videos.py``) and mesh turntables, as frames for
:func:`helpers.base.video_file.write_video`.

:func:`interpolation_frames` follows ``gen_videos.py`` (``gen_interp_video``): a ``grid_w × grid_h`` grid, each cell
walking through ``num_keyframes`` seeds' w (z as ``gen_samples.py`` draws it, mapped with the frontal conditioning
camera, ψ and the truncation cutoff) by a cubic spline that wraps around, ``w_frames`` frames per keyframe; the camera
orbits the pivot on EG3D's ellipse (yaw offset ``0.35·sin 2πt``, pitch offset ``−0.05 + 0.25·cos 2πt``, t the
fraction of the video; the script writes π as 3.14, kept here), or sweeps only the yaw (``path="yaw"``). ``kind``:
``image``, ``image_raw`` (the neural render) or ``depth`` (the script's ``image_depth``: ray depth, negated and
stretched to [−1, 1] per cell and frame). Frames are tiled as the script's ``layout_grid`` (``x·127.5 + 128``,
clamped, truncated to uint8). Unlike the script, all cells of a frame are rendered in one batch, and the renderer's
random draws are seeded per frame (the same video on every run).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from helpers.base import cameras
from helpers.eg3d.generator import Generator
from helpers.eg3d.subject import latent_z

__all__ = ["VideoConfig", "frame_count", "interpolation_frames", "keyframe_seeds", "video_camera"]

Kind = Literal["image", "image_raw", "depth"]
#: ``gen_videos.py`` writes π/2 as 3.14/2 for its cameras.
_SCRIPT_HALF_PI = 3.14 / 2


@dataclass(frozen=True)
class VideoConfig:
    """Settings of :func:`interpolation_frames` (defaults: ``gen_videos.py``'s).

    Attributes:
        seeds: the seeds the cells walk through (cell after cell, keyframe after keyframe; repeated to fill).
        grid: (width, height) of the grid of cells.
        num_keyframes: keyframes per cell; None: ``len(seeds) / (w·h)``, which must then be a whole number.
        w_frames: frames from one keyframe to the next.
        psi, truncation_cutoff: truncation (cutoff 0 means none: ψ 1; with ψ 1 the cutoff is 14, as the script).
        kind: ``"image"``, ``"image_raw"`` or ``"depth"``.
        path: ``"orbit"`` (the script's ellipse) or ``"yaw"`` (the yaw sweep alone, pitch offset −0.05).
        shuffle_seed: shuffle the seeds' order with ``RandomState(shuffle_seed)``, as the script.
        sample_mult: multiplies the depth samples per ray (the script's default 2).
        wraps: spline copies on each side (the script's 2).
    """

    seeds: tuple[int, ...]
    grid: tuple[int, int] = (1, 1)
    num_keyframes: int | None = None
    w_frames: int = 120
    psi: float = 1.0
    truncation_cutoff: int = 14
    kind: Kind = "image"
    path: Literal["orbit", "yaw"] = "orbit"
    shuffle_seed: int | None = None
    sample_mult: float = 2.0
    wraps: int = 2

    def __post_init__(self) -> None:
        cells = self.grid[0] * self.grid[1]
        if not self.seeds or min(self.grid) < 1 or self.w_frames < 1 or self.sample_mult <= 0:
            raise ValueError(f"a video needs seeds, a grid of at least 1x1, w_frames >= 1 and sample_mult > 0, "
                             f"got {len(self.seeds)} seeds, grid {self.grid}, {self.w_frames}, {self.sample_mult}")
        if self.num_keyframes is None and len(self.seeds) % cells:
            raise ValueError(f"{len(self.seeds)} seeds do not fill a {self.grid[0]}x{self.grid[1]} grid evenly: give "
                             "a multiple of its cells, or num_keyframes")
        if self.num_keyframes is not None and self.num_keyframes < 1:
            raise ValueError(f"num_keyframes must be >= 1, got {self.num_keyframes}")
        if self.kind not in ("image", "image_raw", "depth") or self.path not in ("orbit", "yaw"):
            raise ValueError(f"kind must be image, image_raw or depth and path orbit or yaw, got {self.kind!r}, "
                             f"{self.path!r}")

    @property
    def keyframes(self) -> int:
        return self.num_keyframes or len(self.seeds) // (self.grid[0] * self.grid[1])

    @property
    def truncation(self) -> tuple[float, int]:
        """(ψ, cutoff) as the script applies them."""
        psi = 1.0 if self.truncation_cutoff == 0 else self.psi
        return psi, 14 if psi == 1.0 else self.truncation_cutoff


def frame_count(config: VideoConfig) -> int:
    return config.keyframes * config.w_frames


def keyframe_seeds(config: VideoConfig) -> np.ndarray:
    """(h, w, keyframes) int64 seeds of each cell's keyframes, as the script lays them out."""
    w, h = config.grid
    count = config.keyframes * w * h
    seeds = np.array([config.seeds[i % len(config.seeds)] for i in range(count)], dtype=np.int64)
    if config.shuffle_seed is not None:
        np.random.RandomState(seed=config.shuffle_seed).shuffle(seeds)
    return seeds.reshape(h, w, config.keyframes)


def video_camera(frame: int, total: int, path: str = "orbit", *, device: torch.device | str | None = None
                 ) -> torch.Tensor:
    """(1, 25) camera of frame ``frame`` of ``total`` (module doc; EG3D's focal, radius 2.7, looking at the pivot)."""
    phase = 2 * 3.14 * frame / total
    offset = _SCRIPT_HALF_PI - math.pi / 2  # the script's 3.14/2 against our π/2 frontal
    yaw = offset + 0.35 * math.sin(phase)
    pitch = offset - 0.05 + (0.25 * math.cos(phase) if path == "orbit" else 0.0)
    return cameras.camera_vector(yaw, pitch, device=device)


def _spline(ws: np.ndarray, wraps: int) -> Any:
    """The wrapped cubic spline through one cell's keyframe w (keyframes, num_ws, w_dim), keyframe k at t = k."""
    from scipy.interpolate import interp1d

    keyframes = ws.shape[0]
    x = np.arange(-keyframes * wraps, keyframes * (wraps + 1))
    y = np.tile(ws, [wraps * 2 + 1, 1, 1])
    return interp1d(x, y, kind="cubic", axis=0)


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def interpolation_frames(generator: Generator, config: VideoConfig) -> Iterator[np.ndarray]:
    """Yield the video's (H·h, W·w, 3) uint8 frames (module doc); ``frame_count(config)`` of them."""
    G = generator
    device = G.device
    rendering = G.config.rendering
    G.config = dataclasses.replace(G.config, rendering=dataclasses.replace(
        rendering, depth_resolution=int(rendering.depth_resolution * config.sample_mult),
        depth_resolution_importance=int(rendering.depth_resolution_importance * config.sample_mult)))
    try:
        seeds = keyframe_seeds(config)
        h, w, keyframes = seeds.shape
        psi, cutoff = config.truncation
        z = latent_z(seeds.reshape(-1).tolist(), G.config.z_dim).to(device)
        cond = cameras.camera_vector(_SCRIPT_HALF_PI - math.pi / 2, _SCRIPT_HALF_PI - math.pi / 2, device=device)
        with torch.inference_mode():
            ws = G.mapping(z, cond.expand(len(z), -1), truncation_psi=psi, truncation_cutoff=cutoff)
        ws_cells = ws.cpu().numpy().reshape(h * w, keyframes, *ws.shape[1:])
        splines = [_spline(cell, config.wraps) for cell in ws_cells]
        total = frame_count(config)
        for index in range(total):
            t = index / config.w_frames
            batch = torch.from_numpy(np.stack([spline(t) for spline in splines])).to(device, torch.float32)
            camera = video_camera(index, total, config.path, device=device).expand(len(batch), -1)
            with torch.inference_mode():
                out = G.synthesize(batch, camera, super_resolution=config.kind == "image",
                                   draws=G.draws(len(batch), generator=torch.Generator().manual_seed(index)))
            if config.kind == "depth":
                images = -out["depth_ray"].float()
                low = images.amin(dim=(1, 2, 3), keepdim=True)
                high = images.amax(dim=(1, 2, 3), keepdim=True)
                images = ((images - low) / (high - low).clamp_min(1e-12) * 2 - 1).expand(-1, 3, -1, -1)
            else:
                images = out[config.kind].float()
            yield _layout(_to_uint8(images), w, h)
    finally:
        G.config = dataclasses.replace(G.config, rendering=rendering)


def _layout(images: torch.Tensor, grid_w: int, grid_h: int) -> np.ndarray:
    """(N, C, H, W) uint8 → (grid_h·H, grid_w·W, C), row by row (the script's ``layout_grid``)."""
    n, c, height, width = images.shape
    grid = images.reshape(grid_h, grid_w, c, height, width).permute(0, 3, 1, 4, 2)
    return grid.reshape(grid_h * height, grid_w * width, c).cpu().numpy()
