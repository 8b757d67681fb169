"""solo-learn's ViTs, built on timm as solo-learn builds them, and the constructor each method gets.

solo-learn picks the ViT by method name (``solo/backbones/vit/__init__.py``): ``mocov3`` gets MoCo v3's ViT
(fixed 2-D sin-cos position embedding, MoCo v3's initialisation, 12 heads), anything else timm's ViT.
Here a CO method gets its base method's ViT (``co_mocov3`` -> MoCo v3's), in both hosts.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from timm.layers import PatchEmbed
from timm.models.vision_transformer import VisionTransformer, _create_vision_transformer
from torch import nn

from solo_coss.core.keys import refuse

# name -> (embed_dim, depth, num_heads) of timm's ViT and of MoCo v3's, as solo-learn sizes them.
# vit_micro is ours (not in solo-learn): a ViT small enough to train on CPU.
TIMM_SIZES = {"vit_micro": (128, 6, 4), "vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6),
              "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16)}
MOCOV3_SIZES = {"vit_micro": (128, 6, 4), "vit_tiny": (192, 12, 12), "vit_small": (384, 12, 12),
                "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16)}
FIXED = ("embed_dim", "depth", "num_heads", "num_classes")


def sincos_position_embedding(grid: tuple[int, int], dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """MoCo v3's fixed embedding, (1, 1 + h*w, dim), a zero row first for the class token. Token t gets
    sin/cos of t // h (first half of the channels) then of t % h, each at dim / 4 frequencies
    temperature^(-k / (dim / 4)): its row and column on a square grid (MoCo v3's formula, which solo-learn
    keeps on non-square grids too, and so do we)."""
    if dim % 4:
        raise ValueError(f"the 2-D sin-cos position embedding needs embed_dim divisible by 4, got {dim}")
    h, w = grid
    quarter = dim // 4
    freqs = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    token = torch.arange(h * w)
    rows, cols = (token // h).float(), (token % h).float()
    angle_r, angle_c = torch.outer(rows, freqs), torch.outer(cols, freqs)
    table = torch.cat([angle_r.sin(), angle_r.cos(), angle_c.sin(), angle_c.cos()], dim=1)
    return torch.cat([torch.zeros(1, dim), table])[None]


class MoCoV3ViT(VisionTransformer):
    """timm's ViT with MoCo v3's fixed position embedding and initialisation: Linear weights Xavier-uniform
    (q, k and v each as its own matrix), biases zero, class token N(0, 1e-6), patch projection
    Xavier-uniform with the fan-in of 3 colour channels."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.num_prefix_tokens != 1:
            raise ValueError("MoCo v3's ViT has exactly one prefix token (the class token)")
        self.pos_embed = nn.Parameter(sincos_position_embedding(self.patch_embed.grid_size, self.embed_dim),
                                      requires_grad=False)
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if "qkv" in name:
                    bound = math.sqrt(6.0 / (m.weight.shape[0] // 3 + m.weight.shape[1]))
                    nn.init.uniform_(m.weight, -bound, bound)
                else:
                    nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.cls_token, std=1e-6)
        if isinstance(self.patch_embed, PatchEmbed):
            p = self.patch_embed.patch_size
            bound = math.sqrt(6.0 / (3 * p[0] * p[1] + self.embed_dim))  # 3 channels, as MoCo v3 writes it
            nn.init.uniform_(self.patch_embed.proj.weight, -bound, bound)
            nn.init.zeros_(self.patch_embed.proj.bias)


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def check_patch_grid(name: str, img_size, patch_size) -> None:
    img, patch = _pair(img_size), _pair(patch_size)
    if img[0] % patch[0] or img[1] % patch[1]:
        raise ValueError(
            f"{name}: img_size={img_size} does not divide by patch_size={patch_size} (timm would "
            f"silently drop the last {img[0] % patch[0]} px); use a multiple of the patch size"
        )


def build_vit(name: str, method: str | None = None, **kwargs) -> VisionTransformer:
    """solo-learn's ``name`` ViT for ``method`` (``mocov3`` and ``co_mocov3``: MoCo v3's ViT)."""
    base = str(method or "").lower().removeprefix("co_")
    sizes = MOCOV3_SIZES if base == "mocov3" else TIMM_SIZES
    for key in sorted(set(kwargs) & set(FIXED)):
        refuse(f"backbone.kwargs.{key}", kwargs[key], f"{name} fixes it (solo-learn's builder refuses it "
               f"too); remove it, or pick another of {sorted(sizes)}")
    dim, depth, heads = sizes[name]
    kwargs.setdefault("patch_size", 16)
    check_patch_grid(name, kwargs.get("img_size", 224), kwargs["patch_size"])
    try:
        if base == "mocov3":
            return MoCoV3ViT(embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=4, qkv_bias=True,
                             norm_layer=partial(nn.LayerNorm, eps=1e-6), num_classes=0, **kwargs)
        variant = "vit_tiny_patch16_224" if name == "vit_micro" else f"{name}_patch16_224"
        return _create_vision_transformer(
            variant, pretrained=False, embed_dim=dim, depth=depth, num_heads=heads, num_classes=0, **kwargs
        )
    except TypeError as err:
        raise ValueError(f"{name}: {err}") from err
