"""EG3D camera conventions: poses, intrinsics, the 25-float camera vector, viewpoint sampling.

Conventions (identical to the official EG3D code and its checkpoints):

- **World frame**: y up, the face looks towards +z, the head fits in the box [-0.5, 0.5]³ (EG3D world units).
  Cameras orbit the world origin at ``radius`` (2.7) and look at the pivot ``(0, 0, 0.2)``.
- **cam2world**: 4×4 camera-to-world matrix in the OpenCV convention: its columns are the camera's x (image right),
  y (image down) and z (viewing direction) axes in world coordinates, then the camera position.
- **Intrinsics**: 3×3, normalised by the image size: ``[[f, 0, cx], [0, f, cy], [0, 0, 1]]`` with ``cx = cy = 0.5``;
  ``f = 4.2647`` for every official FFHQ checkpoint. A pixel (row i, column j) of an H×W image has its centre at
  ``((j + 0.5) / W, (i + 0.5) / H)``.
- **Camera vector** (EG3D's ``c``, the ``dataset.json`` label): 25 floats, the cam2world matrix flattened row-major
  (16) followed by the intrinsics flattened row-major (9).
- **Angles** (radians): ``yaw = pitch = 0`` is the frontal view. ``yaw`` is the true azimuth: positive yaw moves the
  camera towards world +x (the right side of the frontal image). ``pitch`` is *not* an angle:
  ``sin(elevation) = -(2/π)·pitch``; positive pitch puts the camera below the face, looking up. Use
  :func:`pitch_to_elevation` and :func:`elevation_to_pitch` to convert.

Pose functions work on torch tensors (batched, float32 by default, as the official code computes them); :func:`pack`
and :func:`unpack` accept numpy arrays or tensors and return the same kind. Design notes: docs/design/base.md (cameras).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch

#: Normalised focal length of every official FFHQ EG3D checkpoint and of ``dataset.json``.
FOCAL = 4.2647
#: Focal length the original project's data generator actually rendered with: ``gen_samples.py``
#: declares ``--fov-deg`` as an integer, so its 18.837° default became 18° (a bug we do not copy).
SEED_FOCAL = 4.4652
#: Camera orbit radius and look-at pivot of the official FFHQ checkpoints (world units).
RADIUS = 2.7
PIVOT = (0.0, 0.0, 0.2)
#: Number of floats in an EG3D camera vector.
CAMERA_DIM = 25

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)
_Scalars = float | Sequence[float] | np.ndarray | torch.Tensor


# --------------------------------------------------------------------------------------------
# Intrinsics
# --------------------------------------------------------------------------------------------


def intrinsics(focal: float = FOCAL, cx: float = 0.5, cy: float = 0.5) -> torch.Tensor:
    """(3, 3) float32 normalised intrinsics for a focal length in units of the image size."""
    return torch.tensor([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]], dtype=torch.float32)


def fov_to_focal(fov_degrees: float, *, official: bool = True) -> float:
    """Normalised focal length for a *diagonal* field of view in degrees.

    ``official=True`` reproduces EG3D's ``FOV_to_intrinsics`` exactly, including its rounded
    constants (π ≈ 3.14159, √2 ≈ 1.414): 18.837° gives 4.263391 (not the 4.2647 of the
    checkpoints) and 18° gives 4.4651747. ``official=False`` uses exact constants
    (``f = 1 / (√2 · tan(fov / 2))``); the checkpoints' 4.2647 is a diagonal FOV of 18.8285°.
    """
    if not 0.0 < fov_degrees < 180.0:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_degrees}")
    if official:
        return float(1.0 / (math.tan(fov_degrees * 3.14159 / 360.0) * 1.414))
    return float(1.0 / (math.sqrt(2.0) * math.tan(math.radians(fov_degrees) / 2.0)))


def intrinsics_from_fov(fov_degrees: float, *, official: bool = True) -> torch.Tensor:
    """(3, 3) normalised intrinsics for a diagonal field of view (see :func:`fov_to_focal`)."""
    return intrinsics(fov_to_focal(fov_degrees, official=official))


# --------------------------------------------------------------------------------------------
# Poses
# --------------------------------------------------------------------------------------------


def _column(values: _Scalars, dtype: torch.dtype, device: torch.device | str | None) -> torch.Tensor:
    return torch.as_tensor(values, dtype=dtype, device=device).reshape(-1, 1)


def look_at(
    position: torch.Tensor,
    target: _Scalars = PIVOT,
    *,
    up: Sequence[float] = (0.0, 1.0, 0.0),
) -> torch.Tensor:
    """(N, 4, 4) OpenCV cam2world matrices for cameras at ``position`` (N, 3) looking at ``target``.

    ``up`` is the world's up direction; the camera's y axis (image down) points away from it.
    Built exactly like EG3D's ``create_cam2world_matrix`` so float32 results match the official ones.
    """
    position = torch.as_tensor(position)
    if not position.is_floating_point():
        position = position.float()
    position = position.reshape(-1, 3)
    target_t = torch.as_tensor(target, dtype=position.dtype, device=position.device).reshape(-1, 3)
    forward = _normalize(target_t - position)
    up_t = torch.tensor(up, dtype=position.dtype, device=position.device).expand_as(forward)
    right = -_normalize(torch.linalg.cross(up_t, forward, dim=-1))
    down = _normalize(torch.linalg.cross(forward, right, dim=-1))
    cam2world = torch.eye(4, dtype=position.dtype, device=position.device).repeat(len(forward), 1, 1)
    cam2world[:, :3, :3] = torch.stack((right, down, forward), dim=-1)
    cam2world[:, :3, 3] = position
    return cam2world


def _normalize(v: torch.Tensor) -> torch.Tensor:
    return v / torch.linalg.norm(v, dim=-1, keepdim=True)


def official_lookat_pose(
    horizontal: _Scalars,
    vertical: _Scalars,
    *,
    lookat: _Scalars = PIVOT,
    radius: float = RADIUS,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(N, 4, 4) cam2world exactly as EG3D's ``LookAtPoseSampler.sample`` with zero std-dev.

    ``horizontal`` and ``vertical`` are the sampler's own arguments (π/2, π/2 = frontal); a
    scalar broadcasts against a sequence. The
    camera sits on a sphere of ``radius`` around the **world origin** (not around ``lookat``,
    another quirk of the official sampler) and looks at ``lookat``. Unlike the official sampler
    this draws no random numbers.
    """
    theta, v = torch.broadcast_tensors(_column(horizontal, dtype, device), _column(vertical, dtype, device))
    v = torch.clamp(v, 1e-5, math.pi - 1e-5)
    # The sampler treats vertical/π as a uniform variate and maps it to a polar angle so that
    # camera heights are uniform on the sphere: cos(phi) = 1 - 2·vertical/π.
    phi = torch.arccos(1 - 2 * (v / math.pi))
    position = torch.cat(
        [
            radius * torch.sin(phi) * torch.cos(math.pi - theta),
            radius * torch.cos(phi),
            radius * torch.sin(phi) * torch.sin(math.pi - theta),
        ],
        dim=1,
    )
    return look_at(position, lookat)


def orbit_pose(
    yaw: _Scalars = 0.0,
    pitch: _Scalars = 0.0,
    *,
    radius: float = RADIUS,
    lookat: _Scalars = PIVOT,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(N, 4, 4) cam2world for yaw/pitch offsets from the frontal view (see the module doc).

    Equivalent to the official ``LookAtPoseSampler.sample(π/2 + yaw, π/2 + pitch, lookat, radius)``.
    """
    # The official callers add π/2 in float64 (numpy) and the sampler casts the sum to float32.
    horizontal = torch.as_tensor(yaw, dtype=torch.float64) + math.pi / 2
    vertical = torch.as_tensor(pitch, dtype=torch.float64) + math.pi / 2
    return official_lookat_pose(horizontal, vertical, lookat=lookat, radius=radius, dtype=dtype, device=device)


def orbit_angles(cam2world: ArrayOrTensor) -> tuple[ArrayOrTensor, ArrayOrTensor, ArrayOrTensor]:
    """Inverse of :func:`orbit_pose` for the camera position: ``(yaw, pitch, radius)``.

    Works for (..., 4, 4) cam2world matrices (numpy or torch). Only the position is used: the
    orbit is around the world origin, whatever the camera looks at.
    """
    x, y, z = cam2world[..., 0, 3], cam2world[..., 1, 3], cam2world[..., 2, 3]
    lib = torch if isinstance(cam2world, torch.Tensor) else np
    radius = lib.sqrt(x * x + y * y + z * z)
    yaw = lib.arctan2(z, -x) - math.pi / 2
    pitch = -(math.pi / 2) * y / radius
    return yaw, pitch, radius


#: Head-yaw bins of the large-pose evaluation (LPFF's point: what happens away from the frontal view), degrees of
#: ``|yaw|``: ``(low, high, name)``, low inclusive.
YAW_BINS: tuple[tuple[float, float, str], ...] = (
    (0.0, 20.0, "frontal (within ±20°)"),
    (20.0, 45.0, "±20–45°"),
    (45.0, 70.0, "±45–70°"),
    (70.0, math.inf, "beyond ±70°"),
)


def yaw_bins(cameras: ArrayOrTensor) -> list[str | None]:
    """The :data:`YAW_BINS` names of (N, 25) camera vectors' yaws (:func:`orbit_angles` of their positions, all at
    once), None for a camera that is not finite (datasets without cameras fill them with NaN)."""
    c2w = np.asarray(cameras, dtype=np.float64).reshape(-1, 25)[:, :16].reshape(-1, 4, 4)
    finite = np.isfinite(c2w).all(axis=(1, 2))
    placeholder = np.eye(4)
    placeholder[2, 3] = 1.0  # any camera off the origin: its bin is dropped below
    yaw = np.abs(np.degrees(orbit_angles(np.where(finite[:, None, None], c2w, placeholder))[0]))
    yaw = np.minimum(yaw, 360.0 - yaw)  # atan2 wraps behind the head
    index = np.searchsorted([high for _, high, _ in YAW_BINS], yaw, side="right")
    return [YAW_BINS[i][2] if ok else None for i, ok in zip(index, finite)]


def yaw_bin(camera: ArrayOrTensor) -> str | None:
    """:func:`yaw_bins` of one (25,) camera vector."""
    return yaw_bins(camera)[0]


def pitch_to_elevation(pitch: float | np.ndarray) -> float | np.ndarray:
    """Camera elevation angle (radians, positive = above the origin) for an official pitch offset."""
    return np.arcsin(np.clip(-2.0 * np.asarray(pitch) / math.pi, -1.0, 1.0))


def elevation_to_pitch(elevation: float | np.ndarray) -> float | np.ndarray:
    """Official pitch offset that places the camera at ``elevation`` radians (inverse of the above)."""
    return -(math.pi / 2) * np.sin(np.asarray(elevation))


# --------------------------------------------------------------------------------------------
# The 25-float camera vector
# --------------------------------------------------------------------------------------------


def pack(cam2world: ArrayOrTensor, intrinsics: ArrayOrTensor) -> ArrayOrTensor:
    """(..., 25) camera vectors from (..., 4, 4) cam2world and (..., 3, 3) or (3, 3) intrinsics.

    numpy in, numpy out; torch in, torch out. Intrinsics broadcast over the batch.
    """
    if cam2world.shape[-2:] != (4, 4):
        raise ValueError(f"cam2world must have shape (..., 4, 4), got {tuple(cam2world.shape)}")
    if intrinsics.shape[-2:] != (3, 3):
        raise ValueError(f"intrinsics must have shape (..., 3, 3), got {tuple(intrinsics.shape)}")
    batch = cam2world.shape[:-2]
    flat_pose = cam2world.reshape(*batch, 16)
    if isinstance(cam2world, torch.Tensor):
        k = torch.as_tensor(intrinsics, dtype=cam2world.dtype, device=cam2world.device)
        return torch.cat([flat_pose, k.reshape(*k.shape[:-2], 9).expand(*batch, 9)], dim=-1)
    k = np.asarray(intrinsics, dtype=cam2world.dtype)
    return np.concatenate([flat_pose, np.broadcast_to(k.reshape(*k.shape[:-2], 9), (*batch, 9))], axis=-1)


def unpack(camera: ArrayOrTensor) -> tuple[ArrayOrTensor, ArrayOrTensor]:
    """Split (..., 25) camera vectors into (..., 4, 4) cam2world and (..., 3, 3) intrinsics."""
    check_camera(camera)
    batch = camera.shape[:-1]
    return camera[..., :16].reshape(*batch, 4, 4), camera[..., 16:].reshape(*batch, 3, 3)


def check_camera(camera: Any) -> None:
    """Raise a ValueError that says what is wrong if ``camera`` is not a (..., 25) vector batch."""
    shape = getattr(camera, "shape", None)
    if shape is None:
        raise ValueError(f"an EG3D camera must be a numpy array or tensor, got {type(camera).__name__}")
    if len(shape) == 0 or shape[-1] != CAMERA_DIM:
        raise ValueError(
            f"an EG3D camera vector has 25 values (16 cam2world + 9 intrinsics), got shape {tuple(shape)}"
        )


def camera_vector(
    yaw: _Scalars = 0.0,
    pitch: _Scalars = 0.0,
    roll: _Scalars = 0.0,
    *,
    radius: float = RADIUS,
    lookat: _Scalars = PIVOT,
    focal: float = FOCAL,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(N, 25) camera vectors for yaw/pitch offsets from the frontal view (see the module doc), float32 by default.

    ``roll`` (radians) turns the camera about its viewing axis, which keeps passing through ``lookat``; a positive
    roll turns the image content counter-clockwise as displayed (x right, y down). Roll 0 is the official orbit
    camera bit for bit. The inputs broadcast against each other; tensors keep their gradients.
    """
    pose = orbit_pose(yaw, pitch, radius=radius, lookat=lookat, dtype=dtype, device=device)
    roll_t = _column(roll, dtype, pose.device)
    count = max(len(pose), len(roll_t))
    pose, roll_t = pose.expand(count, 4, 4), roll_t.expand(count, 1)
    cos, sin = torch.cos(roll_t), torch.sin(roll_t)
    right, down = pose[:, :3, 0], pose[:, :3, 1]
    # The camera turned by roll about its z axis: x' = cos·x + sin·y, y' = cos·y − sin·x (exact for roll 0).
    rotation = torch.stack([cos * right + sin * down, cos * down - sin * right, pose[:, :3, 2]], dim=-1)
    cam2world = torch.cat([torch.cat([rotation, pose[:, :3, 3:]], dim=-1), pose[:, 3:, :]], dim=-2)
    return pack(cam2world, intrinsics(focal).to(cam2world.device))


def conditioning_camera(
    batch_size: int = 1, *, focal: float = FOCAL, device: torch.device | str | None = None
) -> torch.Tensor:
    """(N, 25) frontal camera the official scripts condition the FFHQ generator on."""
    return camera_vector(0.0, 0.0, focal=focal, device=device).expand(batch_size, CAMERA_DIM).clone()


def camera_from_angles(
    yaw: float | torch.Tensor,
    pitch: float | torch.Tensor,
    roll: float | torch.Tensor = 0.0,
    *,
    radius: float = RADIUS,
    pivot: Sequence[float] = PIVOT,
    focal: float = FOCAL,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(..., 25) EG3D camera vectors for orbit angles (radians), differentiable in the angles.

    ``yaw`` and ``pitch`` are the official orbit parameters of :func:`orbit_pose` (``pitch`` is
    not an angle: ``sin(elevation) = −(2/π)·pitch``); ``roll`` rotates the camera about its viewing axis (a
    positive roll turns the image content counter-clockwise as displayed, x right and y down). The camera sits
    at ``radius`` from the world origin and its optical axis passes through ``pivot`` for any roll. Inputs
    broadcast; scalars give a (25,) tensor. ``dtype`` defaults to the inputs' floating dtype, else float32. This
    is :func:`camera_vector` with the inputs' shape, dtype and device kept.
    """
    tensors = [a for a in (yaw, pitch, roll) if isinstance(a, torch.Tensor)]
    if dtype is None:
        dtype = next((a.dtype for a in tensors if a.is_floating_point()), torch.float32)
    if device is None and tensors:
        device = tensors[0].device
    yaw_t, pitch_t, roll_t = torch.broadcast_tensors(
        *(torch.as_tensor(a, device=device) for a in (yaw, pitch, roll))
    )
    camera = camera_vector(yaw_t.reshape(-1), pitch_t.reshape(-1), roll_t.reshape(-1), radius=radius,
                           lookat=tuple(pivot), focal=focal, dtype=dtype, device=device)
    return camera.reshape(*yaw_t.shape, 25)


def project_points(points3d: ArrayOrTensor, camera: ArrayOrTensor,
                   image_size: int | tuple[int, int] = 512) -> ArrayOrTensor:
    """Pixel index coordinates (..., P, 2) of world points (P, 3) seen by EG3D camera(s) (..., 25).

    Pinhole projection with the camera's normalised intrinsics: a camera-frame point (x, y, z) lands at the
    normalised coordinate ``u = fx·x/z + cx`` (and v likewise), i.e. at pixel index ``u·W − 0.5`` (the centre of
    column j is at x = j). ``image_size`` is W = H or (H, W). numpy in, numpy out;
    torch in, torch out (differentiable). Points behind the camera are not detected.
    """
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    cam2world = camera[..., :16].reshape(*camera.shape[:-1], 4, 4)
    k = camera[..., 16:].reshape(*camera.shape[:-1], 3, 3)
    rotation, position = cam2world[..., :3, :3], cam2world[..., None, :3, 3]
    # world → camera: Rᵀ(X − t), written for row vectors.
    local = (points3d - position) @ rotation
    uvw = local @ k.swapaxes(-1, -2)
    u = uvw[..., 0] / uvw[..., 2] * width - 0.5
    v = uvw[..., 1] / uvw[..., 2] * height - 0.5
    stack = torch.stack if isinstance(u, torch.Tensor) else np.stack
    return stack([u, v], -1)


_MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=torch.float64))
#: u → 1 − u on normalised pixel coordinates.
_FLIP_U = torch.tensor([[-1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
_FLIP_X = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))


def flip_camera(camera: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(..., 25) camera vectors of the horizontally flipped image: the camera of the world mirrored about x = 0.

    ``cam2world' = M·cam2world·M`` with ``M = diag(−1, 1, 1, 1)`` and ``K' = F_u·K·diag(−1, 1, 1)`` where
    ``F_u`` maps u to 1 − u (so ``cx' = 1 − cx``). Applying it twice gives the camera back.
    """
    c = torch.as_tensor(camera)
    if not c.is_floating_point():
        c = c.float()
    check_camera(c)
    pose, k = unpack(c)
    pose_new = (_MIRROR @ pose.double() @ _MIRROR).to(c.dtype)
    k_new = (_FLIP_U @ k.double() @ _FLIP_X).to(c.dtype)
    return pack(pose_new, k_new)


def focal_of(camera: ArrayOrTensor) -> ArrayOrTensor:
    """Normalised focal length(s) fx of (..., 25) camera vectors."""
    check_camera(camera)
    return camera[..., 16]


def pixel_directions(intrinsics: ArrayOrTensor, height: int, width: int) -> ArrayOrTensor:
    """(H, W, 3) camera-frame directions through the pixel centres, scaled so that z = 1.

    ``K⁻¹ · [u, v, 1]`` with ``u = (j + 0.5) / W`` and ``v = (i + 0.5) / H`` for normalised
    intrinsics (skew allowed). A point at z-depth ``z`` on pixel (i, j) is ``z · d[i, j]`` in the
    camera frame. numpy in, numpy out; torch in, torch out (same dtype/device).
    """
    if intrinsics.shape != (3, 3):
        raise ValueError(f"intrinsics must be a single (3, 3) matrix, got {tuple(intrinsics.shape)}")
    if isinstance(intrinsics, torch.Tensor):
        k = intrinsics.double()
        u = (torch.arange(width, dtype=torch.float64, device=k.device) + 0.5) / width
        v = (torch.arange(height, dtype=torch.float64, device=k.device) + 0.5) / height
        vv, uu = torch.meshgrid(v, u, indexing="ij")
        pix = torch.stack([uu, vv, torch.ones_like(uu)], dim=-1)
        return (pix @ torch.linalg.inv(k).T).to(intrinsics.dtype)
    k = np.asarray(intrinsics, dtype=np.float64)
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height
    vv, uu = np.meshgrid(v, u, indexing="ij")
    pix = np.stack([uu, vv, np.ones_like(uu)], axis=-1)
    dtype = intrinsics.dtype if np.issubdtype(np.asarray(intrinsics).dtype, np.floating) else np.float64
    return (pix @ np.linalg.inv(k).T).astype(dtype)


# --------------------------------------------------------------------------------------------
# The original project's camera files
# --------------------------------------------------------------------------------------------


def from_seed_camera(camera: np.ndarray | torch.Tensor, *, focal: float = SEED_FOCAL) -> np.ndarray:
    """(25,) float32 camera from one of the original project's ``cam_poses/*.npy`` files.

    Those files hold a (1, 25) array. The original generator rendered with focal 4.4652 (an
    FOV truncated to 18°, see :data:`SEED_FOCAL`), so the returned vector carries the focal the
    pixels were actually rendered with (``focal``), which is what back-projecting their depth
    needs. The pose part is copied unchanged.
    """
    c = np.asarray(camera.detach().cpu() if isinstance(camera, torch.Tensor) else camera, dtype=np.float32)
    if c.shape not in {(1, CAMERA_DIM), (CAMERA_DIM,)}:
        raise ValueError(f"the original's camera files hold a (1, 25) array, got shape {c.shape}")
    cam2world, k = unpack(c.reshape(CAMERA_DIM))
    if not np.allclose(cam2world[3], [0, 0, 0, 1], atol=1e-5) or not np.allclose(k[2], [0, 0, 1], atol=1e-5):
        raise ValueError("not an EG3D camera vector: last rows must be [0,0,0,1] (pose) and [0,0,1] (intrinsics)")
    k = k.copy()
    k[0, 0] = k[1, 1] = focal
    return pack(cam2world, k).astype(np.float32)


def to_seed_camera(camera: np.ndarray | torch.Tensor) -> np.ndarray:
    """(1, 25) float32 array in the layout of the original project's ``cam_poses/*.npy`` files."""
    c = np.asarray(camera.detach().cpu() if isinstance(camera, torch.Tensor) else camera, dtype=np.float32)
    check_camera(c)
    if c.size != CAMERA_DIM:
        raise ValueError(f"expected a single camera, got shape {c.shape}")
    return c.reshape(1, CAMERA_DIM)
