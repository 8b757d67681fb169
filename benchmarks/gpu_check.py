"""The first-GPU check: one command, a few minutes on one GPU, no network, everything generated on the spot.

    python benchmarks/gpu_check.py [--require-gpu] [--keep DIR]     # on the GPU machine
    python benchmarks/gpu_check.py --device cpu --quick              # the same sections, tiny (tests/ runs
    it)

Sections (each says PASS, FAIL or SKIPPED with the reason; the exit status is 1 when one failed):
1. step ratios: CO-X / X training-step time for each backbone of BACKBONES at the ImageNet-100 configs'
   sizes (batch 128, 224 px, their heads), and for the shipped ViT recipes of SHIPPED_CONFIGS against their
   co_ twins, bf16 autocast + channels_last (benchmarks/step_time.py); names this install does not know
   are skipped.
2. loaders: images/s of the DALI loader (GPU decoding and augmentation on CUDA) vs the torchvision
   DataLoader on a generated JPEG folder (benchmarks/data_throughput.py's timing).
3. standalone CLI: ``solo-coss-pretrain`` of scripts/pretrain/imagenet-100/co_byol.yaml for 50 steps on that
   folder with DALI + bf16; passes when the logged losses are finite and a checkpoint was written.
4. solo-learn host: the same run under ``--host solo-learn`` when solo-learn is installed (its checkpoint's
   weights must be finite; solo-learn logs its losses only to wandb).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

# (backbone name, kwargs): add a name here to include it; a name this install lacks is skipped with a reason
BACKBONES = [("resnet18", {}), ("rf29_resnet18", {}), ("vit_small", {})]
# shipped ViT recipes (scripts/pretrain/...), each against its co_ twin with the YAMLs' heads and co block
SHIPPED_CONFIGS = ["imagenet-100/mocov3_vit.yaml", "imagenet-100/dino_vit.yaml"]
PAIRS = ["byol", "simclr"]
# scripts/pretrain/imagenet-100/*.yaml (tests/test_benchmarks.py checks them against the configs)
IN100 = {
    "batch": 128,
    "size": 224,
    "heads": {
        "proj_hidden_dim": 4096,
        "proj_output_dim": 256,
        "pred_hidden_dim": 8192,
        "num_prototypes": 4096,
        "simclr": {"proj_output_dim": 512},
        "mocov3": {"pred_hidden_dim": 4096},
        "dino": {"proj_hidden_dim": 2048},
    },
}
QUICK = {"batch": 4, "size": 32,
         "heads": {"proj_hidden_dim": 64, "proj_output_dim": 32, "pred_hidden_dim": 64, "num_prototypes": 64}}
CONFIGS = ROOT / "scripts" / "pretrain" / "imagenet-100"


@dataclass
class Result:
    section: str
    status: str  # PASS | FAIL | SKIPPED
    detail: str


@dataclass(frozen=True)
class Settings:
    device: str
    quick: bool
    workdir: Path
    steps: int
    images: int
    image_size: int
    threads: int | None = None  # torch threads here and in the CLI runs; None: torch's choice


def missing_modules(*names: str) -> list[str]:
    return [n for n in names if importlib.util.find_spec(n) is None]


def skip_for_modules(section: str, *names: str) -> Result | None:
    missing = missing_modules(*names)
    if missing:
        return Result(
            section, "SKIPPED", f"not installed: {', '.join(missing)} (carry their wheels to run this)"
        )
    return None


# 1. step ratios ---------------------------------------------------------------------------------------------

def step_ratios(s: Settings, pairs: list[str]) -> list[Result]:
    skipped = skip_for_modules("step ratios", "lightly", "timm")
    if skipped:
        return [skipped]
    import step_time

    from solo_coss.backbones import list_backbones

    sizes = QUICK if s.quick else IN100
    bf16 = step_time.resolve_bf16("auto", s.device)
    repeats, warmup = (2, 1) if s.quick else (8, 3)
    known = set(list_backbones())
    precision = f"{'bf16 autocast' if bf16 else 'fp32'} + channels_last"
    print(f"\n## 1. CO-X / X step time, {precision}, batch {sizes['batch']}, {sizes['size']} px, heads "
          f"{sizes['heads']['proj_hidden_dim']}/{sizes['heads']['proj_output_dim']}, median of {repeats}")
    print(
        "| backbone | baseline | baseline s/step | CO s/step | CO / baseline | FLOPs ratio "
        "|\n|---|---|---|---|---|---|"
    )
    results = []
    for name, kwargs in BACKBONES:
        if name not in known:
            results.append(Result(f"step ratios {name}", "SKIPPED",
                                  f"backbone {name!r} is not in this install's list_backbones()"))
            continue
        case = step_time.Case(name, sizes["size"], sizes["batch"], dict(sizes["heads"]), dict(kwargs))
        results.append(
            measure(step_time, name, [(base, case) for base in pairs], s.device, bf16, repeats, warmup)
        )
    for rel in SHIPPED_CONFIGS:
        if not (step_time.CONFIGS / rel).is_file():
            results.append(
                Result(f"step ratios {rel}", "SKIPPED", f"no scripts/pretrain/{rel} in this checkout")
            )
            continue
        case = step_time.Case("", sizes["size"], sizes["batch"], config=rel)
        results.append(
            measure(step_time, rel, [(step_time.config_method(case), case)], s.device, bf16, repeats, warmup)
        )
    return results


def measure(step_time, label: str, jobs, device, bf16, repeats, warmup) -> Result:
    """One table row per (baseline, case) of ``jobs``; a failure is reported and the other rows still run."""
    try:
        notes = []
        for base, case in jobs:
            r, case, note = ratio_fitting_memory(step_time, base, case, device, bf16, repeats, warmup)
            notes += [note] if note else []
            print(f"| {label} | {base} | {r['base_s']:.4f} | {r['co_s']:.4f} | {r['ratio']:.3f} | "
                  f"{r['flops_ratio']:.3f} |", flush=True)
            if not (math.isfinite(r["ratio"]) and r["ratio"] > 0):
                raise RuntimeError(f"ratio {r['ratio']} for {base}")
        return Result(
            f"step ratios {label}",
            "PASS",
            "; ".join(notes) or f"{len(jobs)} measured: {', '.join(b for b, _ in jobs)}",
        )
    except Exception as err:
        return Result(f"step ratios {label}", "FAIL", f"{type(err).__name__}: {err}")


def ratio_fitting_memory(step_time, base, case, device, bf16, repeats, warmup):
    """step_time.compare, halving the batch while CUDA runs out of memory (said in the note)."""
    batch = case.batch
    while True:
        try:
            result = step_time.compare(base, case, device, bf16, repeats, warmup)
            note = f"batch {case.batch} instead of {batch} (out of memory)" if case.batch != batch else ""
            return result, case, note
        except torch.cuda.OutOfMemoryError:
            if case.batch <= 8:
                raise
            torch.cuda.empty_cache()
            case = replace(case, batch=case.batch // 2)


# 2. loaders -------------------------------------------------------------------------------------------------

def make_jpeg_folder(root: Path, num_images: int, size: int, num_classes: int = 4, seed: int = 0) -> None:
    """num_images JPEGs (size x size) in num_classes class folders: smooth random fields tinted per class."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(num_images):
        label = i % num_classes
        coarse = rng.random((8, 8, 3)) * 0.6 + np.eye(3)[label % 3] * 0.4 * (1 + label // 3)
        field = Image.fromarray((np.clip(coarse, 0, 1) * 255).astype(np.uint8)).resize(
            (size, size), Image.BICUBIC
        )
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        field.save(folder / f"{i:05d}.jpg", quality=90)


def loaders(s: Settings, folder: Path) -> list[Result]:
    skipped = skip_for_modules("loaders", "torchvision", "PIL", "tqdm")
    if skipped:
        return [skipped]
    from data_throughput import byol_augmentations, images_per_second

    from solo_coss.data import build_pretrain_dataloader

    crop = 32 if s.quick else 224
    batch = 8 if s.quick else 64
    workers = 2 if s.quick else 8
    epochs = 1 if s.quick else 2
    aug = byol_augmentations(crop)
    data = {"dataset": "custom", "train_path": str(folder), "num_workers": workers}
    print(
        f"\n## 2. loaders: {s.images} JPEGs {s.image_size}x{s.image_size}, 2 views of {crop} px, batch "
        f"{batch}, "
        f"{workers} workers / threads, {epochs} timed epochs after one warm-up"
    )
    results = []
    try:
        tv = images_per_second(build_pretrain_dataloader({**data, "format": "image_folder"}, aug, batch),
                               "torchvision", epochs)
        print(f"torchvision DataLoader: {tv:.1f} images/s")
        results.append(Result("loaders torchvision", "PASS", f"{tv:.1f} images/s"))
    except Exception as err:
        return [Result("loaders torchvision", "FAIL", f"{type(err).__name__}: {err}")]
    skipped = skip_for_modules("loaders DALI", "nvidia.dali")
    if skipped:
        return results + [skipped]
    device = "gpu" if s.device == "cuda" else "cpu"
    try:
        dali = images_per_second(
            build_pretrain_dataloader({**data, "format": "dali", "dali_device": device}, aug, batch),
            f"dali-{device}",
            epochs,
        )
        print(f"DALI ({device}): {dali:.1f} images/s, {dali / tv:.2f}x torchvision")
        results.append(
            Result(f"loaders DALI-{device}", "PASS", f"{dali:.1f} images/s, {dali / tv:.2f}x torchvision")
        )
    except Exception as err:
        results.append(Result(f"loaders DALI-{device}", "FAIL", f"{type(err).__name__}: {err}"))
    return results


# 3 and 4. CLI runs ------------------------------------------------------------------------------------------

def run_overrides(s: Settings, folder: Path, out: Path, dali: bool, host: str) -> list[str]:
    """Overrides turning the ImageNet-100 co_byol.yaml into a short run on the generated folder."""
    cuda = s.device == "cuda"
    over = [f"data.train_path={folder}", "data.val_path=null", f"+max_steps={s.steps}", "max_epochs=1000",
            f"checkpoint.dir={out}", "auto_resume.enabled=false", "devices=1", "strategy=auto",
            "sync_batchnorm=false", f"accelerator={'gpu' if cuda else 'cpu'}", "+log_every_n_steps=1",
            f"data.format={'dali' if dali else 'image_folder'}", f"data.num_workers={2 if s.quick else 8}"]
    over.append(f"precision={'bf16-mixed' if cuda else 'auto' if host == 'standalone' else '32'}")
    if dali:
        over.append(f"+dali.device={'gpu' if cuda else 'cpu'}")
    if s.quick:
        over += [
            "optimizer.batch_size=8",
            "method_kwargs.proj_hidden_dim=64",
            "method_kwargs.proj_output_dim=32",
            "method_kwargs.pred_hidden_dim=64",
        ] + [f"augmentations.{i}.crop_size=32" for i in range(2)]
    return over


def cli_run(s: Settings, folder: Path, host: str) -> Result:
    section = f"{host} CLI run"
    needs = ["hydra", "omegaconf", "lightly", "timm"] + (["solo"] if host == "solo-learn" else [])
    skipped = skip_for_modules(section, *needs)
    if skipped:
        if host == "solo-learn" and "solo" in missing_modules("solo"):
            skipped.detail = (
                "solo-learn is not installed here (pip install --no-build-isolation -e solo-learn)"
            )
        return skipped
    # solo-learn's DALI module needs CUDA; on CPU both hosts read the folder with torchvision there
    dali = not missing_modules("nvidia.dali") and (s.device == "cuda" or host == "standalone")
    out = s.workdir / f"runs-{host}"
    argv = ["--host", host, "--config-path", str(CONFIGS), "--config-name", "co_byol.yaml",
            *run_overrides(s, folder, out, dali, host)]
    what = f"co_byol, {s.steps} steps, {'DALI' if dali else 'torchvision'} data"
    print(
        f"\n## {3 if host == 'standalone' else 4}. {host} host: {what}\n"
        f"$ solo-coss-pretrain {' '.join(argv)}",
        flush=True,
    )
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": str(s.threads)} if s.threads else None
    proc = subprocess.run(
        [sys.executable, "-c", "from solo_coss.hosts.cli import pretrain; pretrain()", *argv],
        cwd=s.workdir,
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        return Result(section, "FAIL", f"exit status {proc.returncode} after {seconds:.0f} s: {tail}")
    check = check_standalone_run if host == "standalone" else check_solo_run
    problem, detail = check(out, s.steps)
    return Result(section, "FAIL" if problem else "PASS", f"{what}, {seconds:.0f} s: {problem or detail}")


def check_standalone_run(out: Path, steps: int) -> tuple[str, str]:
    """(problem or '', detail): the last logged losses finite, the step count reached, last.ckpt written."""
    import csv

    # run folders are DIR/NAME/ID, with DIR/NAME/latest pointing at the last
    runs = sorted(out.glob("*/latest"))
    if len(runs) != 1:
        return (
            f"expected one NAME/latest run folder in {out}, found {[str(p.relative_to(out)) for p in runs]}",
            "",
        )
    run = runs[0].resolve()
    rows = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    losses = [float(r["train/loss_step"]) for r in rows if r.get("train/loss_step")]
    reached = max((int(r["step"]) for r in rows if r.get("step")), default=-1) + 1
    if not losses or not all(math.isfinite(v) for v in losses):
        return f"train/loss not finite or not logged: {losses[-3:]}", ""
    if reached < steps:
        return f"stopped at step {reached} of {steps}", ""
    if not (run / "last.ckpt").is_file():
        return f"no last.ckpt in {run}", ""
    return "", f"last loss {losses[-1]:.4f}, {len(losses)} finite, last.ckpt written"


def check_solo_run(out: Path, steps: int) -> tuple[str, str]:
    ckpts = sorted(out.rglob("*.ckpt"))
    if not ckpts:
        return f"no checkpoint under {out}", ""
    state = torch.load(ckpts[-1], map_location="cpu", weights_only=False)
    bad = [k for k, v in state["state_dict"].items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        return f"non-finite weights in {ckpts[-1].name}: {bad[:3]}", ""
    if state.get("global_step", steps) < steps:
        return f"stopped at step {state['global_step']} of {steps}", ""
    return "", f"{ckpts[-1].name}: step {state.get('global_step')}, every weight finite"


# main -------------------------------------------------------------------------------------------------------

def choose_device(requested: str | None, require_gpu: bool) -> tuple[str | None, str]:
    """(device or None to stop, message)."""
    has_cuda = torch.cuda.is_available()
    if require_gpu and not has_cuda:
        return None, "no CUDA device (--require-gpu): torch.cuda.is_available() is False"
    if requested == "cuda" and not has_cuda:
        return None, "--device cuda but torch.cuda.is_available() is False"
    device = requested or ("cuda" if has_cuda else "cpu")
    if device == "cpu" and not requested:
        return device, "no CUDA device: running the CPU version of every section (pass --require-gpu to fail)"
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    return device, f"device: {name}"


def run_all(s: Settings, pairs: list[str]) -> list[Result]:
    results = step_ratios(s, pairs)
    if missing_modules("PIL", "numpy"):
        return results + [
            Result("loaders and CLI runs", "SKIPPED", "PIL / numpy not installed: no JPEGs to read")
        ]
    folder = s.workdir / "jpegs"
    make_jpeg_folder(folder, s.images, s.image_size)
    results += loaders(s, folder)
    for host in ("standalone", "solo-learn"):
        results.append(cli_run(s, folder, host))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--device", choices=["cuda", "cpu"], default=None, help="default: cuda when available"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 3-step runs (the CPU test)")
    parser.add_argument("--require-gpu", action="store_true", help="a missing CUDA device is an error")
    parser.add_argument("--pairs", nargs="+", default=PAIRS, choices=["byol", "simclr", "mocov3", "dino"])
    parser.add_argument("--keep", default=None, help="folder to keep the generated data and runs in")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: 1 for --quick on CPU, where a shared machine's cores are "
        "oversubscribed and more threads only wait for each other; else torch's choice)",
    )
    args = parser.parse_args(argv)
    device, message = choose_device(args.device, args.require_gpu)
    if device is None:
        print(f"gpu_check: torch {torch.__version__}; {message}", flush=True)
        return 2
    threads = args.threads or (1 if args.quick and device == "cpu" else None)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    print(
        f"gpu_check: torch {torch.__version__}; {message}; {torch.get_num_threads()} torch threads",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep or tmp).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        s = Settings(device, args.quick, workdir, steps=3 if args.quick else 50,
                     images=32 if args.quick else 512, image_size=48 if args.quick else 256, threads=threads)
        try:
            results = run_all(s, args.pairs)
        except Exception:  # an unexpected error still ends with the summary
            results = [
                Result("gpu_check", "FAIL", traceback.format_exc(limit=3).strip().replace("\n", " | "))
            ]
        finally:
            torch.set_num_threads(before)
    print("\n## summary")
    for r in results:
        print(f"{r.status:8s} {r.section}: {r.detail}")
    return 1 if any(r.status == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
