"""What a generator checkpoint holds once read, whatever its file kind: :class:`CheckpointContents`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["GENERATOR_CLASS", "CheckpointContents"]

#: The persistent class name of EG3D's generator as stored in its pickles.
GENERATOR_CLASS = "TriPlaneGenerator"


@dataclass
class CheckpointContents:
    """Everything needed to rebuild an EG3D ``TriPlaneGenerator``, as plain data.

    Attributes:
        state_dict: tensors under the official ``G_ema.state_dict()`` names and order (parameters
            then persistent buffers of each module, recursing through submodules).
        init_kwargs: the generator's constructor keyword arguments (``_init_kwargs``), nested
            dicts as plain dicts, tuples as lists; ``"_init_args"`` is added when positional
            arguments were used.
        rendering_kwargs: the generator's ``rendering_kwargs`` attribute (may differ from
            ``init_kwargs['rendering_kwargs']`` when it was edited after construction).
        neural_rendering_resolution: the volume-rendering resolution the generator was left at
            (64 or 128 for the official models).
        class_name: the persistent class name stored in the pickle (``"TriPlaneGenerator"``).
        source: where the contents came from, for messages and dataset metadata.
        extras: optional facts beyond the constructor, JSON-friendly: ``"plane_axes"`` (3×3×3
            nested list, the renderer's tri-plane axes: official checkpoints use XY, XZ, ZX and
            LPFF's use the fixed XY, XZ, ZY) and ``"average_camera"`` (LPFF's 25-vector used when
            ``rendering_kwargs['c_gen_conditioning_avg']`` is set).
    """

    state_dict: dict[str, torch.Tensor]
    init_kwargs: dict[str, Any]
    rendering_kwargs: dict[str, Any]
    neural_rendering_resolution: int
    class_name: str = GENERATOR_CLASS
    source: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
