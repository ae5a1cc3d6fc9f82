"""Photo → w → EG3D: the face's image, depth, mesh and novel views from one forward pass of an encoder.

The photo should be an aligned square face crop like the training images (EG3D's FFHQ crop;
:func:`helpers.invert.align.align_face` makes one from any photo). The encoder predicts w; EG3D renders it from
the frontal camera (image at the model's resolution, z-depth and opacity at its neural rendering resolution) and
its density volume gives the mesh (marching cubes at ``level``, EG3D world units and frame, the same frame as the
cameras). :func:`invert_from_prediction` refines the prediction with PTI, starting the projection from the
predicted w instead of the mean latent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.base import cameras
from helpers.base.photo import center_square, load_rgb
from helpers.eg3d.subject import EG3DSubject
from helpers.invert.inversion import Inversion, InversionConfig, invert_aligned, prepare_photo
from helpers.latent.encoder import LatentEncoder
from helpers.latent.published_regressors import PublishedCodeRegressor
from helpers.mesh import Mesh

__all__ = ["LatentReconstruction", "invert_from_prediction", "novel_views", "predict_w", "reconstruct_from_latent",
           "reconstruct_photo"]


@dataclass
class LatentReconstruction:
    """What :func:`reconstruct_photo` returns.

    Attributes:
        w: (w_dim,) or (num_ws, w_dim) predicted latent, float32.
        ws: (1, num_ws, w_dim) tensor given to the generator.
        image: (S, S, 3) uint8 EG3D render from ``camera``.
        depth: (R, R) float32 z-depth in world units (0 where opacity < 0.5).
        mask: (R, R) bool, opacity >= 0.5.
        camera: (25,) float32 EG3D camera of the render.
        mesh: the density volume's surface (world units), or None when ``mesh_resolution`` is 0.
    """

    w: np.ndarray
    ws: torch.Tensor
    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    camera: np.ndarray
    mesh: Mesh | None


def reconstruct_from_latent(generator: nn.Module, ws: torch.Tensor, *, camera: np.ndarray | None = None,
                            mesh_resolution: int = 128, level: float = 10.0) -> LatentReconstruction:
    """Render ws ``(1, num_ws, w_dim)`` from ``camera`` (default: frontal) and extract the mesh at ``level``
    (EG3D's marching-cubes threshold on raw density is 10; a random test generator needs a lower one)."""
    camera = cameras.camera_vector(0.0, 0.0)[0].numpy() if camera is None else np.asarray(camera, np.float32)
    subject = EG3DSubject(generator, ws, "predicted latent")
    maps = subject.render_maps(camera)
    mesh = subject.mesh(mesh_resolution, level) if mesh_resolution else None
    w = ws[0].float().cpu().numpy()
    w = w[0] if np.allclose(w, w[:1]) else w
    return LatentReconstruction(w=w, ws=ws, image=maps["image"], depth=maps["depth"], mask=maps["opacity"] >= 0.5,
                                camera=camera.astype(np.float32), mesh=mesh)


def predict_w(image: Any, encoder: LatentEncoder | PublishedCodeRegressor) -> torch.Tensor:
    """(1, w_dim) — or (1, num_ws, w_dim) for W+ — predicted for one photo (path, PIL image or (H, W, 3) array;
    centre-cropped to a square), on the encoder's device."""
    rgb = center_square(load_rgb(image))
    batch = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None]  # a writable copy
    return encoder.predict(batch.to(encoder.device))


def reconstruct_photo(image: Any, encoder: LatentEncoder | PublishedCodeRegressor, generator: nn.Module,
                      **options: Any) -> LatentReconstruction:
    """:func:`predict_w` for one photo, rendered with :func:`reconstruct_from_latent` (``options``: camera,
    mesh_resolution, level)."""
    w = predict_w(image, encoder.to(generator.backbone.mapping.w_avg.device))
    return reconstruct_from_latent(generator, encoder.ws(w), **options)


def novel_views(generator: nn.Module, ws: torch.Tensor, yaws: tuple[float, ...] = (-0.6, -0.3, 0.0, 0.3, 0.6),
                pitch: float = 0.0) -> np.ndarray:
    """(S, len(yaws)·S, 3) uint8 strip of EG3D renders of ws from cameras at the given yaws (radians)."""
    return EG3DSubject(generator, ws, "predicted latent").orbit_strip(yaws, pitch)


def invert_from_prediction(photo: Any, encoder: LatentEncoder | PublishedCodeRegressor, generator: nn.Module,
                           lpips: nn.Module,
                           config: InversionConfig | None = None, *, on_step: Any = None) -> Inversion:
    """PTI of a photo, started from the encoder's w: align the photo and fit its camera as
    :func:`helpers.invert.inversion.invert_photo` does (:func:`helpers.invert.inversion.prepare_photo`), predict
    w from the aligned crop and run :func:`helpers.invert.inversion.invert_aligned` with it as the projection's
    start (fewer projection steps are then needed: ``PTIConfig.preset("fast")``). Returns the
    :class:`helpers.invert.inversion.Inversion`; its ``seconds`` add ``predict`` (the encoder) to the stages."""
    config = config or InversionConfig()
    prepared = prepare_photo(photo, config)
    began = time.perf_counter()
    w = predict_w(prepared.aligned.image, encoder.to(generator.device))
    seconds = {**prepared.seconds, "predict": time.perf_counter() - began}
    return invert_aligned(prepared.aligned.image, prepared.camera, generator, lpips, config, on_step=on_step,
                          w_init=w, aligned=prepared.aligned, camera_estimate=prepared.camera_estimate,
                          seconds=seconds)
