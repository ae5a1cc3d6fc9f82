"""The original latent-code regressor's "UNET-modified" (cantonioupao/eg3d-code-regressor), with its key names.

:class:`CodeRegressorUNet` is the ``UNet`` class of ``colab_notebooks/unet_latent_code_training.ipynb`` (cell 10): the
encoder half of a classic U-Net (unpadded 3×3 convolutions with ReLU, 64→1024 channels, 2×2 max pools), then
nearest 2× upsampling, ``upConv1`` (1×1), ``conv8`` again (no ReLU), a max pool and nine unpadded convolutions
without activation (``co`` 2×4 five times, ``co2`` 2×3 three times, ``co3`` 2×2) that shrink the map to 14×1.
At the notebook's 512² input (RGB normalised to [-1, 1]) the output is ``(N, 512, 14, 1)``: channel c of row l is
ws[l, c] (the notebook trains on ``np.load(latent).transpose()`` of the (1, 14, 512) ws and turns a prediction
back with ``squeeze().transpose()``). Other sizes give other output shapes, so the input must be 512².

The decoder layers the notebook defines but no longer calls (``deConv1``–``deConv5``, ``upConv2``–``upConv4``,
``convX``, ``deConvX``, ``finconvX``) are kept: they are in its state dict. ``width`` scales every channel count
(the original: 64; output channels ``8·width``) for small test models; the layout stays the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CodeRegressorUNet"]


class CodeRegressorUNet(nn.Module):
    """The notebook's UNET-modified (module docstring); the original's initialisation (Xavier-uniform, bias 0.01)."""

    input_size = 512

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (width * k for k in (1, 2, 4, 8, 16))
        self.conv1, self.conv2 = nn.Conv2d(3, c1, 3), nn.Conv2d(c1, c1, 3)
        self.conv3, self.conv4 = nn.Conv2d(c1, c2, 3), nn.Conv2d(c2, c2, 3)
        self.conv5, self.conv6 = nn.Conv2d(c2, c3, 3), nn.Conv2d(c3, c3, 3)
        self.conv7, self.conv8 = nn.Conv2d(c3, c4, 3), nn.Conv2d(c4, c4, 3)
        self.conv9, self.conv10 = nn.Conv2d(c4, c5, 3), nn.Conv2d(c5, c5, 3)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.upConv1, self.deConv1 = nn.Conv2d(c5, c4, 1), nn.Conv2d(c5, c4, 3)  # deConv1…finconvX: unused
        self.upConv2, self.deConv2 = nn.Conv2d(c4, c3, 1), nn.Conv2d(c4, c3, 3)
        self.upConv3, self.deConv3 = nn.Conv2d(c3, c2, 1), nn.Conv2d(c3, c2, 3)
        self.upConv4, self.deConv4 = nn.Conv2d(c2, c1, 1), nn.Conv2d(c2, c1, 3)
        self.deConv5 = nn.Conv2d(c1, 1, 1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.convX, self.deConvX = nn.Conv2d(c4, c4, 3), nn.Conv2d(14, c4, 1)
        self.finconvX = nn.Conv2d(c4, c4, 4)
        self.co, self.co2, self.co3 = nn.Conv2d(c4, c4, (2, 4)), nn.Conv2d(c4, c4, (2, 3)), nn.Conv2d(c4, c4, 2)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                nn.init.constant_(module.bias, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 512, 512) → (N, 8·width, 14, 1)."""
        x = self.pool(F.relu(self.conv2(F.relu(self.conv1(x)))))
        x = self.pool(F.relu(self.conv4(F.relu(self.conv3(x)))))
        x = self.pool(F.relu(self.conv6(F.relu(self.conv5(x)))))
        x = self.pool(F.relu(self.conv8(F.relu(self.conv7(x)))))
        x = F.relu(self.conv10(F.relu(self.conv9(x))))
        x = self.pool(self.conv8(self.upConv1(self.upsample(x))))
        for conv in (self.co,) * 5 + (self.co2,) * 3 + (self.co3,):
            x = conv(x)
        return x
