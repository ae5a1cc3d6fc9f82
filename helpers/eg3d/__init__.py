"""Pure-PyTorch EG3D tri-plane generator (no custom CUDA/C++ ops), numerically matching NVlabs/eg3d.

Typical use::

    from helpers import eg3d
    G = eg3d.load("ffhq512-128")                 # published name (cached download) or a local file
    ws = G.mapping(z, c_frontal, truncation_psi=0.7)
    out = G.synthesize(ws, cameras)              # image, image_raw, depth_ray, depth_z, opacity, ...
    sigma = G.sample_density(out["planes"], points)["sigma"]
    face = eg3d.EG3DSubject.from_seed("ffhq512-128", seed=42)   # one face: renders, mesh, orbit views
    G = eg3d.tiny_random(seed=0)                 # tests / notebook smoke mode, no download

The pipeline, one module each: :mod:`.config` (typed configs), :mod:`.ops` (bias_act, FIR resampling, modulated
convolution), :mod:`.layers`, :mod:`.mapping`, :mod:`.synthesis` (backbone → tri-planes), :mod:`.triplane`
(plane sampling, decoder), :mod:`.rays`, :mod:`.renderer`, :mod:`.superresolution`, :mod:`.generator`; then
:mod:`.tiny`, :mod:`.loading`, :mod:`.subject`, and checkpoint files in :mod:`helpers.eg3d.checkpoints`.
"""

from helpers.eg3d.config import GeneratorConfig, MappingConfig, RenderingConfig, SuperresolutionConfig, SynthesisConfig
from helpers.eg3d.generator import Generator
from helpers.eg3d.loading import TINY_RANDOM, checkpoint_identity, generator_identity, load, load_config
from helpers.eg3d.renderer import RenderDraws
from helpers.eg3d.subject import EG3DSubject, latent_z
from helpers.eg3d.tiny import tiny_config, tiny_random

__all__ = [
    "TINY_RANDOM", "EG3DSubject", "Generator", "GeneratorConfig", "MappingConfig", "RenderDraws", "RenderingConfig",
    "SuperresolutionConfig", "SynthesisConfig", "checkpoint_identity", "generator_identity", "latent_z", "load", "load_config", "tiny_config",
    "tiny_random",
]
