"""EG3D generator checkpoints, read without running any code from them.

:func:`read_checkpoint` takes an official network pickle (through the allow-list unpickler of
:mod:`~helpers.eg3d.checkpoints.safe_unpickle`), a state-dict ``.pth`` or a native safetensors + JSON checkpoint
(:mod:`~helpers.eg3d.checkpoints.native_format`) and returns :class:`CheckpointContents`.
:mod:`~helpers.eg3d.checkpoints.published` names the published checkpoints (NVIDIA's and LPFF's) and downloads them.
"""

from helpers.eg3d.checkpoints.checkpoint_files import read_checkpoint
from helpers.eg3d.checkpoints.contents import CheckpointContents
from helpers.eg3d.checkpoints.native_format import read_native, save_native
from helpers.eg3d.checkpoints.published import known_names, resolve
from helpers.eg3d.checkpoints.safe_unpickle import CheckpointError, UnsafeCheckpointError

__all__ = ["CheckpointContents", "CheckpointError", "UnsafeCheckpointError", "known_names", "read_checkpoint",
           "read_native", "resolve", "save_native"]
