"""Effective receptive fields of local representations (paper Fig. 4).

A normalised coordinate c in [0, 1) of the local map picks index floor(c * side) (clipped to side - 1):
(0, 0) is the top-left representation, (0.5, 0.5) the one just below-right of the centre. The ERF is
|d sum_channels(f[:, :, r, c]) / d input| summed over colour channels, for a trained network as it is
(unlike analysis.receptive_field, which measures the theoretical support on a monotone copy).
"""

from __future__ import annotations

import torch

from solo_coss.backbones.receptive_field import input_gradient_map

COORDS = ((0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (0.5, 0.5))


def map_index(coord: float, side: int) -> int:
    """The map index of a normalised coordinate.

    Args:
        coord: in [0, 1); side: the map's size along that axis.

    Returns:
        floor(coord * side), clipped to side - 1.

    Raises:
        ValueError: ``coord`` outside [0, 1).
    """
    if not 0 <= coord < 1:
        raise ValueError(f"normalised coordinate must be in [0, 1), got {coord}")
    return min(int(coord * side), side - 1)


def effective_receptive_fields(backbone, images: torch.Tensor, coords=COORDS) -> torch.Tensor:
    """ERF of the local representation at each normalised coordinate, for every image.

    Args:
        backbone: a backbone of ``build_backbone`` (put in eval mode).
        images: (N, 3, H, W) normalised images.
        coords: (row, column) normalised coordinates of the map positions (``map_index``).

    Returns:
        (N, len(coords), H, W) input-gradient magnitudes, each normalised to max 1.
    """
    backbone.eval()
    with torch.no_grad():
        h, w = backbone.forward_features(images[:1]).shape[-2:]
    out = []
    for y, x in coords:
        grad = input_gradient_map(backbone, images, map_index(y, h), map_index(x, w))
        out.append(grad / grad.flatten(1).max(1).values.clamp_min(1e-12)[:, None, None])
    return torch.stack(out, dim=1)


def erf_figure(images_01: torch.Tensor, erfs: dict[str, torch.Tensor], path, coords=COORDS):
    """Draw the ERFs: one row per image; columns: the image, then for each run the ERF of every coordinate.

    Args:
        images_01: (N, 3, H, W) the images in [0, 1].
        erfs: run name -> its ``effective_receptive_fields`` of these images.
        path: where to write the figure; coords: the coordinates the ERFs were taken at (column titles).

    Returns:
        The figure's path.
    """
    from solo_coss.analysis.plots import plt, save

    n = len(images_01)
    cols = 1 + sum(e.shape[1] for e in erfs.values())
    fig, axes = plt.subplots(n, cols, figsize=(1.6 * cols, 1.6 * n), squeeze=False)
    for i in range(n):
        axes[i][0].imshow(images_01[i].permute(1, 2, 0).clamp(0, 1).numpy())
        col = 1
        for run, e in erfs.items():
            for k, (y, x) in enumerate(coords):
                axes[i][col].imshow(e[i, k].numpy(), cmap="magma")
                if i == 0:
                    axes[i][col].set_title(f"{run}\n({y},{x})", fontsize=7)
                col += 1
    for ax in axes.flat:
        ax.axis("off")
    return save(fig, path)
