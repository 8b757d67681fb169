"""Augmentation parity: the views both hosts build from one `augmentations:` YAML, drawn many times and
compared as distributions of what the probes (parity/augmentation_probes.py) read back.

Three samplers: `solo` (solo-learn's build_transform_pipeline, per PIL image), `ours` (transforms.py,
torchvision v2 + lightly, per PIL image) and `batched` (batched_views.py, whole uint8 batches). Each draws
the probe's `draws` views of its images from its own seed (torch, numpy and random all seeded: their
streams are the same on every CPU, and PIL's ops are integer arithmetic, so the draws repeat across
machines) and histograms every read-back quantity on fixed bins.

Comparison of two histograms (`compare`): a quantity the reference never varies (one bin, e.g. an op the YAML
switches off) must not vary in the other either; a binary quantity by a two-proportion z-test; any other by
the two-sample Kolmogorov-Smirnov test on the binned CDFs (conservative on binned data). Each test has a
false-alarm rate of at most ALPHA = 1e-5 (critical values from the sample sizes: z 4.42, KS coefficient
sqrt(ln(2 / ALPHA) / 2) = 2.47), so the chance that correct pipelines fail any of the 155 comparisons of the
default suite without solo-learn for an unlucky seed is below 0.16 % (0.4 % for the ~360 with solo-learn).
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from parity.augmentation_probes import QUANTITIES, is_off, isolate, probe_images, read_back
from solo_coss.data.batched_views import BatchedView
from solo_coss.data.datasets import dataset_stats
from solo_coss.data.transforms import build_pretrain_transform, build_view_transform, normalize_pipeline

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).with_name("augmentation_reference.json")
ALPHA = 1e-5
Z_CRIT = 4.417  # two-sided normal quantile for ALPHA
KS_COEFF = math.sqrt(math.log(2 / ALPHA) / 2)
DRAWS = {"crop": 1500, "coins": 1500, "blur": 1200, "bc": 1200, "sh": 1200, "full": 600}
OFF_DRAWS = 200  # a probe whose ops are all off: every view must equal the input
CHUNK = 128
HOSTS = ("solo", "ours", "batched")


@dataclass(frozen=True)
class Case:
    """One pipeline of a shipped augmentations YAML and the data it is used on."""

    folder: str  # scripts/pretrain/<folder>/augmentations/<file>.yaml
    file: str
    index: int
    dataset: str
    image_size: tuple[int, int]  # of the input images (ImageNet's vary: 128 px squares stand in; a crop's
    # distribution depends on the image size only through the rounding of its sides)
    grey: bool = False

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.file}[{self.index}]"

    def pipeline(self) -> dict:
        path = ROOT / "scripts/pretrain" / self.folder / "augmentations" / f"{self.file}.yaml"
        return yaml.safe_load(path.read_text())[self.index]


CASES = [
    Case("cifar", "asymmetric", 0, "cifar10", (32, 32)),
    Case("cifar", "asymmetric", 1, "cifar10", (32, 32)),
    Case("cifar", "symmetric", 0, "cifar10", (32, 32)),
    Case("imagenet-100", "asymmetric", 0, "imagenet100", (128, 128)),
    Case("imagenet-100", "asymmetric", 1, "imagenet100", (128, 128)),
    Case("imagenet-100", "symmetric", 0, "imagenet100", (128, 128)),
    Case("fashion-mnist", "symmetric", 0, "fashion_mnist", (32, 32), grey=True),
]


@dataclass(frozen=True)
class Probe:
    kind: str
    pipeline_json: str  # the pipeline actually run (isolated), canonical JSON
    dataset: str
    image_size: tuple[int, int]
    grey: bool
    off: bool
    slow: bool  # the `full` probe of 224 px views (~15 ms a view per image): behind @slow

    @property
    def hosts(self) -> tuple[str, ...]:
        """The batched path serves 32 px Fashion-MNIST: it is compared on the probes of small images."""
        return HOSTS if max(self.image_size) <= 64 else ("solo", "ours")

    @property
    def pipeline(self) -> dict:
        return json.loads(self.pipeline_json)

    @property
    def key(self) -> str:
        digest = zlib.crc32(f"{self.pipeline_json}|{self.dataset}|{self.image_size}|{self.grey}".encode())
        return f"{self.kind}-{self.image_size[0]}px-{digest:08x}"

    @property
    def draws(self) -> int:
        return OFF_DRAWS if self.off else DRAWS[self.kind]


def case_probes(case: Case, pipeline: dict | None = None) -> list[Probe]:
    """The probes of one case (of `pipeline` instead of the case's YAML pipeline when given); crop and full
    read images of the data's size, the others designed ones."""
    pipeline = pipeline or case.pipeline()
    probes = []
    for kind in QUANTITIES:
        run = isolate(pipeline, kind)
        if kind == "full" and case.dataset == "fashion_mnist":
            # solo-learn has no Fashion-MNIST statistics: it normalises a dataset it does not know with the
            # pipeline's mean / std, which is where a user puts them; ours reads the same keys first
            run = {**run, **dict(zip(("mean", "std"), map(list, dataset_stats(case.dataset))))}
        full_size = kind in ("crop", "full")
        probes.append(
            Probe(
                kind,
                json.dumps(run, sort_keys=True),
                case.dataset if kind == "full" else "custom",
                case.image_size if full_size else (0, 0),
                case.grey and kind == "full",
                is_off(run, kind),
                kind == "full" and case.image_size[0] > 64,
            )
        )
    return probes


def all_probes(cases=CASES) -> dict[str, Probe]:
    """Every distinct probe of the cases (pipelines that isolate to the same ops share one)."""
    return {p.key: p for case in cases for p in case_probes(case)}


def probe_cases(key: str) -> list[str]:
    """The cases a probe serves (for messages)."""
    return [case.id for case in CASES if key in {p.key for p in case_probes(case)}]


# ---------------------------------------------------------------- the three samplers

def _solo_transform(probe: Probe):
    from omegaconf import OmegaConf
    from solo.data.pretrain_dataloader import build_transform_pipeline

    cfg = {k: v for k, v in probe.pipeline.items() if v is not None}  # solo reads mean/std only when given
    return build_transform_pipeline(probe.dataset, OmegaConf.create(cfg))


def _stats(probe: Probe):
    return dataset_stats(probe.dataset)


def seed_of(probe: Probe, label: str) -> int:
    return zlib.crc32(f"{probe.key}|{label}".encode())


def draw_views(probe: Probe, host: str, label: str | None = None) -> Iterator[np.ndarray]:
    """Chunks of normalised views (k, 3, S, S) float32, probe.draws in all, cycling over the probe's images;
    seeded by the probe and `label` (default: the host)."""
    draws = probe.draws
    images = probe_images(probe.kind, probe.image_size, probe.grey)
    seed = seed_of(probe, label or host)
    if host == "batched":
        view = BatchedView(normalize_pipeline(probe.pipeline), *_stats(probe))
        stack = torch.stack(
            [torch.from_numpy(im).reshape(*im.shape[:2], -1).permute(2, 0, 1) for im in images]
        )
        generator = torch.Generator().manual_seed(seed)
        for start in range(0, draws, CHUNK):
            index = torch.arange(start, min(start + CHUNK, draws)) % len(images)
            yield view(stack[index], generator).numpy()
        return
    transform = _solo_transform(probe) if host == "solo" else \
        build_view_transform(normalize_pipeline(probe.pipeline), *_stats(probe))
    pils = [Image.fromarray(im).convert("RGB") for im in images]
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    for start in range(0, draws, CHUNK):
        yield torch.stack(
            [transform(pils[i % len(pils)]) for i in range(start, min(start + CHUNK, draws))]
        ).numpy()


def measure(probe: Probe, host: str, label: str | None = None) -> dict[str, np.ndarray]:
    """Histogram (counts) of every quantity the probe reads back, over probe.draws views of `host`."""
    values: dict[str, list[np.ndarray]] = {}
    for views in draw_views(probe, host, label):
        for name, value in read_back(probe.kind, views, probe.image_size).items():
            values.setdefault(name, []).append(np.asarray(value, np.float64))
    return {name: QUANTITIES[probe.kind][name].histogram(np.concatenate(v)) for name, v in values.items()}


@cache
def measured(key: str, host: str, label: str | None = None) -> dict[str, np.ndarray]:
    """measure() of PROBES[key], cached for the test session (several tests share a probe)."""
    return measure(PROBES[key], host, label)


# ---------------------------------------------------------------- view lists and normalisation

YAML_DATASETS = {"cifar": "cifar10", "stl10": "stl10", "imagenet-100": "imagenet100", "imagenet": "imagenet",
                 "fashion-mnist": "fashion_mnist"}
NAMED_DATASETS = ("cifar10", "cifar100", "stl10", "imagenet100", "imagenet")


def shipped_yamls() -> dict[str, list[dict]]:
    """Every shipped augmentations YAML, by '<folder>/<file>'."""
    return {f"{path.parents[1].name}/{path.stem}": yaml.safe_load(path.read_text())
            for path in sorted((ROOT / "scripts/pretrain").glob("*/augmentations/*.yaml"))}


def view_shapes(transform, image_size: int = 40) -> list[list[int]]:
    """Shapes of the views a multi-view transform makes of one image, in order."""
    image = Image.fromarray(probe_images("full", (image_size, image_size), False)[0])
    return [list(view.shape) for view in transform(image)]


def ours_view_shapes(pipelines: list[dict], dataset: str) -> list[list[int]]:
    return view_shapes(build_pretrain_transform(pipelines, *dataset_stats(dataset)))


def solo_view_shapes(pipelines: list[dict], dataset: str) -> list[list[int]]:
    from omegaconf import OmegaConf
    from solo.data.pretrain_dataloader import build_transform_pipeline, prepare_n_crop_transform

    cfgs = [OmegaConf.create(p) for p in pipelines]
    return view_shapes(prepare_n_crop_transform([build_transform_pipeline(dataset, c) for c in cfgs],
                                                [c.num_crops for c in cfgs]))


def solo_normalisation(dataset: str) -> list[list[float]]:
    """The (mean, std) solo-learn normalises a named dataset with, whatever the pipeline says."""
    pipeline = next(iter(shipped_yamls().values()))[0]
    normalize = _solo_transform(Probe("full", json.dumps(pipeline), dataset, (0, 0), False, False, False))
    normalize = normalize.transforms[-1]
    return [list(map(float, normalize.mean)), list(map(float, normalize.std))]


PROBES = all_probes()


# ---------------------------------------------------------------- comparison

def compare(
    name: str, counts: np.ndarray, reference: np.ndarray, binary: bool, centres: np.ndarray
) -> str | None:
    """None when `counts` agree with `reference` within sampling error, else a one-line reason."""
    counts, reference = np.asarray(counts, np.float64), np.asarray(reference, np.float64)
    n, m = counts.sum(), reference.sum()
    mean, ref_mean = (counts * centres).sum() / n, (reference * centres).sum() / m
    means = f"mean {mean:.4g} vs {ref_mean:.4g} (n = {n:.0f} vs {m:.0f})"
    if (reference > 0).sum() == 1:
        if counts[reference > 0].sum() != n:
            differ = n - counts[reference > 0].sum()
            return f"{name}: the reference never varies; {differ:.0f} of {n:.0f} differ, {means}"
        return None
    if binary:
        p, q = counts[1] / n, reference[1] / m
        pooled = (counts[1] + reference[1]) / (n + m)
        z = abs(p - q) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
        return (
            None
            if z <= Z_CRIT
            else f"{name}: rate {p:.4f} vs {q:.4f}, z = {z:.2f} > {Z_CRIT} (n = {n:.0f} vs {m:.0f})"
        )
    d = np.abs(np.cumsum(counts) / n - np.cumsum(reference) / m).max()
    crit = KS_COEFF * math.sqrt((n + m) / (n * m))
    return None if d <= crit else f"{name}: KS distance {d:.4f} > {crit:.4f}, {means}"


def mismatches(probe: Probe, counts: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> list[str]:
    bad = []
    if sorted(counts) != sorted(reference):
        return [f"{probe.key}: quantities {sorted(counts)} vs reference {sorted(reference)}"]
    for name, quantity in QUANTITIES[probe.kind].items():
        reason = compare(name, counts[name], reference[name], quantity.binary, quantity.centres())
        if reason:
            bad.append(f"{probe.key}: {reason}")
    return bad
