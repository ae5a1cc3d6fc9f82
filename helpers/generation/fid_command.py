"""``python -m helpers fid``: FID (and KID) of an EG3D generator or an image folder against a reference folder.

Examples::
    python -m helpers fid --checkpoint ffhq512-128 --reference data/ffhq-eg3d --kid        # fid50k_full, kid50k_full
    python -m helpers fid --checkpoint lpff-var1-128 --reference data/lpff-eg3d --conditioning avg   # LPFF's 3D-FID
    python -m helpers fid --folder renders/ --reference data/ffhq-eg3d --num 10000

The rendering cameras are drawn from ``--cameras`` (an EG3D ``dataset.json``; default: the reference folder's),
the conditioning camera is ``render`` (the same: EG3D's protocol), ``avg`` or drawn from another ``dataset.json``
(:mod:`helpers.generation.fid`). Reference statistics are cached under ``<cache>/fid/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from helpers.base.atomic import write_text_atomic
from helpers.base.errors import UserError
from helpers.base.runtime import resolve_device
from helpers.download.http_download import default_cache_dir, download, sha256_file
from helpers.eg3d.loading import load
from helpers.generation.fid import (
    FeatureStats,
    folder_images,
    frechet_distance,
    generator_features,
    image_batches,
    image_features,
    kernel_distance,
    reference_stats,
)
from helpers.generation.inception import FID_WEIGHTS, load_fid_inception, write_random_weights

_HELP = "see `python -m helpers fid --help`"
#: The FID weights' file name carries the first 8 hex digits of its sha256 (torch hub's convention).
_WEIGHTS_HASH_PREFIX = "6726825d"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="EG3D checkpoint name, file or tiny-random: generate the images")
    source.add_argument("--folder", type=Path, help="a folder of images to score instead of a generator")
    parser.add_argument("--reference", type=Path, required=True,
                        help="the reference images: a dataset folder or any folder of images (EG3D: the whole set)")
    parser.add_argument("--num", type=int, default=50000, help="generated images (default: %(default)s, EG3D's)")
    parser.add_argument("--kid", action="store_true", help="also KID (keeps the reference features: 8 KB per image)")
    parser.add_argument("--cameras", type=Path, default=None,
                        help="dataset.json to draw rendering cameras from (default: the reference folder's)")
    parser.add_argument("--conditioning", default="render",
                        help="render (the rendering camera, EG3D's protocol), avg (the frontal camera), or a "
                             "dataset.json to draw it from (LPFF's 3D-FID) (default: %(default)s)")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation ψ (default: %(default)s)")
    parser.add_argument("--max-reference", type=int, default=None, help="use at most this many reference images")
    parser.add_argument("--batch-size", type=int, default=8, help="(default: %(default)s)")
    parser.add_argument("--inception", default=None,
                        help="the FID Inception weights file (default: pytorch-fid's, downloaded once); random: "
                             "seeded random weights, offline (smoke runs: the numbers mean nothing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of z and the camera draws (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="also write the numbers to this .json")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write cached reference statistics")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1… (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _weights(args: argparse.Namespace) -> Path:
    if args.inception == "random":
        path = default_cache_dir() / "fid" / "inception-random.pth"
        return path if path.is_file() else write_random_weights(path)
    if args.inception is not None:
        if not Path(args.inception).is_file():
            raise UserError(f"no such file: {args.inception} (--inception)", "give pt_inception-2015-12-05-*.pth, "
                            "or random")
        return Path(args.inception)
    path = download(FID_WEIGHTS, progress=not args.no_progress)
    if not sha256_file(path).startswith(_WEIGHTS_HASH_PREFIX):
        raise UserError(f"{path} is not the published FID Inception file (its sha256 does not start with "
                        f"{_WEIGHTS_HASH_PREFIX})", "delete it and run again to download it afresh")
    return path


def run(args: argparse.Namespace) -> int:
    if args.num < 2 or args.batch_size < 1:
        raise UserError(f"--num must be >= 2 and --batch-size >= 1, got {args.num}, {args.batch_size}", _HELP)
    if not args.reference.is_dir():
        raise UserError(f"no such reference folder: {args.reference}", "give the folder of the reference images")
    cameras_file = args.cameras or args.reference / "dataset.json"
    if args.checkpoint is not None and not Path(cameras_file).is_file():
        raise UserError(f"no camera labels at {cameras_file}", "pass --cameras DATASET_JSON (EG3D's labels) to draw "
                        "the rendering cameras from")
    if args.conditioning not in ("render", "avg") and not Path(args.conditioning).is_file():
        raise UserError(f"--conditioning takes render, avg or a dataset.json; no such file: {args.conditioning}", _HELP)
    device = resolve_device(args.device)
    weights = _weights(args)
    model = load_fid_inception(weights, device)
    cache = None if args.no_cache else default_cache_dir() / "fid"
    try:
        real, cached = reference_stats(args.reference, model, sha256_file(weights), cache_dir=cache,
                                       features=args.kid, max_items=args.max_reference, batch_size=args.batch_size,
                                       progress=not args.no_progress)
        if args.checkpoint is not None:
            generator = load(args.checkpoint, device=device, progress=not args.no_progress)
            features = generator_features(generator, model, args.num, render_labels=cameras_file,
                                          conditioning=args.conditioning, psi=args.trunc, batch_size=args.batch_size,
                                          seed=args.seed, progress=not args.no_progress)
        else:
            paths = folder_images(args.folder)[: args.num]
            features = image_features(model, image_batches(paths, args.batch_size, not args.no_progress))
    except ValueError as error:
        raise UserError(str(error), _HELP) from None
    generated = FeatureStats.of(features)
    result = {"fid": frechet_distance(generated, real), "generated": generated.count, "reference": real.count,
              "reference_cached": cached, "conditioning": args.conditioning, "truncation_psi": args.trunc,
              "inception": str(weights)}
    if args.kid:
        assert real.features is not None
        result["kid"] = kernel_distance(features, real.features, seed=args.seed)
    print(f"FID {result['fid']:.4f}" + (f", KID {result['kid']:.6f}" if "kid" in result else "")
          + f" ({generated.count} images against {real.count} reference images"
          + (", reference statistics from the cache)" if cached else ")"))
    if args.out is not None:
        write_text_atomic(args.out, json.dumps(result, indent=2, default=float) + "\n")
    return 0
