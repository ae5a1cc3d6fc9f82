"""Speed of the pure-PyTorch EG3D generator, optionally side by side with the official code.

    python benchmarks/eg3d_speed.py                        # ours only
    python benchmarks/eg3d_speed.py --official-src path/to/eg3d   # + official TriPlaneGenerator, same weights

Measures, for the full-size ffhq512-128 architecture with random weights (or ``--arch tiny``):

* images/s: mapping + tri-planes + volume rendering (48 + 48 samples per ray) at neural resolution
  128 + super-resolution to 512^2, batch 1 (``--batch``), float32 (``--precision``);
* density queries/s: raw sigma at random points in the box. Ours computes the planes once and
  reuses them (as :func:`helpers.mesh` density grids do). The official number follows its
  ``gen_samples.py`` shape extraction, which calls ``G.sample`` per chunk of ``--official-chunk``
  points and so re-runs the backbone for every chunk.

``--official-src`` is a local checkout of https://github.com/NVlabs/eg3d (the repository root or
its ``eg3d/`` folder; ``git clone https://github.com/NVlabs/eg3d``; no default); it is imported, never copied into
this project. On CPU its custom ops fall
back to their reference PyTorch implementations. Both models run the same weights and the same
random draws (same global seed), and the script prints the max output difference as a sanity check
(rounding in float32; ``--precision bf16`` runs ours under autocast while the official stays float32).
Timings interleave ours and the official run and report medians and paired ratios (the ratio is what
transfers to other machines; absolute times only hold for the machine they were measured on). Both
sides run with large freed blocks kept in the process, as ``python -m helpers`` does
(``--default-malloc``: glibc's default, which costs the official code many more page faults).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import (  # noqa: E402 (this folder: run as a script)
    add_allocator_option,
    apply_allocator_option,
    loadavg,
    machine_text,
    paired_ratios,
    timed,
)

from helpers.base.runtime import PRECISIONS, autocast  # noqa: E402
from helpers.eg3d.config import _FFHQ512_128_INIT_KWARGS, GeneratorConfig  # noqa: E402
from helpers.eg3d.generator import Generator  # noqa: E402
from helpers.eg3d.tiny import tiny_config  # noqa: E402


def frontal_camera(n: int, device: torch.device) -> torch.Tensor:
    """EG3D 25-vector of a camera at (0, 0, 2.7) looking at the origin, focal 4.2647."""
    c2w = torch.tensor([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 2.7], [0, 0, 0, 1.0]])
    k = torch.tensor([[4.2647, 0, 0.5], [0, 4.2647, 0.5], [0, 0, 1.0]])
    return torch.cat([c2w.flatten(), k.flatten()]).repeat(n, 1).to(device)


def add_official_to_path(src: str) -> Path:
    """Make a local NVlabs/eg3d checkout (its root or its ``eg3d/`` folder) importable; returns the ``eg3d/`` folder."""
    root = Path(src).expanduser().resolve()
    if (root / "eg3d" / "training").is_dir():
        root = root / "eg3d"
    if not (root / "training" / "triplane.py").is_file():
        raise SystemExit(f"--official-src {src}: no training/triplane.py found (expected an NVlabs/eg3d checkout)")
    sys.path.insert(0, str(root))
    try:  # dnnlib imports requests for downloads only; the benchmarks download nothing
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")
    return root


def load_official(src: str, init_kwargs: dict, state_dict: dict, device: torch.device):
    add_official_to_path(src)
    import dnnlib  # type: ignore

    G = dnnlib.util.construct_class_by_name(class_name="training.triplane.TriPlaneGenerator", **init_kwargs)
    G.load_state_dict(state_dict, strict=True)
    return G.eval().requires_grad_(False).to(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official-src", help="local checkout of NVlabs/eg3d to compare against")
    ap.add_argument("--arch", choices=["ffhq512-128", "tiny"], default="ffhq512-128")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--neural-res", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--density-points", type=int, default=2**21)
    ap.add_argument("--official-chunk", type=int, default=1_000_000, help="gen_samples.py max_batch")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32",
                    help="ours: autocast precision of mapping, backbone, render and super-resolution "
                         "(official: float32)")
    add_allocator_option(ap)
    args = ap.parse_args()
    malloc = apply_allocator_option(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    if args.arch == "tiny":
        config = tiny_config()
        init_kwargs = None
    else:
        config = GeneratorConfig.ffhq512_128()
        init_kwargs = dict(_FFHQ512_128_INIT_KWARGS)
    ours = Generator.from_config(config, seed=0).to(device)
    official = None
    if args.official_src:
        if init_kwargs is None:
            raise SystemExit("--official-src needs --arch ffhq512-128 (the tiny head is narrower than official)")
        official = load_official(args.official_src, init_kwargs, ours.state_dict(), device)

    n, res = args.batch, args.neural_res
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, config.z_dim, generator=gen).to(device)
    c = frontal_camera(n, device)
    points = (torch.rand(args.density_points, 3, generator=gen) - 0.5).to(device) * config.rendering.box_warp

    def ours_image():
        torch.manual_seed(0)
        with autocast(device, args.precision):
            ws = ours.mapping(z, c, truncation_psi=0.7)
            return ours.synthesize(ws, c, neural_rendering_resolution=res)["image"].float()

    def official_image():
        torch.manual_seed(0)
        ws = official.mapping(z, c, truncation_psi=0.7)
        return official.synthesis(ws, c, neural_rendering_resolution=res, noise_mode="const")["image"]

    def ours_density():
        with autocast(device, args.precision):
            ws = ours.mapping(z[:1], c[:1], truncation_psi=0.7)
            return ours.sample_density(ours.planes(ws), points, with_features=False)["sigma"]

    def official_density():
        dirs = torch.zeros(1, args.official_chunk, 3, device=device)
        dirs[..., -1] = -1
        out = []
        for start in range(0, points.shape[0], args.official_chunk):
            chunk = points[None, start:start + args.official_chunk]
            out.append(official.sample(chunk, dirs[:, :chunk.shape[1]], z[:1], c[:1], truncation_psi=0.7,
                                       noise_mode="const")["sigma"])
        return torch.cat(out, 1)

    print(f"machine: {machine_text([device])}, device {device}; {malloc}")
    print(f"arch {args.arch}, batch {n}, neural resolution {res}, image {config.img_resolution}^2, "
          f"{config.rendering.depth_resolution}+{config.rendering.depth_resolution_importance} samples/ray, "
          f"ours {args.precision}, official fp32")
    times: dict[str, list[float]] = {"ours_img": [], "off_img": [], "ours_den": [], "off_den": []}
    loads = [loadavg()]
    with torch.inference_mode():
        # Warm-up (oneDNN primitive creation) + sanity check with identical draws.
        a = ours_image()
        if official is not None:
            b = official_image()
            print(f"max |image ours - official| = {(a - b).abs().max().item():.2e} (same weights, same draws)")
        for _ in range(args.repeats):
            times["ours_img"].append(timed(ours_image, device))
            if official is not None:
                times["off_img"].append(timed(official_image, device))
        ours_density()
        for _ in range(args.repeats):
            times["ours_den"].append(timed(ours_density, device))
            if official is not None:
                times["off_den"].append(timed(official_density, device))

    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"ours:     {n / med['ours_img']:.3f} images/s ({med['ours_img']:.2f} s per batch), "
          f"{args.density_points / med['ours_den'] / 1e6:.2f} M density queries/s")
    if official is not None:
        print(f"official: {n / med['off_img']:.3f} images/s ({med['off_img']:.2f} s per batch), "
              f"{args.density_points / med['off_den'] / 1e6:.2f} M density queries/s")
        print(f"speed-up: images x{med['off_img'] / med['ours_img']:.2f}, "
              f"density queries x{med['off_den'] / med['ours_den']:.2f}")
        print(f"  images: {paired_ratios(times['ours_img'], times['off_img'])}")
        print(f"  density: {paired_ratios(times['ours_den'], times['off_den'])}")
    loads.append(loadavg())
    print(f"load average (1 min) at start and end: {loads[0]:.2f}, {loads[1]:.2f}")
    print("raw timings (s):", {k: [round(t, 3) for t in v] for k, v in times.items() if v})


if __name__ == "__main__":
    main()
