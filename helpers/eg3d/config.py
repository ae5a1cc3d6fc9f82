"""Typed configuration of the EG3D generator.

Official checkpoints store their architecture as untyped ``init_kwargs`` (the keyword arguments of
``TriPlaneGenerator.__init__``) with a nested ``rendering_kwargs`` dict. This module turns those into
frozen dataclasses once, at load time, so that the rest of :mod:`helpers.eg3d` never passes dicts
around. :meth:`GeneratorConfig.from_init_kwargs` is the only place that knows the official key names.

Conventions used by every module of the package:

* World units: the tri-plane box is the cube ``[-box_warp/2, box_warp/2]^3`` (``box_warp = 1`` for
  FFHQ/AFHQ, 1.6 for ShapeNet). Depths are distances along unit rays in world units.
* Cameras: OpenCV convention (x right, y down, z forward) cam2world matrices; intrinsics normalised
  by the image size (``[[f, 0, 0.5], [0, f, 0.5], [0, 0, 1]]``). EG3D packs both into 25-vectors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "OFFICIAL_PLANE_AXES",
    "FIXED_PLANE_AXES",
    "LPFF_AVERAGE_CAMERA",
    "plane_axes_from_matrices",
    "MappingConfig",
    "SynthesisConfig",
    "RenderingConfig",
    "SuperresolutionConfig",
    "GeneratorConfig",
    "SUPERRESOLUTION_KINDS",
]

#: Official super-resolution classes (``training.superresolution.<name>``) this package implements,
#: with their (input resolution, output resolution, block channels, first block upsamples?,
#: bilinear resize uses antialias flag?, resize only when smaller?, has top-level filter buffer?).
SUPERRESOLUTION_KINDS: dict[str, dict[str, Any]] = {
    # ffhq512-*, ffhqrebalanced512-*, afhqcats512-*, LPFF var1/2/3: 128^2 features -> 512^2 image.
    "SuperresolutionHybrid8XDC": dict(
        input_resolution=128, img_resolution=512, channels=(256, 128), first_block_up=True,
        use_antialias_flag=True, resize_only_if_smaller=False, top_level_filter=False),
    # Older 512^2 variant with narrower blocks.
    "SuperresolutionHybrid8X": dict(
        input_resolution=128, img_resolution=512, channels=(128, 64), first_block_up=True,
        use_antialias_flag=True, resize_only_if_smaller=False, top_level_filter=True),
    # 256^2 models: first block works at 128^2 without upsampling.
    "SuperresolutionHybrid4X": dict(
        input_resolution=128, img_resolution=256, channels=(128, 64), first_block_up=False,
        use_antialias_flag=True, resize_only_if_smaller=True, top_level_filter=True),
    "SuperresolutionHybridDeepfp32": dict(
        input_resolution=128, img_resolution=256, channels=(128, 64), first_block_up=False,
        use_antialias_flag=False, resize_only_if_smaller=True, top_level_filter=True),
    # shapenetcars128-64: 64^2 features -> 128^2 image.
    "SuperresolutionHybrid2X": dict(
        input_resolution=64, img_resolution=128, channels=(128, 64), first_block_up=False,
        use_antialias_flag=True, resize_only_if_smaller=False, top_level_filter=True),
}

#: World axes (width, height) each tri-plane is indexed by. NVIDIA's checkpoints: XY, XZ, ZX (the
#: intended YZ plane never exists, NVlabs/eg3d#30); LPFF's "fixed" checkpoints: XY, XZ, ZY.
OFFICIAL_PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (2, 0))
FIXED_PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (2, 1))

#: The conditioning camera hard-coded in LPFF's generator (``average_camera``), used when its
#: ``rendering_kwargs['c_gen_conditioning_avg']`` is set and the checkpoint does not carry one.
LPFF_AVERAGE_CAMERA: tuple[float, ...] = (
    1.0, 2.2291e-15, 4.7206e-08, -1.1805e-07, 0.0, -1.0, 4.7206e-08, -1.1805e-07, 4.7206e-08, -4.7206e-08,
    -1.0, 2.6992, 0.0, 0.0, 0.0, 1.0, 4.2647, 0.0, 0.5, 0.0, 4.2647, 0.5, 0.0, 0.0, 1.0)


def plane_axes_from_matrices(matrices: Any) -> tuple[tuple[int, int], ...]:
    """Convert the official renderer's ``plane_axes`` (3 x 3 x 3 nested lists) to axis pairs.

    The official projection of a point p onto plane k is ``(p @ inv(M_k))[:2]``; only permutation
    matrices (every official and LPFF checkpoint) are supported.
    """
    import numpy as np

    mats = np.asarray(matrices, dtype=np.float64)
    if mats.shape != (3, 3, 3):
        raise ValueError(f"plane_axes must be 3 matrices of 3x3, got shape {mats.shape}")
    pairs = []
    for m in mats:
        inv = np.linalg.inv(m)
        cols = []
        for j in range(2):
            col = inv[:, j]
            k = int(np.argmax(np.abs(col)))
            if not (np.isclose(col[k], 1.0) and np.allclose(np.delete(col, k), 0.0)):
                raise ValueError(f"unsupported tri-plane axes {m.tolist()} (only axis permutations are supported)")
            cols.append(k)
        pairs.append((cols[0], cols[1]))
    return tuple(pairs)


# Synthesis keyword arguments of official checkpoints that do not change the inference graph in
# float32 (fp16 flags are ignored: this implementation always keeps float32 parameters).
_IGNORED_SYNTHESIS_KWARGS = {"num_fp16_res", "fp16_channels_last"}
_KNOWN_SYNTHESIS_KWARGS = {
    "channel_base", "channel_max", "conv_clamp", "fused_modconv_default", "architecture",
    "resample_filter", "use_noise", *_IGNORED_SYNTHESIS_KWARGS,
}


# TriPlaneGenerator.__init__ positional parameter order.
_POSITIONAL_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "sr_num_fp16_res",
                    "mapping_kwargs", "rendering_kwargs", "sr_kwargs")


@dataclass(frozen=True)
class MappingConfig:
    """Mapping network z, c -> w (StyleGAN2 ``MappingNetwork``).

    ``c`` (the 25-float camera label) is embedded by a linear ``c_dim -> embed_features`` layer;
    both z and the embedding are normalised by their second moment, concatenated, and passed
    through ``num_layers`` leaky-ReLU FC layers with learning-rate multiplier ``lr_multiplier``.
    """

    z_dim: int = 512
    c_dim: int = 25
    w_dim: int = 512
    num_ws: int = 14
    num_layers: int = 2
    embed_features: int | None = None  # None = w_dim
    layer_features: int | None = None  # None = w_dim
    lr_multiplier: float = 0.01
    c_scale: float = 1.0  # rendering_kwargs['c_scale']: multiplier on c before the embedding
    c_zero: bool = False  # rendering_kwargs['c_gen_conditioning_zero']: replace c by zeros
    c_fixed: tuple[float, ...] | None = None  # LPFF 'c_gen_conditioning_avg': always condition on this c


@dataclass(frozen=True)
class SynthesisConfig:
    """StyleGAN2 synthesis backbone producing the tri-planes.

    Blocks run at 4, 8, ..., ``img_resolution``; block ``res`` has
    ``min(channel_base // res, channel_max)`` channels. Output: ``img_channels`` = 3 planes x 32.
    """

    w_dim: int = 512
    img_resolution: int = 256
    img_channels: int = 96
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    architecture: str = "skip"
    use_noise: bool = True
    # Modulated-conv execution: True = per-sample weights + grouped conv (official inference path),
    # False = scale activations, None = choose per call (see ops.modulated_conv2d). Equivalent math.
    fused_modconv: bool | None = None

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def block_resolutions(self) -> list[int]:
        return [2**i for i in range(2, self.img_resolution.bit_length())]

    @property
    def num_ws(self) -> int:
        # Every block has conv1, every block but the first has conv0; only the last torgb counts.
        return 2 * len(self.block_resolutions)


@dataclass(frozen=True)
class RenderingConfig:
    """Volume rendering settings (official ``rendering_kwargs``), in world units.

    Each ray is sampled at ``depth_resolution`` stratified depths in ``[ray_start, ray_end]`` plus
    ``depth_resolution_importance`` importance samples. ``box_warp`` is the side length of the cube
    covered by the tri-planes. ``white_back`` composites onto white (ShapeNet only).
    """

    depth_resolution: int = 48
    depth_resolution_importance: int = 48
    ray_start: float = 2.25
    ray_end: float = 3.3
    box_warp: float = 1.0
    white_back: bool = False
    disparity_space_sampling: bool = False
    clamp_mode: str = "softplus"
    avg_camera_radius: float = 2.7
    avg_camera_pivot: tuple[float, float, float] = (0.0, 0.0, 0.2)
    image_resolution: int = 512
    plane_axes: tuple[tuple[int, int], ...] = OFFICIAL_PLANE_AXES

    def __post_init__(self) -> None:
        if len(self.plane_axes) != 3 or any(len(p) != 2 or not set(p) <= {0, 1, 2} for p in self.plane_axes):
            raise ValueError(f"plane_axes must be three (u, v) world-axis pairs, got {self.plane_axes!r}")
        if self.clamp_mode != "softplus":
            raise ValueError(f"clamp_mode {self.clamp_mode!r} is not supported (only 'softplus', as in EG3D)")
        if not (isinstance(self.ray_start, (int, float)) and isinstance(self.ray_end, (int, float))):
            raise ValueError(
                f"ray_start/ray_end must be numbers, got {self.ray_start!r}/{self.ray_end!r} "
                "('auto' box-intersection limits are not supported)")
        if self.depth_resolution < 2:
            raise ValueError("depth_resolution must be >= 2")


@dataclass(frozen=True)
class SuperresolutionConfig:
    """Super-resolution head (one of :data:`SUPERRESOLUTION_KINDS`).

    ``channels`` are the two blocks' widths. The official classes hard-code them; they are a field
    here so that :func:`helpers.eg3d.tiny_random` can build a narrow, fast head.
    """

    kind: str = "SuperresolutionHybrid8XDC"
    in_channels: int = 32
    img_resolution: int = 512
    channels: tuple[int, int] | None = None  # None = the official widths of `kind`
    w_dim: int = 512
    conv_clamp: float | None = 256.0  # official: 256 when sr_num_fp16_res > 0, else None
    antialias: bool = True  # rendering_kwargs['sr_antialias']
    noise_mode: str = "none"  # rendering_kwargs['superresolution_noise_mode']: 'none' | 'random' | 'const'
    fused_modconv: bool | None = None  # see SynthesisConfig.fused_modconv

    def __post_init__(self) -> None:
        if self.kind not in SUPERRESOLUTION_KINDS:
            raise ValueError(
                f"unsupported super-resolution module {self.kind!r}; supported: {sorted(SUPERRESOLUTION_KINDS)}")
        if self.img_resolution != self.spec["img_resolution"]:
            raise ValueError(f"{self.kind} produces {self.spec['img_resolution']}^2 images, "
                             f"not {self.img_resolution}^2")
        if self.noise_mode not in ("none", "random", "const"):
            raise ValueError(f"superresolution noise_mode must be none/random/const, got {self.noise_mode!r}")

    @property
    def spec(self) -> dict[str, Any]:
        return SUPERRESOLUTION_KINDS[self.kind]

    @property
    def block_channels(self) -> tuple[int, int]:
        return tuple(self.channels) if self.channels is not None else self.spec["channels"]


@dataclass(frozen=True)
class GeneratorConfig:
    """Complete architecture of a tri-plane generator (official ``TriPlaneGenerator``)."""

    mapping: MappingConfig = field(default_factory=MappingConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    rendering: RenderingConfig = field(default_factory=RenderingConfig)
    superresolution: SuperresolutionConfig = field(default_factory=SuperresolutionConfig)
    plane_channels: int = 32  # features per plane; the decoder input size
    decoder_hidden: int = 64
    decoder_lr_mul: float = 1.0
    neural_rendering_resolution: int = 128  # default volume-rendering resolution (rays per side)

    @property
    def z_dim(self) -> int:
        return self.mapping.z_dim

    @property
    def c_dim(self) -> int:
        return self.mapping.c_dim

    @property
    def w_dim(self) -> int:
        return self.mapping.w_dim

    @property
    def num_ws(self) -> int:
        return self.mapping.num_ws

    @property
    def img_resolution(self) -> int:
        return self.superresolution.img_resolution

    def replace(self, **changes: Any) -> "GeneratorConfig":
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def ffhq512_128(cls) -> "GeneratorConfig":
        """The full-size architecture of the official ``ffhq512-128.pkl`` (and its relatives)."""
        return cls.from_init_kwargs(_FFHQ512_128_INIT_KWARGS, neural_rendering_resolution=128)

    @classmethod
    def from_init_kwargs(
        cls,
        init_kwargs: Mapping[str, Any],
        rendering_kwargs: Mapping[str, Any] | None = None,
        neural_rendering_resolution: int | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> "GeneratorConfig":
        """Build from an official checkpoint's ``TriPlaneGenerator`` init kwargs.

        ``rendering_kwargs`` defaults to ``init_kwargs['rendering_kwargs']`` (a checkpoint may also
        store an updated copy as an attribute; pass that one). ``extras`` are the non-constructor
        facts :func:`helpers.eg3d.checkpoints.checkpoint_files.read_checkpoint` reports (``plane_axes`` matrices,
        LPFF's ``average_camera``). Unknown synthesis keyword arguments raise ``ValueError`` because
        they could change the architecture.
        """
        extras = dict(extras or {})
        kw = dict(init_kwargs)
        # Positional constructor arguments (rare; recorded by the checkpoint reader as '_init_args').
        for name, value in zip(_POSITIONAL_ARGS, kw.pop("_init_args", None) or ()):
            kw.setdefault(name, value)
        rk = dict(rendering_kwargs if rendering_kwargs is not None else kw.get("rendering_kwargs", {}))
        mapping_kwargs = dict(kw.pop("mapping_kwargs", {}) or {})
        sr_kwargs = dict(kw.pop("sr_kwargs", {}) or {})
        kw.pop("rendering_kwargs", None)
        z_dim, c_dim, w_dim = int(kw.pop("z_dim")), int(kw.pop("c_dim")), int(kw.pop("w_dim"))
        img_resolution = int(kw.pop("img_resolution"))
        img_channels = int(kw.pop("img_channels", 3))
        if img_channels != 3:
            raise ValueError(f"img_channels={img_channels} is not supported (EG3D renders RGB)")
        sr_num_fp16_res = int(kw.pop("sr_num_fp16_res", 0))
        unknown = set(kw) - _KNOWN_SYNTHESIS_KWARGS
        if unknown:
            raise ValueError(f"unsupported TriPlaneGenerator arguments: {sorted(unknown)}")
        if list(kw.get("resample_filter", [1, 3, 3, 1])) != [1, 3, 3, 1]:
            raise ValueError(f"unsupported resample_filter {kw['resample_filter']!r} (EG3D uses [1, 3, 3, 1])")
        unknown_sr = set(sr_kwargs) - {"channel_base", "channel_max", "fused_modconv_default", "num_fp16_res",
                                       "conv_clamp"}
        if unknown_sr:
            raise ValueError(f"unsupported sr_kwargs: {sorted(unknown_sr)}")

        fused = kw.get("fused_modconv_default", True)
        synthesis = SynthesisConfig(
            w_dim=w_dim, img_resolution=256, img_channels=96,
            channel_base=int(kw.get("channel_base", 32768)), channel_max=int(kw.get("channel_max", 512)),
            conv_clamp=kw.get("conv_clamp"), architecture=kw.get("architecture", "skip"),
            use_noise=bool(kw.get("use_noise", True)),
            # 'inference_only'/True: fused in eval mode; "auto" picks the faster equivalent path.
            fused_modconv=False if fused is False else None,
        )
        unknown_map = set(mapping_kwargs) - {"num_layers", "embed_features", "layer_features",
                                             "lr_multiplier", "activation", "w_avg_beta"}
        if unknown_map or mapping_kwargs.get("activation", "lrelu") != "lrelu":
            raise ValueError(f"unsupported mapping_kwargs: {mapping_kwargs}")
        mapping = MappingConfig(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=synthesis.num_ws,
            num_layers=int(mapping_kwargs.get("num_layers", 8)),
            embed_features=mapping_kwargs.get("embed_features"),
            layer_features=mapping_kwargs.get("layer_features"),
            lr_multiplier=float(mapping_kwargs.get("lr_multiplier", 0.01)),
            # The official generator multiplies c by rendering_kwargs.get('c_scale', 0).
            c_scale=float(rk.get("c_scale", 0.0)),
            c_zero=bool(rk.get("c_gen_conditioning_zero", False)),
            c_fixed=(tuple(float(v) for v in extras.get("average_camera", LPFF_AVERAGE_CAMERA))
                     if rk.get("c_gen_conditioning_avg", False) else None),
        )
        sr_module = str(rk.get("superresolution_module", "training.superresolution.SuperresolutionHybrid8XDC"))
        sr_fused = sr_kwargs.get("fused_modconv_default", True)
        superresolution = SuperresolutionConfig(
            kind=sr_module.rsplit(".", 1)[-1], in_channels=32, img_resolution=img_resolution,
            w_dim=512,  # hard-coded in the official super-resolution classes
            conv_clamp=256.0 if sr_num_fp16_res > 0 else None,
            antialias=bool(rk.get("sr_antialias", True)),
            noise_mode=str(rk.get("superresolution_noise_mode", "none")),
            fused_modconv=False if sr_fused is False else None,
        )
        pivot = rk.get("avg_camera_pivot", (0.0, 0.0, 0.2))
        rendering = RenderingConfig(
            depth_resolution=int(rk["depth_resolution"]),
            depth_resolution_importance=int(rk.get("depth_resolution_importance", 0)),
            ray_start=rk["ray_start"], ray_end=rk["ray_end"], box_warp=float(rk["box_warp"]),
            white_back=bool(rk.get("white_back", False)),
            disparity_space_sampling=bool(rk.get("disparity_space_sampling", False)),
            clamp_mode=str(rk.get("clamp_mode", "softplus")),
            avg_camera_radius=float(rk.get("avg_camera_radius", 2.7)),
            avg_camera_pivot=tuple(float(v) for v in pivot),
            image_resolution=int(rk.get("image_resolution", img_resolution)),
            plane_axes=(plane_axes_from_matrices(extras["plane_axes"]) if "plane_axes" in extras
                        else OFFICIAL_PLANE_AXES),
        )
        return cls(
            mapping=mapping, synthesis=synthesis, rendering=rendering, superresolution=superresolution,
            decoder_lr_mul=float(rk.get("decoder_lr_mul", 1.0)),
            neural_rendering_resolution=int(neural_rendering_resolution or 128),
        )


# Init kwargs of the official ffhq512-128 G_ema (train.py --cfg=ffhq, 512^2, cbase 32768, cmax 512,
# map_depth 2, gpc_reg_prob 0.5, density_reg 0.25, sr_num_fp16_res 4).
_FFHQ512_128_INIT_KWARGS: dict[str, Any] = dict(
    z_dim=512, w_dim=512, c_dim=25, img_resolution=512, img_channels=3,
    mapping_kwargs=dict(num_layers=2), channel_base=32768, channel_max=512,
    fused_modconv_default="inference_only", num_fp16_res=0, conv_clamp=None, sr_num_fp16_res=4,
    sr_kwargs=dict(channel_base=32768, channel_max=512, fused_modconv_default="inference_only"),
    rendering_kwargs=dict(
        depth_resolution=48, depth_resolution_importance=48, ray_start=2.25, ray_end=3.3, box_warp=1,
        avg_camera_radius=2.7, avg_camera_pivot=[0, 0, 0.2], image_resolution=512,
        disparity_space_sampling=False, clamp_mode="softplus",
        superresolution_module="training.superresolution.SuperresolutionHybrid8XDC",
        c_gen_conditioning_zero=False, gpc_reg_prob=0.5, c_scale=1.0, superresolution_noise_mode="none",
        density_reg=0.25, density_reg_p_dist=0.004, reg_type="l1", decoder_lr_mul=1.0, sr_antialias=True,
    ),
)
