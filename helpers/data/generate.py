"""Synthetic face datasets from EG3D: ``python -m helpers generate``.

Each sample is one latent seed rendered from one camera of the viewpoint mix:

* ``z`` is EG3D's own recipe, ``numpy.random.RandomState(seed).randn(z_dim)`` (as its
  ``gen_samples.py``), so seed 42 here is the face of seed 42 there;
* the camera comes from :class:`helpers.cameras.ViewpointMix` (its category, yaw, pitch, radius and
  focal are recorded per sample), the mapping network is conditioned on the frontal camera by
  default (as the original project and EG3D's scripts; ``conditioning="render"`` uses the render
  camera, as EG3D's training does);
* the renderer's random draws come from ``torch.Generator().manual_seed(seed)``.

Everything about a sample depends on its seed only, and seeds are rendered in fixed batches of
the requested seed list (``batch_size`` consecutive seeds; shards take whole batches), so a resumed,
sharded or repeated run writes byte-identical files. Files follow :mod:`helpers.data.folder`; a
sample becomes visible (manifest line) only once all its files are written.

Throughput: the GPU (or the CPU's cores) render batch k+1 while worker threads encode and write
batch k (PNG encoding and marching cubes release the GIL). Meshes reuse the tri-planes of the render:
the density grid is one pass of the small decoder over the lattice, no backbone re-run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers import __version__, cameras
from helpers.atomic import atomic_path
from helpers.data import folder
from helpers.depth_png import encode_depth_png, encode_legacy_depth_png

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
CONDITIONING = ("frontal", "render")
MESH_FORMATS = ("ply", "obj")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeshSettings:
    """Per-sample meshes from the density field.

    Attributes:
        resolution: lattice size N (N³ density queries over the generator's box, box_warp wide).
        format: ``"ply"`` (binary, with vertex colours) or ``"obj"``.
        level: marching-cubes iso-level on raw σ (10 = EG3D's ``gen_samples.py``).
        mrc: also write the raw density volume as ``.mrc`` (4·N³ bytes: 64 MiB at 256³).
        colors: colour vertices with the field's RGB at the vertex.
    """

    resolution: int = 256
    format: str = "ply"
    level: float = 10.0
    mrc: bool = False
    colors: bool = True

    def __post_init__(self) -> None:
        if self.format not in MESH_FORMATS:
            raise ValueError(f"mesh format must be one of {MESH_FORMATS}, got {self.format!r}")
        if self.resolution < 8:
            raise ValueError(f"mesh resolution must be >= 8, got {self.resolution}")


@dataclass(frozen=True)
class SampleSettings:
    """What determines a sample's files; recorded in ``meta.json``. A resumed run must use the same.

    Attributes:
        truncation_psi: ψ of ``w_avg + ψ (w − w_avg)`` (0.7 as the original project).
        truncation_cutoff: truncate only the first ``cutoff`` ws (None: all, EG3D's default).
        conditioning: camera the mapping network sees: ``"frontal"`` (default) or ``"render"``.
        viewpoints: viewpoint mix the render cameras are drawn from.
        depth_range: (near, far) of the 16-bit depth PNGs in world units; None derives it from the
            generator's ray range (see :func:`default_depth_range`).
        depth_min_opacity: depth is written (non-zero) where the accumulated opacity reaches this.
        mesh: per-sample meshes, or None.
        legacy: also write the original project's formats (``depth128x128/`` 8-bit per-image
            normalised ray depth, ``cam_poses/`` (1, 25), ``latent/`` (1, num_ws, 512)).
        precision: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` autocast (GPU; bf16 also on CPU).
    """

    truncation_psi: float = 0.7
    truncation_cutoff: int | None = None
    conditioning: str = "frontal"
    viewpoints: cameras.ViewpointMix = field(default_factory=cameras.ViewpointMix)
    depth_range: tuple[float, float] | None = None
    depth_min_opacity: float = 0.5
    mesh: MeshSettings | None = None
    legacy: bool = False
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {CONDITIONING}, got {self.conditioning!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {self.precision!r}")
        if not 0.0 < self.depth_min_opacity <= 1.0:
            raise ValueError(f"depth_min_opacity must be in (0, 1], got {self.depth_min_opacity}")
        if self.depth_range is not None and not 0 < self.depth_range[0] < self.depth_range[1]:
            raise ValueError(f"depth range must satisfy 0 < near < far, got {self.depth_range}")


@dataclass(frozen=True)
class GenerateConfig:
    """One generation run.

    Attributes:
        out: dataset folder (created; an existing one is resumed).
        seeds: latent seeds, one sample each, in this order.
        checkpoint: EG3D checkpoint name (``helpers.eg3d.registry``), file, or ``"tiny-random"``.
        settings: what the samples are (see :class:`SampleSettings`).
        batch_size: seeds rendered together. Files are identical for the same batch size; another
            batch size changes float rounding (last bits), not the samples.
        shard: (index, count) to render only batches ``index, index + count, …``; None takes it from
            torchrun's RANK / WORLD_SIZE, or renders everything.
        device: ``"auto"`` (CUDA when available; ``cuda:LOCAL_RANK`` under torchrun), ``"cpu"``, ``"cuda"``…
        workers: threads that encode and write files while the next batch renders.
        progress: show a progress bar.
        check_disk: warn when the estimated size exceeds the free space.
    """

    out: Path
    seeds: tuple[int, ...]
    checkpoint: str = "ffhq512-128"
    settings: SampleSettings = field(default_factory=SampleSettings)
    batch_size: int = 4
    shard: tuple[int, int] | None = None
    device: str = "auto"
    workers: int = max(1, min(4, os.cpu_count() or 1))
    progress: bool = True
    check_disk: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be unique")
        if any(s < 0 or s >= 2**32 for s in self.seeds):
            raise ValueError("seeds must be in [0, 2**32)")
        if self.shard is not None:
            index, count = self.shard
            if not 0 <= index < count:
                raise ValueError(f"shard must be i/n with 0 <= i < n, got {index}/{count}")


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-49999"``, ``"7"``, ``"0-9,100,200-204"`` → seeds (ranges inclusive, order kept)."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        lo, sep, hi = part.partition("-")
        try:
            start = int(lo)
            stop = int(hi) if sep else start
        except ValueError:
            raise ValueError(f"seeds look like 0-49999 or 1,2,5-9; could not read {part!r}") from None
        if stop < start:
            raise ValueError(f"seed range {part!r} runs backwards")
        seeds.extend(range(start, stop + 1))
    if not seeds:
        raise ValueError("no seeds given")
    return tuple(seeds)


def parse_shard(text: str) -> tuple[int, int]:
    """``"0/8"`` → (0, 8): shard index (0-based) and shard count."""
    index, sep, count = str(text).partition("/")
    try:
        parsed = (int(index), int(count))
    except ValueError:
        parsed = None
    if not sep or parsed is None or not 0 <= parsed[0] < parsed[1]:
        raise ValueError(f"--shard looks like i/n with 0 <= i < n (e.g. 0/8), got {text!r}")
    return parsed


def shard_from_environment() -> tuple[int, int] | None:
    """(RANK, WORLD_SIZE) when launched by torchrun with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(device)


def default_depth_range(generator_config: Any, viewpoints: cameras.ViewpointMix) -> tuple[float, float]:
    """(near, far) that holds every z-depth the generator can render through the mix's cameras.

    Depth along a ray lies in [ray_start, ray_end]; z-depth is that times the cosine between the ray
    and the optical axis, smallest at the image corners of the widest camera (smallest focal).
    near is rounded down to 0.01, far is ray_end.
    """
    rendering = generator_config.rendering
    focal = min(c.focal for c in viewpoints.categories)
    corner = math.hypot(0.5, 0.5) / focal  # tan of the corner ray's angle
    near = math.floor(rendering.ray_start / math.sqrt(1 + corner**2) * 100) / 100
    return float(near), float(rendering.ray_end)


def latent_z(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """(N, z_dim) float32 latents of EG3D's ``gen_samples.py``: ``RandomState(seed).randn(z_dim)``."""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])).float()


def render_draws(generator: Any, seeds: Sequence[int]) -> Any:
    """The renderer's random numbers, drawn per seed on the CPU (so they do not depend on the batch
    or the device) and stacked in batch order."""
    from helpers.eg3d.renderer import RenderDraws

    draws = [generator.draws(1, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    device = generator.device
    return RenderDraws(
        torch.cat([d.stratified for d in draws]).to(device), torch.cat([d.importance for d in draws]).to(device)
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@dataclass
class RenderedSample:
    """One sample in memory, ready to write. Arrays are CPU numpy; depths in world units."""

    seed: int
    view: cameras.Viewpoint
    camera: np.ndarray  # (25,) float32
    image: np.ndarray  # (S, S, 3) uint8
    depth_z: np.ndarray  # (R, R) float32 camera-space z
    depth_ray: np.ndarray  # (R, R) float32 distance along the ray
    opacity: np.ndarray  # (R, R) float32 in [0, 1]
    ws: np.ndarray  # (num_ws, w_dim) float32
    density: np.ndarray | None = None  # (N³,) raw σ on the mesh lattice
    planes: torch.Tensor | None = None  # (1, 3, C, H, W), for vertex colours

    @property
    def id(self) -> str:
        return folder.sample_id(self.seed)


class SampleRenderer:
    """Renders batches of seeds with one generator and fixed :class:`SampleSettings`."""

    def __init__(self, generator: Any, settings: SampleSettings) -> None:
        self.generator = generator
        self.settings = settings
        self.device = generator.device
        self._lattice: torch.Tensor | None = None

    def autocast(self):
        dtype = PRECISIONS[self.settings.precision]
        if dtype is torch.float16 and self.device.type == "cpu":
            raise ValueError("fp16 autocast needs a GPU; use --precision bf16 or fp32 on the CPU")
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def lattice(self) -> torch.Tensor:
        from helpers.mesh import lattice_points

        if self._lattice is None:
            mesh = self.settings.mesh
            assert mesh is not None
            box = float(self.generator.config.rendering.box_warp)
            self._lattice = torch.from_numpy(lattice_points(mesh.resolution, box_size=box)).to(self.device)
        return self._lattice

    @torch.inference_mode()
    def render(self, seeds: Sequence[int]) -> list[RenderedSample]:
        """Render ``seeds`` as one batch."""
        G, settings = self.generator, self.settings
        camera_vectors, views = settings.viewpoints.cameras(list(seeds))
        render_c = camera_vectors.to(self.device)
        if settings.conditioning == "frontal":
            cond_c = cameras.conditioning_camera(len(seeds), device=self.device)
        else:
            cond_c = render_c
        z = latent_z(seeds, G.config.z_dim).to(self.device)
        with self.autocast():
            ws = G.mapping(z, cond_c, truncation_psi=settings.truncation_psi,
                           truncation_cutoff=settings.truncation_cutoff)
            out = G.synthesize(ws, render_c, draws=render_draws(G, seeds))
        # Official conversion to 8 bits (gen_samples.py): x * 127.5 + 128, clamped, truncated.
        images = (out["image"].float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        depth_z = out["depth_z"][:, 0].float().cpu().numpy()
        depth_ray = out["depth_ray"][:, 0].float().cpu().numpy()
        opacity = out["opacity"][:, 0].float().clamp(0, 1).cpu().numpy()
        ws_np = ws.float().cpu().numpy()
        samples = []
        for i, seed in enumerate(seeds):
            sample = RenderedSample(
                seed=int(seed), view=views[i], camera=camera_vectors[i].numpy().astype(np.float32),
                image=images[i], depth_z=depth_z[i], depth_ray=depth_ray[i], opacity=opacity[i], ws=ws_np[i],
            )
            if settings.mesh is not None:
                planes = out["planes"][i:i + 1]
                sample.density = self.density(planes)
                sample.planes = planes if settings.mesh.colors else None
            samples.append(sample)
        return samples

    @torch.inference_mode()
    def density(self, planes: torch.Tensor) -> np.ndarray:
        """Raw σ of one sample on the mesh lattice, from its cached tri-planes."""
        chunk = 1 << 21 if self.device.type == "cuda" else 1 << 16
        with self.autocast():
            sigma = self.generator.sample_density(planes, self.lattice(), chunk=chunk, with_features=False)["sigma"]
        return sigma[0, :, 0].float().cpu().numpy()

    @torch.inference_mode()
    def vertex_colors(self, planes: torch.Tensor, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) uint8 RGB of the field at mesh vertices (the decoder's colour, as ``image_raw``)."""
        if len(vertices) == 0:
            return np.zeros((0, 3), np.uint8)
        points = torch.from_numpy(vertices).to(self.device)
        with self.autocast():
            rgb = self.generator.sample_density(planes, points)["features"][0, :, :3].float()
        return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def sample_files(sample_id: str, settings: SampleSettings) -> dict[str, str]:
    """Relative paths of the files of one sample (the manifest's ``files``)."""
    files = {
        "image": f"images/{sample_id}.png",
        "depth": f"depth/{sample_id}.png",
        "mask": f"mask/{sample_id}.png",
        "latent": f"latents/{sample_id}.npy",
        "camera": f"cameras/{sample_id}.npy",
    }
    if settings.mesh is not None:
        files["mesh"] = f"meshes/{sample_id}.{settings.mesh.format}"
        if settings.mesh.mrc:
            files["mrc"] = f"meshes/{sample_id}.mrc"
    if settings.legacy:
        files["legacy_depth"] = f"depth128x128/{sample_id}.png"
        files["legacy_camera"] = f"cam_poses/{sample_id}.npy"
        files["legacy_latent"] = f"latent/{sample_id}.npy"
    return files


def stored_latent(ws: np.ndarray) -> np.ndarray:
    """What ``latents/<id>.npy`` holds: w (w_dim,) when every layer's w is the same (truncation of
    all layers, the default), else all ws (num_ws, w_dim)."""
    return ws[0].copy() if np.array_equal(ws, np.broadcast_to(ws[:1], ws.shape)) else ws.copy()


class SampleWriter:
    """Writes a :class:`RenderedSample`'s files into a dataset folder and returns its manifest record."""

    def __init__(self, root: Path, settings: SampleSettings, depth_range: tuple[float, float],
                 renderer: SampleRenderer | None = None) -> None:
        self.root = root
        self.settings = settings
        self.near, self.far = depth_range
        self.renderer = renderer

    def write(self, sample: RenderedSample) -> dict[str, Any]:
        settings, root = self.settings, self.root
        files = sample_files(sample.id, settings)
        surface = sample.opacity >= settings.depth_min_opacity
        _save_png(root / files["image"], sample.image)
        _save_png(root / files["depth"], encode_depth_png(sample.depth_z, self.near, self.far, mask=surface))
        _save_png(root / files["mask"], np.round(sample.opacity * 255).astype(np.uint8))
        _save_npy(root / files["latent"], stored_latent(sample.ws))
        _save_npy(root / files["camera"], sample.camera)
        record: dict[str, Any] = {"id": sample.id, "seed": sample.seed, **sample.view.as_dict()}
        record["truncation_psi"] = settings.truncation_psi
        record["truncation_cutoff"] = settings.truncation_cutoff
        record["camera"] = [float(v) for v in sample.camera]
        record["surface_fraction"] = round(float(surface.mean()), 6)
        if settings.mesh is not None:
            record["mesh_faces"] = self._write_mesh(sample, files)
        if settings.legacy:
            _save_png(root / files["legacy_depth"], encode_legacy_depth_png(sample.depth_ray, mask=surface))
            _save_npy(root / files["legacy_camera"], cameras.to_seed_camera(sample.camera))
            _save_npy(root / files["legacy_latent"], sample.ws[None].astype(np.float32))
        record["files"] = files
        return record

    def _write_mesh(self, sample: RenderedSample, files: dict[str, str]) -> int:
        from helpers.mesh import DensityGrid, save_density_mrc, save_mesh

        mesh_settings = self.settings.mesh
        assert mesh_settings is not None and sample.density is not None
        box = float(self.renderer.generator.config.rendering.box_warp) if self.renderer else 1.0
        grid = DensityGrid.from_values(sample.density, mesh_settings.resolution, box_size=box)
        mesh = grid.to_mesh(level=mesh_settings.level)
        if sample.planes is not None and self.renderer is not None and mesh.num_vertices:
            mesh = dataclasses.replace(mesh, vertex_colors=self.renderer.vertex_colors(sample.planes, mesh.vertices))
        save_mesh(mesh, self.root / files["mesh"])
        if mesh_settings.mrc:
            save_density_mrc(grid, self.root / files["mrc"])
        return mesh.num_faces


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def batches_of(seeds: Sequence[int], batch_size: int, shard: tuple[int, int] | None) -> list[tuple[int, ...]]:
    """The fixed batches of a seed list (consecutive, ``batch_size`` each), this shard's only."""
    batches = [tuple(seeds[i:i + batch_size]) for i in range(0, len(seeds), batch_size)]
    if shard is None:
        return batches
    index, count = shard
    return batches[index::count]


def estimate_sample_bytes(generator_config: Any, settings: SampleSettings) -> int:
    """Rough size of one sample on disk (PNG ratios measured on face renders)."""
    image = generator_config.img_resolution
    neural = generator_config.neural_rendering_resolution
    size = 3 * image * image * 0.55 + neural * neural * (2 * 0.7 + 0.35) + 4 * 512 + 130 + 228 + 1500
    if settings.mesh is not None:
        n = settings.mesh.resolution
        per_vertex = 41 if settings.mesh.format == "ply" else 120  # vertex + 2 faces, binary vs text
        size += 4 * n * n * per_vertex  # surfaces of EG3D faces have ~4 N² vertices
        if settings.mesh.mrc:
            size += 4 * n**3 + 1024
    if settings.legacy:
        size += neural * neural * 0.5 + 228 + 4 * generator_config.num_ws * 512 + 128
    return int(size)


@dataclass(frozen=True)
class GenerationPlan:
    """What a run will do; printed by ``--dry-run`` and before a run starts."""

    out: Path
    checkpoint: str
    device: str
    shard: tuple[int, int] | None
    requested: int
    already_done: int
    to_render: int
    batches: int
    batch_size: int
    image_resolution: int
    depth_resolution: int
    depth_range: tuple[float, float]
    expected_categories: dict[str, int]
    bytes_per_sample: int
    free_bytes: int | None
    settings: SampleSettings

    @property
    def estimated_bytes(self) -> int:
        return self.bytes_per_sample * self.to_render

    def describe(self) -> str:
        shard = f"shard {self.shard[0]}/{self.shard[1]} (whole batches)" if self.shard else "all batches"
        mix = ", ".join(f"{k} {v}" for k, v in self.expected_categories.items())
        mesh = self.settings.mesh
        mesh_text = (f"{mesh.resolution}³ → .{mesh.format}" + (" + .mrc" if mesh.mrc else "")) if mesh else "no"
        free = f", {_human(self.free_bytes)} free" if self.free_bytes is not None else ""
        lines = [
            f"generate → {self.out}",
            (f"  generator   {self.checkpoint} on {self.device} ({self.settings.precision}), "
             f"images {self.image_resolution}², depth/mask {self.depth_resolution}²"),
            (f"  seeds       {self.requested} requested, {self.already_done} already done, {self.to_render} to render "
             f"in {self.batches} batches of {self.batch_size} ({shard})"),
            f"  cameras     {mix}; conditioning: {self.settings.conditioning}",
            f"  latents     ψ = {self.settings.truncation_psi}, cutoff = {self.settings.truncation_cutoff}",
            (f"  depth       16-bit z in [{self.depth_range[0]}, {self.depth_range[1]}] world units "
             f"where opacity ≥ {self.settings.depth_min_opacity}"),
            f"  meshes      {mesh_text}; original formats: {'yes' if self.settings.legacy else 'no'}",
            (f"  disk        ≈ {_human(self.bytes_per_sample)} per sample, ≈ {_human(self.estimated_bytes)} "
             f"to write{free}"),
        ]
        return "\n".join(lines)


def _human(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _free_bytes(path: Path) -> int | None:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def _config_for_planning(checkpoint: str) -> Any:
    """The generator's config without loading weights where possible (a dry run downloads nothing)."""
    from helpers.eg3d import registry, tiny_config
    from helpers.eg3d.config import GeneratorConfig

    if not os.path.exists(checkpoint):
        if checkpoint.split(":")[0] == "tiny-random":
            return tiny_config()
        entry = registry.get_entry(checkpoint)
        if entry.config is not None:
            cfg = entry.config
            return GeneratorConfig.from_init_kwargs(cfg["init_kwargs"], cfg["rendering_kwargs"],
                                                    cfg["neural_rendering_resolution"], cfg.get("extras"))
    from helpers.eg3d.checkpoint import read_checkpoint

    return read_checkpoint(registry.resolve(checkpoint)).config


def _settings_json(settings: SampleSettings, depth_range: tuple[float, float]) -> dict[str, Any]:
    data = dataclasses.asdict(settings)
    data["depth_range"] = list(depth_range)
    data["viewpoints"] = [dataclasses.asdict(c) for c in settings.viewpoints.categories]
    return json.loads(json.dumps(data))  # tuples → lists, as they read back from meta.json


def plan(config: GenerateConfig, generator_config: Any | None = None) -> GenerationPlan:
    """The plan of a run, reading what the output folder already holds."""
    gen_config = generator_config or _config_for_planning(config.checkpoint)
    settings = config.settings
    depth_range = settings.depth_range or default_depth_range(gen_config, settings.viewpoints)
    shard = config.shard if config.shard is not None else shard_from_environment()
    done = set(folder.read_samples(config.out)) if Path(config.out).exists() else set()
    batches = batches_of(config.seeds, config.batch_size, shard)
    todo = [b for b in batches if any(folder.sample_id(s) not in done for s in b)]
    mine = [s for b in batches for s in b]
    categories: dict[str, int] = {c.name: 0 for c in settings.viewpoints.categories}
    for seed in mine:
        categories[settings.viewpoints.sample(seed).category] += 1
    to_render = sum(folder.sample_id(s) not in done for s in mine)
    return GenerationPlan(
        out=Path(config.out), checkpoint=config.checkpoint, device=str(resolve_device(config.device)), shard=shard,
        requested=len(mine), already_done=len(mine) - to_render, to_render=to_render, batches=len(todo),
        batch_size=config.batch_size, image_resolution=gen_config.img_resolution,
        depth_resolution=gen_config.neural_rendering_resolution, depth_range=depth_range,
        expected_categories=categories, bytes_per_sample=estimate_sample_bytes(gen_config, settings),
        free_bytes=_free_bytes(Path(config.out)), settings=settings,
    )


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateReport:
    """Outcome of :func:`generate`."""

    out: Path
    written: int
    skipped: int
    seconds: float
    manifest: Path

    @property
    def samples_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("nan")


def _meta(config: GenerateConfig, identity: dict[str, Any], gen_config: Any, depth_range: tuple[float, float]) -> dict:
    return {
        "format": folder.FORMAT_NAME,
        "format_version": folder.FORMAT_VERSION,
        "generator": {
            "checkpoint": identity["checkpoint"],
            "sha256": identity["sha256"],
            "image_resolution": gen_config.img_resolution,
            "neural_rendering_resolution": gen_config.neural_rendering_resolution,
            "rendering": json.loads(json.dumps(dataclasses.asdict(gen_config.rendering))),
        },
        "settings": _settings_json(config.settings, depth_range),
        "depth_png": {"near": depth_range[0], "far": depth_range[1],
                      "encoding": "16-bit camera z-depth, 0 = no surface, 1..65535 linear in [near, far]"},
        "z": "numpy.random.RandomState(seed).randn(z_dim), as EG3D's gen_samples.py "
             "(helpers.data.generate.latent_z)",
        "render_draws": "torch.Generator().manual_seed(seed) (helpers.data.generate.render_draws)",
        "latents": "w (w_dim,) when all layers share it, else ws (num_ws, w_dim)",
        "camera_convention": "EG3D 25-vector: OpenCV cam2world (4x4 row-major) + normalised intrinsics (3x3)",
        "package_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _prepare_folder(root: Path, meta: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    existing = folder.read_meta(root)
    if existing is None:
        folder.write_meta(root, meta)
    else:
        folder.check_compatible(existing, meta, root)


def generate(config: GenerateConfig, *, generator: Any = None, log=print) -> GenerateReport:
    """Render and write the samples of ``config`` that the folder does not hold yet.

    ``generator`` may pass an already loaded model (its name is still taken from
    ``config.checkpoint``). Returns counts and timing; the dataset is in ``config.out``.
    """
    from tqdm.auto import tqdm

    from helpers import eg3d

    started = time.perf_counter()
    root = Path(config.out)
    device = resolve_device(config.device)
    identity = eg3d.checkpoint_identity(config.checkpoint)
    G = generator if generator is not None else eg3d.load(identity["path"] or config.checkpoint, device=device)
    G = G.to(device).eval()
    the_plan = plan(config, G.config)
    depth_range = the_plan.depth_range
    _prepare_folder(root, _meta(config, identity, G.config, depth_range))
    shard = the_plan.shard
    if shard is None:  # an unsharded run owns the folder; shards may be writing temporaries right now
        folder.remove_temporaries(root)
    log(the_plan.describe())
    if config.check_disk and the_plan.free_bytes is not None and the_plan.estimated_bytes > the_plan.free_bytes:
        log(f"WARNING: the run needs ≈ {_human(the_plan.estimated_bytes)} but only "
            f"{_human(the_plan.free_bytes)} are free on {root}")

    manifest = root / (folder.shard_manifest_name(*shard) if shard else folder.MANIFEST)
    done = set(folder.read_samples(root))
    batches = [b for b in batches_of(config.seeds, config.batch_size, shard)
               if any(folder.sample_id(s) not in done for s in b)]
    renderer = SampleRenderer(G, config.settings)
    writer = SampleWriter(root, config.settings, depth_range, renderer)
    written = 0
    with folder.ManifestWriter(manifest) as lines, ThreadPoolExecutor(max(1, config.workers)) as pool, \
            tqdm(total=the_plan.to_render, unit="sample", disable=not config.progress, smoothing=0.05,
                 desc="generate") as bar:
        pending: list[Future] = []

        def commit() -> int:
            # Files of the previous batch are written; only now do their lines become visible, in seed order.
            for future in pending:
                lines.append(future.result())
                bar.update(1)
            count = len(pending)
            pending.clear()
            return count

        for batch in batches:
            rendered = [s for s in renderer.render(batch) if s.id not in done]
            written += commit()
            pending.extend(pool.submit(writer.write, sample) for sample in rendered)
        written += commit()

    if shard is None:
        folder.write_dataset_json(root, folder.read_samples(root).values())
    else:
        log(f"shard {shard[0]}/{shard[1]} done; when every shard has finished, run "
            f"`python -m helpers merge {root}` to write manifest.jsonl and dataset.json")
    seconds = time.perf_counter() - started
    return GenerateReport(out=root, written=written, skipped=the_plan.already_done, seconds=seconds, manifest=manifest)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, s, m = GenerateConfig(out=Path("."), seeds=(0,)), SampleSettings(), MeshSettings()
    parser.add_argument("--checkpoint", default=d.checkpoint,
                        help="EG3D checkpoint name (downloaded once), file, or tiny-random (default: %(default)s)")
    parser.add_argument("--seeds", required=True, type=parse_seeds, help="latent seeds, e.g. 0-49999 or 0-9,20")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder (an existing one is resumed)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="seeds rendered together (default: %(default)s)")
    parser.add_argument("--trunc", dest="truncation_psi", type=float, default=s.truncation_psi, help="truncation ψ")
    parser.add_argument("--trunc-cutoff", dest="truncation_cutoff", type=int, default=None,
                        help="truncate only the first N ws (default: all)")
    parser.add_argument("--viewpoints", default="",
                        help="category weights, e.g. frontal=0.7,side=0.12,side_extreme=0.06,frontal_neck=0.12 (default)")
    parser.add_argument("--conditioning", choices=CONDITIONING, default=s.conditioning,
                        help="camera the mapping network is conditioned on (default: %(default)s)")
    parser.add_argument("--depth-range", nargs=2, type=float, metavar=("NEAR", "FAR"), default=None,
                        help="z range of the 16-bit depth PNGs (default: from the generator's ray range)")
    parser.add_argument("--depth-min-opacity", type=float, default=s.depth_min_opacity,
                        help="write depth where the opacity reaches this (default: %(default)s)")
    parser.add_argument("--meshes", action="store_true", help="also extract a mesh per sample")
    parser.add_argument("--mesh-resolution", type=int, default=m.resolution, help="density lattice size (default: %(default)s)")
    parser.add_argument("--mesh-format", choices=MESH_FORMATS, default=m.format, help="mesh file format")
    parser.add_argument("--mesh-level", type=float, default=m.level, help="marching-cubes level on σ (default: %(default)s)")
    parser.add_argument("--mrc", action="store_true", help="also write each density volume as .mrc")
    parser.add_argument("--legacy", action="store_true",
                        help="also write the original project's formats (depth128x128/, cam_poses/, latent/)")
    parser.add_argument("--precision", choices=tuple(PRECISIONS), default=s.precision, help="autocast precision")
    parser.add_argument("--shard", type=parse_shard, default=None,
                        help="i/n: render only this shard's batches (default: from torchrun, else all)")
    parser.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1… (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=d.workers, help="file-writing threads (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> GenerateConfig:
    mix = cameras.ViewpointMix.parse(args.viewpoints) if args.viewpoints else cameras.ViewpointMix()
    mesh = (MeshSettings(resolution=args.mesh_resolution, format=args.mesh_format, level=args.mesh_level,
                         mrc=args.mrc) if args.meshes else None)
    settings = SampleSettings(
        truncation_psi=args.truncation_psi, truncation_cutoff=args.truncation_cutoff,
        conditioning=args.conditioning, viewpoints=mix,
        depth_range=tuple(args.depth_range) if args.depth_range else None,
        depth_min_opacity=args.depth_min_opacity, mesh=mesh, legacy=args.legacy, precision=args.precision,
    )
    return GenerateConfig(out=args.out, seeds=args.seeds, checkpoint=args.checkpoint, settings=settings,
                          batch_size=args.batch_size, shard=args.shard, device=args.device,
                          workers=args.workers, progress=args.progress)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.dry_run:
        print(plan(config).describe())
        return 0
    report = generate(config)
    print(f"wrote {report.written} samples in {report.seconds:.1f} s ({report.samples_per_second:.2f} samples/s); "
          f"{report.skipped} were already there → {report.out}")
    return 0

