"""``python -m helpers demo``: the main job end to end on what the toolkit can do offline.

It samples dataset cameras with the viewpoint mix, renders an analytic head through them
(image, 16-bit z-depth, mask), back-projects each depth map to a mesh in EG3D world units,
extracts the same head from its density volume with the official marching-cubes threshold,
checks that both agree, and writes everything plus an offline 3D viewer page under
``outputs/demo/``. No download, no GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from helpers import cameras
from helpers.atomic import atomic_path, write_text_atomic
from helpers.synthetic import AnalyticHead

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
    """

    out: Path = Path("outputs/demo")
    views: int = 4
    resolution: int = 128
    volume_resolution: int = 128
    screenshot: bool = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DemoConfig()
    parser.add_argument("--out", type=Path, default=defaults.out, help="output folder (default: %(default)s)")
    parser.add_argument("--views", type=int, default=defaults.views, help="cameras to sample and render")
    parser.add_argument("--resolution", type=int, default=defaults.resolution, help="image/depth size in pixels")
    parser.add_argument("--volume-resolution", type=int, default=defaults.volume_resolution, help="density grid size")
    parser.add_argument("--no-screenshot", dest="screenshot", action="store_false", help="skip viewer.png")


def run(args: argparse.Namespace) -> int:
    config = DemoConfig(
        out=args.out,
        views=args.views,
        resolution=args.resolution,
        volume_resolution=args.volume_resolution,
        screenshot=args.screenshot,
    )
    summary = run_demo(config)
    print(f"\nDone. Open {summary['viewer_html']} in a browser to look at the meshes.")
    return 0


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp)


def run_demo(config: DemoConfig) -> dict:
    """Run the demo and return a summary dict (also written to ``demo.json``)."""
    from scipy.spatial import cKDTree

    from helpers.depth_png import write_depth_png
    from helpers.mesh import DensityGrid, depth_to_mesh, lattice_points, save_density_mrc, save_mesh
    from helpers.viewer import ViewerSample, export_html

    if config.views < 1:
        raise ValueError(f"--views must be at least 1, got {config.views}")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    head = AnalyticHead()
    started = time.perf_counter()

    # 1. Cameras from the dataset viewpoint mix (deterministic per seed).
    seeds = list(range(config.views))
    camera_vectors, views = cameras.ViewpointMix().cameras(seeds)
    print(f"[1/4] sampled {len(views)} cameras: " + ", ".join(f"{v.category} (yaw {np.degrees(v.yaw):+.0f}°)" for v in views))

    # 2. The head's surface from its density volume, as EG3D shapes are extracted.
    points = lattice_points(config.volume_resolution, box_size=1.0)
    grid = DensityGrid.from_values(head.density(points).astype(np.float32), config.volume_resolution, box_size=1.0)
    volume_mesh = grid.to_mesh(level=head.level)
    save_mesh(volume_mesh, out / "meshes" / "head_volume.ply")
    save_density_mrc(grid, out / "meshes" / "head_volume.mrc")
    print(f"[2/4] marching cubes at {config.volume_resolution}³: {volume_mesh.num_faces:,} faces")

    # 3. Render each view and back-project its depth map into the same world frame.
    tree = cKDTree(volume_mesh.vertices)
    samples = []
    records = []
    for seed, camera, view in zip(seeds, camera_vectors.numpy(), views):
        name = f"view{seed:02d}_{view.category}"
        rendered = head.render(camera, config.resolution, near=DEPTH_NEAR, far=DEPTH_FAR)
        _save_png(out / "images" / f"{name}.png", rendered.image)
        write_depth_png(out / "depth" / f"{name}.png", rendered.depth, DEPTH_NEAR, DEPTH_FAR)
        _save_png(out / "mask" / f"{name}.png", rendered.mask.astype(np.uint8) * 255)
        with atomic_path(out / "cameras" / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, camera.astype(np.float32))
        cam2world, k = cameras.unpack(camera)
        mesh = depth_to_mesh(rendered.depth, k, cam2world, mask=rendered.mask, colors=rendered.image)
        save_mesh(mesh, out / "meshes" / f"{name}.ply")
        distance, _ = tree.query(mesh.vertices)
        records.append(
            {
                "name": name,
                **view.as_dict(),
                "faces": mesh.num_faces,
                "median_distance_to_volume_mesh": float(np.median(distance)),
                "p95_distance_to_volume_mesh": float(np.percentile(distance, 95)),
            }
        )
        samples.append(ViewerSample(name=name, mesh=mesh, image=rendered.image, depth=rendered.depth))
    worst = max(r["p95_distance_to_volume_mesh"] for r in records)
    print(
        f"[3/4] rendered and back-projected {len(records)} depth maps; 95% of their vertices lie within "
        f"{worst:.4f} world units of the volume mesh (voxel size {grid.voxel_size:.4f})"
    )

    # 4. One offline viewer page for everything (plotly.js embedded), plus a screenshot.
    samples.append(ViewerSample(name="head (density volume)", mesh=volume_mesh))
    html = export_html(samples, out / "viewer.html", title="eg3d-face-toolkit demo")
    png = _maybe_screenshot(html, out / "viewer.png") if config.screenshot else None
    print(f"[4/4] viewer: {html}" + (f" (screenshot {png})" if png else ""))

    summary = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
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
    from helpers.viewer.screenshot import find_chromium, screenshot_html

    try:
        find_chromium()
    except RuntimeError:
        print("      (no Chromium found: skipping viewer.png; install it with `apt-get install chromium`)")
        return None
    return screenshot_html(html, png)
