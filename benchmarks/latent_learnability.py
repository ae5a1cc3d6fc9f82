"""How much of EG3D's w a linear read-out of the image recovers: a ceiling check for latent regression.

    python benchmarks/latent_learnability.py                                  # tiny-random, CPU, ~2 min
    python benchmarks/latent_learnability.py --generator ffhq512-128 --device cuda --samples 2000 --train 1500,1900

Renders ``--samples`` faces (z ~ N(0, I), ψ = ``--psi``, conditioned on and seen from the frontal camera, fixed
renderer draws), shrinks each 512² image to ``--size``² (area average), then fits a ridge regression from the
pixels to w on the first ``n`` samples for each ``n`` in ``--train`` and scores it on the samples after the largest
``n``. It prints the held-out mean absolute error of w for the ridge fit, the training samples' mean w and the
generator's ``w_avg``. A ratio ridge / mean-w near 1 says the images carry little that a linear map (or a small
encoder trained on as many samples) can recover; the tiny random generator is such a case, which is why
``tests/latent/test_latent.py`` shows learning from images on data whose w lies on a plane (``--plane 2`` here).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import eg3d
from helpers.base import cameras


def render_faces(G: eg3d.Generator, w: torch.Tensor, size: int, batch: int) -> np.ndarray:
    """(N, size²·3) float64 pixels in [-1, 1] of w (N, w_dim) seen from the frontal camera."""
    out = []
    num_ws = G.config.num_ws
    with torch.inference_mode():
        for i in range(0, len(w), batch):
            chunk = w[i:i + batch].to(G.device)
            c = cameras.conditioning_camera(len(chunk), device=G.device)
            draws = G.draws(len(chunk), generator=torch.Generator().manual_seed(0))
            image = G.synthesize(chunk[:, None].expand(-1, num_ws, -1), c, draws=draws)["image"].float()
            out.append(F.interpolate(image, size=(size, size), mode="area").flatten(1).cpu())
    return torch.cat(out).double().numpy()


def ridge_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, lam: float) -> np.ndarray:
    """Ridge regression with centred data, solved in its dual form (fewer samples than pixels)."""
    mx, my = x_train.mean(0), y_train.mean(0)
    a = x_train - mx
    alpha = np.linalg.solve(a @ a.T + lam * np.eye(len(a)), y_train - my)
    return (x_test - mx) @ (a.T @ alpha) + my


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="tiny-random", help="a name or path helpers.eg3d.load accepts")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--train", default="40,100,200,300", help="training-set sizes (comma-separated)")
    parser.add_argument("--size", type=int, default=32, help="image side the pixels are read at")
    parser.add_argument("--psi", type=float, default=0.7)
    parser.add_argument("--plane", type=int, default=0,
                        help="restrict w to a plane of this dimension through the mean w (0: EG3D's own w)")
    parser.add_argument("--lambdas", default="0.1,1,10,100", help="ridge penalties tried (best one printed)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = sorted(int(v) for v in args.train.split(","))
    if sizes[-1] >= args.samples:
        parser.error(f"--train sizes must be below --samples ({args.samples}) to leave held-out samples")

    G = eg3d.load(args.generator, device=args.device).eval()
    rng = torch.Generator().manual_seed(args.seed)
    with torch.inference_mode():
        z = torch.randn(args.samples, G.config.z_dim, generator=rng).to(G.device)
        c = cameras.conditioning_camera(args.samples, device=G.device)
        w = G.mapping(z, c, truncation_psi=args.psi)[:, 0].float().cpu()
    if args.plane:
        directions = torch.randn(args.plane, w.shape[1], generator=rng) * w.std(0)
        w = w.mean(0) + torch.randn(args.samples, args.plane, generator=rng) @ directions
    started = time.perf_counter()
    pixels = render_faces(G, w, args.size, args.batch_size)
    print(f"{args.generator}: {args.samples} renders in {time.perf_counter() - started:.1f} s, pixels at "
          f"{args.size}², ψ = {args.psi}" + (f", w on a {args.plane}-D plane" if args.plane else ""))
    w_np, w_avg = w.double().numpy(), G.backbone.mapping.w_avg.double().cpu().numpy()
    test = slice(sizes[-1], None)
    print("| train samples | held-out | ridge L1 (best λ) | mean-w L1 | w_avg L1 | ridge / mean-w |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        x_train, y_train, x_test, y_test = pixels[:n], w_np[:n], pixels[test], w_np[test]
        mean_l1 = np.abs(y_test - y_train.mean(0)).mean()
        avg_l1 = np.abs(y_test - w_avg).mean()
        best = min((np.abs(y_test - ridge_predict(x_train, y_train, x_test, float(lam))).mean(), float(lam))
                   for lam in args.lambdas.split(","))
        print(f"| {n} | {len(y_test)} | {best[0]:.4f} (λ = {best[1]:g}) | {mean_l1:.4f} | {avg_l1:.4f} | "
              f"{best[0] / mean_l1:.3f} |")


if __name__ == "__main__":
    main()
