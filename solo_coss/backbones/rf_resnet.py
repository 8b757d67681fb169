"""RF-ResNet: ResNets whose local representations have a bounded receptive field (paper Fig. 2).

A layer is a stack of residual blocks. Its first ``spatial_blocks[i]`` blocks use k x k convolutions
(``kernel``, 3 by default) and grow the receptive field; every later block uses 1 x 1 convolutions only, so
adding blocks (n > spatial_blocks) deepens the network without growing the RF. Further parameters: the stem
convolution's kernel and stride, the stem max-pool (m), and the stride of the first block of each layer
(s', s'', s''' for layers 2-4; layer 1 too, for BagNet). Padding is "same" everywhere, so feature maps
have ResNet's sizes while the RF is set by the kernels alone. ``pointwise_width`` widens the inner
convolutions of the 1 x 1 blocks, to give back the parameters the 3 x 3 kernels would have had.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from solo_coss.backbones.base import PooledHead, StagedBackbone
from solo_coss.backbones.blocks import BLOCKS
from solo_coss.core.keys import check_choice, check_positive, refuse

WIDTHS = (64, 128, 256, 512)


def check_rf_resnet_args(
    *,
    block: str,
    layers: Sequence[int],
    spatial_blocks: Sequence[int],
    strides: Sequence[int],
    stem_kernel: int,
    stem_stride: int,
    kernel: int,
    in_chans: int,
    pointwise_width: float,
    widths: Sequence[int] = WIDTHS,
) -> None:
    """Raise a one-line ValueError naming the first bad argument of ``RFResNet`` (and its valid choices)."""
    check_choice("block", block, sorted(BLOCKS))
    for name, seq in (("layers", layers), ("spatial_blocks", spatial_blocks), ("strides", strides),
                      ("widths", widths)):
        if len(seq) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in seq):
            refuse(name, list(seq), "give one integer per layer (4)")
    for s in strides:
        check_choice("stride", s, (1, 2))
    check_choice("stem_stride", stem_stride, (1, 2))
    for n, k in zip(layers, spatial_blocks):
        if n < 1 or not 0 <= k <= n:
            refuse("layers, spatial_blocks", (list(layers), list(spatial_blocks)),
                   "each layer needs >= 1 block and 0 <= spatial_blocks <= blocks")
    if min(widths) < 1:
        refuse("widths", list(widths), "give positive channel counts")
    check_positive("pointwise_width", pointwise_width, float)
    check_positive("in_chans", in_chans)
    for name, size in (("stem_kernel", stem_kernel), ("kernel", kernel)):
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            refuse(name, size, "give an odd positive kernel size")


class RFResNet(StagedBackbone):
    def __init__(
        self,
        block: str = "basic",
        layers: Sequence[int] = (2, 2, 2, 2),
        spatial_blocks: Sequence[int] = (1, 1, 1, 1),
        strides: Sequence[int] = (1, 2, 2, 2),
        stem_kernel: int = 7,
        stem_stride: int = 2,
        stem_maxpool: bool = True,
        kernel: int = 3,
        in_chans: int = 3,
        head_mlp_dim: int | None = None,
        widths: Sequence[int] = WIDTHS,
        pointwise_width: float = 1.0,
        num_classes: int = 0,
    ):
        super().__init__()
        check_rf_resnet_args(
            block=block,
            layers=layers,
            spatial_blocks=spatial_blocks,
            strides=strides,
            stem_kernel=stem_kernel,
            stem_stride=stem_stride,
            kernel=kernel,
            in_chans=in_chans,
            pointwise_width=pointwise_width,
            widths=widths,
        )

        block_cls = BLOCKS[block]
        self.in_chans = in_chans
        stem = [
            nn.Conv2d(in_chans, widths[0], stem_kernel, stem_stride, stem_kernel // 2, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        if stem_maxpool:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)

        in_ch = widths[0]
        self.stage_channels = []
        for i, (n, k_spatial, stride, width) in enumerate(zip(layers, spatial_blocks, strides, widths)):
            blocks = []
            for b in range(n):
                spatial = b < k_spatial
                blocks.append(block_cls(
                    in_ch, width, stride if b == 0 else 1,
                    kernel=kernel if spatial else 1,
                    inner_width=None if spatial else round(width * pointwise_width),
                ))
                in_ch = width * block_cls.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.stage_channels.append(in_ch)
        self.head = PooledHead(in_ch, head_mlp_dim)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.set_classifier(num_classes)
