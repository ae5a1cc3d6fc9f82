"""Readers for the original project's data layouts: the published synthetic set and Prosopo.

Layouts (one file per sample in each sub-folder, matched by file **stem**; the names themselves are not
documented, so any stem present in the image folder is a sample id)::
    synthetic (the published EG3D set)        prosopo (real FFHQ faces, PTI pseudo ground truth)
      images/<id>.png        RGB 512²           input/<id>.png|.jpg     RGB
      depth128x128/<id>.png  8-bit depth        depth128x128/<id>.png   8-bit depth
      cam_poses/<id>.npy     (1, 25) camera     latent/<id>.npy         (1, 14, 512) ws
      latent/<id>.npy        (1, 14, 512) ws
      shapes/<id>.*          mesh, voxel units

Depth is read as float32 in [-1, 1], 1 = nearest, no metric scale: ``x/255·2 − 1`` as the original's evaluation
(``depth_mapping="per_image"``: its mesh reader's min–max). Synthetic cameras carry focal 4.4652
(:data:`helpers.base.cameras.SEED_FOCAL`; ``focal=None`` keeps the file's); Prosopo's ``camera`` is None. No masks
were published: the fallback is ``depth > mask_threshold`` (default −1; ``None``: all true), a heuristic, not ground
truth. A stem without its depth (or camera) file raises :class:`OriginalLayoutError` (``missing="error"``, default)
or is left out and recorded in :attr:`OriginalFolder.skipped` (``missing="skip"``); hidden files are ignored.

Design notes: docs/design/datasets.md (original_layouts): depth, cameras, the mask fallback and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from helpers import __version__
from helpers.base import cameras
from helpers.base.atomic import link_or_copy, write_npy_atomic
from helpers.base.depth_png import legacy_depth_from_values, read_legacy_depth_values
from helpers.dataset_folder.layout import (
    FOLDERS,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    DatasetFolderError,
    stored_latent,
)
from helpers.dataset_folder.manifest import ManifestWriter, read_samples, write_dataset_json
from helpers.dataset_folder.meta import prepare_folder

Layout = Literal["synthetic", "prosopo"]
MissingPolicy = Literal["error", "skip"]
#: Image files accepted in the image folder, in the order a stem's file is chosen when several exist.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class LayoutSpec:
    """Sub-folder names of an original layout (None: the layout has no such folder)."""

    images: str
    depth: str
    cameras: str | None
    latents: str | None
    shapes: str | None


#: The two original layouts. Depth, camera and latent folder names are those of :data:`helpers.dataset_folder.layout.FOLDERS`
#: (``--legacy`` copies of this toolkit use the same names).
LAYOUTS: dict[str, LayoutSpec] = {
    "synthetic": LayoutSpec(images="images", depth=FOLDERS["legacy_depth"], cameras=FOLDERS["legacy_camera"],
                            latents=FOLDERS["legacy_latent"], shapes="shapes"),
    "prosopo": LayoutSpec(images="input", depth=FOLDERS["legacy_depth"], cameras=None,
                          latents=FOLDERS["legacy_latent"], shapes=None),
}


class OriginalLayoutError(DatasetFolderError):
    """A folder is not an original layout, or some of its samples miss files."""


def detect_layout(root: str | os.PathLike[str]) -> Layout | None:
    """``"synthetic"`` (``images/`` + ``depth128x128/``), ``"prosopo"`` (``input/`` + ``depth128x128/``) or None."""
    root = Path(root)
    for name in ("synthetic", "prosopo"):
        spec = LAYOUTS[name]
        if (root / spec.images).is_dir() and (root / spec.depth).is_dir():
            return name  # type: ignore[return-value]
    return None


def fallback_mask(depth: np.ndarray, threshold: float | None = -1.0) -> np.ndarray:
    """Foreground guess for a legacy [-1, 1] depth map (no masks were published): ``depth > threshold``;
    ``threshold=None`` → every pixel. See the module doc for why −1 is the default."""
    depth = np.asarray(depth)
    if threshold is None:
        return np.ones(depth.shape, dtype=bool)
    return depth > threshold


def read_original_camera(path: str | os.PathLike[str], focal: float | None = cameras.SEED_FOCAL) -> np.ndarray:
    """(25,) float32 camera from a ``cam_poses/<id>.npy`` file ((1, 25)) with the focal its image was rendered with
    (:func:`helpers.base.cameras.from_seed_camera`); ``focal=None`` keeps the file's focal."""
    raw = np.load(path)
    return cameras.from_seed_camera(raw, focal=float(np.asarray(raw).reshape(-1)[16]) if focal is None else focal)


def read_original_depth(path: str | os.PathLike[str], mask_threshold: float | None = -1.0, *,
                        mapping: str = "fixed") -> tuple[np.ndarray, np.ndarray]:
    """(depth in [-1, 1] with 1 = nearest, :func:`fallback_mask`) of a legacy 8-bit depth PNG, both (R, R).

    ``mapping``: ``"fixed"`` ``x/255·2 − 1``, the original's training and evaluation (its published L1 is against
    that), or ``"per_image"`` min–max, its mesh reader (:func:`helpers.base.depth_png.legacy_depth_from_values`).
    The mask is taken on the per-image map either way: every pixel nearer than the farthest value by default.
    """
    values = read_legacy_depth_values(path)
    per_image = legacy_depth_from_values(values, "per_image")
    depth = per_image if mapping == "per_image" else legacy_depth_from_values(values, mapping)
    return depth, fallback_mask(per_image, mask_threshold)


def _stems(folder: Path, suffixes: tuple[str, ...] | None = None) -> dict[str, Path]:
    """stem -> file of a folder (one scandir, no per-file stat); for a stem with several files the first suffix in
    ``suffixes`` order wins, then the first name."""
    if not folder.is_dir():
        return {}
    rank = {s: i for i, s in enumerate(suffixes)} if suffixes else None
    found: dict[str, tuple[int, Path]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            stem, suffix = os.path.splitext(entry.name)
            order = 0
            if rank is not None:
                if suffix.lower() not in rank:
                    continue
                order = rank[suffix.lower()]
            if stem not in found or (order, entry.name) < (found[stem][0], found[stem][1].name):
                found[stem] = (order, folder / entry.name)
    return {stem: path for stem, (_, path) in found.items()}


@dataclass
class OriginalSample:
    """One sample of an original layout, loaded.

    image: (H, W, 3) uint8 RGB; depth: (R, R) float32 in [-1, 1], 1 = nearest (per-image normalised, no scale);
    mask: (R, R) bool fallback foreground (see the module doc); camera: (25,) float32 EG3D vector with the focal
    the image was rendered with, or None (Prosopo); latent: (num_ws, 512) float32 when asked for and present;
    shape_path: the sample's mesh file in ``shapes/``, if any.
    """

    id: str
    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    camera: np.ndarray | None
    latent: np.ndarray | None
    shape_path: Path | None


class OriginalFolder:
    """Read access to a folder in one of the original layouts: ``len``, ``ids``, ``load(id or index)``.

    Args:
        root: the folder.
        layout: ``"synthetic"``, ``"prosopo"`` or ``"auto"`` (:func:`detect_layout`).
        missing: ``"error"`` or ``"skip"`` for image stems without a depth (or camera) file (module doc).
        focal: focal length the synthetic set's images were rendered with (:data:`helpers.base.cameras.SEED_FOCAL`);
            None keeps the focal stored in the camera files.
        mask_threshold: threshold of :func:`fallback_mask` (None: all-true masks).
        depth_mapping: ``"fixed"`` or ``"per_image"`` (:func:`read_original_depth`).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        layout: Layout | Literal["auto"] = "auto",
        *,
        missing: MissingPolicy = "error",
        focal: float | None = cameras.SEED_FOCAL,
        mask_threshold: float | None = -1.0,
        depth_mapping: str = "fixed",
    ) -> None:
        self.root = Path(root)
        if layout == "auto":
            detected = detect_layout(self.root)
            if detected is None:
                raise OriginalLayoutError(
                    f"{self.root} is not an original layout: expected images/ and depth128x128/ (published synthetic "
                    "set) or input/ and depth128x128/ (Prosopo)"
                )
            layout = detected
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {tuple(LAYOUTS)} or 'auto', got {layout!r}")
        if missing not in ("error", "skip"):
            raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
        self.layout: Layout = layout
        self.spec = LAYOUTS[layout]
        self.focal = focal
        self.mask_threshold = mask_threshold
        self.depth_mapping = depth_mapping
        for name in (self.spec.images, self.spec.depth):
            if not (self.root / name).is_dir():
                raise OriginalLayoutError(f"{self.root} has no {name}/ folder (needed by the {layout} layout)")

        images = _stems(self.root / self.spec.images, IMAGE_SUFFIXES)
        depths = _stems(self.root / self.spec.depth, (".png",))
        camera_dir = self.root / self.spec.cameras if self.spec.cameras else None
        self.has_cameras = camera_dir is not None and camera_dir.is_dir()
        cams = _stems(camera_dir, (".npy",)) if self.has_cameras and camera_dir is not None else {}
        self._latents = _stems(self.root / self.spec.latents, (".npy",)) if self.spec.latents else {}
        self._shapes = _stems(self.root / self.spec.shapes) if self.spec.shapes else {}

        #: stem -> what it lacks, for image stems left out (``missing="skip"``).
        self.skipped: dict[str, str] = {}
        for stem in images:
            lacks = [what for what, have in (("depth", depths), ("camera", cams if self.has_cameras else None))
                     if have is not None and stem not in have]
            if lacks:
                self.skipped[stem] = " and ".join(lacks)
        if self.skipped and missing == "error":
            first = sorted(self.skipped)[:5]
            listed = ", ".join(f"{s} (no {self.skipped[s]})" for s in first)
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            raise OriginalLayoutError(
                f"{self.root}: {len(self.skipped)} of {len(images)} images have no matching file by stem in "
                f"{self.spec.depth}/" + (f" or {self.spec.cameras}/" if self.has_cameras else "")
                + f": {listed}{more}. Pass missing='skip' to leave them out."
            )
        self.ids: list[str] = sorted(stem for stem in images if stem not in self.skipped)
        if not self.ids:
            examples = f" (e.g. {sorted(images)[0]} vs {sorted(depths)[0]})" if images and depths else ""
            raise OriginalLayoutError(
                f"{self.root}: no sample has both an image in {self.spec.images}/ and a depth PNG in "
                f"{self.spec.depth}/ with the same file stem{examples}"
            )
        self._images = images
        self._depths = depths
        self._cameras = cams

    def __len__(self) -> int:
        return len(self.ids)

    def _key(self, key: str | int) -> str:
        return self.ids[key] if isinstance(key, int) else key

    def image_path(self, key: str | int) -> Path:
        return self._images[self._key(key)]

    def depth_path(self, key: str | int) -> Path:
        return self._depths[self._key(key)]

    def shape_path(self, key: str | int) -> Path | None:
        return self._shapes.get(self._key(key))

    def camera_path(self, key: str | int) -> Path | None:
        return self._cameras[self._key(key)] if self.has_cameras else None

    def read_depth(self, key: str | int) -> tuple[np.ndarray, np.ndarray]:
        """(depth in [-1, 1] with 1 = nearest, fallback mask) of one sample, both (R, R)."""
        return read_original_depth(self.depth_path(key), self.mask_threshold, mapping=self.depth_mapping)

    def read_camera(self, key: str | int) -> np.ndarray | None:
        """(25,) float32 camera (see the module doc for the focal), or None when the layout has none."""
        path = self.camera_path(key)
        return None if path is None else read_original_camera(path, self.focal)

    def has_latent(self, key: str | int) -> bool:
        """Whether the sample has a latent file."""
        return self._key(key) in self._latents

    def latent_path(self, key: str | int) -> Path:
        """The sample's latent file ((1, num_ws, 512) ws)."""
        stem = self._key(key)
        if stem not in self._latents:
            raise OriginalLayoutError(f"{self.root}: sample {stem} has no latent file in {self.spec.latents}/")
        return self._latents[stem]

    def read_latent(self, key: str | int) -> np.ndarray:
        """(num_ws, 512) float32 ws of one sample (the files hold (1, num_ws, 512))."""
        latent = np.load(self.latent_path(key)).astype(np.float32)
        return latent[0] if latent.ndim == 3 and latent.shape[0] == 1 else latent

    def load(self, key: str | int, *, latent: bool = False) -> OriginalSample:
        """Every file of one sample (the latent only when ``latent=True``)."""
        from PIL import Image

        stem = self._key(key)
        with Image.open(self.image_path(stem)) as im:
            image = np.asarray(im.convert("RGB"))
        depth, mask = self.read_depth(stem)
        return OriginalSample(
            id=stem, image=image, depth=depth, mask=mask, camera=self.read_camera(stem),
            latent=self.read_latent(stem) if latent else None, shape_path=self.shape_path(stem),
        )


# --------------------------------------------------------------------------------------------
# Conversion to this toolkit's folder format
# --------------------------------------------------------------------------------------------

#: ``generator.name`` of a converted folder's meta.json, per layout.
CONVERTED = {"synthetic": "eg3d-synthetic (original layout)", "prosopo": "prosopo (original layout)"}


def convert_original(src: str | os.PathLike[str], out: str | os.PathLike[str], *,
                     layout: Layout | Literal["auto"] = "auto", missing: MissingPolicy = "error",
                     limit: int | None = None, progress: bool = True) -> Path:
    """Convert a folder of the published synthetic set or of Prosopo to this toolkit's dataset folder format.

    Per sample: the image (hard link, else copy), the camera (synthetic set: with the focal its images were really
    rendered with, :data:`helpers.base.cameras.SEED_FOCAL`, as :func:`read_original_camera`), the latent as w (512,)
    when its 14 rows are equal (as in both published sets) else ws (14, 512), and the original 8-bit depth PNG kept
    as ``legacy_depth`` (the manifest key ``--legacy`` generation uses). There is **no** metric ``depth``: the
    published maps are normalised per image, so no honest z-depth can be derived; train and evaluate depth models
    on the original folder itself (:class:`helpers.depth.data.depth_dataset.DepthDataset` reads it). The published meshes
    (voxel units; see :func:`helpers.mesh.seed_voxel_mesh_to_world`) are linked as ``shape`` files, unchanged.

    Resumable: samples already in ``out``'s manifest are skipped; a folder converted from another source or with
    other settings is refused. Returns ``out``.
    """
    from tqdm.auto import tqdm

    source = OriginalFolder(src, layout, missing=missing)
    out = Path(out)
    ids = source.ids if limit is None else source.ids[:limit]
    meta = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "generator": {"name": CONVERTED[source.layout]},
        "settings": {"layout": source.layout, "focal": source.focal},  # limit and missing only pick samples
        "source": str(source.root.resolve()),
        "contents": "images, cameras (synthetic set only), latents, the original 8-bit per-image depth PNGs "
                    "(legacy_depth) and meshes in voxel units (shape); no metric depth",
        "package_version": __version__,
    }
    have = prepare_folder(out, meta, keys=("generator", "settings", "source"))
    with ManifestWriter(out / MANIFEST) as writer:
        for stem in tqdm([s for s in ids if s not in have], desc=f"convert {source.layout}", unit="sample",
                         disable=not progress):
            image = source.image_path(stem)
            files: dict[str, str] = {"image": f"images/{stem}{image.suffix.lower()}",
                                     "legacy_depth": f"depth128x128/{stem}.png"}
            link_or_copy(image, out / files["image"])
            link_or_copy(source.depth_path(stem), out / files["legacy_depth"])
            record: dict[str, object] = {"id": stem, "source": source.layout}
            camera = source.read_camera(stem)
            if camera is not None:
                files["camera"] = f"cameras/{stem}.npy"
                write_npy_atomic(out / files["camera"], camera)
                record["camera"] = [float(v) for v in camera]
            if source.has_latent(stem):
                files["latent"] = f"latents/{stem}.npy"
                write_npy_atomic(out / files["latent"], stored_latent(source.read_latent(stem)))
            shape = source.shape_path(stem)
            if shape is not None:
                files["shape"] = f"shapes/{stem}{shape.suffix.lower()}"
                link_or_copy(shape, out / files["shape"])
            record["files"] = files
            writer.append(record)  # last: the sample exists from here on
    write_dataset_json(out, [r for r in read_samples(out).values() if "camera" in r])
    return out
