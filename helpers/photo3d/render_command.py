"""``python -m helpers render``: one EG3D face (a latent file, a seed, a dataset sample or an inversion) → image, depth,
mask, mesh and novel views.

Examples::
    python -m helpers render --latent w.npy --out renders/        # (512,), (14, 512) or the original's (1, 14, 512)
    python -m helpers render --seed 42 --trunc 0.7 --yaw 0.4 --out renders/
    python -m helpers render --sample data/eg3d1k:seed00000042 --out renders/        # its latent, camera and generator
    python -m helpers render --inversion out/inversions/astronaut --out renders/   # pivot w, tuned generator

Writes ``OUT/<name>/``: ``image.png``, ``depth.png`` (16-bit camera z-depth, world units; near/far in
``render.json``, the generator's default range), ``depth_preview.png``, ``mask.png`` (opacity ≥ 0.5), ``camera.npy``
(25), ``latent.npy`` (w, or ws when layers differ), ``views.png`` (the ``--views`` yaws side by side), ``mesh.ply``
(marching cubes at ``--mesh-level``; ``--clean-mesh``: :mod:`helpers.mesh.cleanup`) and ``render.json``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers.base import cameras
from helpers.base.atomic import write_npy_atomic, write_png_atomic, write_text_atomic
from helpers.base.depth_png import write_depth_png
from helpers.base.errors import UserError
from helpers.base.runtime import resolve_device
from helpers.dataset_folder.layout import stored_latent
from helpers.dataset_folder.reader import DatasetFolder
from helpers.depth.reconstruction import depth_preview
from helpers.eg3d import EG3DSubject, latent_z, load
from helpers.generation.sample_settings import default_depth_range
from helpers.generation.viewpoints import ViewpointMix
from helpers.invert.weight_delta import apply_weight_delta, load_weight_delta
from helpers.mesh import save_mesh
from helpers.mesh.cleanup import CleanConfig, clean_mesh

_HELP = "see `python -m helpers render --help`"
#: The generator of ``--latent`` and ``--seed`` when ``--checkpoint`` is not given.
DEFAULT_CHECKPOINT = "ffhq512-128"
DEFAULT_VIEWS = (-0.6, -0.3, 0.0, 0.3, 0.6)


@dataclass
class Face:
    """What to render: the generator (tuned for an inversion), ws (1, num_ws, w_dim), a default camera, a name."""

    generator: Any
    ws: torch.Tensor
    camera: np.ndarray | None
    name: str
    source: dict[str, Any]


def as_ws(latent: np.ndarray, num_ws: int, where: str) -> np.ndarray:
    """(num_ws, w_dim) from a stored latent: w (w_dim,) or (1, w_dim), ws (num_ws, w_dim), or the original
    project's (1, num_ws, w_dim)."""
    array = np.asarray(latent, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 1:
        array = np.repeat(array[None], num_ws, axis=0)
    if array.ndim != 2 or array.shape[0] != num_ws:
        raise UserError(f"{where}: a latent of shape {np.shape(latent)} is neither w (w_dim,) nor ws ({num_ws}, w_dim)"
                        f" nor the original (1, {num_ws}, w_dim)", "give a latent of this generator")
    return array


def _load_npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"no such {what}: {path}", _HELP)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise UserError(f"{path}: not a .npy array ({error})", f"give the {what} as a .npy file") from None


def _ws(generator: Any, latent: np.ndarray, where: str) -> torch.Tensor:
    ws = as_ws(latent, generator.config.num_ws, where)
    if ws.shape[1] != generator.config.w_dim:
        raise UserError(f"{where}: latents of {ws.shape[1]} values, the generator's are {generator.config.w_dim}",
                        "give a latent of this generator")
    return torch.from_numpy(ws)[None].to(generator.device)


def resolve_face(args: argparse.Namespace, device: torch.device) -> Face:
    """The face the command line names (see the module doc)."""
    if args.latent is not None:
        checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
        generator = load(checkpoint, device=device, progress=not args.no_progress)
        return Face(generator, _ws(generator, _load_npy(args.latent, "latent file"), str(args.latent)), None,
                    args.latent.stem, {"latent": str(args.latent), "checkpoint": checkpoint})
    if args.seed is not None:
        checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
        generator = load(checkpoint, device=device, progress=not args.no_progress)
        z = latent_z([args.seed], generator.config.z_dim).to(device)
        with torch.inference_mode():
            ws = generator.mapping(z, cameras.conditioning_camera(1, device=device), truncation_psi=args.trunc)
        return Face(generator, ws, None, f"seed{args.seed}", {"seed": args.seed, "truncation_psi": args.trunc,
                                                              "checkpoint": checkpoint})
    if args.sample is not None:
        root, _, sample_id = args.sample.rpartition(":")
        if not root or not sample_id:
            raise UserError(f"--sample takes DATASET:ID, got {args.sample!r}", _HELP)
        folder = DatasetFolder(root)
        if sample_id not in folder.records:
            raise UserError(f"{root} has no sample {sample_id!r}", f"its ids run {folder.ids[0]} … {folder.ids[-1]}"
                            if folder.ids else "the folder has no samples")
        record = folder.records[sample_id]
        if "latent" not in record.get("files", {}):
            raise UserError(f"sample {sample_id} of {root} has no latent", "render a generated or inverted sample")
        delta = Path(root) / "inversions" / sample_id / "generator_delta.safetensors"
        if delta.is_file():  # an inverted sample: its pivot w is meant for its tuned generator
            return _inversion(delta.parent, args, device)
        checkpoint = args.checkpoint or folder.meta.get("generator", {}).get("checkpoint") or DEFAULT_CHECKPOINT
        generator = load(checkpoint, device=device, progress=not args.no_progress)
        sample = folder.load(sample_id)
        return Face(generator, _ws(generator, sample.latent, f"{root}:{sample_id}"), sample.camera, sample_id,
                    {"dataset": str(root), "sample": sample_id, "checkpoint": checkpoint})
    return _inversion(args.inversion, args, device)


def _inversion(folder: Path, args: argparse.Namespace, device: torch.device) -> Face:
    delta = folder / "generator_delta.safetensors"
    if not delta.is_file():
        raise UserError(f"{folder} holds no generator_delta.safetensors", "give an inversion folder (inversions/<id>/ "
                        "of python -m helpers invert)")
    _, base = load_weight_delta(delta)
    checkpoint = args.checkpoint or (base or {}).get("checkpoint")
    if not checkpoint:
        raise UserError(f"{delta} does not say which generator it was tuned from", "pass --checkpoint")
    tuned = apply_weight_delta(load(checkpoint, device=device, progress=not args.no_progress), delta)
    camera = _load_npy(folder / "camera.npy", "inversion camera") if (folder / "camera.npy").is_file() else None
    ws = _ws(tuned, _load_npy(folder / "pivot_w.npy", "pivot w"), str(folder / "pivot_w.npy"))
    return Face(tuned, ws, camera, folder.name, {"inversion": str(folder), "checkpoint": checkpoint})


def _camera(args: argparse.Namespace, face: Face) -> np.ndarray:
    if args.camera is not None:
        camera = _load_npy(args.camera, "camera file").astype(np.float32).reshape(-1)
        if camera.shape != (cameras.CAMERA_DIM,):
            raise UserError(f"{args.camera}: a camera has 25 values, got {camera.size}", _HELP)
        return camera
    if args.yaw is not None or args.pitch is not None or face.camera is None:
        return cameras.camera_vector(args.yaw or 0.0, args.pitch or 0.0)[0].numpy()
    return np.asarray(face.camera, np.float32).reshape(cameras.CAMERA_DIM)


def render_face(face: Face, camera: np.ndarray, out: Path, *, views: tuple[float, ...], mesh_resolution: int,
                mesh_level: float, clean: CleanConfig | None, progress: bool = True) -> dict[str, Any]:
    """Render ``face`` from ``camera`` and write the files of the module doc into ``out``; returns render.json."""
    subject = EG3DSubject(face.generator, face.ws, face.name)
    maps = subject.render_maps(camera)
    near, far = default_depth_range(face.generator.config, ViewpointMix())
    surface = maps["opacity"] >= 0.5
    write_png_atomic(out / "image.png", maps["image"])
    write_depth_png(out / "depth.png", maps["depth"], near, far, mask=surface)
    write_png_atomic(out / "depth_preview.png", depth_preview(np.where(surface, maps["depth"], 0.0)))
    write_png_atomic(out / "mask.png", (surface * 255).astype(np.uint8))
    write_npy_atomic(out / "camera.npy", np.asarray(camera, np.float32))
    write_npy_atomic(out / "latent.npy", stored_latent(face.ws[0].float().cpu().numpy()))
    if views:
        write_png_atomic(out / "views.png", subject.orbit_strip(views))
    info: dict[str, Any] = {"source": face.source, "camera": [float(v) for v in camera], "depth_range": [near, far],
                            "views_yaw": list(views)}
    if mesh_resolution:
        mesh = subject.mesh(mesh_resolution, mesh_level)
        if clean is not None and mesh.num_faces:
            mesh, report = clean_mesh(mesh, clean)
            info["mesh_clean"] = report.__dict__
        save_mesh(mesh, out / "mesh.ply")
        info["mesh_faces"] = mesh.num_faces
    write_text_atomic(out / "render.json", json.dumps(info, indent=2) + "\n")
    return info


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"a list of numbers like -0.5,0,0.5; got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--latent", type=Path, help="a .npy latent: w, ws, or the original (1, 14, 512)")
    source.add_argument("--seed", type=int, help="EG3D's seed (z as gen_samples.py)")
    source.add_argument("--sample", help="DATASET:ID, a sample of a generated or inverted dataset folder")
    source.add_argument("--inversion", type=Path, help="an inversion folder (inversions/<id>/ of invert)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (one sub-folder per face)")
    parser.add_argument("--checkpoint", default=None,
                        help="EG3D checkpoint name, file or tiny-random (default: the sample's or inversion's, "
                             "else ffhq512-128)")
    parser.add_argument("--trunc", type=float, default=0.7, help="--seed: truncation ψ (default: %(default)s)")
    parser.add_argument("--yaw", type=float, default=None, help="camera yaw, radians (default: 0, or the sample's)")
    parser.add_argument("--pitch", type=float, default=None, help="camera pitch offset (default: 0, or the sample's)")
    parser.add_argument("--camera", type=Path, default=None, help="a .npy of the 25-float EG3D camera")
    parser.add_argument("--views", type=_floats, default=DEFAULT_VIEWS,
                        help="yaws of views.png, radians, as --views=-0.6,0,0.6 (default: -0.6,-0.3,0,0.3,0.6; "
                             "--views= for none)")
    parser.add_argument("--mesh-resolution", type=int, default=256, help="marching-cubes lattice, 0: no mesh "
                        "(default: %(default)s)")
    parser.add_argument("--mesh-level", type=float, default=10.0, help="iso-level on σ (default: %(default)s, EG3D's)")
    parser.add_argument("--clean-mesh", action="store_true", help="drop walls and floaters, smooth lightly")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1… (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no download progress bar")


def run(args: argparse.Namespace) -> int:
    if args.mesh_resolution and args.mesh_resolution < 8:
        raise UserError(f"--mesh-resolution must be 0 or at least 8, got {args.mesh_resolution}", _HELP)
    face = resolve_face(args, resolve_device(args.device))
    out = args.out / face.name
    info = render_face(face, _camera(args, face), out, views=args.views, mesh_resolution=args.mesh_resolution,
                       mesh_level=args.mesh_level, clean=CleanConfig() if args.clean_mesh else None)
    mesh = f", mesh ({info['mesh_faces']:,} faces)" if "mesh_faces" in info else ""
    print(f"{out}: image, depth, mask, views{mesh}")
    return 0
