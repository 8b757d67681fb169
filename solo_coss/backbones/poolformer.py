"""solo-learn's PoolFormer (Yu et al. 2022): MetaFormer blocks whose token mixer is a 3x3 average pool
minus identity, GroupNorm(1 group) norms, 1x1-convolution MLPs, layer scale; four stages with strided
patch embeddings between them, a final GroupNorm and average pooling.

Written here so that the standalone host builds the same network, layer for layer, with the same
initialisation and random-number use as solo-learn (``solo/backbones/poolformer``); the MLP is timm's.
"""

from __future__ import annotations

import torch
from timm.layers import DropPath, Mlp, trunc_normal_
from torch import nn

from solo_coss.backbones.intermediates import poolformer_head, poolformer_intermediates


class PoolMixer(nn.Module):
    def __init__(self, pool_size: int = 3):
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) - x


class PoolFormerBlock(nn.Module):
    def __init__(self, dim: int, pool_size: int, mlp_ratio: float, drop: float, drop_path: float,
                 use_layer_scale: bool, layer_scale_init_value: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(1, dim)
        self.token_mixer = PoolMixer(pool_size)
        self.norm2 = nn.GroupNorm(1, dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop, use_conv=True)
        for conv in (self.mlp.fc1, self.mlp.fc2):
            trunc_normal_(conv.weight, std=0.02)
            nn.init.zeros_(conv.bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.use_layer_scale = use_layer_scale
        if use_layer_scale:
            self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
            self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_layer_scale:
            x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.token_mixer(self.norm1(x)))
            return x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))
        x = x + self.drop_path(self.token_mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PoolFormer(nn.Module):
    """``layers`` blocks and ``embed_dims`` channels per stage; stochastic depth grows linearly over all
    blocks up to ``drop_path_rate``."""

    def __init__(
        self,
        layers,
        embed_dims,
        mlp_ratios=(4, 4, 4, 4),
        pool_size: int = 3,
        in_patch_size: int = 7,
        in_stride: int = 4,
        in_pad: int = 2,
        down_patch_size: int = 3,
        down_stride: int = 2,
        down_pad: int = 1,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        use_layer_scale: bool = True,
        layer_scale_init_value: float = 1e-5,
    ):
        super().__init__()
        self.num_features = embed_dims[-1]
        self.patch_embed = nn.Conv2d(3, embed_dims[0], in_patch_size, stride=in_stride, padding=in_pad)
        total, done, network = sum(layers), 0, []
        for i, (blocks, dim) in enumerate(zip(layers, embed_dims)):
            network.append(
                nn.Sequential(
                    *(
                        PoolFormerBlock(
                            dim,
                            pool_size,
                            mlp_ratios[i],
                            drop_rate,
                            drop_path_rate * (done + b) / (total - 1),
                            use_layer_scale,
                            layer_scale_init_value,
                        )
                        for b in range(blocks)
                    )
                )
            )
            done += blocks
            if i < len(layers) - 1:
                network.append(nn.Conv2d(dim, embed_dims[i + 1], down_patch_size, stride=down_stride,
                                         padding=down_pad))
        self.network = nn.ModuleList(network)
        self.norm = nn.GroupNorm(1, embed_dims[-1])

    def forward_intermediates(self, x: torch.Tensor, **kwargs):
        """timm's contract (``solo_coss.backbones.intermediates``): stages 1..4 at indices 0..3; ``norm``: the
        last one after the final GroupNorm."""
        return poolformer_intermediates(self, x, **kwargs)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return poolformer_head(self, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for module in self.network:
            x = module(x)
        return self.forward_head(self.norm(x))


S_DIMS, M_DIMS = (64, 128, 320, 512), (96, 192, 384, 768)
POOLFORMERS = {
    "poolformer_s12": dict(layers=(2, 2, 6, 2), embed_dims=S_DIMS),
    "poolformer_s24": dict(layers=(4, 4, 12, 4), embed_dims=S_DIMS),
    "poolformer_s36": dict(layers=(6, 6, 18, 6), embed_dims=S_DIMS, layer_scale_init_value=1e-6),
    "poolformer_m36": dict(layers=(6, 6, 18, 6), embed_dims=M_DIMS, layer_scale_init_value=1e-6),
    "poolformer_m48": dict(layers=(8, 8, 24, 8), embed_dims=M_DIMS, layer_scale_init_value=1e-6),
}
POOLFORMER_KWARGS = ("pool_size", "in_patch_size", "in_stride", "in_pad", "down_patch_size", "down_stride",
                     "down_pad", "drop_rate", "drop_path_rate", "use_layer_scale", "layer_scale_init_value")
