"""The exact-resume sampler's arithmetic: sharding by rank, and how many samples a resumed rank skips
(2 ranks, gradient accumulation over 2 batches)."""

from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from solo_coss.hosts.standalone.resumable import (
    EpochSeededSampler,
    ResumeCallback,
    SeededSamples,
    batches_done,
    resumable_loader,
)

WORLD, BATCH, ACCUMULATE = 2, 4, 2


def share(n: int, rank: int, epoch: int = 0, seed: int = 3, shuffle: bool = True) -> list[int]:
    sampler = EpochSeededSampler(n, seed, shuffle=shuffle)
    sampler.shard(rank, WORLD)
    sampler.set_epoch(epoch)
    items = list(sampler)
    assert all(e == epoch for e, _ in items) and len(items) == len(sampler)
    return [i for _, i in items]


@pytest.mark.parametrize("n", [40, 41])
def test_ranks_split_one_seeded_permutation(n):
    ranks = [share(n, r) for r in range(WORLD)]
    assert [len(r) for r in ranks] == [(n + 1) // 2] * WORLD
    dealt = [i for pair in zip(*ranks) for i in pair]  # rank r holds positions r, r + 2, ...
    assert sorted(set(dealt)) == list(range(n))
    assert dealt[n:] == dealt[:len(dealt) - n]  # an odd n is padded with the permutation's first index
    assert ranks == [share(n, r) for r in range(WORLD)]  # a function of (seed, epoch) only
    assert ranks != [share(n, r, epoch=1) for r in range(WORLD)]
    assert ranks != [share(n, r, seed=4) for r in range(WORLD)]


def test_unshuffled_shares_equal_torch_distributed_sampler():
    for r in range(WORLD):
        assert share(41, r, shuffle=False) == list(DistributedSampler(range(41), WORLD, r, shuffle=False))


def test_lightning_does_not_wrap_it():
    # Lightning only injects its DistributedSamplerWrapper when the sampler is no DistributedSampler
    assert isinstance(EpochSeededSampler(10, 0), DistributedSampler)


@pytest.mark.parametrize("global_step,epoch,expected", [
    (0, 0, 0), (1, 0, 2), (3, 0, 6),  # 7 batches per epoch, steps after batches 2, 4, 6 and 7
    (4, 0, 0),  # the epoch's last step (its lone 7th batch): the next epoch starts from the top
    (5, 1, 2), (7, 1, 6), (8, 1, 0)])
def test_batches_done_counts_optimizer_steps_times_accumulation(global_step, epoch, expected):
    assert batches_done(global_step, epoch, batches_per_epoch=7, accumulate=ACCUMULATE) == expected


def test_batches_done_without_accumulation():
    assert batches_done(9, 1, batches_per_epoch=7, accumulate=1) == 2
    assert batches_done(7, 0, batches_per_epoch=7, accumulate=1) == 0


def loader_for(rank: int, n: int = 58) -> tuple[DataLoader, ResumeCallback]:
    sampler = EpochSeededSampler(n, seed=5)
    loader = DataLoader(
        SeededSamples(list(range(n)), seed=5),
        batch_size=BATCH,
        sampler=sampler,
        drop_last=True,
        collate_fn=lambda items: items,
    )
    callback = ResumeCallback(loader, "unused.ckpt")
    callback.setup(SimpleNamespace(global_rank=rank, world_size=WORLD), None, "fit")
    return loader, callback


@pytest.mark.parametrize("rank", range(WORLD))
def test_resumed_rank_sees_the_rest_of_its_own_batches(rank):
    """58 images, 2 ranks: 29 each, 7 batches of 4 per epoch and rank, 4 optimizer steps. A checkpoint
    after step 6 (epoch 1, 2 steps = 4 batches in) must resume at this rank's 5th batch of epoch 1."""
    loader, _ = loader_for(rank)
    assert len(loader) == 7
    loader.sampler.set_epoch(1)
    uninterrupted = list(loader)

    resumed_loader, callback = loader_for(rank)
    trainer = SimpleNamespace(accumulate_grad_batches=ACCUMULATE)
    callback.on_load_checkpoint(trainer, None, {"global_step": 6, "epoch": 1})
    assert resumed_loader.sampler.skip == 4 * BATCH  # per rank: 4 batches of this rank's share
    resumed_loader.sampler.set_epoch(1)
    assert list(resumed_loader) == uninterrupted[4:]
    assert len(list(resumed_loader)) == 7  # the skip applies to one iteration only


def test_shard_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError, match=r"rank 2 is not in \[0, 1\]"):
        EpochSeededSampler(10, 0).shard(2, 2)


def test_resumed_order_is_the_global_order_minus_consumed_batches():
    """Both ranks together, after the resume, draw exactly the images the uninterrupted epoch had left."""
    full = [share(58, r, epoch=1) for r in range(WORLD)]
    done = batches_done(6, 1, batches_per_epoch=7, accumulate=ACCUMULATE) * BATCH
    rest = []
    for r in range(WORLD):
        sampler = EpochSeededSampler(58, 3)
        sampler.shard(r, WORLD)
        sampler.set_epoch(1)
        sampler.skip = done
        rest.append([i for _, i in sampler])
    assert rest == [f[done:] for f in full]
    assert torch.tensor([len(r) for r in rest]).tolist() == [29 - 16] * WORLD


def test_a_loader_without_dataset_is_rejected():
    """The exact mode re-samples the loader's dataset: a DALI loader has none."""
    with pytest.raises(
        ValueError, match=r"every_n_steps .* needs data.format='image_folder'; the DALILoader"
    ):
        resumable_loader(type("DALILoader", (), {})(), seed=0)
