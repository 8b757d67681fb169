"""Gathering across ranks with gradient (a no-op in a single process)."""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_info() -> tuple[int, int]:
    """(rank, world_size); (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient for this rank's slice.

    torch.distributed.nn.functional.all_gather is not used: with gloo its backward receives into buffers
    shaped like the incoming gradients, and a non-contiguous gradient (e.g. from an einsum) comes back
    scrambled (caught by tests/test_distributed.py).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        _, world = world_info()
        x = x.contiguous()
        parts = [torch.empty(x.shape, dtype=x.dtype, device=x.device) for _ in range(world)]
        dist.all_gather(parts, x)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        rank, world = world_info()
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        size = grad.shape[0] // world
        return grad[rank * size:(rank + 1) * size]


MAX_DIMS = 8


def check_same_shape(x: torch.Tensor) -> None:
    """ValueError on every rank, naming each rank's shape, unless ``x`` has the same shape on all ranks.

    Gathering tensors of different sizes makes gloo abort ("Received data size doesn't match") and NCCL
    hang; the usual cause is a last batch smaller on some ranks."""
    _, world = world_info()
    if x.dim() > MAX_DIMS:
        raise ValueError(f"cannot gather a {x.dim()}-d tensor; at most {MAX_DIMS} dimensions")
    mine = torch.zeros(MAX_DIMS + 1, dtype=torch.long, device=x.device)
    mine[0] = x.dim()
    mine[1:x.dim() + 1] = torch.tensor(x.shape, dtype=torch.long)
    parts = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(parts, mine)
    shapes = [tuple(p[1:int(p[0]) + 1].tolist()) for p in parts]
    if len(set(shapes)) > 1:
        sizes = ", ".join(f"rank {r}: {s[0] if s else '-'}" for r, s in enumerate(shapes))
        detail = "" if len({s[1:] for s in shapes}) == 1 else f" (shapes {shapes})"
        raise ValueError(f"the ranks hold different batch sizes ({sizes}){detail}; every rank must give the "
                         "same number of samples per step: use drop_last=True for the training loader, or "
                         "equal batch sizes on every rank")


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (same shape on every rank, checked) from every rank along dim 0; gradients flow
    back to each rank's own slice, summed over the ranks' losses."""
    _, world = world_info()
    if world == 1:
        return x
    check_same_shape(x)
    return _GatherWithGrad.apply(x)


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over ranks, without gradient."""
    _, world = world_info()
    if world == 1:
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / world
