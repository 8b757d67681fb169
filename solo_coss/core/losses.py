"""Local <-> global losses (the CO term's) and the global losses of BYOL and MoCo v3 they extend.

Local inputs are (B, D, H, W) maps or (B, N, D) tokens; targets are (B, D). Each local function scores one
direction (local of view i against global of view j); COTerm combines the pairs. The global functions are
the same losses with one embedding per image (they give the local functions' values, bit for bit, for N = 1).
They compute in float32 with autocast off (``float32_loss``): normalisations, logits and softmaxes under bf16
autocast would lose the small differences these losses are made of.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from solo_coss.core.distributed import gather_with_grad, world_info
from solo_coss.core.heads import to_tokens
from solo_coss.core.precision import float32_loss, upcast


def _local(x: torch.Tensor) -> torch.Tensor:
    if x.ndim not in (3, 4):
        raise ValueError(f"local input must be (B, D, H, W) or (B, N, D), got shape {tuple(x.shape)}")
    return upcast(to_tokens(x))


@float32_loss
def global_byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's normalised MSE between each image's prediction (B, D) and the other view's target (B, D):
    2 - 2 cos(p, z), averaged over images (detach the target yourself when it comes from a momentum
    network)."""
    p = F.normalize(upcast(prediction), dim=-1)
    z = F.normalize(upcast(target), dim=-1)
    return (2 - 2 * torch.einsum("bd,bd->b", p, z)).mean()


@float32_loss
def global_infonce_loss(query: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """MoCo v3's InfoNCE: each image's query (B, D) must pick its own key among the batch's keys (B, D),
    gathered across ranks under torch.distributed; cross-entropy of cosine similarities / temperature."""
    q = F.normalize(upcast(query), dim=-1)
    k = gather_with_grad(F.normalize(upcast(keys), dim=-1))
    rank, _ = world_info()
    labels = torch.arange(q.shape[0], device=q.device) + rank * q.shape[0]
    return F.cross_entropy(torch.einsum("bd,md->bm", q, k) / temperature, labels)


@float32_loss
def local_global_byol_loss(local_pred: torch.Tensor, global_target: torch.Tensor) -> torch.Tensor:
    """BYOL's normalised MSE, 2 - 2 cos(p_n, z), averaged over positions n and images.

    local_pred: (B, D, H, W) or (B, N, D); global_target: (B, D), from the other view (detach it yourself
    when it comes from a momentum network).
    """
    p = F.normalize(_local(local_pred), dim=-1)
    z = F.normalize(upcast(global_target), dim=-1)
    return (2 - 2 * torch.einsum("bnd,bd->bn", p, z)).mean()


@float32_loss
def local_global_infonce_loss(
    local_z: torch.Tensor, global_z: torch.Tensor, temperature: float = 0.2, gather: bool = True
) -> torch.Tensor:
    """Every local embedding must pick its own image's global embedding among the batch's.

    local_z: (B, D, H, W) or (B, N, D); global_z: (B, D). Candidates are the global embeddings of all images
    of the batch, gathered across ranks with gradient when ``gather`` and torch.distributed is running.
    Cross-entropy of cosine similarities / temperature, averaged over positions and images.
    """
    local = F.normalize(_local(local_z), dim=-1)
    candidates = F.normalize(upcast(global_z), dim=-1)
    if gather:
        candidates = gather_with_grad(candidates)
    rank, _ = world_info() if gather else (0, 1)
    b, n, _ = local.shape
    logits = torch.einsum("bnd,md->bnm", local, candidates) / temperature
    labels = (torch.arange(b, device=local.device) + rank * b).repeat_interleave(n)
    return F.cross_entropy(logits.reshape(b * n, -1), labels)


@float32_loss
def local_global_dino_loss(
    local_student: torch.Tensor,
    global_teacher: torch.Tensor,
    center: torch.Tensor,
    student_temperature: float = 0.1,
    teacher_temperature: float = 0.04,
) -> torch.Tensor:
    """DINO cross-entropy from the centred, sharpened teacher distribution of the other view's global
    output (B, K) to the student distribution of every local output (B, N, K) or (B, K, H, W)."""
    student = F.log_softmax(_local(local_student) / student_temperature, dim=-1)
    teacher = F.softmax((upcast(global_teacher) - center) / teacher_temperature, dim=-1).detach()
    return -(teacher[:, None] * student).sum(dim=-1).mean()
