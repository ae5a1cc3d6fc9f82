"""Z-buffer rasterisation of a mesh given in image coordinates (u right, v down, pixels; depth forward): per-pixel
depth, coverage mask and triangle index, vectorised over batches of (triangle, pixel) candidates. Used to render the
depth maps of 3DFaceNet's posed face models (:mod:`helpers.datasets.facenet3d.facenet3d_data`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RasterOptions", "rasterize_depth"]



@dataclass(frozen=True)
class RasterOptions:
    """Depth rasteriser settings.

    Attributes:
        batch_candidates: (triangle, pixel) candidate pairs tested per vectorised batch; bounds the memory
            (about 100 bytes per pair).
        edge_tolerance: barycentric tolerance, so pixel centres exactly on a shared edge are not lost.
    """

    batch_candidates: int = 1_000_000
    edge_tolerance: float = 1e-9


def rasterize_depth(
    vertices: np.ndarray, faces: np.ndarray, height: int, width: int, options: RasterOptions = RasterOptions()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffer rendering of a mesh given in the image frame (u, v, depth), orthographic along depth.

    Every pixel centre ``(j + 0.5, i + 0.5)`` inside a triangle gets the triangle's linearly interpolated depth
    (exact for an orthographic view); where triangles overlap the **smallest depth (nearest)** wins. Both
    windings are drawn (no back-face culling: the z-buffer keeps the front surface). Vectorised: triangles are
    sorted by bounding-box size and tested against all pixel centres of their boxes in batches of
    :attr:`RasterOptions.batch_candidates` pairs.

    Returns:
        depth: (H, W) float32, NaN where no triangle covers the pixel centre.
        mask: (H, W) bool, covered pixels.
        face_index: (H, W) int32 index of the visible triangle, −1 where none.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must be (N, 3) image-frame points, got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {f.shape}")
    height, width = int(height), int(width)
    tri = v[f]  # (F, 3, 3)
    finite = np.isfinite(tri).all(axis=(1, 2))
    u, w_ = np.where(finite[:, None], tri[:, :, 0], 0.0), np.where(finite[:, None], tri[:, :, 1], 0.0)
    # Pixel centres c = j + 0.5 inside [min, max]: j from ceil(min − 0.5) to floor(max − 0.5), clipped.
    j0 = np.clip(np.ceil(u.min(1) - 0.5), 0, width).astype(np.int64)
    j1 = np.clip(np.floor(u.max(1) - 0.5), -1, width - 1).astype(np.int64)
    i0 = np.clip(np.ceil(w_.min(1) - 0.5), 0, height).astype(np.int64)
    i1 = np.clip(np.floor(w_.max(1) - 0.5), -1, height - 1).astype(np.int64)
    nx, ny = j1 - j0 + 1, i1 - i0 + 1
    area2 = (u[:, 1] - u[:, 0]) * (w_[:, 2] - w_[:, 0]) - (u[:, 2] - u[:, 0]) * (w_[:, 1] - w_[:, 0])
    live = np.flatnonzero((nx > 0) & (ny > 0) & (np.abs(area2) > 1e-12) & finite)
    count = (nx * ny)[live]
    order = np.argsort(count, kind="stable")
    live, count = live[order], count[order]

    pix_parts, depth_parts, face_parts = [], [], []
    budget = max(int(options.batch_candidates), 1)
    start = 0
    while start < len(live):
        # Grow the batch while (batch size × largest box in it) stays within budget; boxes are sorted.
        end = min(len(live), start + max(1, budget // max(int(count[start]), 1)))
        while end - start > 1 and (end - start) * int(count[end - 1]) > budget:
            end = start + max(1, budget // int(count[end - 1]))
        idx = live[start:end]
        k = np.arange(int(count[end - 1]))
        bx = nx[idx][:, None]
        valid = k[None, :] < (bx * ny[idx][:, None])
        cols = j0[idx][:, None] + k[None, :] % bx
        rows = i0[idx][:, None] + k[None, :] // bx
        pu, pv = cols + 0.5, rows + 0.5
        a, b, c = tri[idx, 0][:, None, :], tri[idx, 1][:, None, :], tri[idx, 2][:, None, :]
        inv = 1.0 / area2[idx][:, None]
        # Barycentric weights from signed edge functions; valid for either winding thanks to the division.
        wa = ((b[..., 0] - pu) * (c[..., 1] - pv) - (c[..., 0] - pu) * (b[..., 1] - pv)) * inv
        wb = ((c[..., 0] - pu) * (a[..., 1] - pv) - (a[..., 0] - pu) * (c[..., 1] - pv)) * inv
        wc = 1.0 - wa - wb
        tol = -options.edge_tolerance
        inside = valid & (wa >= tol) & (wb >= tol) & (wc >= tol)
        depth = wa * a[..., 2] + wb * b[..., 2] + wc * c[..., 2]
        pix_parts.append((rows * width + cols)[inside])
        depth_parts.append(depth[inside])
        face_parts.append(np.broadcast_to(idx[:, None], inside.shape)[inside])
        start = end

    depth_map = np.full(height * width, np.nan, dtype=np.float32)
    face_map = np.full(height * width, -1, dtype=np.int32)
    if pix_parts:
        pix = np.concatenate(pix_parts)
        dep = np.concatenate(depth_parts)
        fid = np.concatenate(face_parts)
        # Z-buffer without a Python loop: sort by (pixel, depth) and keep the first (nearest) of each pixel.
        order = np.lexsort((fid, dep, pix))
        pix, dep, fid = pix[order], dep[order], fid[order]
        first = np.ones(len(pix), dtype=bool)
        first[1:] = pix[1:] != pix[:-1]
        depth_map[pix[first]] = dep[first]
        face_map[pix[first]] = fid[first]
    depth_map = depth_map.reshape(height, width)
    return depth_map, np.isfinite(depth_map), face_map.reshape(height, width)
