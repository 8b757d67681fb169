"""Augmentation parity: from one `augmentations:` YAML both hosts draw the same random views.

Ours: data/transforms.py (torchvision v2 + lightly, per image) and, for in-memory Fashion-MNIST,
data/batched_views.py (whole batches). solo-learn's: build_transform_pipeline. Each shipped pipeline is cut
into probes (tests/parity/augmentation_probes.py: crop box, the four coin-flip ops, blur and its sigma,
brightness / contrast, saturation / hue, the whole pipeline's per-channel output mean / std), every probe
draws 200-1500 views per host and the histograms of what it reads back are compared with tests whose false-
alarm rate is at most 1e-5 each (tests/parity/augmentations.py, `compare`).

Two halves, as tests/test_parity.py: without solo-learn (CI) both of our paths are compared with
tests/parity/augmentation_reference.json, recorded from solo-learn by tests/parity/record_augmentations.py;
with solo-learn, with fresh draws of solo-learn's own pipelines too (other seeds), and the file is checked
to be current. `test_comparison_catches_wrong_pipelines` shows that the same comparison fails on wrong ones.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from parity.augmentation_probes import (
    bc_image,
    line_image,
    ramp_image,
    read_bc,
    read_blur,
    read_crop,
    read_sh,
    sh_image,
)
from parity.augmentations import (
    CASES,
    NAMED_DATASETS,
    PROBES,
    REFERENCE,
    YAML_DATASETS,
    case_probes,
    measure,
    measured,
    mismatches,
    ours_view_shapes,
    probe_cases,
    shipped_yamls,
    solo_normalisation,
    solo_view_shapes,
)
from parity.live import needs_solo
from PIL import Image, ImageEnhance, ImageFilter
from torchvision.transforms.v2 import functional as TF

import solo_coss.data.batched_views as batched_views
import solo_coss.data.datasets as datasets
import solo_coss.data.transforms as transforms

REF = json.loads(REFERENCE.read_text())


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the views are made one at a time; more threads only add overhead
    yield
    torch.set_num_threads(threads)


def probe_params(hosts, keys=None):
    params = []
    for key, probe in PROBES.items():
        for host in hosts:
            if host in probe.hosts and (keys is None or key in keys):
                params.append(pytest.param(key, host, id=f"{key}-{host}",
                                           marks=[pytest.mark.slow] if probe.slow else []))
    return params


def recorded(key: str) -> dict[str, np.ndarray]:
    return {name: np.asarray(c) for name, c in REF["probes"][key]["counts"].items()}


def assert_agree(key: str, counts, reference, against: str) -> None:
    bad = mismatches(PROBES[key], counts, reference)
    assert not bad, f"views of {probe_cases(key)} differ from {against}:\n" + "\n".join(bad)


def views(array: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 array as a batch of one view in [0, 1], as the hosts' views with mean 0 / std 1."""
    return (array.astype(np.float32) / 255).transpose(2, 0, 1)[None]


# ---------------------------------------------------------------- the probes read what they claim

@pytest.mark.parametrize("size", [32, 128])
def test_crop_probe_reads_back_known_boxes(size):
    rng = np.random.default_rng(0)
    ramp = Image.fromarray(ramp_image(size))
    for _ in range(40):
        h, w = rng.integers(int(0.25 * size), size + 1, 2)
        top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        view = TF.resized_crop(ramp, int(top), int(left), int(h), int(w), [32, 32],
                               interpolation=TF.InterpolationMode.BICUBIC)
        got = {k: float(v[0]) for k, v in read_crop(views(np.asarray(view)), size).items()}
        assert got["area"] == pytest.approx(w * h / size**2, rel=0.02)
        assert got["log_ratio"] == pytest.approx(np.log(w / h), abs=0.02)
        assert got["centre_x"] * size == pytest.approx(left + w / 2, abs=0.3)
        assert got["centre_y"] * size == pytest.approx(top + h / 2, abs=0.3)


def jittered(image: np.ndarray, steps) -> np.ndarray:
    img = Image.fromarray(image)
    for op, factor in steps:
        img = TF.adjust_hue(img, factor) if op == "hue" else op(img).enhance(factor)
    return views(np.asarray(img))


def test_jitter_and_blur_probes_read_back_known_factors():
    # in either order; the floor of PIL's 8-bit steps costs precision when the brightness is low
    for b, c in [(0.2, 1.8), (0.6, 0.6), (1.0, 1.0), (1.4, 1.3), (1.8, 0.2)]:
        for steps in ([(ImageEnhance.Brightness, b), (ImageEnhance.Contrast, c)],
                      [(ImageEnhance.Contrast, c), (ImageEnhance.Brightness, b)]):
            got = read_bc(jittered(bc_image(), steps))
            assert got["brightness"][0] == pytest.approx(b, abs=0.03)
            assert got["contrast"][0] == pytest.approx(c, abs=0.06 / b)
    for s, hue in [(0.2, -0.2), (0.9, 0.05), (1.0, 0.0), (1.8, 0.2)]:
        for steps in ([(ImageEnhance.Color, s), ("hue", hue)], [("hue", hue), (ImageEnhance.Color, s)]):
            got = read_sh(jittered(sh_image(), steps))
            assert got["saturation"][0] == pytest.approx(s, abs=0.03)
            assert got["hue"][0] == pytest.approx(hue, abs=2 / 255)  # 8-bit HSV, truncated
    line = Image.fromarray(line_image())
    for sigma in [0.3, 0.7, 1.2, 2.0]:
        got = read_blur(views(np.asarray(line.filter(ImageFilter.GaussianBlur(radius=sigma)))))
        assert got["blurred"][0] and got["sigma"][0] == pytest.approx(sigma, abs=0.05)
    assert not read_blur(views(line_image()))["blurred"][0]


# ---------------------------------------------------------------- against the recorded reference (always)

def test_reference_covers_the_shipped_pipelines():
    missing = sorted(set(PROBES) - set(REF["probes"]))
    assert not missing, (
        f"probes {missing} (of {[probe_cases(k) for k in missing]}) are not in {REFERENCE.name}: a "
        "shipped augmentations YAML or a probe changed; record again with "
        "`python tests/parity/record_augmentations.py` (needs solo-learn)"
    )


@pytest.mark.parametrize("key, host", probe_params(("ours", "batched")))
def test_views_match_recorded_solo_learn(key, host):
    assert_agree(key, measured(key, host), recorded(key), f"solo-learn's (recorded) on the {host} path")


@pytest.mark.parametrize("key, host", probe_params(("batched",), {p.key for p in case_probes(CASES[-1])}))
def test_batched_fashion_mnist_views_match_per_image_views(key, host):
    assert_agree(key, measured(key, host), measured(key, "ours"), "the per-image path's (batched path)")


def test_view_lists_and_normalisation_match_recorded():
    for name, pipelines in shipped_yamls().items():
        assert ours_view_shapes(pipelines, YAML_DATASETS[name.split("/")[0]]) == REF["views"][name], name
    for name in NAMED_DATASETS:
        assert np.allclose(datasets.dataset_stats(name), REF["normalisation"][name], rtol=0, atol=1e-7), name


def mutate(pipeline: dict, change: dict) -> dict:
    out = copy.deepcopy(pipeline)
    for block, values in change.items():
        out[block].update(values)
    return out


# name: case, probe, path, YAML change, (object, attribute or key, value) patched, quantity that must fail
MUTATIONS = {
    "crop_min_scale 0.08 -> 0.2": (
        "cifar/asymmetric[0]",
        "crop",
        "ours",
        {"rrc": {"crop_min_scale": 0.2}},
        None,
        "area",
    ),
    "grayscale prob 0.2 -> 0.1": (
        "cifar/asymmetric[0]",
        "coins",
        "ours",
        {"grayscale": {"prob": 0.1}},
        None,
        "grayscale",
    ),
    "jitter without hue": ("cifar/asymmetric[0]", "sh", "ours", {"color_jitter": {"hue": 0.0}}, None, "hue"),
    "brightness 0.4 -> 0.2": (
        "cifar/asymmetric[0]",
        "bc",
        "ours",
        {"color_jitter": {"brightness": 0.2}},
        None,
        "brightness",
    ),
    "blur sigma 0.1-2 -> 0.1-1": (
        "cifar/symmetric[0]",
        "blur",
        "ours",
        {},
        (transforms, "BLUR_SIGMAS", (0.1, 1.0)),
        "sigma",
    ),
    "solarization threshold 128 -> 100": (
        "cifar/asymmetric[1]",
        "coins",
        "ours",
        {},
        (transforms, "SOLARIZE_THRESHOLD", 100),
        "unmatched",
    ),
    "cifar10 normalised with Fashion-MNIST's statistics": (
        "cifar/asymmetric[0]",
        "full",
        "ours",
        {},
        (datasets._STATS, "cifar10", datasets._STATS["fashion_mnist"]),
        "mean_r",
    ),
    "batched aspect ratio 3/4-4/3 -> 1/2-2": (
        "fashion-mnist/symmetric[0]",
        "crop",
        "batched",
        {},
        (batched_views, "RATIO", (0.5, 2.0)),
        "log_ratio",
    ),
    "batched flip prob 0.5 -> 0.3": (
        "fashion-mnist/symmetric[0]",
        "coins",
        "batched",
        {"horizontal_flip": {"prob": 0.3}},
        None,
        "horizontal_flip",
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_comparison_catches_wrong_pipelines(name, monkeypatch):
    case_id, kind, host, change, patch, quantity = MUTATIONS[name]
    case = next(c for c in CASES if c.id == case_id)
    original = next(p for p in case_probes(case) if p.kind == kind)
    probe = next(p for p in case_probes(case, mutate(case.pipeline(), change)) if p.kind == kind)
    if patch is not None:
        target, attr, value = patch
        (monkeypatch.setitem if isinstance(target, dict) else monkeypatch.setattr)(target, attr, value)
    bad = mismatches(probe, measure(probe, host), recorded(original.key))
    assert any(f": {quantity}:" in reason for reason in bad), f"{name} not caught by {quantity}: {bad}"


# ---------------------------------------------------------------- against solo-learn itself (when installed)

@needs_solo
@pytest.mark.parametrize("key, host", probe_params(("ours", "batched")))
def test_views_match_live_solo_learn(key, host):
    assert_agree(
        key, measured(key, host), measured(key, "solo", "solo-live"), f"solo-learn's on the {host} path"
    )


@needs_solo
@pytest.mark.parametrize("key, host", probe_params(("solo",)))
def test_reference_file_is_current(key, host):
    assert key in REF["probes"], "record the reference again: python tests/parity/record_augmentations.py"
    assert_agree(
        key, measured(key, "solo", "solo-live"), recorded(key), "the recorded reference (live solo-learn)"
    )


@needs_solo
def test_view_lists_and_normalisation_are_solo_learns():
    for name, pipelines in shipped_yamls().items():
        dataset = YAML_DATASETS[name.split("/")[0]]
        assert (
            ours_view_shapes(pipelines, dataset) == solo_view_shapes(pipelines, dataset) == REF["views"][name]
        )
    for name in NAMED_DATASETS:
        assert solo_normalisation(name) == REF["normalisation"][name]
        assert np.allclose(datasets.dataset_stats(name), solo_normalisation(name), rtol=0, atol=1e-7), name
