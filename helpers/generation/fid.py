"""FID and KID of an EG3D generator (or a folder of images) against a reference folder, as EG3D's ``metrics/`` computes
them (``fid50k_full``, ``kid50k_full``), with LPFF's choice of cameras for its "3D" FID.

- Features: the (N, 2048) pool features of :class:`~helpers.generation.inception.FIDInception` (``pytorch-fid``'s FID
  Inception, TensorFlow's ``inception-2015-12-05`` weights ported) of uint8 images scaled to [0, 1].
- :func:`frechet_distance`: EG3D's ``‖μg − μr‖² + tr(Σg + Σr − 2·sqrtm(Σg·Σr))``, with its biased
  covariance (``Σ = E[xxᵀ] − μμᵀ``, float64; :class:`FeatureStats`). :func:`kernel_distance`: EG3D's KID, the
  unbiased MMD of the cubic polynomial kernel ``(x·y/d + 1)³`` averaged over random subsets.
- Generated images (:func:`generator_features`): z ~ N(0, I) from a seeded generator, rendering cameras drawn from a
  label file (EG3D: the reference dataset's ``dataset.json``), the conditioning camera ``"render"`` (the same one:
  EG3D's ``fid50k_full``), ``"avg"`` (the frontal camera) or drawn from another label file — LPFF's
  ``--camera_sample_mode`` / ``--conditional_camera_sample_mode``; images as EG3D's ``(x·127.5 + 128)`` uint8.
- Reference statistics are cached (:func:`reference_stats`) by the folder's file list (names, sizes, times) and the
  Inception weights' sha256. Parity with EG3D's distances and ``pytorch-fid``'s network: tests/fixtures/fid_reference.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers.base import cameras
from helpers.base.atomic import atomic_path
from helpers.base.photo import load_rgb
from helpers.datasets.ffhq_labels import FfhqLabels
from helpers.generation.inception import FIDInception

__all__ = ["IMAGE_SUFFIXES", "FeatureStats", "folder_images", "frechet_distance", "generator_features",
           "image_batches", "image_features", "kernel_distance", "reference_stats"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class FeatureStats:
    """Features (N, D) float32 (None when only the moments were kept) and their mean (D,) and biased covariance
    (D, D), float64, as EG3D's ``FeatureStats.get_mean_cov``."""

    mean: np.ndarray
    cov: np.ndarray
    count: int
    features: np.ndarray | None = None

    @classmethod
    def of(cls, features: np.ndarray, keep: bool = True) -> FeatureStats:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"statistics need at least 2 feature vectors (N, D), got shape {x.shape}")
        mean = x.mean(0)
        cov = x.T @ x / len(x) - np.outer(mean, mean)
        return cls(mean, cov, len(x), np.asarray(features, dtype=np.float32) if keep else None)


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """EG3D's FID between two sets of statistics (see the module doc).

    ``tr sqrtm(Σa·Σb)`` is computed as the sum of the square roots of the eigenvalues of the symmetric
    ``√Σb·Σa·√Σb`` (the same eigenvalues), by two symmetric eigendecompositions: several times faster than EG3D's
    general ``scipy.linalg.sqrtm`` for 2048², and without its imaginary round-off (negative round-off clipped to 0).
    """
    values, vectors = np.linalg.eigh(b.cov)
    root_b = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    product = np.linalg.eigvalsh(root_b @ a.cov @ root_b)
    trace_root = float(np.sqrt(np.clip(product, 0, None)).sum())
    return float(np.square(a.mean - b.mean).sum() + np.trace(a.cov) + np.trace(b.cov) - 2 * trace_root)


def kernel_distance(generated: np.ndarray, real: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000,
                    seed: int = 0) -> float:
    """EG3D's KID: ``num_subsets`` subsets of ``min(N_gen, N_real, max_subset_size)`` features drawn without
    replacement from each set (``numpy.random.RandomState(seed)``), the unbiased polynomial-kernel MMD averaged."""
    x_all, y_all = np.asarray(generated, np.float64), np.asarray(real, np.float64)
    n = x_all.shape[1]
    m = min(len(x_all), len(y_all), max_subset_size)
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / num_subsets / m)


@torch.inference_mode()
def image_features(model: FIDInception, batches: Iterable[np.ndarray | torch.Tensor]) -> np.ndarray:
    """(N, 2048) float32 features of uint8 image batches, (B, H, W, 3) arrays or (B, 3, H, W) uint8 tensors."""
    device = next(model.parameters()).device
    out = []
    for batch in batches:
        x = torch.as_tensor(batch)
        if x.shape[-1] == 3 and x.shape[1] != 3:
            x = x.permute(0, 3, 1, 2)
        out.append(model(x.to(device).float() / 255).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2048), np.float32)


def folder_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The images of a reference folder: a dataset folder's ``images/`` when it has one, else every image file under
    it (sorted, hidden files skipped)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    base = root / "images" if (root / "meta.json").is_file() and (root / "images").is_dir() else root
    return sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(base).parts))


def image_batches(paths: Sequence[Path], batch_size: int, progress: bool = True) -> Iterator[np.ndarray]:
    """(B, H, W, 3) uint8 batches of image files of one size (a ValueError names a file of another size)."""
    from tqdm.auto import tqdm

    for start in tqdm(range(0, len(paths), batch_size), desc="reference images", unit="batch", disable=not progress):
        images = [load_rgb(p) for p in paths[start:start + batch_size]]
        size = images[0].shape
        if any(im.shape != size for im in images):
            raise ValueError(f"reference images differ in size ({paths[start]}: {size}); give one resolution")
        yield np.stack(images)


def _fingerprint(paths: Sequence[Path], weights: str, keep: bool) -> str:
    digest = hashlib.sha256(f"{weights}|{keep}".encode())
    for p in paths:
        stat = p.stat()
        digest.update(f"{p}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def reference_stats(folder: str | os.PathLike[str], model: FIDInception, weights_id: str, *,
                    cache_dir: str | os.PathLike[str] | None, features: bool = False, max_items: int | None = None,
                    batch_size: int = 32, progress: bool = True) -> tuple[FeatureStats, bool]:
    """Statistics of a reference folder's images (:func:`folder_images`), and whether they came from the cache.

    ``features``: keep the features (KID needs them; 2048 float32 per image), else only mean and covariance.
    ``weights_id``: identifies the Inception weights (their sha256) in the cache key. ``cache_dir`` None: no cache.
    """
    paths = folder_images(folder)[:max_items] if max_items else folder_images(folder)
    if len(paths) < 2:
        raise ValueError(f"{folder}: {len(paths)} images; FID needs at least 2 (better the whole dataset)")
    cache = Path(cache_dir) / f"{_fingerprint(paths, weights_id, features)}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            kept = data["features"] if "features" in data.files else None
            return FeatureStats(data["mean"], data["cov"], int(data["count"]), kept), True
    stats = FeatureStats.of(image_features(model, image_batches(paths, batch_size, progress)), keep=features)
    if cache is not None:
        arrays: dict[str, Any] = {"mean": stats.mean, "cov": stats.cov, "count": stats.count}
        if stats.features is not None:
            arrays["features"] = stats.features
        with atomic_path(cache) as tmp:
            np.savez(tmp, **arrays)
    return stats, False


def _label_cameras(path: str | os.PathLike[str]) -> np.ndarray:
    labels = FfhqLabels.from_file(path).cameras
    if len(labels) == 0:
        raise ValueError(f"{path}: no labels to draw cameras from")
    return np.asarray(labels, dtype=np.float32)


def generator_features(generator: Any, model: FIDInception, count: int, *, render_labels: str | os.PathLike[str],
                       conditioning: str = "render", psi: float = 1.0, batch_size: int = 8, seed: int = 0,
                       progress: bool = True) -> np.ndarray:
    """Features of ``count`` generated images (module doc): rendering cameras drawn from ``render_labels`` (an EG3D
    ``dataset.json``), conditioning ``"render"``, ``"avg"`` or a label file path to draw from."""
    from tqdm.auto import tqdm

    device = generator.device
    render = _label_cameras(render_labels)
    cond_pool = None if conditioning in ("render", "avg") else _label_cameras(conditioning)
    rng = np.random.RandomState(seed)
    torch_rng = torch.Generator().manual_seed(seed)
    features = []
    with tqdm(total=count, desc="generated images", unit="image", disable=not progress) as bar:
        for start in range(0, count, batch_size):
            n = min(batch_size, count - start)
            c_render = torch.from_numpy(render[rng.randint(len(render), size=n)]).to(device)
            if conditioning == "render":
                c_cond = c_render
            elif conditioning == "avg":
                c_cond = cameras.conditioning_camera(n, device=device)
            else:
                assert cond_pool is not None
                c_cond = torch.from_numpy(cond_pool[rng.randint(len(cond_pool), size=n)]).to(device)
            z = torch.randn([n, generator.config.z_dim], generator=torch_rng).to(device)
            with torch.inference_mode():
                ws = generator.mapping(z, c_cond, truncation_psi=psi)
                image = generator.synthesize(ws, c_render, draws=generator.draws(n, generator=torch_rng))["image"]
            uint8 = (image * 127.5 + 128).clamp(0, 255).to(torch.uint8)
            features.append(image_features(model, [uint8]))
            bar.update(n)
    return np.concatenate(features)
