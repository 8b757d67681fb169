"""Two CPU processes (gloo) give the losses and gradients of one process with the doubled batch."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from lightly.loss import NTXentLoss
from lightly.models.utils import update_momentum

from solo_coss.core import local_global_infonce_loss
from solo_coss.core.distributed import gather_with_grad

WORLD, B, N, D, T = 2, 4, 3, 8, 0.2


def data():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(WORLD * B, N, D, generator=g), torch.randn(WORLD * B, D, generator=g),
            torch.randn(WORLD * B, D, generator=g))


def losses(local, glob, z0, z1):
    return local_global_infonce_loss(local, glob, T), NTXentLoss(temperature=T, gather_distributed=True)(
        z0, z1
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, port, out_path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    local, glob, z1 = data()
    shard = slice(rank * B, (rank + 1) * B)
    tensors = [t[shard].clone().requires_grad_() for t in (local, glob, glob, z1)]
    tensors[2] = tensors[1]  # z0 is the same tensor as the global embeddings
    l_local, l_global = losses(tensors[0], tensors[1], tensors[1], tensors[3])
    (l_local + l_global).backward()

    from solo_coss.backbones import build_backbone
    from solo_coss.methods import build_method

    torch.manual_seed(0)
    model = build_method("co_byol", build_backbone("rf29_resnet18", widths=(8, 16, 32, 64)),
                         {"proj_hidden_dim": 16, "proj_output_dim": 8, "pred_hidden_dim": 16, "co": {}})
    g = torch.Generator().manual_seed(rank)  # each rank sees different images, as under DDP
    out = model.training_loss([torch.rand(4, 3, 32, 32, generator=g) for _ in range(2)], 0.5)
    out["loss"].backward()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= WORLD
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    for online, target in model.momentum_pairs():
        update_momentum(online, target, 0.9)
    ema = torch.cat([p.detach().flatten() for _, t in model.momentum_pairs() for p in t.parameters()])
    gathered = [torch.zeros_like(ema) for _ in range(WORLD)]
    dist.all_gather(gathered, ema)
    torch.save({"losses": (l_local.item(), l_global.item()), "grads": [tensors[i].grad for i in (0, 1, 3)],
                "ema_equal": torch.equal(gathered[0], gathered[1])}, f"{out_path}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow  # two gloo processes
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_two_processes_match_one_with_doubled_batch(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path / "out")), nprocs=WORLD, join=True)
    ranks = [torch.load(f"{tmp_path / 'out'}.{r}") for r in range(WORLD)]

    local, glob, z1 = (t.clone().requires_grad_() for t in data())
    l_local, l_global = losses(local, glob, glob, z1)
    (l_local + l_global).backward()

    # Equal shards: the mean of the per-rank losses is the full-batch loss.
    assert sum(r["losses"][0] for r in ranks) / WORLD == pytest.approx(l_local.item(), rel=1e-5)
    assert sum(r["losses"][1] for r in ranks) / WORLD == pytest.approx(l_global.item(), rel=1e-5)
    # Gradients (averaged over ranks as DDP does) equal the single-process ones, shard by shard.
    for full, i in ((local.grad, 0), (glob.grad, 1), (z1.grad, 2)):
        dist_grad = torch.cat([r["grads"][i] for r in ranks]) / WORLD
        torch.testing.assert_close(dist_grad, full, rtol=1e-4, atol=1e-6)
    assert all(r["ema_equal"] for r in ranks)


def uneven_worker(rank, port, out_path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    rows = 4 if rank == 0 else 3  # a last batch smaller on rank 1
    g = torch.Generator().manual_seed(rank)
    local, glob = torch.randn(rows, N, D, generator=g), torch.randn(rows, D, generator=g)
    try:
        local_global_infonce_loss(local, glob, T)
        message = "no error"
    except ValueError as err:
        message = str(err)
    equal = gather_with_grad(torch.full((2, 3), float(rank)))  # the check lets equal shapes through
    torch.save({"message": message, "gathered": equal}, f"{out_path}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow  # two gloo processes
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_uneven_batches_fail_on_every_rank_with_the_sizes(tmp_path):
    mp.spawn(uneven_worker, args=(free_port(), str(tmp_path / "out")), nprocs=WORLD, join=True)
    for r in range(WORLD):
        out = torch.load(f"{tmp_path / 'out'}.{r}")
        assert "different batch sizes (rank 0: 4, rank 1: 3)" in out["message"], out["message"]
        assert "drop_last=True" in out["message"]
        torch.testing.assert_close(out["gathered"], torch.tensor([[0.0] * 3] * 2 + [[1.0] * 3] * 2))
