"""Names of the published EG3D checkpoints, where to get them, and what they are.

:func:`resolve` turns a name (``"ffhq512-128"``, ``"lpff-var2-128"``) into a local file, downloading
it into the cache through :func:`helpers.download.http_download.download`, or returns an existing local path
unchanged. Sizes and sha256 sums are not published for these files; they are left ``None`` and the
downloader records the sha256 of the first download next to the file and verifies it afterwards.

Sources (checked 2025):

* NVIDIA NGC, ``https://api.ngc.nvidia.com/v2/models/nvidia/research/eg3d/versions/1/files/<name>.pkl``:
  five of the URLs are listed verbatim in NVlabs/eg3d ``eg3d/visualizer.py``; ``ffhq512-64.pkl``
  is described in NVlabs/eg3d ``docs/models.md`` and assumed to follow the same pattern. The NGC
  version-1 zip of all files is ``https://api.ngc.nvidia.com/v2/models/nvidia/research/eg3d/versions/1/zip``.
* LPFF (Wu et al., ICCV 2023), github.com/oneThousand1000/LPFF-dataset ``networks/readme.md``:
  Google Drive files only. They are fetched through Drive's direct-download endpoint; if Drive
  answers with a web page (quota, confirmation), the error says to download by hand. LPFF models use
  the *fixed* tri-plane projection (XY, XZ, ZY), unlike NVIDIA's (XY, XZ, ZX), and var3 is
  conditioned on the average camera (``c_gen_conditioning_avg``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.download.http_download import DownloadError, default_cache_dir, download
from helpers.eg3d.checkpoints.safe_unpickle import CheckpointError

__all__ = ["CheckpointEntry", "REGISTRY", "known_names", "get_entry", "resolve", "NVIDIA_LICENSE", "LPFF_LICENSE"]

NVIDIA_LICENSE = (
    "NVIDIA Source Code License for EG3D (https://github.com/NVlabs/eg3d/blob/main/LICENSE.txt): "
    "non-commercial use only (research or evaluation); redistribution must include the licence."
)
LPFF_LICENSE = (
    "No licence stated by the LPFF authors for the model files; they are EG3D models trained with "
    "NVIDIA's EG3D code, so the NVIDIA Source Code License for EG3D (non-commercial) applies at "
    "least. Cite Wu et al., 'LPFF: A Portrait Dataset for Face Generators Across Large Poses', ICCV 2023."
)

_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/eg3d/versions/1/files/"
_NGC_PAGE = "https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/eg3d"
_DRIVE_DIRECT = "https://drive.usercontent.google.com/download?id={id}&export=download&confirm=t"
_DRIVE_VIEW = "https://drive.google.com/file/d/{id}/view"
# Official tri-plane axes (what the pickles' renderer.plane_axes hold): XY, XZ, ZX and the fix XY, XZ, ZY.
_AXES_OFFICIAL = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 1], [0, 1, 0]], [[0, 0, 1], [1, 0, 0], [0, 1, 0]]]
_AXES_FIXED = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 1], [0, 1, 0]], [[0, 0, 1], [0, 1, 0], [1, 0, 0]]]


@dataclass(frozen=True)
class CheckpointEntry:
    """A published checkpoint.

    Attributes:
        name: registry name (lower case).
        urls: download URLs, tried in order.
        filename: file name in the cache.
        description: what the model is.
        licence: licence text / terms of use.
        source: where the URL and facts were found.
        sha256, size: of the file, when published (None: recorded at first download).
        backend: ``"http"`` (plain HTTPS) or ``"google-drive"`` (may answer with an HTML page).
        page: web page where the file can also be downloaded by hand.
        config: architecture for state-dict (``.pth``) conversions of this model:
            ``{init_kwargs, rendering_kwargs, neural_rendering_resolution, extras}``, derived from the
            training configuration (see :func:`_eg3d_config`), not read from the real pickle.
    """

    name: str
    urls: tuple[str, ...]
    filename: str
    description: str
    licence: str
    source: str
    sha256: str | None = None
    size: int | None = None
    backend: str = "http"
    page: str = ""
    config: Mapping[str, Any] | None = field(default=None, compare=False)


def _eg3d_config(cfg: str, neural_rendering_resolution: int, *, gpc_reg_prob: float | None = 0.5,
                 lpff_avg_camera: bool | None = None) -> dict[str, Any]:
    """Init kwargs that EG3D's ``train.py`` builds for ``--cfg`` with default options.

    Derived from NVlabs/eg3d ``train.py`` (and LPFF-eg3d's, which adds ``c_gen_conditioning_avg``);
    the architecture-relevant keys (channel_base/max, mapping depth, super-resolution module,
    rendering options) are the ones that matter for building the network.
    """
    resolution = {"ffhq": 512, "afhq": 512, "shapenet": 128}[cfg]
    sr = {512: "SuperresolutionHybrid8XDC", 128: "SuperresolutionHybrid2X"}[resolution]
    rendering: dict[str, Any] = {
        "image_resolution": resolution, "disparity_space_sampling": False, "clamp_mode": "softplus",
        "superresolution_module": f"training.superresolution.{sr}",
        "c_gen_conditioning_zero": gpc_reg_prob is None and not lpff_avg_camera,
    }
    if lpff_avg_camera is not None:
        rendering["c_gen_conditioning_avg"] = bool(lpff_avg_camera)
    rendering.update({
        "gpc_reg_prob": gpc_reg_prob, "c_scale": 1.0, "superresolution_noise_mode": "none",
        "density_reg": 0.25, "density_reg_p_dist": 0.004, "reg_type": "l1", "decoder_lr_mul": 1.0,
        "sr_antialias": True,
    })
    rendering.update({
        "ffhq": {"depth_resolution": 48, "depth_resolution_importance": 48, "ray_start": 2.25, "ray_end": 3.3,
                 "box_warp": 1, "avg_camera_radius": 2.7, "avg_camera_pivot": [0, 0, 0.2]},
        "afhq": {"depth_resolution": 48, "depth_resolution_importance": 48, "ray_start": 2.25, "ray_end": 3.3,
                 "box_warp": 1, "avg_camera_radius": 2.7, "avg_camera_pivot": [0, 0, -0.06]},
        "shapenet": {"depth_resolution": 64, "depth_resolution_importance": 64, "ray_start": 0.1, "ray_end": 2.6,
                     "box_warp": 1.6, "white_back": True, "avg_camera_radius": 1.7, "avg_camera_pivot": [0, 0, 0]},
    }[cfg])
    init_kwargs = {
        "z_dim": 512, "w_dim": 512, "mapping_kwargs": {"num_layers": 2}, "channel_base": 32768,
        "channel_max": 512, "fused_modconv_default": "inference_only", "rendering_kwargs": rendering,
        "num_fp16_res": 0, "sr_num_fp16_res": 4,
        "sr_kwargs": {"channel_base": 32768, "channel_max": 512, "fused_modconv_default": "inference_only"},
        "conv_clamp": None, "c_dim": 25, "img_resolution": resolution, "img_channels": 3,
    }
    axes = _AXES_FIXED if lpff_avg_camera is not None else _AXES_OFFICIAL
    return {"init_kwargs": init_kwargs, "rendering_kwargs": rendering,
            "neural_rendering_resolution": neural_rendering_resolution, "extras": {"plane_axes": axes}}


def _ngc(name: str, description: str, config: dict[str, Any], note: str = "") -> CheckpointEntry:
    return CheckpointEntry(
        name=name, urls=(_NGC + f"{name}.pkl",), filename=f"{name}.pkl", description=description,
        licence=NVIDIA_LICENSE, config=config, page=_NGC_PAGE,
        source="NVlabs/eg3d eg3d/visualizer.py (URL) and docs/models.md" + note,
    )


def _lpff(name: str, drive_id: str, description: str, config: dict[str, Any]) -> CheckpointEntry:
    return CheckpointEntry(
        name=f"lpff-{name}", urls=(_DRIVE_DIRECT.format(id=drive_id),), filename=f"lpff-{name}.pkl",
        description=description, licence=LPFF_LICENSE, backend="google-drive", config=config,
        page=_DRIVE_VIEW.format(id=drive_id),
        source="github.com/oneThousand1000/LPFF-dataset networks/readme.md and training/readme.md",
    )


_ENTRIES = [
    _ngc("ffhq512-64", "EG3D on FFHQ 512², neural rendering 64².", _eg3d_config("ffhq", 64),
         note=" (ffhq512-64.pkl is in docs/models.md but not in visualizer.py's URL list: URL assumed)"),
    _ngc("ffhq512-128", "EG3D on FFHQ 512², fine-tuned to neural rendering 128².", _eg3d_config("ffhq", 128)),
    _ngc("ffhqrebalanced512-64", "EG3D fine-tuned on pose-rebalanced FFHQ, rendering 64².",
         _eg3d_config("ffhq", 64, gpc_reg_prob=0.8)),
    _ngc("ffhqrebalanced512-128", "EG3D fine-tuned on pose-rebalanced FFHQ, rendering 128² (best shapes "
         "from steep angles among NVIDIA's).", _eg3d_config("ffhq", 128, gpc_reg_prob=0.8)),
    _ngc("afhqcats512-128", "EG3D on AFHQ cats 512² (fine-tuned from FFHQ with ADA), rendering 128².",
         _eg3d_config("afhq", 128, gpc_reg_prob=0.8)),
    _ngc("shapenetcars128-64", "EG3D on ShapeNet cars 128², rendering 64², no pose conditioning.",
         _eg3d_config("shapenet", 64, gpc_reg_prob=None)),
    _lpff("var1-64", "1LMclJyg3RcDPBxG9LjaIIXyo938mUcls",
          "LPFF E_var1: EG3D trained on FFHQ+LPFF, rendering 64², fixed tri-planes.",
          _eg3d_config("ffhq", 64, lpff_avg_camera=False)),
    _lpff("var1-128", "1zF_NzBujZwknBkABApcB_lB5usDpvywA",
          "LPFF E_var1: EG3D trained on FFHQ+LPFF, rendering 128², fixed tri-planes.",
          _eg3d_config("ffhq", 128, lpff_avg_camera=False)),
    _lpff("var2-64", "1fSzmYq1RnoNV4_KWbLFdzg0lPf15jp35",
          "LPFF E_var2: EG3D trained on FFHQ+LPFF-rebalanced, rendering 64², fixed tri-planes.",
          _eg3d_config("ffhq", 64, gpc_reg_prob=0.8, lpff_avg_camera=False)),
    _lpff("var2-128", "1IEmRhhcgf1uHvLTsVLSZWnJAWNokneAZ",
          "LPFF E_var2: EG3D trained on FFHQ+LPFF-rebalanced, rendering 128², fixed tri-planes.",
          _eg3d_config("ffhq", 128, gpc_reg_prob=0.8, lpff_avg_camera=False)),
    _lpff("var3-64", "1umVOcTtV2aCPSFAq0Zvob6DxMZ2WHHGp",
          "LPFF E_var3: FFHQ+LPFF, generator conditioned on the average camera, rendering 64².",
          _eg3d_config("ffhq", 64, gpc_reg_prob=None, lpff_avg_camera=True)),
    _lpff("var3-128", "1LQUldyLIGSGNe9FgBgnfiT-Qr7FgF7ba",
          "LPFF E_var3: FFHQ+LPFF, generator conditioned on the average camera, rendering 128².",
          _eg3d_config("ffhq", 128, gpc_reg_prob=None, lpff_avg_camera=True)),
    _lpff("ffhq-fixed-triplane512-64", "1yJdSI1r5TEf_adFJGNzQki-5wErrxnrl",
          "EG3D retrained by the LPFF authors on FFHQ with fixed tri-planes, rendering 64².",
          _eg3d_config("ffhq", 64, lpff_avg_camera=False)),
    _lpff("ffhq-fixed-triplane512-128", "1MkcgSnyIJHLYb-xjNg2dkLkQZ8k3mK3Z",
          "EG3D retrained by the LPFF authors on FFHQ with fixed tri-planes, rendering 128².",
          _eg3d_config("ffhq", 128, lpff_avg_camera=False)),
]

#: All known checkpoints by name.
REGISTRY: dict[str, CheckpointEntry] = {entry.name: entry for entry in _ENTRIES}


def known_names() -> list[str]:
    """Registry names, in registration order."""
    return list(REGISTRY)


def get_entry(name: str) -> CheckpointEntry:
    """The entry called ``name`` (case-insensitive); an error listing the known names otherwise."""
    key = name.lower().removesuffix(".pkl")
    entry = REGISTRY.get(key)
    if entry is None:
        known = [*known_names(), "tiny-random"]  # tiny-random: helpers.eg3d.loading, offline, no file
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise CheckpointError(f"unknown checkpoint name {name!r} (and no such file) — {guess}known names: "
                              f"{', '.join(known)}; or give the path of a checkpoint file")
    return entry


def resolve(name_or_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None, *,
            progress: bool = True) -> Path:
    """A local checkpoint file: ``name_or_path`` itself if it exists, else the named download.

    Downloads go to ``<cache_dir>/eg3d/<filename>`` (default cache: see
    :func:`helpers.download.http_download.default_cache_dir`); a cached, verified file is returned without any
    network request. Each URL of the entry is tried in order.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    text = str(name_or_path)
    if os.sep in text or "/" in text or (path.suffix in {".pth", ".pt", ".json", ".safetensors"}):
        raise CheckpointError(f"checkpoint file {path} does not exist")
    entry = get_entry(text)
    folder = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / "eg3d"
    errors: list[str] = []
    for url in entry.urls:
        try:
            return download(url, folder / entry.filename, sha256=entry.sha256, size=entry.size,
                            progress=progress, reject_html=entry.backend == "google-drive")
        except DownloadError as exc:
            errors.append(str(exc))
    raise DownloadError(
        f"could not download checkpoint {entry.name!r}: {'; '.join(errors)}. You can download it by hand "
        f"from {entry.page or entry.urls[0]} and pass its path, or place it at {folder / entry.filename}"
    )
