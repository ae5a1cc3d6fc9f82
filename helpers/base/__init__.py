"""Base utilities every layer may use; they import nothing else of the toolkit.

- :mod:`helpers.base.atomic`     crash-safe file writing (a file appears under its name only once complete)
- :mod:`helpers.base.runtime`    device, mixed precision, torchrun environment, the CPU allocator set-up
- :mod:`helpers.base.photo`      any photo input → RGB uint8 arrays, square crops, resizing, masks
- :mod:`helpers.base.depth_png`  16-bit metric depth PNGs and the original project's 8-bit ones
- :mod:`helpers.base.cameras`    EG3D's camera conventions: poses, intrinsics, 25-float vectors, projection
- :mod:`helpers.base.errors`     :class:`~helpers.base.errors.UserError`: one-line "what — what to do" errors
- :mod:`helpers.base.folder_lock`  one writer per dataset or run folder
- :mod:`helpers.base.weights_file`  the one safe reader of weight files (safetensors, ``torch.load(weights_only=True)``)

Import the modules themselves (``from helpers.base import cameras``); this package re-exports nothing.
"""
