"""Synthetic face datasets from EG3D (the command line: :mod:`helpers.generation.generate_command`).

Each sample is one latent seed rendered from one camera of the viewpoint mix
(:mod:`helpers.generation.sample_renderer`), with the settings of :mod:`helpers.generation.sample_settings`, written by
:mod:`helpers.generation.sample_writer`. The mapping network is conditioned on the frontal camera by
default (as the original project and EG3D's scripts; ``conditioning="render"`` uses the render
camera, as EG3D's training does). Per sample the manifest records the viewpoint category, yaw,
pitch, radius and focal.

Everything about a sample depends on its seed only, and seeds are rendered in fixed batches of
the requested seed list (``batch_size`` consecutive seeds; shards take whole batches), so a resumed,
sharded or repeated run writes byte-identical files. Files follow :mod:`helpers.dataset_folder`; a
sample becomes visible (manifest line) only once all its files are written.

One writer per folder: a run holds the folder's lock while it writes, each shard of a sharded run the lock of its
shard (:func:`write_lock`), so a second run into the same folder is refused with a clear message.

Throughput: the GPU (or the CPU's cores) render batch k+1 while worker threads encode and write
batch k (PNG encoding and marching cubes release the GIL). Meshes reuse the tri-planes of the render:
the density grid is one pass of the small decoder over the lattice, no backbone re-run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import __version__, eg3d
from helpers.base.folder_lock import folder_lock
from helpers.base.runtime import distributed_environment, resolve_device
from helpers.dataset_folder.layout import FORMAT_NAME, FORMAT_VERSION, MANIFEST, sample_id
from helpers.dataset_folder.manifest import (
    ManifestWriter,
    read_samples,
    shard_lock_folder,
    shard_manifest_name,
    write_dataset_json,
)
from helpers.dataset_folder.meta import prepare_folder
from helpers.generation.sample_renderer import SampleRenderer
from helpers.generation.sample_settings import (
    MeshSettings,
    SampleSettings,
    default_depth_range,
)
from helpers.generation.sample_writer import SampleWriter
from helpers.generation.viewpoints import ViewpointCategory, ViewpointMix
from helpers.mesh.cleanup import CleanConfig

__all__ = [
    "GenerateConfig",
    "GenerateReport",
    "GenerationPlan",
    "batches_of",
    "effective_batch_size",
    "generate",
    "parse_seeds",
    "parse_shard",
    "plan",
    "settings_from_json",
    "settings_json",
    "shard_from_environment",
    "write_lock",
]


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateConfig:
    """One generation run.

    Attributes:
        out: dataset folder (created; an existing one is resumed).
        seeds: latent seeds, one sample each, in this order.
        checkpoint: EG3D checkpoint name (``helpers.eg3d.checkpoints.published``), file, or ``"tiny-random"``.
        settings: what the samples are (see :class:`SampleSettings`).
        batch_size: seeds rendered together; None: 8 on a GPU, 1 on the CPU (where batching makes each
            sample slower: larger temporaries, no gain in convolution speed). Files are identical for
            the same batch size; another
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
    batch_size: int | None = None
    shard: tuple[int, int] | None = None
    device: str = "auto"
    workers: int = max(1, min(4, os.cpu_count() or 1))
    progress: bool = True
    check_disk: bool = True

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size} — 8 suits a GPU, 1 the CPU")
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
    rank, world, _ = distributed_environment()
    return (rank, world) if world > 1 else None


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def effective_batch_size(config: GenerateConfig) -> int:
    """``config.batch_size``, or the default for the device it runs on (8 on CUDA, 1 on the CPU)."""
    if config.batch_size is not None:
        return config.batch_size
    return 8 if resolve_device(config.device).type == "cuda" else 1


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
    todo_batches: tuple[tuple[int, ...], ...]  # this shard's batches with at least one sample missing
    batch_size: int
    image_resolution: int
    depth_resolution: int
    depth_range: tuple[float, float]
    expected_categories: dict[str, int]
    bytes_per_sample: int
    free_bytes: int | None
    settings: SampleSettings
    done: frozenset[str] = field(default=frozenset(), repr=False)  # ids the folder already holds

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
             f"in {len(self.todo_batches)} batches of {self.batch_size} ({shard})"),
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


def settings_json(settings: SampleSettings, depth_range: tuple[float, float]) -> dict[str, Any]:
    data = dataclasses.asdict(settings)
    data["depth_range"] = list(depth_range)
    data["viewpoints"] = [dataclasses.asdict(c) for c in settings.viewpoints.categories]
    return json.loads(json.dumps(data))  # tuples → lists, as they read back from meta.json


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def settings_from_json(data: dict[str, Any]) -> SampleSettings:
    """The inverse of :func:`settings_json`: the settings a folder was generated with (its ``meta.json``'s
    ``"settings"``), with the depth range it resolved to; a run with them resumes that folder."""
    data = {key: _tuples(value) for key, value in data.items()}
    viewpoints = ViewpointMix(tuple(ViewpointCategory(**{k: _tuples(v) for k, v in c.items()})
                                    for c in data.pop("viewpoints")))
    mesh = data.pop("mesh")
    if isinstance(mesh, dict):
        mesh = dict(mesh)
        clean = mesh.pop("clean", None)
        mesh = MeshSettings(**mesh, clean=CleanConfig(**{k: _tuples(v) for k, v in clean.items()}) if clean else None)
    return SampleSettings(viewpoints=viewpoints, mesh=mesh, **data)


def plan(config: GenerateConfig, generator_config: Any | None = None) -> GenerationPlan:
    """The plan of a run, reading what the output folder already holds."""
    gen_config = generator_config or eg3d.load_config(config.checkpoint)
    settings = config.settings
    depth_range = settings.depth_range or default_depth_range(gen_config, settings.viewpoints)
    shard = config.shard if config.shard is not None else shard_from_environment()
    done = set(read_samples(config.out)) if Path(config.out).exists() else set()
    batch_size = effective_batch_size(config)
    batches = batches_of(config.seeds, batch_size, shard)
    todo = tuple(b for b in batches if any(sample_id(s) not in done for s in b))
    mine = [s for b in batches for s in b]
    categories: dict[str, int] = {c.name: 0 for c in settings.viewpoints.categories}
    for seed in mine:
        categories[settings.viewpoints.sample(seed).category] += 1
    to_render = sum(sample_id(s) not in done for s in mine)
    return GenerationPlan(
        out=Path(config.out), checkpoint=config.checkpoint, device=str(resolve_device(config.device)), shard=shard,
        requested=len(mine), already_done=len(mine) - to_render, to_render=to_render, todo_batches=todo,
        done=frozenset(done),
        batch_size=batch_size, image_resolution=gen_config.img_resolution,
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


def dataset_meta(identity: dict[str, Any], gen_config: Any, settings: dict[str, Any], depth_range: tuple[float, float],
                 **extra: Any) -> dict[str, Any]:
    """``meta.json`` of a dataset folder written with an EG3D generator: format, generator (name, sha256,
    resolutions, rendering settings), ``settings`` (what a resumed run must repeat), depth PNG range, camera
    convention, package version and date, plus ``extra`` descriptive keys. Used by generation and inversion."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "generator": {
            "checkpoint": identity["checkpoint"],
            "sha256": identity["sha256"],
            "image_resolution": gen_config.img_resolution,
            "neural_rendering_resolution": gen_config.neural_rendering_resolution,
            "rendering": json.loads(json.dumps(dataclasses.asdict(gen_config.rendering))),
        },
        "settings": settings,
        "depth_png": {"near": depth_range[0], "far": depth_range[1],
                      "encoding": "16-bit camera z-depth, 0 = no surface, 1..65535 linear in [near, far]"},
        **extra,
        "camera_convention": "EG3D 25-vector: OpenCV cam2world (4x4 row-major) + normalised intrinsics (3x3)",
        "package_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _meta(config: GenerateConfig, identity: dict[str, Any], gen_config: Any, depth_range: tuple[float, float]) -> dict:
    return dataset_meta(
        identity, gen_config, settings_json(config.settings, depth_range), depth_range,
        z="numpy.random.RandomState(seed).randn(z_dim), as EG3D's gen_samples.py (helpers.eg3d.subject.latent_z)",
        render_draws="torch.Generator().manual_seed(seed) (helpers.generation.sample_renderer.render_draws)",
        latents="w (w_dim,) when all layers share it, else ws (num_ws, w_dim)",
    )


@contextlib.contextmanager
def write_lock(root: str | os.PathLike[str], shard: tuple[int, int] | None) -> Iterator[None]:
    """The lock a generation run holds while it writes ``root`` (:func:`helpers.base.folder_lock.folder_lock`).

    An unsharded run owns the folder: it takes the folder's lock (``<root>/.lock``) exclusively, which refuses a
    second ``generate``, an ``invert``, a ``merge`` or any shard into the same folder while it runs. The shards of a
    sharded run (``--shard``, torchrun) write one folder together by design, each into its own manifest: each holds
    the folder's lock shared (so an unsharded run and ``merge`` are refused while any shard runs, even one that has
    written nothing yet) and the lock of its own shard exclusively
    (:func:`helpers.dataset_folder.manifest.shard_lock_folder`), which refuses a second process on the same shard.
    """
    if shard is None:
        with folder_lock(root, "generate"):
            yield
        return
    job = f"generate shard {shard[0]}/{shard[1]}"
    with folder_lock(root, job, shared=True), folder_lock(shard_lock_folder(root, *shard), job):
        yield


def generate(config: GenerateConfig, *, generator: Any = None, log=print) -> GenerateReport:
    """Render and write the samples of ``config`` that the folder does not hold yet.

    ``generator`` may pass an already loaded model (its name is still taken from
    ``config.checkpoint``). Returns counts and timing; the dataset is in ``config.out``.
    The run holds :func:`write_lock` while it writes: a second writer gets
    :class:`helpers.base.folder_lock.FolderBusyError`.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    root = Path(config.out)
    device = resolve_device(config.device)
    identity = eg3d.checkpoint_identity(config.checkpoint)
    with write_lock(root, config.shard if config.shard is not None else shard_from_environment()):
        G = generator if generator is not None else eg3d.load(identity["path"] or config.checkpoint, device=device)
        G = G.to(device).eval()
        the_plan = plan(config, G.config)
        depth_range = the_plan.depth_range
        shard = the_plan.shard
        # An unsharded run owns the folder and clears leftovers; shards may be writing temporaries right now.
        prepare_folder(root, _meta(config, identity, G.config, depth_range), clean=shard is None)
        log(the_plan.describe())
        if config.check_disk and the_plan.free_bytes is not None and the_plan.estimated_bytes > the_plan.free_bytes:
            log(f"WARNING: the run needs ≈ {_human(the_plan.estimated_bytes)} but only "
                f"{_human(the_plan.free_bytes)} are free on {root}")

        manifest = root / (shard_manifest_name(*shard) if shard else MANIFEST)
        done = the_plan.done
        renderer = SampleRenderer(G, config.settings)
        writer = SampleWriter(root, config.settings, depth_range, renderer)
        written = 0
        with ManifestWriter(manifest) as lines, ThreadPoolExecutor(max(1, config.workers)) as pool, \
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

            for batch in the_plan.todo_batches:
                rendered = [s for s in renderer.render(batch) if s.id not in done]
                written += commit()
                pending.extend(pool.submit(writer.write, sample) for sample in rendered)
            written += commit()

        if shard is None:
            write_dataset_json(root, read_samples(root).values())
        else:
            log(f"shard {shard[0]}/{shard[1]} done; when every shard has finished, run "
                f"`python -m helpers merge {root}` to write manifest.jsonl and dataset.json")
    seconds = time.perf_counter() - started
    return GenerateReport(out=root, written=written, skipped=the_plan.already_done, seconds=seconds, manifest=manifest)
