"""data.augment_on: the batched Fashion-MNIST loader (format, seeding, resuming, sharding) and its wiring."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from helpers import plain_pipeline
from torch.utils.data import DataLoader

from solo_coss.data import FASHION_MNIST_DIR, build_pretrain_dataloader
from solo_coss.data import batched_loader as bl
from solo_coss.data.spec import check_data_cfg
from solo_coss.hosts.standalone.resumable import ResumeCallback, resumable_loader

pytestmark = pytest.mark.skipif(not Path(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz").is_file(),
                                reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
AUG = [plain_pipeline(32, 2, rrc={"enabled": True, "crop_min_scale": 0.3}, color_jitter={"prob": 0.8},
                      horizontal_flip={"prob": 0.5})]
DATA = {"dataset": "fashion_mnist", "fraction": 0.005, "num_workers": 0}  # 300 images: 4 batches of 64


def loader(**kw):
    return build_pretrain_dataloader(
        {**DATA, **kw.pop("data", {})},
        kw.pop("aug", AUG),
        kw.pop("batch_size", 64),
        seed=kw.pop("seed", 5),
        **kw,
    )


def epoch(ld, number):
    ld.sampler.set_epoch(number)
    return list(ld)


def same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(la, lb) and all(torch.equal(u, v) for u, v in zip(va, vb))
                                    for (va, la), (vb, lb) in zip(a, b))


def test_fashion_mnist_defaults_to_batch_and_keeps_the_batch_format():
    ld = loader()
    assert isinstance(ld, bl.BatchedViewLoader)
    assert len(ld) == 300 // 64
    batches = epoch(ld, 0)
    assert len(batches) == 4
    views, labels = batches[0]
    assert len(views) == 2 and all(v.shape == (64, 3, 32, 32) and v.dtype == torch.float32 for v in views)
    assert labels.shape == (64,) and labels.dtype == torch.int64
    # one epoch without drop_last: every image once, the class counts of the stratified 1%
    full = epoch(loader(drop_last=False), 0)
    labels = torch.cat([lab for _, lab in full])
    assert len(labels) == 300 and torch.bincount(labels).tolist() == [30] * 10


def test_sample_path_still_selectable_and_equal_without_random_ops():
    aug = [plain_pipeline(32, 2)]
    sample = loader(data={"augment_on": "sample"}, aug=aug, shuffle=False)
    batch = loader(aug=aug, shuffle=False)
    assert isinstance(sample, DataLoader) and isinstance(batch, bl.BatchedViewLoader)
    (sv, sl), (bv, blab) = next(iter(sample)), next(iter(batch))
    assert torch.equal(sl, blab)
    for s, b in zip(sv, bv):
        torch.testing.assert_close(b, s, rtol=0, atol=1e-5)


def test_views_depend_on_seed_epoch_and_batch_only():
    a = epoch(loader(), 1)
    torch.manual_seed(123)  # model building etc. consume the global RNG: no effect
    b = epoch(loader(), 1)
    assert same(a, b)
    assert not torch.equal(a[0][0][0], epoch(loader(), 2)[0][0][0])
    assert not torch.equal(a[0][0][0], epoch(loader(seed=6), 1)[0][0][0])
    assert not torch.equal(a[0][0][0], a[0][0][1])  # two views differ


def test_without_set_epoch_each_pass_is_the_next_epoch():
    ld = loader()
    first, second = list(ld), list(ld)
    assert same(first, epoch(loader(), 0)) and same(second, epoch(loader(), 1))


def test_resume_callback_skips_to_the_same_batches():
    full = epoch(loader(), 1)
    resumed = loader()
    # a checkpoint taken after 3 steps of epoch 1 (4 steps per epoch), as hosts/standalone/resumable reads it
    trainer = types.SimpleNamespace(accumulate_grad_batches=1)
    ResumeCallback(resumed, "unused").on_load_checkpoint(trainer, None, {"global_step": 4 + 3, "epoch": 1})
    assert resumed.sampler.skip == 3 * 64
    rest = epoch(resumed, 1)
    assert same(rest, full[3:])
    assert same(epoch(resumed, 1), full)  # the skip applies to one pass only


def test_resumable_loader_rewrap_is_deterministic():
    # hosts/standalone/resumable.resumable_loader rebuilds a per-sample DataLoader from `.dataset`: that
    # path keeps the batch format and is a function of (seed, epoch, index)
    a, b = resumable_loader(loader(), 5), resumable_loader(loader(), 5)
    (va, la), (vb, lb) = next(iter(a)), next(iter(b))
    assert len(va) == 2 and va[0].shape == (64, 3, 32, 32) and la.dtype == torch.int64
    assert torch.equal(la, lb) and all(torch.equal(u, v) for u, v in zip(va, vb))


def test_ranks_split_the_epoch(monkeypatch):
    seen = []
    for rank in (0, 1):
        monkeypatch.setattr(bl, "world_info", lambda rank=rank: (rank, 2))
        ld = loader(batch_size=32)
        assert len(ld) == 150 // 32  # each rank: half of the 300 images
        seen.append(ld.sampler.order(0)[rank::2][: len(ld) * 32])
        batches = epoch(ld, 0)
        assert len(batches) == 150 // 32
    assert not set(seen[0].tolist()) & set(seen[1].tolist())


def test_mix_seed_separates_tuples():
    assert bl.mix_seed(1, 0, 12) != bl.mix_seed(1, 1, 2) != bl.mix_seed(0, 10, 12)
    assert bl.mix_seed(5, 3) == bl.mix_seed(5, 3)


@pytest.mark.parametrize("data, match", [
    ({"augment_on": "gpu"}, r"data.augment_on='gpu' is not valid; choose from \['batch', 'sample'\]"),
    ({"dataset": "cifar10", "augment_on": "batch"}, r"augment_on='batch' needs a dataset held in memory"),
])
def test_bad_augment_on_raises(data, match):
    with pytest.raises(ValueError, match=match):
        check_data_cfg({**DATA, **data})


def test_augment_on_defaults():
    assert check_data_cfg({"dataset": "fashion_mnist"})["augment_on"] == "batch"
    assert check_data_cfg({"dataset": "cifar10"})["augment_on"] == "sample"
    assert check_data_cfg({"dataset": "fashion_mnist", "augment_on": "sample"})["augment_on"] == "sample"
