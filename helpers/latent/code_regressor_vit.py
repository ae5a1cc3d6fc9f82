"""The original latent-code regressor's two ViTs (cantonioupao/eg3d-code-regressor), with the originals' key names.

Its ``colab_notebooks/vit_latent_code_training.ipynb`` builds one of two ViTs (cell 9, "Old"; cell 10, "New", the
one its experiment name ``..._depth12`` and the published ``VIT_b5_e20_weights_ckp_15.pt`` point to); a state dict
tells which by its keys (:func:`vit_variant`):

- :class:`VitPytorchViT` (``"vit-pytorch"``): ``vit_pytorch.ViT`` as released from 0.35 to 0.40 (2022; 1.0 added
  patch-embedding norms and renamed the keys) with the notebook's arguments: 384² input, 16² patches, dim 1024,
  depth 12, 16 heads of 64, MLP 2048, CLS pooling, ``mlp_head`` = LayerNorm + Linear(1024, 7168).
- :class:`PretrainedViTB16` (``"pytorch-pretrained-vit"``): ``pytorch_pretrained_vit.ViT('B_16_imagenet1k',
  image_size=384)`` (ViT-B/16, LayerNorm eps 1e-6) whose ``fc`` the notebook replaced by Linear(768, 7168).

Both take RGB normalised to [-1, 1] at 384² and return ``(N, 7168)``, the ws (14, 512) flattened in C order (the
notebook's target is ``np.load(latent).flatten()`` of the synthetic set's (1, 14, 512) ws). Dropout (the notebook's
0.1) acts in training mode only. Built with default initialisation; the weights come from a checkpoint.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PretrainedViTB16", "ViTVariant", "VitPytorchViT", "vit_variant"]

ViTVariant = Literal["vit-pytorch", "pytorch-pretrained-vit"]
#: A key each variant's state dict has and the other's lacks.
_MARKERS: dict[str, ViTVariant] = {"to_patch_embedding.1.weight": "vit-pytorch",
                                   "transformer.blocks.0.attn.proj_q.weight": "pytorch-pretrained-vit"}


def vit_variant(keys: object) -> ViTVariant | None:
    """Which of the two ViTs a state dict's keys belong to, or None."""
    return next((variant for key, variant in _MARKERS.items() if key in keys), None)  # type: ignore[operator]


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, dropout: float) -> torch.Tensor:
    """Softmax attention of (B, S, heads·d) projections (heads split as ``(h d)``), scale d^-0.5; (B, S, heads·d)."""
    b, s, _ = q.shape
    q, k, v = (t.reshape(b, s, heads, -1).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    return out.transpose(1, 2).reshape(b, s, -1)


# ------------------------------------------------------------------------------------ vit_pytorch 0.35–0.40
class _Patches(nn.Module):
    """einops ``'b c (h p1) (w p2) -> b (h w) (p1 p2 c)'`` (no parameters: index 0 of ``to_patch_embedding``)."""

    def __init__(self, patch: int) -> None:
        super().__init__()
        self.patch = patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.patch
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (h // p) * (w // p), p * p * c)


class _PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads, self.p = heads, dropout
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        project = not (heads == 1 and dim_head == dim)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout)) if project else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        return self.to_out(_attend(q, k, v, self.heads, self.p if self.training else 0.0))


class _FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _Transformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([_PreNorm(dim, _Attention(dim, heads, dim_head, dropout)),
                           _PreNorm(dim, _FeedForward(dim, mlp_dim, dropout))]) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attention, feed_forward in self.layers:  # type: ignore[misc]
            x = attention(x) + x
            x = feed_forward(x) + x
        return x


class VitPytorchViT(nn.Module):
    """``vit_pytorch.ViT`` (0.35–0.40) with CLS pooling; defaults are the notebook's (module docstring)."""

    def __init__(self, *, image_size: int = 384, patch_size: int = 16, num_classes: int = 7168, dim: int = 1024,
                 depth: int = 12, heads: int = 16, dim_head: int = 64, mlp_dim: int = 2048, channels: int = 3,
                 dropout: float = 0.1, emb_dropout: float = 0.1) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
        self.image_size = image_size
        patches = (image_size // patch_size) ** 2
        self.to_patch_embedding = nn.Sequential(_Patches(patch_size),
                                                nn.Linear(channels * patch_size * patch_size, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, patches + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.dropout = nn.Dropout(emb_dropout)
        self.transformer = _Transformer(dim, depth, heads, dim_head, mlp_dim, dropout)
        self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.to_patch_embedding(img)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.dropout(x + self.pos_embedding[:, : x.shape[1]])
        return self.mlp_head(self.transformer(x)[:, 0])


# ------------------------------------------------------------------------------------ pytorch_pretrained_vit 0.0.7
class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.proj_q, self.proj_k, self.proj_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.heads, self.p = heads, dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _attend(self.proj_q(x), self.proj_k(x), self.proj_v(x), self.heads, self.p if self.training else 0.0)


class _PositionWiseFeedForward(nn.Module):
    def __init__(self, dim: int, ff_dim: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, ff_dim), nn.Linear(ff_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = _SelfAttention(dim, heads, dropout)
        self.proj = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.pwff = _PositionWiseFeedForward(dim, ff_dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.proj(self.attn(self.norm1(x))))
        return x + self.drop(self.pwff(self.norm2(x)))


class _Blocks(nn.Module):
    def __init__(self, num_layers: int, dim: int, heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(_Block(dim, heads, ff_dim, dropout) for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class _PositionalEmbedding(nn.Module):
    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.zeros(1, length, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos_embedding


class PretrainedViTB16(nn.Module):
    """``pytorch_pretrained_vit.ViT`` (token classifier, no representation layer); defaults: ViT-B/16 at 384² with
    the notebook's Linear(768, 7168) ``fc``."""

    def __init__(self, *, image_size: int = 384, patch_size: int = 16, num_classes: int = 7168, dim: int = 768,
                 ff_dim: int = 3072, num_heads: int = 12, num_layers: int = 12, channels: int = 3,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
        self.image_size = image_size
        self.patch_embedding = nn.Conv2d(channels, dim, patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.positional_embedding = _PositionalEmbedding((image_size // patch_size) ** 2 + 1, dim)
        self.transformer = _Blocks(num_layers, dim, num_heads, ff_dim, dropout)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embedding(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.class_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.transformer(self.positional_embedding(x))
        return self.fc(self.norm(x)[:, 0])
