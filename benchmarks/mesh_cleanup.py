"""Mesh cleanup (helpers.mesh.cleanup): faces before and after each step, time per mesh, and how far the cleaned
surface lies from the raw one.

The mesh: the analytic head's density (helpers.generation.analytic_head, whose neck meets the padded box as EG3D's
heads do, leaving a flat wall) with dense specks added as floaters, through marching cubes at each resolution.
Distances are in world units (the box is 1 wide; ~395 mm per unit): cleaned → raw (how far smoothing moved the kept
surface) and decimated → cleaned.

    python benchmarks/mesh_cleanup.py [--resolutions 128,256] [--targets 50000,20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from helpers.generation.analytic_head import AnalyticHead
from helpers.mesh import DensityGrid, lattice_points
from helpers.mesh.cleanup import CleanConfig, clean_mesh, surface_distance

FLOATERS = ((0.3, 0.3, 0.3), (-0.35, 0.1, -0.3), (0.2, -0.35, 0.35), (-0.3, -0.3, 0.25))


def head_mesh(resolution: int):
    head = AnalyticHead()
    points = lattice_points(resolution, box_size=head.box_size)
    sigma = head.density(points).astype(np.float32)
    for centre in FLOATERS:
        speck = 60 * np.exp(-np.sum((points - np.asarray(centre)) ** 2, 1) / (2 * 0.02**2))
        sigma = np.maximum(sigma, speck.astype(np.float32))
    return DensityGrid.from_values(sigma, resolution, box_size=head.box_size).to_mesh(level=head.level)


def timed(mesh, config, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = clean_mesh(mesh, config)
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", default="128,256")
    parser.add_argument("--targets", default="50000,20000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| lattice | raw faces | walls | floaters | cleaned faces | clean s | cleaned → raw mm: mean / p95 / max |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for resolution in (int(r) for r in args.resolutions.split(",")):
        raw = head_mesh(resolution)
        clean_mesh(raw)  # imports and warm-up
        (clean, report), seconds = timed(raw, CleanConfig(), args.repeats)
        moved = surface_distance(clean, raw)
        print(f"| {resolution}³ | {report.faces_in:,} | {report.walls:,} | {report.floaters:,} | {report.faces_out:,} "
              f"| {seconds:.2f} | {moved['mean'] * 395:.3f} / {moved['p95'] * 395:.3f} / {moved['max'] * 395:.3f} |")
        rows.append((resolution, clean))
    print("\n| lattice | target faces | faces | clean + decimate s | decimated → cleaned mm: mean / p95 / max |")
    print("|---|---|---|---|---|")
    for resolution, clean in rows:
        raw = head_mesh(resolution)
        for target in (int(t) for t in args.targets.split(",")):
            if target >= clean.num_faces:
                continue
            (small, report), seconds = timed(raw, CleanConfig(target_faces=target), args.repeats)
            away = surface_distance(small, clean)
            print(f"| {resolution}³ | {target:,} | {small.num_faces:,} | {seconds:.2f} | {away['mean'] * 395:.3f} / "
                  f"{away['p95'] * 395:.3f} / {away['max'] * 395:.3f} |")


if __name__ == "__main__":
    main()
