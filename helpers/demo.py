"""``python -m helpers demo``: the main job end to end, on a real photo and on a subject with exact geometry.

1. **A photo** (scikit-image's astronaut, public domain, or ``--photo``) goes through face detection, the 68
   landmarks, the EG3D crop and the landmark camera fit (offline), then through the best depth model within reach:
   ``--model`` (default the original's published Attention U-Net, from the cache or downloaded). Offline with
   nothing cached, one line says so and the photo stops at its crop and camera.
2. **The geometry stages** on a subject with an exact density field: dataset cameras from the viewpoint mix,
   renders (image, 16-bit z-depth, mask), depth maps back-projected to meshes in EG3D world units, the surface from
   the density volume at the official marching-cubes threshold, and how well both agree. The subject is the analytic
   head (offline, seconds on a CPU), or an EG3D face with ``--checkpoint ffhq512-128`` (``tiny-random``: offline).

Everything goes under ``outputs/demo/`` with one offline viewer page (the photo's 3D face first, when there is one).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from skimage import data

from helpers.base import cameras
from helpers.base.atomic import write_npy_atomic, write_png_atomic, write_text_atomic
from helpers.base.depth_png import write_depth_png
from helpers.base.errors import UserError
from helpers.depth.models import PUBLISHED_UNET
from helpers.download import DownloadError
from helpers.eg3d.subject import EG3DSubject
from helpers.generation.analytic_head import SURFACE_LEVEL, AnalyticHead, SyntheticView
from helpers.generation.viewpoints import ViewpointMix
from helpers.invert.align import AlignmentError
from helpers.mesh import DensityGrid, depth_to_mesh, lattice_points, save_density_mrc, save_mesh
from helpers.photo3d import PhotoConfig, PhotoReconstructor, overview_image, save_photo_reconstruction
from helpers.viewer import ViewerSample, export_html, find_chromium, screenshot_html

#: Fixed z-depth range of the demo's 16-bit depth PNGs (world units), recorded in demo.json.
DEPTH_NEAR, DEPTH_FAR = 2.0, 3.4


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo job.

    Attributes:
        out: output folder.
        views: number of dataset cameras to sample (seeds 0..views-1) and render.
        resolution: image and depth resolution in pixels.
        volume_resolution: density grid resolution for marching cubes.
        screenshot: also save viewer.png through headless Chromium when it is installed.
        checkpoint: None for the analytic head, else an EG3D checkpoint name or path
            (``helpers.eg3d.load``) or ``"tiny-random"``.
        seed: latent seed of the EG3D face.
        truncation_psi: EG3D truncation (0.7 as the official scripts).
        photo: the photo of stage 1 (None: scikit-image's astronaut); ``""`` skips the photo stage.
        model: the depth model of stage 1 (:func:`helpers.depth.models.load_depth_model`).
    """

    out: Path = Path("outputs/demo")
    views: int = 4
    resolution: int = 128
    volume_resolution: int = 128
    screenshot: bool = True
    checkpoint: str | None = None
    seed: int = 0
    truncation_psi: float = 0.7
    photo: str | None = None
    model: str = PUBLISHED_UNET

    def __post_init__(self) -> None:
        for name, value, minimum in (("views", self.views, 1), ("resolution", self.resolution, 8),
                                     ("volume_resolution", self.volume_resolution, 8)):
            if value < minimum:
                raise UserError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}",
                                "see `python -m helpers demo --help`")
        if not 0.0 <= self.truncation_psi <= 1.0:
            raise UserError(f"--trunc must be in [0, 1], got {self.truncation_psi}",
                            "0 gives the average face, 1 no truncation, 0.7 is the official scripts'")
        if self.photo and not Path(self.photo).is_file():
            raise UserError(f"no such photo: {self.photo}",
                            "check the path, or pass --photo '' to skip the photo stage")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DemoConfig()
    parser.add_argument("--out", type=Path, default=defaults.out, help="output folder (default: %(default)s)")
    parser.add_argument("--views", type=int, default=defaults.views, help="cameras to sample and render")
    parser.add_argument("--resolution", type=int, default=defaults.resolution, help="image/depth size in pixels")
    parser.add_argument("--volume-resolution", type=int, default=defaults.volume_resolution, help="density grid size")
    parser.add_argument("--no-screenshot", dest="screenshot", action="store_false", help="skip viewer.png")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="render an EG3D face instead of the analytic head: a checkpoint name (e.g. ffhq512-128, "
        "downloaded once), a local file, or tiny-random (offline smoke test)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="EG3D latent seed")
    parser.add_argument("--trunc", dest="truncation_psi", type=float, default=defaults.truncation_psi, help="EG3D truncation ψ")
    parser.add_argument("--photo", default=None,
                        help="the face photo of the first stage (default: scikit-image's astronaut; '' skips it)")
    parser.add_argument("--model", default=defaults.model,
                        help="its depth model: a train-depth checkpoint or published-unet (default, downloaded once)")


def run(args: argparse.Namespace) -> int:
    config = DemoConfig(
        out=args.out,
        views=args.views,
        resolution=args.resolution,
        volume_resolution=args.volume_resolution,
        screenshot=args.screenshot,
        checkpoint=args.checkpoint,
        seed=args.seed,
        truncation_psi=args.truncation_psi,
        photo=args.photo,
        model=args.model,
    )
    summary = run_demo(config)
    print(f"\nDone. Open {summary['viewer_html']} in a browser to look at the meshes.")
    return 0


def run_demo(config: DemoConfig) -> dict:
    """Run the demo and return a summary dict (also written to ``demo.json``)."""
    if config.views < 1:
        raise ValueError(f"--views must be at least 1, got {config.views}")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    photo_samples, photo_summary = _photo_stage(config, out / "photo")
    subject = (AnalyticHead() if config.checkpoint is None else
               EG3DSubject.from_seed(config.checkpoint, config.seed, config.truncation_psi))

    # 1. Cameras from the dataset viewpoint mix (deterministic per seed).
    seeds = list(range(config.views))
    camera_vectors, views = ViewpointMix().cameras(seeds)
    print(f"[2/5] {subject.description if config.checkpoint else 'the analytic head'}: sampled {len(views)} dataset "
          "cameras: " + ", ".join(f"{v.category} (yaw {np.degrees(v.yaw):+.0f}°)" for v in views))

    # 2. The head's surface from its density volume, as EG3D shapes are extracted.
    points = lattice_points(config.volume_resolution, box_size=subject.box_size)
    grid = DensityGrid.from_values(subject.density(points).astype(np.float32), config.volume_resolution, box_size=subject.box_size)
    volume_mesh = grid.to_mesh(level=SURFACE_LEVEL)
    save_mesh(volume_mesh, out / "meshes" / "head_volume.ply")
    save_density_mrc(grid, out / "meshes" / "head_volume.mrc")
    print(f"[3/5] marching cubes at {config.volume_resolution}³: {volume_mesh.num_faces:,} faces")

    # 3. Render each view and back-project its depth map into the same world frame.
    tree = cKDTree(volume_mesh.vertices) if volume_mesh.num_vertices else None
    samples = []
    records = []
    for seed, camera, view in zip(seeds, camera_vectors.numpy(), views):
        name = f"view{seed:02d}_{view.category}"
        rendered = _render(subject, camera, config.resolution)
        write_png_atomic(out / "images" / f"{name}.png", rendered.image)
        write_depth_png(out / "depth" / f"{name}.png", rendered.depth, DEPTH_NEAR, DEPTH_FAR)
        write_png_atomic(out / "mask" / f"{name}.png", rendered.mask.astype(np.uint8) * 255)
        write_npy_atomic(out / "cameras" / f"{name}.npy", camera.astype(np.float32))
        cam2world, k = cameras.unpack(camera)
        mesh = depth_to_mesh(rendered.depth, k, cam2world, mask=rendered.mask, colors=rendered.image)
        save_mesh(mesh, out / "meshes" / f"{name}.ply")
        record = {"name": name, **view.as_dict(), "faces": mesh.num_faces}
        if tree is not None and mesh.num_vertices:
            distance, _ = tree.query(mesh.vertices)
            record["median_distance_to_volume_mesh"] = float(np.median(distance))
            record["p95_distance_to_volume_mesh"] = float(np.percentile(distance, 95))
        records.append(record)
        samples.append(ViewerSample(name=name, mesh=mesh, image=rendered.image, depth=rendered.depth))
    distances = [r["p95_distance_to_volume_mesh"] for r in records if "p95_distance_to_volume_mesh" in r]
    agreement = (
        f"95% of their vertices lie within {max(distances):.4f} world units of the volume mesh "
        f"(voxel size {grid.voxel_size:.4f})"
        if distances
        else "the volume has no surface at σ = 10 to compare with"
    )
    print(f"[4/5] rendered and back-projected {len(records)} depth maps; {agreement}")

    # 4. One offline viewer page for everything (plotly.js embedded), plus a screenshot.
    if volume_mesh.num_faces:  # a random generator may have no σ = 10 surface at all
        samples.append(ViewerSample(name="density volume (σ = 10)", mesh=volume_mesh))
    # The photo's 3D face comes first; without a depth model its crop alone goes last.
    ordered = samples + photo_samples if photo_summary.get("depth_model", "") is None else photo_samples + samples
    html = export_html(ordered, out / "viewer.html", title="eg3d-face-toolkit demo")
    png = _maybe_screenshot(html, out / "viewer.png") if config.screenshot else None
    print(f"[5/5] viewer: {html}" + (f" (screenshot {png})" if png else ""))

    summary = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "photo": photo_summary,
        "subject": subject.description,
        "depth_png": {"near": DEPTH_NEAR, "far": DEPTH_FAR, "encoding": "16-bit z-depth, 0 = no surface"},
        "views": records,
        "volume_mesh_faces": volume_mesh.num_faces,
        "viewer_html": str(html),
        "viewer_png": str(png) if png else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_text_atomic(out / "demo.json", json.dumps(summary, indent=2))
    return summary


def _maybe_screenshot(html: Path, png: Path) -> Path | None:
    try:
        find_chromium()
    except RuntimeError:
        print("      (no Chromium found: skipping viewer.png; install it with `apt-get install chromium`)")
        return None
    return screenshot_html(html, png)


def _render(subject: AnalyticHead | EG3DSubject, camera: np.ndarray, resolution: int) -> SyntheticView:
    """Image, z-depth and mask of the subject from ``camera``. EG3D renders at its own resolutions and ray range
    (``resolution`` is for the analytic head); its mask is opacity ≥ 0.5, where its depth is non-zero."""
    if isinstance(subject, AnalyticHead):
        return subject.render(camera, resolution, near=DEPTH_NEAR, far=DEPTH_FAR)
    maps = subject.render_maps(camera)
    return SyntheticView(image=maps["image"], depth=maps["depth"], mask=maps["opacity"] >= 0.5,
                         camera=np.asarray(camera, dtype=np.float32))


def _photo_stage(config: DemoConfig, out: Path) -> tuple[list[ViewerSample], dict]:
    """Stage 1: the photo's crop and camera (offline), then the depth method when its model can be had. Returns the
    viewer samples and the summary; files go to ``out``."""
    if config.photo == "":
        return [], {"skipped": "no photo (--photo '')"}
    photo = data.astronaut() if config.photo is None else config.photo
    name = "astronaut (scikit-image)" if config.photo is None else Path(config.photo).name
    reconstructor = PhotoReconstructor(PhotoConfig(model=config.model))
    try:
        rgb, aligned, estimate, seconds = reconstructor.align(photo)
    except (AlignmentError, ImportError, OSError, ValueError) as error:
        print(f"[1/5] {name}: {error} — the photo stage is skipped; the geometry stages follow")
        return [], {"photo": name, "error": str(error)}
    fit = f"yaw {estimate.yaw_deg:+.1f}°, elevation {estimate.elevation_deg:+.1f}°, roll {estimate.roll_deg:+.1f}°"
    try:
        reconstructor.load()
    except (ImportError, OSError, ValueError, RuntimeError, DownloadError) as error:
        reason = str(error).splitlines()[0]
        reason = reason if len(reason) <= 100 else reason[:100].rsplit(" ", 1)[0] + " …"
        print(f"[1/5] {name}: face found, cropped, camera fitted ({fit}); no depth model: {config.model} is not "
              f"cached and could not be downloaded ({reason}); with internet, or --model best.pt, the photo becomes "
              "a mesh")
        overview = write_png_atomic(out / "overview.png", overview_image(rgb, aligned, estimate))
        summary = {"photo": name, "camera": [float(v) for v in estimate.camera], "camera_fit": fit,
                   "quad": aligned.quad.tolist(), "depth_model": None, "overview": str(overview)}
        return [ViewerSample(name=f"{name}: crop and camera (no depth model offline)",
                             image=overview_image(rgb, aligned, estimate))], summary
    rec = reconstructor.complete(rgb, aligned, estimate, seconds)
    files = save_photo_reconstruction(rec, out, frames=24)
    print(f"[1/5] {name}: camera {fit}; {rec.model} → {rec.mesh.num_faces:,} faces ({files['viewer']})")
    sample = ViewerSample(name=f"{name}: {rec.model} depth → mesh", mesh=rec.mesh,
                          image=overview_image(rgb, aligned, estimate), depth=rec.depth)
    return [sample], {"photo": name, **rec.record(), "files": {k: str(v) for k, v in files.items()}}
