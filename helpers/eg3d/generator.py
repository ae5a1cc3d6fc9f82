"""The EG3D tri-plane generator (official ``TriPlaneGenerator``) in plain PyTorch.

Pipeline: ``mapping`` (z, c) -> ws; ``planes`` ws -> tri-planes; ``synthesize`` volume-renders the
planes from given cameras and super-resolves the result. Parameter names follow the official
``G_ema`` state dict (``backbone.*``, ``superresolution.*``, ``decoder.net.*``), so official weights
load with ``load_state_dict(strict=True)``.

Devices and dtypes: parameters are float32 and everything runs in float32 by default (CPU float32 is
what the parity tests check). Any method may run under ``torch.autocast`` (e.g. ``'cuda'`` with
float16 or bfloat16): the convolutions and the decoder MLP then run in reduced precision (the
official code runs its super-resolution in fp16 on GPUs too), while ray sampling, compositing and
depth stay float32 and outputs are float32. Only CPU bf16 autocast is exercised by the tests here.

Models are created in eval mode with ``requires_grad=False``; call ``G.requires_grad_(True)`` to
fine-tune (PTI). No method changes the generator's state (the official ``synthesis`` permanently
overwrote ``neural_rendering_resolution``; here it is a per-call argument).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from helpers.eg3d.config import GeneratorConfig
from helpers.eg3d.rays import forward_axis, make_rays, split_camera
from helpers.eg3d.renderer import DEFAULT_RAY_CHUNK, RenderDraws, render_rays
from helpers.eg3d.superresolution import SuperResolution
from helpers.eg3d.synthesis import Backbone
from helpers.eg3d.triplane import OSGDecoder, TriplaneSampler

__all__ = ["Generator"]

#: Points per decoder pass in :meth:`Generator.sample_density`.
DEFAULT_POINT_CHUNK = 2**16


class Generator(nn.Module):
    """EG3D generator. Build with :meth:`from_config`, :meth:`from_checkpoint_contents`,
    :func:`helpers.eg3d.load` or :func:`helpers.eg3d.tiny_random`.

    Cameras are EG3D 25-vectors: 16 row-major OpenCV cam2world floats then 9 row-major normalised
    intrinsics. World units: the tri-plane box is ``[-box_warp/2, box_warp/2]^3``.
    """

    def __init__(self, config: GeneratorConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        self.backbone = Backbone(config.mapping, config.synthesis, generator=generator)
        self.superresolution = SuperResolution(config.superresolution, generator=generator)
        self.decoder = OSGDecoder(config.plane_channels, config.decoder_hidden, config.plane_channels,
                                  lr_multiplier=config.decoder_lr_mul, generator=generator)
        self.eval().requires_grad_(False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, config: GeneratorConfig, seed: int | None = None) -> "Generator":
        """Randomly initialised generator (official initialisation scheme)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return cls(config, generator=gen)

    @classmethod
    def from_checkpoint_contents(cls, contents: Any, device: torch.device | str = "cpu") -> "Generator":
        """Build from :class:`helpers.eg3d.checkpoints.checkpoint_files.CheckpointContents` (strict key matching)."""
        config = GeneratorConfig.from_init_kwargs(
            contents.init_kwargs, rendering_kwargs=contents.rendering_kwargs,
            neural_rendering_resolution=contents.neural_rendering_resolution,
            extras=getattr(contents, "extras", None))
        with torch.device("meta"):
            model = cls(config)
        model.load_state_dict(contents.state_dict, strict=True, assign=True)
        return model.to(device=device, dtype=torch.float32).eval().requires_grad_(False)

    # ------------------------------------------------------------------ properties
    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def c_dim(self) -> int:
        return self.config.c_dim

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def img_resolution(self) -> int:
        return self.config.img_resolution

    @property
    def neural_rendering_resolution(self) -> int:
        """Default rays per side of the volume-rendered image (128 for the official 512-128 models)."""
        return self.config.neural_rendering_resolution

    @property
    def device(self) -> torch.device:
        return self.decoder.net[0].weight.device

    # ------------------------------------------------------------------ stages
    def mapping(self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """z (N, z_dim), conditioning camera c (N, 25) -> ws (N, num_ws, w_dim).

        Truncation ``w_avg + psi * (w - w_avg)`` applies to the first ``truncation_cutoff`` ws (all if
        None). EG3D conditions on a frontal camera (``helpers.base.cameras``) for typical use.
        """
        return self.backbone.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    def planes(self, ws: torch.Tensor, noise_mode: str = "const", generator: torch.Generator | None = None) -> torch.Tensor:
        """Tri-planes (N, 3, 32, 256, 256) for ws (N, num_ws, w_dim).

        This is a view of the backbone's (N, 96, 256, 256) output (``planes.flatten(1, 2)`` gives it
        back). Cache it and pass it to :meth:`sample_density` / :meth:`synthesize` to avoid re-running
        the backbone. ``noise_mode``: 'const' (deterministic, official gen_samples default), 'random'
        (drawn from ``generator``) or 'none'.
        """
        out = self.backbone.synthesis(ws, noise_mode=noise_mode, generator=generator)
        c = self.config.plane_channels
        return out.view(out.shape[0], 3, c, out.shape[-2], out.shape[-1])

    def _as_planes(self, planes_or_ws: torch.Tensor) -> torch.Tensor:
        t = planes_or_ws
        if t.ndim == 5:
            return t
        if t.ndim == 4:  # official (N, 96, H, W) layout
            return t.reshape(t.shape[0], 3, -1, t.shape[-2], t.shape[-1])
        if t.ndim == 3 and t.shape[1:] == (self.num_ws, self.w_dim):
            return self.planes(t)
        raise ValueError(f"expected planes (N,3,C,H,W) / (N,96,H,W) or ws (N,{self.num_ws},{self.w_dim}), "
                         f"got {tuple(t.shape)}")

    def sample_density(self, planes_or_ws: torch.Tensor, points: torch.Tensor, chunk: int = DEFAULT_POINT_CHUNK,
                       with_features: bool = True) -> dict[str, torch.Tensor]:
        """Query the radiance field at world points.

        planes_or_ws: planes from :meth:`planes` (reused: pass planes for big grids) or ws.
        points: (N, P, 3) or (P, 3) (shared by all N), world units.
        Returns ``sigma`` (N, P, 1): raw density before ``softplus(sigma - 1)``; and unless
        ``with_features=False``, ``features`` (N, P, 32): decoder colour features in about [0, 1].
        Evaluated ``chunk`` points at a time (results do not depend on the chunk size).
        """
        planes = self._as_planes(planes_or_ws)
        n = planes.shape[0]
        if points.ndim == 2:
            points = points.unsqueeze(0).expand(n, -1, -1)
        if points.ndim != 3 or points.shape[-1] != 3 or points.shape[0] != n:
            raise ValueError(f"points must be (P, 3) or ({n}, P, 3), got {tuple(points.shape)}")
        points = points.to(device=planes.device, dtype=torch.float32)
        sampler = TriplaneSampler(planes, self.config.rendering.box_warp, self.config.rendering.plane_axes)
        sig, feat = [], []
        for start in range(0, points.shape[1], chunk):
            sampled = sampler(points[:, start:start + chunk])
            if with_features:
                out = self.decoder(sampled)
                sig.append(out["sigma"])
                feat.append(out["rgb"])
            else:
                sig.append(self.decoder.density(sampled))
        result = {"sigma": torch.cat(sig, 1) if sig else points.new_zeros(n, 0, 1)}
        if with_features:
            result["features"] = torch.cat(feat, 1) if feat else points.new_zeros(n, 0, self.config.plane_channels)
        return result

    def draws(self, n: int, resolution: int | None = None, generator: torch.Generator | None = None) -> RenderDraws:
        """Random numbers for one render of ``n`` images (same order as the official renderer)."""
        res = resolution or self.neural_rendering_resolution
        return RenderDraws.sample(n, res * res, self.config.rendering, generator=generator, device=self.device)

    def synthesize(
        self,
        ws: torch.Tensor,
        cameras: torch.Tensor,
        *,
        neural_rendering_resolution: int | None = None,
        generator: torch.Generator | None = None,
        draws: RenderDraws | None = None,
        planes: torch.Tensor | None = None,
        noise_mode: str = "const",
        ray_chunk: int | None = DEFAULT_RAY_CHUNK,
        return_depths_fine: bool = False,
        super_resolution: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Render ws (N, num_ws, w_dim) from cameras (N, 25) (or one (25,) camera for all N).

        Returns a dict of
          image (N, 3, S, S) final super-resolved image in about [-1, 1] (S = img_resolution);
          image_raw (N, 3, R, R) volume-rendered RGB in [-1, 1] (R = neural_rendering_resolution);
          features (N, 32, R, R) volume-rendered feature image (first 3 channels = image_raw);
          depth_ray (N, 1, R, R) expected distance along each unit ray (official ``image_depth``);
          depth_z (N, 1, R, R) camera-space z-depth = depth_ray * (ray direction . camera +z axis);
          opacity (N, 1, R, R) accumulated weights (0 = empty ray);
          ws, planes (reusable), and depths_fine (N, R*R, S_imp, 1) if ``return_depths_fine``.
        Depths are in world units. Random numbers: ``draws`` if given, else drawn from ``generator``
        (else the global RNG). ``noise_mode`` applies to the backbone (see :meth:`planes`); the
        super-resolution uses the checkpoint's own setting. ``ray_chunk`` bounds memory.
        ``super_resolution=False`` skips the super-resolution network (no ``image`` key): for callers that only
        need depth, opacity or the raw render, it saves most of a full-size render's time.
        """
        res = int(neural_rendering_resolution or self.neural_rendering_resolution)
        n = ws.shape[0]
        cameras = torch.as_tensor(cameras).to(device=ws.device, dtype=torch.float32)
        if cameras.ndim == 1:
            cameras = cameras.expand(n, -1)
        if cameras.shape[0] != n:
            raise ValueError(f"got {n} ws but {cameras.shape[0]} cameras")
        cam2world, intrinsics = split_camera(cameras)
        origins, directions = make_rays(cam2world, intrinsics, res)
        planes = self.planes(ws, noise_mode=noise_mode, generator=generator) if planes is None else self._as_planes(planes)
        if planes.shape[0] != n:
            raise ValueError(f"got {n} ws but planes for {planes.shape[0]} samples")
        if draws is None:
            draws = self.draws(n, res, generator=generator)
        out = render_rays(planes, self.decoder, origins, directions, self.config.rendering, draws, chunk=ray_chunk)

        def to_image(t: torch.Tensor) -> torch.Tensor:  # (N, M, C) -> (N, C, R, R), ray m = i*R + j
            return t.permute(0, 2, 1).reshape(n, t.shape[-1], res, res).contiguous()

        features = to_image(out.features)
        depth_ray = to_image(out.depth)
        cos = (directions * forward_axis(cam2world)[:, None, :]).sum(-1, keepdim=True)
        rgb_raw = features[:, :3]
        result = {
            "image_raw": rgb_raw, "features": features, "depth_ray": depth_ray,
            "depth_z": depth_ray * to_image(cos), "opacity": to_image(out.weights_sum),
            "ws": ws, "planes": planes,
        }
        if super_resolution:
            result["image"] = self.superresolution(rgb_raw, features, ws, generator=generator)
        if return_depths_fine:
            result["depths_fine"] = out.depths_fine
        return result

    def forward(self, z: torch.Tensor, c_cond: torch.Tensor, c_render: torch.Tensor | None = None,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None, **kwargs: Any) -> dict[str, torch.Tensor]:
        """mapping(z, c_cond) then synthesize from ``c_render`` (defaults to ``c_cond``)."""
        ws = self.mapping(z, c_cond, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesize(ws, c_cond if c_render is None else c_render, **kwargs)
