"""The main job's training steps/s as the Trainer sees them (loader + step) for both augmentation paths,
against pure compute (pre-made batches), measured in one run.

    python benchmarks/main_job_steps.py [--steps 12] [--warmup 3] [--rounds 2] [--precision 32 bf16-mixed]

The module and data come from scripts/pretrain/fashion-mnist/co_byol.yaml (rf29_resnet18 at half width,
32 px, batch 128, two views), run by a Lightning Trainer for `--steps` steps with validation, logging and
checkpoints off. A step's time is the wall time between consecutive `on_train_batch_start` calls, so
it includes fetching the batch. Variants:

- compute: a list of batches made beforehand (no data work at all),
- batch:   data.augment_on=batch (whole-batch tensor ops in the training process),
- sample:  data.augment_on=sample (torchvision per image in 2 DataLoader worker processes).

The variants run round-robin (`--rounds`) and the first `--warmup` steps of each run are not counted
(worker start-up included there). s/step is the median over all rounds; the share outside compute is
1 - compute/variant from the per-round medians, as the median over rounds (a paired figure, so a change
of machine load between rounds affects it less).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import lightning as L
import torch

from solo_coss.data import build_pretrain_dataloader
from solo_coss.hosts.standalone.config import load_config, resolve_pretrain_config
from solo_coss.hosts.standalone.module import PretrainModule

CONFIGS = Path(__file__).resolve().parents[1] / "scripts" / "pretrain" / "fashion-mnist"


class StepClock(L.Callback):
    now = staticmethod(time.perf_counter)  # --clock cpu: time.process_time

    def __init__(self):
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.starts.append(self.now())

    def on_train_end(self, trainer, pl_module) -> None:
        self.starts.append(self.now())

    def step_times(self, warmup: int) -> list[float]:
        return [b - a for a, b in zip(self.starts, self.starts[1:])][warmup:]


class Premade:
    """Batches made beforehand (a bare list would be read by Lightning as a list of loaders)."""

    def __init__(self, batches: list):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


# --setups: the shipped config against fp32 NCHW (what precision: auto did not pick) and with compile
SETUPS = {"fp32 NCHW": {"precision": "32-true", "performance": {"disable_channel_last": True}},
          "shipped (precision: auto)": {},
          "shipped + performance.compile": {"performance": {"compile": True}}}


def with_setup(cfg: dict, setup: dict) -> dict:
    out = {**cfg, **{k: v for k, v in setup.items() if k != "performance"}}
    out["performance"] = {**cfg["performance"], **setup.get("performance", {})}
    return out


def compare_setups(base: dict, loader, names: list[str], steps: int, warmup: int, rounds: int) -> None:
    """The shipped Fashion-MNIST config (batched augmentation, as shipped) in the Trainer under each setup,
    round-robin; ratios are to the first setup, as medians of the per-round ratios of median s/step."""
    per_round = []
    for _ in range(rounds):
        per_round.append({name: statistics.median(run(with_setup(base, SETUPS[name]), loader, steps,
                                                      with_setup(base, SETUPS[name])["precision"])
                                                  .step_times(warmup)) for name in names})
    print(f"\n{rounds} rounds x {steps - warmup} timed steps per setup (first {warmup} steps not timed: "
          "start-up and compilation)")
    print(f"| setup | precision | channels_last | s/step | speed-up over {names[0]} |\n|---|---|---|---|---|")
    for name in names:
        cfg = with_setup(base, SETUPS[name])
        t = statistics.median(r[name] for r in per_round)
        ratio = statistics.median(r[names[0]] / r[name] for r in per_round)
        print(f"| {name} | {cfg['precision']} | {not cfg['performance']['disable_channel_last']} | {t:.3f} | "
              f"{ratio:.2f}x |", flush=True)


def run(cfg: dict, loader, steps: int, precision: str) -> StepClock:
    clock = StepClock()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision=precision,
        callbacks=[clock],
    )
    torch.manual_seed(0)
    trainer.fit(PretrainModule(cfg), loader)
    return clock


def loader_alone(loader, batches: int) -> float:
    """Seconds per batch of iterating the loader with nothing else running (after one batch of start-up)."""
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return (time.perf_counter() - start) / batches


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="co_byol.yaml")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["32"],
        help="Lightning precision values, e.g. 32 bf16-mixed (the model is channels_last, the configs' "
        "performance.disable_channel_last: false)",
    )
    parser.add_argument(
        "--setups",
        nargs="+",
        default=None,
        choices=list(SETUPS),
        help="instead of the data paths: the shipped config under these setups (batched data)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "cpu"],
        help="cpu: this process's CPU time (one thread on a shared machine; the sample path's "
        "workers are other processes and are not counted)",
    )
    args = parser.parse_args(argv)
    if args.clock == "cpu":
        StepClock.now = staticmethod(time.process_time)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    base = resolve_pretrain_config(load_config(str(CONFIGS), args.config, ["knn_eval.enabled=false"]))
    batch_size, seed = int(base["optimizer"]["batch_size"]), int(base["seed"])
    loaders = {}
    for path in ("batch", "sample"):
        data = {**base["data"], "augment_on": path}
        loaders[path] = build_pretrain_dataloader(data, base["augmentations"], batch_size, seed=seed)
    loaders["compute"] = Premade([batch for _, batch in zip(range(args.steps), loaders["batch"])])

    print(
        f"{args.config}: {base['backbone']['name']} {base['backbone'].get('kwargs')}, batch {batch_size}, "
        f"{torch.get_num_threads()} torch threads, data.num_workers={base['data']['num_workers']} (sample "
        "path), "
        f"ATen CPU capability {torch.backends.cpu.get_cpu_capability()}, precision: auto -> "
        f"{base['precision']}"
    )
    if args.setups:
        compare_setups(base, loaders["batch"], args.setups, args.steps, args.warmup, args.rounds)
        return
    for path in ("batch", "sample"):
        print(f"loader alone, augment_on={path}: {loader_alone(loaders[path], 10) * 1000:.0f} ms/batch")
    for precision in args.precision:
        rounds: list[dict[str, list[float]]] = []
        for _ in range(args.rounds):
            rounds.append({name: run(base, loaders[name], args.steps, precision).step_times(args.warmup)
                           for name in ("compute", "batch", "sample")})
        print(
            f"\nprecision={precision} + channels_last ({args.rounds} rounds x {args.steps - args.warmup} "
            "timed steps per variant)"
        )
        print("| variant | s/step | steps/s | share of the step outside compute (median of rounds) |")
        print("|---|---|---|---|")
        for name in ("compute", "batch", "sample"):
            t = statistics.median([x for r in rounds for x in r[name]])
            share = statistics.median(
                1 - statistics.median(r["compute"]) / statistics.median(r[name]) for r in rounds
            )
            print(f"| {name} | {t:.3f} | {1 / t:.3f} | {100 * share:.1f} % |", flush=True)


if __name__ == "__main__":
    main()
