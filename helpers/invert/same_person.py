"""One face from several photos of a person (``python -m helpers invert PHOTOS --same-person``).

:func:`invert_same_person` aligns each photo and fits its own landmark camera
(:func:`helpers.invert.inversion.prepare_photo`); :func:`invert_views` then projects one pivot (w, or w+ with
``w_plus``) on all views at once (the views' LPIPS summed) and tunes the generator on all of them together
(:func:`helpers.invert.pti.project` / ``tune`` with V views), so the shape has to agree with every photo. Images are
(S, S, 3) uint8, cameras EG3D 25-vectors.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers import eg3d
from helpers.base import cameras
from helpers.base.atomic import write_npy_atomic, write_png_atomic, write_text_atomic
from helpers.base.photo import resize_square
from helpers.eg3d.subject import EG3DSubject
from helpers.invert import pti
from helpers.invert.align import AlignmentError
from helpers.invert.inversion import InversionConfig, prepare_photo
from helpers.invert.quality import photo_quality
from helpers.invert.weight_delta import save_weight_delta, weight_delta
from helpers.mesh import save_mesh

__all__ = ["SamePersonInversion", "invert_same_person", "invert_views"]


@dataclass
class SamePersonInversion:
    """One face from several photos (:func:`invert_views`): one pivot, one tuned generator, a camera per photo.

    Attributes:
        targets: (V, S, S, 3) uint8 aligned photos; cameras: (V, 25) float32; estimates / aligned: per photo (None
            where given); projection, tuning: the shared stages; renders, depths: (V, …) the tuned face from each
            camera; metrics: per photo ``{"projection": {...}, "tuned": {...}}``; seconds: wall time per stage.
    """

    targets: np.ndarray
    cameras: np.ndarray
    estimates: list[Any]
    aligned: list[Any]
    projection: pti.Projection
    tuning: pti.Tuning
    renders: np.ndarray
    depths: np.ndarray
    metrics: list[dict[str, dict[str, float]]]
    seconds: dict[str, float]
    config: InversionConfig

    def subject(self) -> EG3DSubject:
        """The tuned face (its tri-planes), rendered with the tuning's ray samples."""
        renderer = pti.with_ray_samples(self.tuning.generator, self.config.pti.tuning.ray_sample_mult)
        return EG3DSubject(renderer, self.projection.ws, "one face from several photos")

    def save(self, out_dir: str | os.PathLike[str], *, mesh: bool = True) -> Path:
        """``target_<i>.png`` and ``reconstruction_<i>.png`` per photo, ``novel_views.png``, ``pivot_w.npy``,
        ``cameras.npy``, ``generator_delta.safetensors``, ``mesh.ply`` (the shared shape) and ``inversion.json``
        (per-photo metrics, camera fits and quality records)."""
        out = Path(out_dir)
        for i, (target, render) in enumerate(zip(self.targets, self.renders, strict=True)):
            write_png_atomic(out / f"target_{i}.png", target)
            write_png_atomic(out / f"reconstruction_{i}.png", render)
        subject = self.subject()
        write_png_atomic(out / "novel_views.png", subject.orbit_strip((-0.6, -0.3, 0.0, 0.3, 0.6)))
        write_npy_atomic(out / "pivot_w.npy", self.projection.w)
        write_npy_atomic(out / "cameras.npy", self.cameras)
        base = eg3d.generator_identity(self.tuning.base)
        save_weight_delta(weight_delta(self.tuning.base, self.tuning.generator),
                          out / "generator_delta.safetensors", base=base)
        if mesh:
            save_mesh(subject.mesh(self.config.mesh_resolution, self.config.mesh_level), out / "mesh.ply")
        photos = [{"metrics": m, "camera": [float(v) for v in c],
                   "quality": photo_quality(a, e, m)} for m, c, a, e in
                  zip(self.metrics, self.cameras, self.aligned, self.estimates, strict=True)]
        info = {"photos": photos, "seconds": self.seconds, "config": self.config.as_dict(), "base": base}
        write_text_atomic(out / "inversion.json", json.dumps(info, indent=2, default=float) + "\n")
        return out


def invert_views(targets: np.ndarray, cams: np.ndarray, G: nn.Module, lpips: nn.Module,
                 config: InversionConfig = InversionConfig(), *, aligned: list[Any] | None = None,
                 estimates: list[Any] | None = None, on_step: pti.StepCallback | None = None,
                 progress: bool = False) -> SamePersonInversion:
    """PTI of one face seen in V aligned photos ``targets`` (V, S, S, 3) uint8 from ``cams`` (V, 25): one shared pivot
    (w, or w+ with ``w_plus``) projected on all views at once, then pivotal tuning on all of them together
    (``progress``: a progress bar per stage)."""
    targets = np.stack([resize_square(np.asarray(t), int(G.img_resolution)) for t in targets])
    cams = np.asarray(cams, dtype=np.float32).reshape(-1, 25)
    if len(cams) != len(targets):
        raise ValueError(f"{len(targets)} photos but {len(cams)} cameras: give one camera per view")
    for camera in cams:
        cameras.check_camera(camera)
    _, tuning_lpips = pti.stage_lpips(lpips, config.pti)
    batch = torch.cat([pti.image_to_tensor(t, G.device) for t in targets])
    seconds: dict[str, float] = {}
    projection = pti.project(G, batch, cams, lpips, config.pti, on_step=on_step, progress=progress)
    seconds["projection"] = projection.seconds
    tuning = pti.tune(G, batch, cams, projection.ws, lpips, config.pti, on_step=on_step, progress=progress)
    seconds["tuning"] = tuning.seconds
    projected = EG3DSubject(pti.with_ray_samples(G, config.pti.projection.ray_sample_mult), projection.ws, "projected")
    tuned = EG3DSubject(pti.with_ray_samples(tuning.generator, config.pti.tuning.ray_sample_mult), projection.ws,
                        "tuned")
    res = config.pti.tuning.lpips_resolution
    renders, depths, metrics = [], [], []
    for target, camera in zip(targets, cams, strict=True):
        before, after = projected.render_maps(camera), tuned.render_maps(camera)
        features = pti.lpips_features(tuning_lpips, target, res)
        metrics.append({stage: pti.reconstruction_metrics(view["image"], target, tuning_lpips, res,
                                                          target_features=features)
                        for stage, view in (("projection", before), ("tuned", after))})
        renders.append(after["image"])
        depths.append(after["depth"])
    none = [None] * len(targets)
    return SamePersonInversion(targets=targets, cameras=cams, estimates=estimates or none, aligned=aligned or none,
                               projection=projection, tuning=tuning, renders=np.stack(renders),
                               depths=np.stack(depths), metrics=metrics, seconds=seconds, config=config)


def invert_same_person(photos: list[Any], G: nn.Module, lpips: nn.Module,
                       config: InversionConfig = InversionConfig(), **kwargs: Any) -> SamePersonInversion:
    """:func:`invert_views` of several photos of one person: each aligned and its camera fitted
    (:func:`prepare_photo`) first. Raises :class:`helpers.invert.align.AlignmentError` naming the photo."""
    prepared = []
    for photo in photos:
        try:
            prepared.append(prepare_photo(photo, config))
        except AlignmentError as error:
            raise type(error)(f"{photo}: {error}") from None
    return invert_views(np.stack([p.aligned.image for p in prepared]), np.stack([p.camera for p in prepared]), G,
                        lpips, config, aligned=[p.aligned for p in prepared],
                        estimates=[p.camera_estimate for p in prepared], **kwargs)
