"""The shipped Fashion-MNIST config in the Trainer, this checkout against another one (e.g. the commit an
issue was filed on), measured in one run: each round trains a few steps in a fresh process of each checkout,
the two in alternating order, and the ratio is the median of the per-round ratios of median s/step.

    python benchmarks/main_job_vs_checkout.py --base ../old-checkout \\
        --base-overrides precision=32-true performance.disable_channel_last=true --rounds 4 --steps 8 --warmup
        2

Each process trains through this checkout's main_job_steps.py (its Trainer and step clock) on the other
checkout's package. A step's time is the process's CPU time (one torch thread, so a shared machine disturbs it
less than wall time; `--clock wall`: elapsed time) between consecutive ``on_train_batch_start`` calls, batched
augmentation included.
Both checkouts must have ``load_config``, ``resolve_pretrain_config``,
``solo_coss.data.build_pretrain_dataloader`` and ``PretrainModule(cfg)``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

# Run inside each checkout, with main_job_steps.py (its Trainer and step clock) from this one:
# argv = this benchmarks folder, config dir, config name, steps, warmup, threads, clock, overrides...
CHILD = r"""
import json, logging, sys, time
bench, config_dir, name, steps, warmup, threads, clock, *overrides = sys.argv[1:]
sys.path.insert(0, bench)
import torch
import main_job_steps as m

m.StepClock.now = staticmethod(time.process_time if clock == "cpu" else time.perf_counter)
torch.set_num_threads(int(threads))
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
cfg = m.resolve_pretrain_config(m.load_config(config_dir, name, ["knn_eval.enabled=false", *overrides]))
loader = m.build_pretrain_dataloader(cfg["data"], cfg["augmentations"], int(cfg["optimizer"]["batch_size"]),
                                     seed=int(cfg["seed"]))
times = m.run(cfg, loader, int(steps), cfg.get("precision", "32-true")).step_times(int(warmup))
print("RESULT " + json.dumps({"times": times, "precision": cfg.get("precision"),
                              "channels_last": not cfg["performance"]["disable_channel_last"]}))
"""


def start(tree: Path, args, overrides: list[str], core: int | None = None):
    """A child training process on ``tree``'s package, pinned to ``core`` when given; its output goes to files
    (two children at once cannot block on a full pipe)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(HERE / "benchmarks"),
            str(tree / "scripts" / "pretrain" / "fashion-mnist"),
            args.config,
            str(args.steps),
            str(args.warmup),
            str(args.threads),
            args.clock,
            *overrides,
        ],
        env=env,
        stdout=out,
        stderr=err,
        text=True,
        cwd=tree,
        preexec_fn=pin,
    )
    return tree, proc, out, err


def result(child) -> dict:
    tree, proc, out, err = child
    proc.wait()
    out.seek(0)
    err.seek(0)
    lines = [line for line in out.read().splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{tree}: exit {proc.returncode}\n{err.read()[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def measure_round(trees: dict, args, r: int) -> dict[str, dict]:
    """One round: the two checkouts one after the other (order alternating), or with --side-by-side at the
    same time, each on its own core (cores swapped every round), so that the host's load hits both alike."""
    order = ("base", "this") if r % 2 == 0 else ("this", "base")
    if not args.side_by_side:
        return {name: result(start(trees[name][0], args, trees[name][1])) for name in order}
    children = {
        name: start(trees[name][0], args, trees[name][1], core) for name, core in zip(order, args.cores)
    }
    return {name: result(child) for name, child in children.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (its root folder)")
    parser.add_argument(
        "--base-overrides", nargs="*", default=[], help="config overrides for the base checkout"
    )
    parser.add_argument("--overrides", nargs="*", default=[], help="config overrides for this checkout")
    parser.add_argument("--config", default="co_byol.yaml")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="run the two checkouts at the same time, each pinned to its own core (one thread "
        "each; needs 2 cores); without it they run one after the other",
    )
    parser.add_argument("--cores", type=int, nargs=2, default=[0, 1], help="the two cores for --side-by-side")
    parser.add_argument(
        "--clock",
        default="cpu",
        choices=["cpu", "wall"],
        help="cpu: the process's CPU time (default; with one thread a shared machine disturbs it "
        "less); wall: elapsed time, for several threads on an otherwise idle machine (with "
        "several threads the CPU time also counts the threads' spin-waiting)",
    )
    args = parser.parse_args(argv)
    if args.steps <= args.warmup:
        parser.error(f"--steps ({args.steps}) must be more than --warmup ({args.warmup})")
    if args.side_by_side and not set(args.cores) <= os.sched_getaffinity(0):
        parser.error(
            f"--cores {args.cores}: this process may run on cores {sorted(os.sched_getaffinity(0))} only"
        )
    trees = {"base": (args.base.resolve(), args.base_overrides), "this": (HERE, args.overrides)}
    rounds = []
    for r in range(args.rounds):
        rounds.append(measure_round(trees, args, r))
        print(f"round {r + 1}: " + ", ".join(f"{n} {statistics.median(rounds[-1][n]['times']):.3f} s/step"
                                              for n in ("base", "this")), flush=True)
    print(
        f"\n{args.config}, {args.threads} torch thread(s), {args.rounds} rounds x {args.steps - args.warmup} "
        f"timed steps, {args.clock} time per step{', side by side' if args.side_by_side else ''}; "
        f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', 'default')}"
    )
    print(
        "| checkout | precision | channels_last | s/step (median) | speed-up over base "
        "|\n|---|---|---|---|---|"
    )
    for name in ("base", "this"):
        first = rounds[0][name]
        t = statistics.median(statistics.median(r[name]["times"]) for r in rounds)
        ratio = statistics.median(statistics.median(r["base"]["times"]) / statistics.median(r[name]["times"])
                                  for r in rounds)
        print(f"| {name} ({trees[name][0]}) | {first['precision']} | {first['channels_last']} | {t:.3f} | "
              f"{ratio:.2f}x |")


if __name__ == "__main__":
    main()
