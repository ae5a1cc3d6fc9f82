"""Aligned face crop → depth → mesh: the depth method of single-image reconstruction, with any depth model.

:func:`reconstruct` runs a depth model of :mod:`helpers.depth.models` on a crop, turns its prediction into
camera-space z-depth in EG3D world units and back-projects that through an EG3D camera into a coloured triangle mesh
(:func:`helpers.mesh.depth_to_mesh`); :func:`save_reconstruction` writes the mesh, a 16-bit depth PNG, a preview and
an offline viewer page. Photos (detection, the crop, the fitted camera) go through :mod:`helpers.photo3d`
(``python -m helpers reconstruct``).

**Input**: aligned, square face crops at EG3D's framing (FFHQ alignment), as the models were trained on. A
non-square image is centre-cropped to a square; nothing else is done to it. The mesh grid is ``resolution``².

**From prediction to z-depth**, by the model's :attr:`~helpers.depth.models.DepthModelConfig.target`: ``"original"``
(d in [-1, 1], 1 = nearest) is mapped linearly onto ``(near, far)``; ``"relative_inverse"`` (disparity) is min–max
mapped to [1/far, 1/near] on the foreground (Otsu's threshold) and inverted; ``"metric_z"`` is z as is.
``(near, far)`` = :attr:`ReconstructConfig.depth_range`: normalised and relative predictions carry no metric scale,
so it is an assumption, not a measurement. A user mask (array or mask PNG, e.g. a dataset's ``mask/<id>.png``)
replaces every foreground rule.

Design notes: docs/design/depth.md (reconstruction): each target's foreground rule and depth mapping.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from helpers.base import cameras
from helpers.base.atomic import write_png_atomic, write_text_atomic
from helpers.base.depth_png import write_depth_png
from helpers.base.photo import center_square, load_mask, load_rgb, resize_square
from helpers.base.runtime import resolve_device
from helpers.depth.models import PUBLISHED_UNET, LoadedDepthModel, ModelTarget, load_depth_model, predict_target
from helpers.depth.networks.predict import resize_bilinear
from helpers.mesh import Mesh, depth_to_mesh, save_mesh
from helpers.viewer import MeshStyle, ViewerSample, export_html

#: Default :attr:`ReconstructConfig.depth_range` (world units): camera z of the nearest and farthest
#: foreground points of a face seen by the frontal EG3D camera (radius 2.7, looking at (0, 0, 0.2)).
#: Measured on :class:`helpers.generation.analytic_head.AnalyticHead`'s frontal 128² render: nose tip at z = 2.350,
#: farthest visible skin (cheek/neck silhouette) at z = 2.717; rounded to (2.35, 2.72). An EG3D FFHQ face
#: spans the same interval: it sits in the box [-0.5, 0.5]³ with the nose tip near world z ≈ 0.35.
FRONTAL_FACE_Z_RANGE = (2.35, 2.72)

#: Default :attr:`ReconstructConfig.metric_range` (world units): EG3D renders surfaces only between its
#: ray_start 2.25 and ray_end 3.3 along each ray, i.e. z from 2.25·cos(9.4°) ≈ 2.22 (the image corner's ray)
#: to 3.3. A metric prediction outside is not a face surface.
EG3D_Z_RANGE = (2.2, 3.3)

Frame = Literal["camera", "world"]


def _frontal_camera() -> tuple[float, ...]:
    return tuple(float(x) for x in cameras.camera_vector(0.0, 0.0)[0])


def _check_range(name: str, value: Any) -> tuple[float, float]:
    pair = tuple(float(x) for x in value)
    if len(pair) != 2 or not (np.isfinite(pair).all() and 0 < pair[0] < pair[1]):
        raise ValueError(f"{name} must be (near, far) with 0 < near < far (world units), got {value!r}")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class ReconstructConfig:
    """Settings of :func:`reconstruct`.

    Attributes:
        model: depth model source for :func:`~helpers.depth.models.load_depth_model` (a checkpoint
            of train-depth, ``"published-unet"``, an original U-Net .pt or a Hub backbone name). Not
            used when :func:`reconstruct` is given a loaded model.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``…
        depth_range: (near, far) camera z in world units that a normalised (``"original"``) or relative
            (``"relative_inverse"``) prediction is mapped to; default :data:`FRONTAL_FACE_Z_RANGE`.
        mask_threshold: ``"original"`` outputs: foreground = prediction > this. The background is
            predicted as -1 (the farthest value); -0.9 leaves a margin for the network's error, at the
            cost of the farthest 5% of the face's depth range (the silhouette, where the mesh is steep
            and unreliable anyway).
        metric_range: ``"metric_z"`` outputs: foreground = finite z in this range (world units); default
            :data:`EG3D_Z_RANGE`.
        resolution: side of the depth map and mesh grid in pixels (128: the models' training resolution).
        max_depth_jump: triangles whose depth span reaches this (world units) are dropped, so silhouettes
            are not bridged (see :func:`helpers.mesh.depth_to_mesh`); None keeps them.
        camera: EG3D 25-vector (cam2world + normalised intrinsics) the image is taken to be seen from;
            default the frontal camera ``cameras.camera_vector(0, 0)``.
        frame: ``"world"``: vertices in the EG3D world frame (as dataset meshes); ``"camera"``: OpenCV
            camera frame (x right, y down, z forward).
        cache_dir: download cache of ``"published-unet"`` (None: the toolkit's default).
    """

    model: str = PUBLISHED_UNET
    device: str = "auto"
    depth_range: tuple[float, float] = FRONTAL_FACE_Z_RANGE
    mask_threshold: float = -0.9
    metric_range: tuple[float, float] = EG3D_Z_RANGE
    resolution: int = 128
    max_depth_jump: float | None = 0.05
    camera: tuple[float, ...] = field(default_factory=_frontal_camera)
    frame: Frame = "world"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth_range", _check_range("depth_range", self.depth_range))
        object.__setattr__(self, "metric_range", _check_range("metric_range", self.metric_range))
        if not -1.0 <= self.mask_threshold < 1.0:
            raise ValueError(f"mask_threshold must be in [-1, 1) (predictions are in [-1, 1]), "
                             f"got {self.mask_threshold}")
        if int(self.resolution) != self.resolution or self.resolution < 2:
            raise ValueError(f"resolution must be an integer >= 2, got {self.resolution}")
        if self.max_depth_jump is not None and not self.max_depth_jump > 0:
            raise ValueError(f"max_depth_jump must be positive or None, got {self.max_depth_jump}")
        if self.frame not in ("camera", "world"):
            raise ValueError(f"frame must be 'camera' or 'world', got {self.frame!r}")
        camera = self.camera.detach().cpu().numpy() if isinstance(self.camera, torch.Tensor) else self.camera
        camera = np.asarray(camera, dtype=np.float64).reshape(-1)
        if camera.size != cameras.CAMERA_DIM or not np.isfinite(camera).all():
            raise ValueError(f"camera must be one finite EG3D 25-vector, got {camera.size} values")
        object.__setattr__(self, "camera", tuple(float(x) for x in camera))


@dataclass
class Reconstruction:
    """What :func:`reconstruct` returns; every map is ``resolution``² and aligned with the others.

    Attributes:
        image: (R, R, 3) uint8 RGB: the centre square crop of the input, resized (the mesh's colours).
        depth: (R, R) float32 camera-space z-depth in world units, 0 = background.
        mask: (R, R) bool foreground (exactly ``depth > 0``).
        prediction: (R, R) float32 model output as its target (:func:`helpers.depth.models.output_to_target`).
        camera: (25,) float32 EG3D camera the depth was back-projected through.
        mesh: the back-projected mesh with vertex colours from ``image``, in ``frame``.
        target: what the model regresses (``"original"``, ``"metric_z"``, ``"relative_inverse"``).
        z_range: (near, far) world units holding every foreground depth: ``depth_range`` for normalised
            and relative predictions, the metric range (widened to the data) for metric ones. The 16-bit
            depth PNG of :func:`save_reconstruction` is encoded between them.
        frame: ``"world"`` or ``"camera"``: the mesh's frame.
    """

    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    prediction: np.ndarray
    camera: np.ndarray
    mesh: Mesh
    target: ModelTarget
    z_range: tuple[float, float]
    frame: Frame = "world"


# --------------------------------------------------------------------------------------------
# Prediction → z-depth
# --------------------------------------------------------------------------------------------


def depth_from_prediction(prediction: np.ndarray, target: ModelTarget, config: ReconstructConfig | None = None,
                          *, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Convert a raw (H, W) model output to camera-space z-depth (module docstring, per ``target``).

    Args:
        prediction: (H, W) model output.
        target: its meaning (:attr:`~helpers.depth.models.DepthModelConfig.target`).
        config: ``depth_range``, ``mask_threshold`` and ``metric_range`` are used.
        mask: optional (H, W) bool foreground that replaces the target's own rule.

    Returns:
        ``(depth, foreground)``: (H, W) float32 z in world units (0 = background) and (H, W) bool
        (``depth > 0``). Non-finite predictions are background.
    """
    from skimage.filters import threshold_otsu

    config = config or ReconstructConfig()
    d = np.asarray(prediction, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"prediction must be an (H, W) map, got shape {d.shape}")
    finite = np.isfinite(d)
    user = None
    if mask is not None:
        user = np.asarray(mask, dtype=bool)
        if user.shape != d.shape:
            raise ValueError(f"mask shape {user.shape} does not match prediction shape {d.shape}")
    near, far = config.depth_range
    if target == "original":
        foreground = finite & (user if user is not None else d > config.mask_threshold)
        # Clipped: a network's small overshoot past ±1 must not leave [near, far].
        z = near + (1.0 - np.clip(d, -1.0, 1.0)) / 2.0 * (far - near)
    elif target == "relative_inverse":
        if user is not None:
            foreground = finite & user
        else:
            values = d[finite]
            # Otsu needs two levels; a constant map has no face to separate (empty foreground).
            has_contrast = values.size > 0 and values.min() < values.max()
            foreground = finite & (d > threshold_otsu(values)) if has_contrast else np.zeros_like(finite)
        z = np.zeros_like(d)
        if foreground.any():
            low, high = d[foreground].min(), d[foreground].max()
            # t = 1 nearest, 0 farthest; a flat foreground has no relief: put it half-way (in disparity).
            t = np.clip((d - low) / (high - low), 0.0, 1.0) if high > low else np.full_like(d, 0.5)
            z = 1.0 / (1.0 / far + t * (1.0 / near - 1.0 / far))
    elif target == "metric_z":
        low, high = config.metric_range
        foreground = finite & (user if user is not None else (d >= low) & (d <= high))
        z = d
    else:
        raise ValueError(f"unknown model target {target!r}; expected 'original', 'metric_z' or 'relative_inverse'")
    foreground = foreground & (z > 0)
    depth = np.where(foreground, z, 0.0).astype(np.float32)
    return depth, depth > 0


def _z_range(depth: np.ndarray, target: ModelTarget, config: ReconstructConfig) -> tuple[float, float]:
    if target != "metric_z":
        return config.depth_range
    low, high = config.metric_range
    surface = depth[depth > 0]
    if surface.size:  # a user mask may keep metric z outside the default range
        low, high = min(low, float(surface.min())), max(high, float(surface.max()))
    return low, high


# --------------------------------------------------------------------------------------------
# Reconstruction
# --------------------------------------------------------------------------------------------


def _model_device(model: torch.nn.Module) -> torch.device:
    parameter = next(iter(model.parameters()), None)
    buffer = next(iter(model.buffers()), None) if parameter is None else None
    tensor = parameter if parameter is not None else buffer
    return tensor.device if tensor is not None else torch.device("cpu")


def load_model(config: ReconstructConfig) -> LoadedDepthModel:
    """:func:`~helpers.depth.models.load_depth_model` for ``config.model`` on ``config.device``."""

    return load_depth_model(config.model, device=resolve_device(config.device), cache_dir=config.cache_dir)


def reconstruct(image: Any, config: ReconstructConfig | None = None, *, model: LoadedDepthModel | None = None,
                mask: Any = None) -> Reconstruction:
    """Predict the depth of one face photo and back-project it into a coloured mesh.

    Args:
        image: a path, a PIL image or an (H, W, 3) uint8 / float [0, 1] array (see :func:`load_rgb`).
            A non-square image is centre-cropped to a square (module docstring: aligned square face crops
            are what the models expect).
        config: settings (default :class:`ReconstructConfig`).
        model: an already loaded model (:func:`~helpers.depth.models.load_depth_model` or :func:`load_model`),
            to avoid reloading it for every image; None loads ``config.model``.
        mask: optional foreground mask in the image's frame (path or array, see :func:`load_mask`); it
            replaces the target's own foreground rule.

    Returns:
        A :class:`Reconstruction` at ``config.resolution``².
    """
    config = config or ReconstructConfig()
    loaded = model if model is not None else load_model(config)
    rgb = load_rgb(image)
    square = center_square(rgb)
    resolution = int(config.resolution)
    user_mask = None if mask is None else load_mask(mask, rgb.shape[:2], resolution)

    # Feed the network at least its own input size, so it never sees an image upsampled from a smaller one.
    net_size = max(resolution, int(loaded.config.resolved_input_size))
    net_image = resize_square(square, net_size)
    device = _model_device(loaded.model)
    batch = torch.from_numpy(np.array(net_image)).permute(2, 0, 1)[None].to(device)  # a copy: photos may be read-only
    with torch.inference_mode():
        raw = predict_target(loaded.model, loaded.config, batch).float()  # metric z for metric_z models
        raw = resize_bilinear(raw, (resolution, resolution))
    prediction = raw[0, 0].cpu().numpy().astype(np.float32)

    return _back_project(square, prediction, loaded.config.target, config, user_mask)


def reconstruct_from_depth(image: Any, depth: np.ndarray, config: ReconstructConfig | None = None, *,
                           mask: Any = None) -> Reconstruction:
    """A known camera z-depth map (world units, e.g. a dataset's ground truth) through the same back-projection as
    a prediction of :func:`reconstruct`, so that the two meshes compare: ``depth`` (H, W) is taken as a
    ``"metric_z"`` prediction, resized to ``config.resolution``² by nearest neighbour (no depth is invented at
    silhouettes). ``image`` and ``mask`` are read as in :func:`reconstruct`."""
    config = config or ReconstructConfig()
    rgb = load_rgb(image)
    resolution = int(config.resolution)
    user_mask = None if mask is None else load_mask(mask, rgb.shape[:2], resolution)
    z = np.asarray(depth, dtype=np.float32)
    if z.ndim != 2:
        raise ValueError(f"depth must be one (H, W) map, got shape {z.shape}")
    rows = np.minimum((np.arange(resolution) + 0.5) * z.shape[0] / resolution, z.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(resolution) + 0.5) * z.shape[1] / resolution, z.shape[1] - 1).astype(int)
    return _back_project(center_square(rgb), z[np.ix_(rows, cols)], "metric_z", config, user_mask)


def _back_project(square: np.ndarray, prediction: np.ndarray, target: ModelTarget, config: ReconstructConfig,
                  user_mask: np.ndarray | None) -> Reconstruction:
    """The shared second half of :func:`reconstruct` and :func:`reconstruct_from_depth`: a (R, R) output as its
    target → z-depth and foreground → coloured mesh through ``config.camera``."""
    resolution = int(config.resolution)
    depth, foreground = depth_from_prediction(prediction, target, config, mask=user_mask)
    image_small = resize_square(square, resolution)
    camera = np.asarray(config.camera, dtype=np.float32)
    cam2world, intrinsics = cameras.unpack(np.asarray(config.camera, dtype=np.float64))
    mesh = depth_to_mesh(depth, intrinsics, cam2world if config.frame == "world" else None, mask=foreground,
                         max_depth_jump=config.max_depth_jump, colors=image_small)
    return Reconstruction(image=image_small, depth=depth, mask=foreground, prediction=prediction, camera=camera,
                          mesh=mesh, target=target, z_range=_z_range(depth, target, config), frame=config.frame)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def depth_preview(depth: np.ndarray) -> np.ndarray:
    """(H, W) z-depth → (H, W, 3) uint8 picture for looking at: Viridis stretched over the surface
    pixels, near = bright (as the viewer's depth panel), white where there is no surface."""
    from plotly.colors import hex_to_rgb, sequential

    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    out = np.full((*depth.shape, 3), 255, dtype=np.uint8)
    if not valid.any():
        return out
    low, high = depth[valid].min(), depth[valid].max()
    t = (high - depth[valid]) / max(high - low, 1e-9)  # 1 = nearest
    stops = np.array([hex_to_rgb(c) for c in sequential.Viridis], dtype=np.float64)
    knots = np.linspace(0.0, 1.0, len(stops))
    rgb = np.stack([np.interp(t, knots, stops[:, channel]) for channel in range(3)], axis=-1)
    out[valid] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return out


def save_reconstruction(rec: Reconstruction, out_dir: str | os.PathLike[str], *,
                        stem: str = "reconstruction") -> dict[str, Path]:
    """Write a reconstruction's files into ``out_dir`` (each atomically) and return their paths.

    Keys and files:
        ``mesh``: ``<stem>.ply`` (binary PLY with vertex colours, world units, ``rec.frame``);
        ``depth``: ``<stem>_depth.png``: 16-bit z-depth, linear between ``rec.z_range`` (the 16-bit format of docs/data-formats.md;
        read it with :func:`helpers.base.depth_png.read_depth_png`);
        ``depth_json``: ``<stem>_depth.json``: that near/far, the camera, the target and the frame;
        ``depth_preview``: ``<stem>_depth_preview.png``: colour picture of the depth (:func:`depth_preview`);
        ``image``: ``<stem>_image.png``: the square crop the depth belongs to;
        ``viewer``: ``<stem>_viewer.html``: image, depth and mesh side by side, plotly.js embedded (offline).
    """

    out = Path(out_dir)
    near, far = rec.z_range
    paths = {
        "mesh": save_mesh(rec.mesh, out / f"{stem}.ply"),
        "depth": write_depth_png(out / f"{stem}_depth.png", rec.depth, near, far),
    }
    info = {
        "near": near,
        "far": far,
        "encoding": "16-bit camera-space z-depth in EG3D world units, linear between near and far; 0 = no surface",
        "metric": rec.target == "metric_z",  # False: the scale is the assumed depth_range, not measured
        "target": rec.target,
        "frame": rec.frame,
        "resolution": int(rec.depth.shape[0]),
        "camera": [float(x) for x in rec.camera],
        "foreground_pixels": int(rec.mask.sum()),
        "mesh_vertices": rec.mesh.num_vertices,
        "mesh_faces": rec.mesh.num_faces,
    }
    paths["depth_json"] = write_text_atomic(out / f"{stem}_depth.json", json.dumps(info, indent=2))
    paths["depth_preview"] = write_png_atomic(out / f"{stem}_depth_preview.png", depth_preview(rec.depth))
    paths["image"] = write_png_atomic(out / f"{stem}_image.png", rec.image)
    sample = ViewerSample(name=stem, mesh=rec.mesh, image=rec.image, depth=rec.depth)
    style = MeshStyle(view="eg3d" if rec.frame == "world" else "camera")
    paths["viewer"] = export_html(sample, out / f"{stem}_viewer.html", title=f"{stem}: reconstruction", style=style)
    return paths
