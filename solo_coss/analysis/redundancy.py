"""How redundant local representations are (paper Fig. 3B).

For N images with local maps (C, H, W) and global representations g (what the backbone returns: the pooled
map, or a ViT's class token, its local map being the patch tokens):
- intra-image similarity: mean cosine similarity between the local representations of two *distinct*
  positions of the same image, averaged over images;
- for every pair of images (i, j): global similarity cos(g_i, g_j) and local similarity, the mean over all
  position pairs (p, q) of cos(l_i,p, l_j,q) (``mode="all_pairs"``, default; it equals the dot product of
  the mean unit local vectors) or over same positions only (``mode="same_position"``);
- the Pearson correlation between global and local similarity over the pairs. Highly redundant local
  representations (each one "sees the whole") give a correlation near 1.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from solo_coss.core.keys import check_choice

MODES = ("all_pairs", "same_position")


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two 1-D tensors of the same length, computed in float64."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def intra_image_similarity(local: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity between the local representations of distinct positions of each image.

    Args:
        local: (N, C, H, W) local maps, at least 2 positions.

    Returns:
        (N,) one value per image.
    """
    u = F.normalize(local.flatten(2), dim=1)  # (N, C, P)
    p = u.shape[-1]
    if p < 2:
        raise ValueError("intra-image similarity needs a map with at least 2 positions")
    gram = torch.einsum("ncp,ncq->npq", u, u)
    return (gram.sum(dim=(1, 2)) - gram.diagonal(dim1=1, dim2=2).sum(1)) / (p * (p - 1))


def pair_similarities(local: torch.Tensor, global_: torch.Tensor, mode: str = "all_pairs"):
    """Global and local cosine similarity of every pair of images i < j.

    Args:
        local: (N, C, H, W) local maps; global_: (N, D) global representations.
        mode: ``all_pairs`` (local similarity averaged over all position pairs) or ``same_position``.

    Returns:
        (global_sim, local_sim), each (N(N-1)/2,).
    """
    check_choice("mode", mode, MODES)
    g = F.normalize(global_, dim=1)
    u = F.normalize(local.flatten(2), dim=1)  # (N, C, P)
    global_sim = g @ g.t()
    if mode == "all_pairs":
        mean_u = u.mean(dim=2)
        local_sim = mean_u @ mean_u.t()
    else:
        local_sim = torch.einsum("icp,jcp->ij", u, u) / u.shape[-1]
    i, j = torch.triu_indices(len(g), len(g), offset=1)
    return global_sim[i, j], local_sim[i, j]


@torch.no_grad()
def redundancy(backbone, images: torch.Tensor, mode: str = "all_pairs", batch_size: int = 128) -> dict:
    """The numbers of the paper's Fig. 3B for one backbone.

    Args:
        backbone: has ``global_and_local`` (every backbone of ``build_backbone``); put in eval mode.
        images: (N, 3, H, W) normalised images.
        mode: as ``pair_similarities``; batch_size: images per forward.

    Returns:
        {pearson, intra_image_similarity, num_images, num_pairs, mode, global_sim, local_sim}: the
        correlation and mean intra-image similarity as floats, the pair similarities as tensors.
    """
    backbone.eval()
    pairs = [backbone.global_and_local(images[k:k + batch_size]) for k in range(0, len(images), batch_size)]
    glob, maps = torch.cat([g for g, _ in pairs]), torch.cat([m for _, m in pairs])
    gs, ls = pair_similarities(maps, glob, mode)
    return {"pearson": pearson(gs, ls), "intra_image_similarity": float(intra_image_similarity(maps).mean()),
            "num_images": len(images), "num_pairs": len(gs), "mode": mode,
            "global_sim": gs, "local_sim": ls}


def scatter(results: dict[str, dict], path: str | Path) -> Path:
    """Draw local vs global similarity of the image pairs, one panel per run.

    Args:
        results: run name -> its ``redundancy`` result.
        path: where to write the figure.

    Returns:
        The figure's path.
    """
    from solo_coss.analysis.plots import plt, save

    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.4), squeeze=False)
    for ax, (run, r) in zip(axes[0], results.items()):
        ax.scatter(r["global_sim"].numpy(), r["local_sim"].numpy(), s=3, alpha=0.4)
        ax.set_title(f"{run}\nr = {r['pearson']:.3f}, intra = {r['intra_image_similarity']:.3f}", fontsize=9)
        ax.set_xlabel("global cosine similarity")
        ax.set_ylabel("mean local cosine similarity")
        ax.grid(alpha=0.3)
    return save(fig, path)
