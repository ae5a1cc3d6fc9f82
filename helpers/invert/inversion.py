"""One photo → EG3D: alignment, camera, PTI, and everything the inverted face gives.

:func:`invert_photo` runs the whole chain on one photo:

1. :func:`helpers.invert.align.align_face`: dlib landmarks and the FFHQ/EG3D 512² crop;
2. :func:`helpers.invert.camera_fit.estimate_camera`: the EG3D camera from the 68 landmarks (or a camera
   the caller gives, e.g. from EG3D's published FFHQ ``dataset.json``);
3. :func:`helpers.invert.pti.project` then :func:`helpers.invert.pti.tune`.

The :class:`Inversion` it returns holds the aligned photo, camera, pivot latent, tuned generator,
the reconstruction with its z-depth and opacity (world units, neural rendering resolution), PSNR /
SSIM / LPIPS after each stage, loss curves and timings, and renders novel views and meshes on
demand. :meth:`Inversion.save` writes it all to a folder; :mod:`helpers.invert.folder_inversion` also writes a
Prosopo-style sample into a dataset folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers import eg3d
from helpers.base import cameras
from helpers.base.atomic import write_gif_atomic, write_npy_atomic, write_png_atomic, write_text_atomic
from helpers.base.cameras import camera_from_angles
from helpers.base.depth_png import write_depth_png
from helpers.base.photo import resize_square
from helpers.eg3d.subject import EG3DSubject
from helpers.generation.sample_settings import default_depth_range
from helpers.generation.viewpoints import ViewpointMix
from helpers.invert import pti
from helpers.invert.align import AlignConfig, align_face
from helpers.invert.camera_fit import CameraFitConfig, estimate_camera
from helpers.invert.quality import photo_quality
from helpers.invert.weight_delta import save_weight_delta, weight_delta
from helpers.mesh import save_mesh

__all__ = ["Inversion", "InversionConfig", "PreparedPhoto", "invert_aligned", "invert_photo", "orbit_parameters",
           "prepare_photo"]


@dataclass(frozen=True)
class InversionConfig:
    """Settings of :func:`invert_photo`.

    Attributes:
        pti: projection and tuning settings (``PTIConfig.preset("default" | "fast" | "smoke")``).
        align: face detection and crop settings (:class:`helpers.invert.align.AlignConfig`); None = defaults.
        camera_fit: landmark camera fit settings (:class:`helpers.invert.camera_fit.CameraFitConfig`); None = defaults.
        mesh_resolution: density lattice size for :meth:`Inversion.mesh` (256 as the dataset generator).
        mesh_level: marching-cubes level on raw density (EG3D's 10).
    """

    pti: pti.PTIConfig = field(default_factory=pti.PTIConfig)
    align: Any = None
    camera_fit: Any = None
    mesh_resolution: int = 256
    mesh_level: float = 10.0

    def as_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return asdict(value) if value is not None and hasattr(value, "__dataclass_fields__") else value

        return {"pti": self.pti.as_dict(), "align": plain(self.align), "camera_fit": plain(self.camera_fit),
                "mesh_resolution": self.mesh_resolution, "mesh_level": self.mesh_level}


@dataclass
class Inversion:
    """Everything one inversion produced. Images are (S, S, 3) uint8; depth/opacity (R, R) float32
    at the generator's neural rendering resolution, z-depth in world units (0 where opacity < 0.5).

    Attributes:
        target: the aligned photo the generator was fitted to.
        aligned: the :class:`helpers.invert.align.AlignedFace` (None when the photo was given aligned).
        camera_estimate: the landmark camera fit (None when the camera was given).
        camera: (25,) float32 EG3D camera of the photo.
        projection, tuning: the two stages (pivot ws, tuned generator, loss curves).
        reconstruction: the tuned generator's render of the pivot from ``camera``, with the tuning stage's ray
            samples (``ray_sample_mult`` × the checkpoint's: 96 + 96 for FFHQ in the default preset), as are the
            novel views, the orbit and ``depth``.
        projected: the base generator's render of the pivot (before tuning), with the projection's ray samples.
        depth, depth_ray, opacity: of the reconstruction (z-depth, distance along the ray, opacity).
        metrics: ``{"projection": {...}, "tuned": {...}}`` PSNR (dB), SSIM, LPIPS against ``target`` (LPIPS with the
            tuning stage's network and size: AlexNet at 512² in the default preset).
        seconds: wall time of each stage.
    """

    target: np.ndarray
    aligned: Any
    camera_estimate: Any
    camera: np.ndarray
    projection: pti.Projection
    tuning: pti.Tuning
    reconstruction: np.ndarray
    projected: np.ndarray
    depth: np.ndarray
    depth_ray: np.ndarray
    opacity: np.ndarray
    metrics: dict[str, dict[str, float]]
    seconds: dict[str, float]
    config: InversionConfig
    # The tuned face's EG3DSubject (its tri-planes), built once: save() renders views, frames and a mesh from it.
    _subject: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def generator(self) -> nn.Module:
        """The tuned generator (a copy; the base generator is unchanged)."""
        return self.tuning.generator

    @property
    def ws(self) -> torch.Tensor:
        """The pivot, (1, num_ws, w_dim)."""
        return self.projection.ws

    @property
    def w(self) -> np.ndarray:
        """The pivot latent as the dataset stores it: (w_dim,) or (num_ws, w_dim) float32."""
        return self.projection.w

    def subject(self) -> Any:
        """The tuned face as an :class:`helpers.demo.EG3DSubject`, built on the first call and kept: its
        tri-planes are computed once for every view, frame and mesh (``subject().render_maps(camera)``
        renders the face from any camera (25,))."""
        if self._subject is None:
            renderer = pti.with_ray_samples(self.generator, self.config.pti.tuning.ray_sample_mult)
            self._subject = EG3DSubject(renderer, self.ws, "inverted photo")
        return self._subject

    def novel_views(self, yaws: tuple[float, ...] = (-0.6, -0.3, 0.0, 0.3, 0.6), pitch: float = 0.0) -> np.ndarray:
        """(S, len(yaws)·S, 3) uint8 strip of renders from orbit cameras at ``yaws`` (radians) and ``pitch``
        (EG3D's orbit pitch offset, not an angle: see :mod:`helpers.base.cameras`)."""
        return self.subject().orbit_strip(yaws, pitch)

    def orbit_frames(self, count: int = 24, yaw_range: float = 0.5, pitch: float = 0.0) -> list[np.ndarray]:
        """``count`` renders for a looping turntable video: yaw = yaw_range·sin(2πk/count) (radians).

        The sine passes every yaw twice (k and count/2 − k): each distinct camera is rendered once and its
        frame repeated (:meth:`helpers.demo.EG3DSubject.orbit_views`), about half the renders.
        """
        yaws = [yaw_range * float(np.sin(2 * np.pi * k / count)) for k in range(count)]
        return self.subject().orbit_views(yaws, pitch)

    def mesh(self, resolution: int | None = None, level: float | None = None):
        """The face's surface from the tuned density field: marching cubes on a ``resolution``³ lattice
        over the generator's box (EG3D world units and frame, the frame of ``camera``)."""
        return self.subject().mesh(int(resolution or self.config.mesh_resolution),
                                   self.config.mesh_level if level is None else level)

    def summary(self) -> str:
        """One line per stage: PSNR / SSIM / LPIPS against the photo, and the stage's seconds."""
        lines = []
        for stage, key in (("projection", "projection"), ("tuned", "tuning")):
            text = ", ".join(f"{k} {v:.4g}" for k, v in self.metrics[stage].items())
            lines.append(f"{stage:>10}: {text} ({self.seconds.get(key, 0.0):.1f} s)")
        return "\n".join(lines)

    def save(self, out_dir: str | os.PathLike[str], *, base_identity: dict[str, Any] | None = None,
             mesh: bool = True, frames: int = 24) -> Path:
        """Write the inversion into ``out_dir``: ``target.png``, ``reconstruction.png``, ``projected.png``,
        ``novel_views.png``, ``orbit.gif`` (a looping turntable of ``frames`` renders; 0: none),
        ``pivot_w.npy``, ``camera.npy``, ``depth.png`` (16-bit z-depth, near/far in ``inversion.json``: the
        encoding of the batch's ``depth/<id>.png``, :func:`helpers.generation.sample_settings.default_depth_range`),
        ``opacity.png``, ``generator_delta.safetensors`` (:mod:`helpers.invert.weight_delta`), ``losses.csv``,
        ``inversion.json`` (metrics, timings, camera fit, settings) and ``mesh.ply``. The delta records
        ``base_identity``, by default the base generator's :func:`helpers.eg3d.generator_identity`."""

        if base_identity is None:
            base_identity = eg3d.generator_identity(self.tuning.base)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_png_atomic(out / "target.png", self.target)
        write_png_atomic(out / "reconstruction.png", self.reconstruction)
        write_png_atomic(out / "projected.png", self.projected)
        write_png_atomic(out / "novel_views.png", self.novel_views())
        if frames:
            write_gif_atomic(out / "orbit.gif", self.orbit_frames(frames))
        write_png_atomic(out / "opacity.png", np.round(self.opacity * 255).astype(np.uint8))
        write_npy_atomic(out / "pivot_w.npy", self.w)
        write_npy_atomic(out / "camera.npy", self.camera)
        near, far = self._depth_range()
        write_depth_png(out / "depth.png", self.depth, near, far, mask=self.opacity >= 0.5)
        save_weight_delta(weight_delta(self.tuning.base, self.generator), out / "generator_delta.safetensors",
                          base=base_identity)
        rows = [entry.as_dict() for entry in self.projection.history + self.tuning.history]
        if rows:
            keys = list(dict.fromkeys(k for row in rows for k in row))  # first row's order, then extras
            text = io.StringIO(newline="")
            writer = csv.DictWriter(text, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
            write_text_atomic(out / "losses.csv", text.getvalue())
        info = {"metrics": self.metrics, "seconds": self.seconds, "camera": [float(v) for v in self.camera],
                "camera_fit": self._camera_fit_dict(), "depth_range": [near, far],
                "quality": photo_quality(self.aligned, self.camera_estimate, self.metrics),
                "tuning_stopped_early": self.tuning.stopped_early, "config": self.config.as_dict(),
                "base": base_identity}
        if mesh:
            save_mesh(self.mesh(), out / "mesh.ply")
        write_text_atomic(out / "inversion.json", json.dumps(info, indent=2, default=float) + "\n")
        return out

    def _depth_range(self) -> tuple[float, float]:
        """(near, far) of ``depth.png``: the dataset generator's default range for the default viewpoint
        mix, the one :mod:`helpers.invert.folder_inversion` writes ``depth/<id>.png`` with (one encoding for both)."""

        return default_depth_range(self.generator.config, ViewpointMix())

    def _camera_fit_dict(self) -> dict[str, Any] | None:
        est = self.camera_estimate
        if est is None:
            return None
        return {k: float(getattr(est, k)) for k in ("yaw_deg", "elevation_deg", "roll_deg", "rms_px")
                if hasattr(est, k)}


def orbit_parameters(camera: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) of :func:`helpers.base.cameras.camera_from_angles` for an EG3D camera (25,):
    yaw and pitch from its position, roll from its x axis against the look-at camera at that position.
    Yaw and roll are radians; pitch is EG3D's orbit pitch offset, not an angle (``sin(elevation) =
    −(2/π)·pitch``, see :mod:`helpers.base.cameras`). (A camera that does not look at the pivot is
    re-parametrised as one that does.)"""

    yaw, pitch, _ = cameras.orbit_angles(camera[:16].reshape(4, 4).astype(np.float64))
    reference = camera_from_angles(float(yaw), float(pitch), 0.0).numpy()[:16].reshape(4, 4)
    x_axis = camera[:16].reshape(4, 4)[:3, 0]
    roll = np.arctan2(float(x_axis @ reference[:3, 1]), float(x_axis @ reference[:3, 0]))
    return float(yaw), float(pitch), float(roll)


def invert_aligned(target: np.ndarray, camera: np.ndarray | torch.Tensor, G: nn.Module, lpips: nn.Module,
                   config: InversionConfig = InversionConfig(), *, on_step: pti.StepCallback | None = None,
                   w_init: torch.Tensor | None = None, aligned: Any = None, camera_estimate: Any = None,
                   seconds: dict[str, float] | None = None, progress: bool = False) -> Inversion:
    """PTI of an already aligned photo ``target`` ((S, S, 3) uint8, S = the generator's resolution) seen
    from ``camera`` (25,). ``lpips``: the LPIPS networks of ``config.pti.lpips_nets`` (an
    :class:`helpers.invert.lpips.LPIPSNets`, or one :class:`helpers.invert.lpips.LPIPS` when both stages use the same
    network), checked before the projection starts. ``progress``: a progress bar per stage with the time left. See
    :func:`invert_photo` for the rest."""
    target = np.asarray(target)
    size = int(G.img_resolution)
    if target.shape != (size, size, 3):
        if target.ndim != 3 or target.shape[0] != target.shape[1]:
            raise ValueError(f"an aligned photo must be square (S, S, 3), got {target.shape}")
        target = resize_square(target, size)
    camera = np.asarray(camera, dtype=np.float32).reshape(-1)
    cameras.check_camera(camera)
    _, tuning_lpips = pti.stage_lpips(lpips, config.pti)  # both stages' networks are there, before a long run
    seconds = dict(seconds or {})
    target_t = pti.image_to_tensor(target, G.device)
    angles = orbit_parameters(camera) if config.pti.projection.refine_camera else None
    projection = pti.project(G, target_t, camera, lpips, config.pti, on_step=on_step, w_init=w_init,
                             camera_angles=angles, progress=progress)
    seconds["projection"] = projection.seconds
    camera = projection.camera  # refined when refine_camera, else unchanged
    tuning = pti.tune(G, target_t, camera, projection.ws, lpips, config.pti, on_step=on_step, progress=progress)
    seconds["tuning"] = tuning.seconds
    began = time.perf_counter()
    # Each stage's result is rendered as it was fitted: with that stage's ray samples.
    projected = pti.with_ray_samples(G, config.pti.projection.ray_sample_mult)
    before = EG3DSubject(projected, projection.ws, "projected photo").render_maps(camera)
    tuned = EG3DSubject(pti.with_ray_samples(tuning.generator, config.pti.tuning.ray_sample_mult), projection.ws,
                        "inverted photo")
    after = tuned.render_maps(camera)
    lp_res = config.pti.tuning.lpips_resolution
    features = pti.lpips_features(tuning_lpips, target, lp_res)  # the photo's, for both stages
    metrics = {stage: pti.reconstruction_metrics(view["image"], target, tuning_lpips, lp_res,
                                                 target_features=features)
               for stage, view in (("projection", before), ("tuned", after))}
    seconds["render"] = time.perf_counter() - began
    result = Inversion(target=target, aligned=aligned, camera_estimate=camera_estimate, camera=camera,
                       projection=projection, tuning=tuning, reconstruction=after["image"], projected=before["image"],
                       depth=after["depth"], depth_ray=after["depth_ray"],
                       opacity=after["opacity"], metrics=metrics, seconds=seconds, config=config)
    result._subject = tuned  # its tri-planes serve every later view and mesh
    return result


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo ready for PTI (:func:`prepare_photo`).

    Attributes:
        aligned: the :class:`helpers.invert.align.AlignedFace` (``aligned.image``: the 512² crop).
        camera: (25,) float32 EG3D camera: the one given, else the landmark fit's.
        camera_estimate: the landmark fit (:class:`helpers.invert.camera_fit.CameraEstimate`), None when given.
        seconds: wall time of ``align`` and (when fitted) ``camera``.
    """

    aligned: Any
    camera: np.ndarray
    camera_estimate: Any
    seconds: dict[str, float]


def prepare_photo(photo: Any, config: InversionConfig = InversionConfig(), *,
                  camera: np.ndarray | None = None) -> PreparedPhoto:
    """The first two steps of :func:`invert_photo`: align ``photo`` (path, PIL image or (H, W, 3) array) and
    fit its camera to the landmarks, unless ``camera`` is given. Raises
    :class:`helpers.invert.align.AlignmentError` subclasses for photos without a usable face."""

    began = time.perf_counter()
    aligned = align_face(photo, config.align or AlignConfig())
    seconds = {"align": time.perf_counter() - began}
    estimate = None
    if camera is None:
        began = time.perf_counter()
        estimate = estimate_camera(aligned.landmarks, image_size=aligned.image.shape[0],
                                   config=config.camera_fit or CameraFitConfig())
        camera = estimate.camera
        seconds["camera"] = time.perf_counter() - began
    return PreparedPhoto(aligned=aligned, camera=np.asarray(camera, dtype=np.float32).reshape(-1),
                         camera_estimate=estimate, seconds=seconds)


def invert_photo(photo: Any, G: nn.Module, lpips: nn.Module, config: InversionConfig = InversionConfig(), *,
                 camera: np.ndarray | None = None, on_step: pti.StepCallback | None = None,
                 w_init: torch.Tensor | None = None) -> Inversion:
    """Align ``photo`` (path, PIL image or (H, W, 3) array), estimate its camera (unless ``camera`` is
    given, e.g. from EG3D's FFHQ labels: :func:`helpers.invert.camera_fit.camera_from_dataset_json`) and
    invert it with PTI. ``w_init`` starts the projection from a latent (e.g. a latent-regression
    prediction). Raises :class:`helpers.invert.align.AlignmentError` subclasses for photos without a
    usable face."""
    prepared = prepare_photo(photo, config, camera=camera)
    return invert_aligned(prepared.aligned.image, prepared.camera, G, lpips, config, on_step=on_step, w_init=w_init,
                          aligned=prepared.aligned, camera_estimate=prepared.camera_estimate,
                          seconds=prepared.seconds)
