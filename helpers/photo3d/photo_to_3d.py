"""One face photo → its 3D face, by one of the original work's three methods, from one common start.

Every method starts as ``python -m helpers invert`` does: dlib face detection and 68 landmarks, the FFHQ/EG3D crop
(the largest face unless ``face`` says otherwise; ``aligned=True`` keeps a photo that already is a crop) and the
EG3D camera fitted to the landmarks. Then:

- ``"depth"``: a depth model (default the original's published Attention U-Net) predicts the crop's depth, mapped to
  camera z in ``depth_range`` (an assumption for normalised models) and back-projected through the fitted camera;
- ``"latent"``: an encoder predicts EG3D's latent from the crop; EG3D renders it through the fitted camera;
- ``"pti"``: PTI inverts the crop into EG3D seen from the fitted camera (the slowest, most faithful).

Results (:class:`PhotoReconstruction`): depth in EG3D world units (camera z, 0 off the face), the mesh in EG3D's
world frame (the cameras' frame: y up, the face looks towards +z), cameras as 25-vectors
(:mod:`helpers.base.cameras`). :class:`PhotoReconstructor` loads the models once for many photos.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from helpers.base.photo import load_rgb
from helpers.base.runtime import resolve_device
from helpers.depth.models import PUBLISHED_UNET, LoadedDepthModel, load_depth_model
from helpers.depth.reconstruction import FRONTAL_FACE_Z_RANGE, ReconstructConfig, reconstruct
from helpers.eg3d import load as load_generator
from helpers.invert.align import AlignConfig, AlignedFace, align_crop, align_face
from helpers.invert.camera_fit import CameraEstimate, CameraFitConfig, estimate_camera
from helpers.invert.inversion import InversionConfig, invert_aligned
from helpers.invert.lpips_weights import load_lpips_nets
from helpers.invert.pti import PTIConfig
from helpers.invert.quality import photo_quality
from helpers.latent.encoder import LatentEncoder, load_latent_encoder
from helpers.latent.infer import predict_w, reconstruct_from_latent
from helpers.latent.published_regressors import PublishedCodeRegressor
from helpers.mesh import Mesh

__all__ = ["DEFAULT_MODELS", "METHODS", "Method", "PhotoConfig", "PhotoReconstruction", "PhotoReconstructor",
           "reconstruct_photo"]

Method = Literal["depth", "latent", "pti"]
METHODS: tuple[str, ...] = ("depth", "latent", "pti")
#: What each method uses when no ``model`` is given: the original work's published models.
DEFAULT_MODELS: dict[str, str] = {"depth": PUBLISHED_UNET, "latent": "published-code-regressor-vit", "pti": ""}


@dataclass(frozen=True)
class PhotoConfig:
    """How :func:`reconstruct_photo` runs.

    Attributes:
        method: ``"depth"``, ``"latent"`` or ``"pti"`` (module docstring).
        model: depth: a source of :func:`helpers.depth.models.load_depth_model`; latent: of
            :func:`helpers.latent.encoder.load_latent_encoder`; None: :data:`DEFAULT_MODELS`. Not used by ``pti``.
        generator: latent and pti: the EG3D checkpoint (:func:`helpers.eg3d.load`: a name, a file or
            ``"tiny-random"``).
        aligned: the photo already is an FFHQ/EG3D crop: only its landmarks are detected.
        face: which face: ``"largest"``, ``"only"`` or an index into the largest-first list.
        resolution: depth: side of the depth map and of the mesh grid, pixels.
        depth_range: depth: (near, far) camera z (world units) that a normalised prediction is spread over.
        mesh_resolution, mesh_level: latent and pti: marching cubes on a mesh_resolution³ lattice at mesh_level.
        pti: latent refinement settings of the ``pti`` method (:class:`helpers.invert.pti.PTIConfig`).
        lpips: pti: LPIPS weights for :func:`helpers.invert.lpips_weights.load_lpips_nets` (``"pretrained"`` downloads once the
            networks the PTI settings use).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``…
        cache_dir: where published weights are cached (None: the toolkit's cache).
    """

    method: Method = "depth"
    model: str | None = None
    generator: str = "ffhq512-128"
    aligned: bool = False
    face: str | int = "largest"
    resolution: int = 128
    depth_range: tuple[float, float] = FRONTAL_FACE_Z_RANGE
    mesh_resolution: int = 256
    mesh_level: float = 10.0
    pti: PTIConfig = field(default_factory=PTIConfig)
    lpips: str = "pretrained"
    device: str = "auto"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        AlignConfig(face=self.face)  # validates the face choice
        ReconstructConfig(depth_range=self.depth_range, resolution=self.resolution)  # validates both
        if self.mesh_resolution < 8:
            raise ValueError(f"mesh_resolution must be >= 8, got {self.mesh_resolution}")

    @property
    def model_source(self) -> str:
        """What the method loads: ``model``, else its default (the EG3D checkpoint for ``pti``)."""
        return self.model or DEFAULT_MODELS[self.method] or self.generator


@dataclass
class PhotoReconstruction:
    """One photo in 3D (see the module docstring for units and frames).

    Attributes:
        method, model, model_source: the method, the model's name and where it came from (registry name or file).
        photo: (H, W, 3) uint8, the photo as read (EXIF orientation applied).
        aligned: the :class:`helpers.invert.align.AlignedFace`: 512² crop, 68 landmarks in the crop and the photo,
            the crop's quad in photo pixels.
        camera: (25,) float32 EG3D camera fitted to the landmarks; camera_estimate: the fit.
        image: (S, S, 3) uint8 what the method reconstructs the face as: the crop (depth) or EG3D's render.
        depth: (R, R) float32 camera z-depth, world units, 0 off the face; mask: (R, R) bool face pixels.
        mesh: the face's surface in EG3D world units and frame.
        depth_range: (near, far): the assumed range a normalised depth was spread over (depth), or the z range of
            the render (latent, pti).
        depth_range_assumed: whether ``depth_range`` is an assumption (True for normalised depth models).
        seconds: wall time of each stage.
    """

    method: str
    model: str
    model_source: str
    photo: np.ndarray
    aligned: AlignedFace
    camera: np.ndarray
    camera_estimate: CameraEstimate
    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    mesh: Mesh
    depth_range: tuple[float, float]
    depth_range_assumed: bool
    seconds: dict[str, float]

    def record(self) -> dict[str, Any]:
        """The JSON record of the reconstruction: method, model, the crop (quad in photo pixels), the 68 landmarks
        (photo and crop pixels), the fitted camera and its angles, the depth range and whether it was assumed, and the
        quality record with its flags (:func:`helpers.invert.quality.photo_quality`)."""
        fit = self.camera_estimate
        return {
            "method": self.method,
            "model": {"name": self.model, "source": self.model_source},
            "photo_size": list(self.photo.shape[:2]),
            "crop": {"size": int(self.aligned.image.shape[0]), "quad": self.aligned.quad.tolist(),
                     "face_index": self.aligned.face_index, "faces_found": self.aligned.num_faces},
            "landmarks": {"photo": self.aligned.source_landmarks.tolist(), "crop": self.aligned.landmarks.tolist()},
            "camera": [float(v) for v in self.camera],
            "camera_fit": {"yaw_deg": fit.yaw_deg, "elevation_deg": fit.elevation_deg, "roll_deg": fit.roll_deg,
                           "rms_px": fit.rms_px},
            "depth_range": [float(v) for v in self.depth_range],
            "depth_range_assumed": self.depth_range_assumed,
            "mesh": {"vertices": self.mesh.num_vertices, "faces": self.mesh.num_faces, "frame": "EG3D world"},
            "quality": photo_quality(self.aligned, self.camera_estimate),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


class PhotoReconstructor:
    """The models of one :class:`PhotoConfig`, loaded on first use and kept for every photo."""

    def __init__(self, config: PhotoConfig | None = None) -> None:
        self.config = config or PhotoConfig()
        self.device = resolve_device(self.config.device)
        self._depth: LoadedDepthModel | None = None
        self._encoder: LatentEncoder | PublishedCodeRegressor | None = None
        self._generator: Any = None
        self._lpips: Any = None

    def depth_model(self) -> LoadedDepthModel:
        if self._depth is None:
            self._depth = load_depth_model(self.config.model_source, device=self.device,
                                           cache_dir=self.config.cache_dir)
        return self._depth

    def encoder(self) -> LatentEncoder | PublishedCodeRegressor:
        if self._encoder is None:
            self._encoder = load_latent_encoder(self.config.model_source, device=self.device,
                                                cache_dir=self.config.cache_dir)
        return self._encoder

    def generator(self) -> Any:
        if self._generator is None:
            self._generator = load_generator(self.config.generator, device=self.device, cache_dir=self.config.cache_dir)
        return self._generator

    def lpips(self) -> Any:
        if self._lpips is None:
            self._lpips = load_lpips_nets(self.config.lpips, self.config.pti.lpips_nets, device=self.device,
                                          cache_dir=self.config.cache_dir)
        return self._lpips

    def load(self) -> PhotoReconstructor:
        """Load what the method needs now (downloads happen here), so that failures show before any photo."""
        {"depth": self.depth_model, "latent": lambda: (self.encoder(), self.generator()),
         "pti": lambda: (self.generator(), self.lpips())}[self.config.method]()
        return self

    def align(self, photo: Any) -> tuple[np.ndarray, AlignedFace, CameraEstimate, dict[str, float]]:
        """The common start: the photo, its crop with landmarks, the camera fit, and their seconds."""
        config = self.config
        began = time.perf_counter()
        rgb = load_rgb(photo)
        align_config = AlignConfig(face=config.face)
        aligned = align_crop(rgb, align_config) if config.aligned else align_face(rgb, align_config)
        seconds = {"align": time.perf_counter() - began}
        began = time.perf_counter()
        estimate = estimate_camera(aligned.landmarks, image_size=aligned.image.shape[0], config=CameraFitConfig())
        seconds["camera"] = time.perf_counter() - began
        return rgb, aligned, estimate, seconds

    def reconstruct(self, photo: Any) -> PhotoReconstruction:
        """One photo (path, PIL image or (H, W, 3) array) in 3D. Raises
        :class:`helpers.invert.align.AlignmentError` (no face, several with ``face="only"``, too small) before any
        model runs."""
        return self.complete(*self.align(photo))

    def complete(self, rgb: np.ndarray, aligned: AlignedFace, estimate: CameraEstimate,
                 seconds: dict[str, float]) -> PhotoReconstruction:
        """The method's part, after :meth:`align` (what :meth:`reconstruct` does in one call)."""
        seconds = dict(seconds)
        camera = np.asarray(estimate.camera, dtype=np.float32)
        began = time.perf_counter()
        method = {"depth": self._by_depth, "latent": self._by_latent, "pti": self._by_pti}[self.config.method]
        name, image, depth, mask, mesh, depth_range, assumed = method(aligned, camera, estimate)
        seconds[self.config.method] = time.perf_counter() - began
        return PhotoReconstruction(method=self.config.method, model=name, model_source=self.config.model_source,
                                   photo=rgb, aligned=aligned, camera=camera, camera_estimate=estimate, image=image,
                                   depth=depth, mask=mask, mesh=mesh, depth_range=depth_range,
                                   depth_range_assumed=assumed, seconds=seconds)

    # -------------------------------------------------------------------------------------------- the methods
    def _by_depth(self, aligned: AlignedFace, camera: np.ndarray, _: CameraEstimate) -> tuple:
        config = self.config
        loaded = self.depth_model()
        rec = reconstruct(aligned.image, ReconstructConfig(depth_range=config.depth_range, resolution=config.resolution,
                                                           camera=tuple(float(v) for v in camera)), model=loaded)
        depth = np.where(rec.mask, rec.depth, 0.0).astype(np.float32)
        return (loaded.config.name, rec.image, depth, rec.mask, rec.mesh, rec.z_range,
                loaded.config.target != "metric_z")

    def _by_latent(self, aligned: AlignedFace, camera: np.ndarray, _: CameraEstimate) -> tuple:
        config = self.config
        generator, encoder = self.generator(), self.encoder()
        w = predict_w(aligned.image, encoder.to(generator.device))
        rec = reconstruct_from_latent(generator, encoder.ws(w), camera=camera, mesh_resolution=config.mesh_resolution,
                                      level=config.mesh_level)
        name = getattr(encoder.config, "name", None) or f"{encoder.config.backbone} encoder"
        return (name, rec.image, rec.depth, rec.mask, rec.mesh, _z_range(rec.depth), False)

    def _by_pti(self, aligned: AlignedFace, camera: np.ndarray, estimate: CameraEstimate) -> tuple:
        config = self.config
        inversion_config = InversionConfig(pti=config.pti, mesh_resolution=config.mesh_resolution,
                                           mesh_level=config.mesh_level)
        inversion = invert_aligned(aligned.image, camera, self.generator(), self.lpips(), inversion_config,
                                   aligned=aligned, camera_estimate=estimate, progress=True)
        mask = inversion.opacity >= 0.5
        return (f"PTI of {config.generator}", inversion.reconstruction, inversion.depth, mask, inversion.mesh(),
                _z_range(inversion.depth), False)


def _z_range(depth: np.ndarray) -> tuple[float, float]:
    """(near, far) of a rendered z-depth map's surface pixels (0 = none); (0, 0) when there is no surface."""
    surface = depth[depth > 0]
    return (float(surface.min()), float(surface.max())) if surface.size else (0.0, 0.0)


def reconstruct_photo(photo: Any, config: PhotoConfig | None = None, **overrides: Any) -> PhotoReconstruction:
    """One face photo in 3D (module docstring): :class:`PhotoReconstructor` for one photo; ``overrides`` replace
    fields of ``config`` (e.g. ``method="latent"``)."""
    config = replace(config or PhotoConfig(), **overrides)
    with torch.inference_mode(mode=config.method != "pti"):  # PTI optimises; the others only predict
        return PhotoReconstructor(config).reconstruct(photo)
