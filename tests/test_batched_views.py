"""Batched augmentation (data/batched_ops.py, data/batched_views.py) against the per-image torchvision/PIL
path of data/transforms.py: deterministic ops pixel for pixel, random ops by their parameter distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import plain_pipeline
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from solo_coss.data import batched_ops as ops
from solo_coss.data.batched_views import BatchedViews, jitter_params, jitter_ranges, rrc_params
from solo_coss.data.transforms import build_pretrain_transform

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
BICUBIC = v2.InterpolationMode.BICUBIC


def smooth_images(n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    """Photo-like RGB images: coarse random colours upsampled (no pixel noise)."""
    rng = np.random.default_rng(seed)
    return [np.asarray(Image.fromarray(rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8))
                       .resize((w, h), Image.BILINEAR)) for _ in range(n)]


def noise_images(n: int, h: int, w: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def batch(arrays) -> torch.Tensor:
    return torch.tensor(np.stack(arrays)).permute(0, 3, 1, 2).float()


def pil_batch(images) -> torch.Tensor:
    return batch([np.asarray(im) for im in images])


IMAGES = smooth_images(6, 23, 31) + noise_images(6, 23, 31)
X = batch(IMAGES)
PILS = [Image.fromarray(a) for a in IMAGES]
FACTORS = torch.linspace(0.0, 1.9, len(IMAGES))


@pytest.mark.parametrize(
    "name, ours, pil",
    [
        ("solarize", lambda x: ops.solarize(x, 128), lambda im, f: ImageOps.solarize(im, 128)),
        (
            "grayscale",
            lambda x: ops.luma(x).expand(-1, 3, -1, -1),
            lambda im, f: im.convert("L").convert("RGB"),
        ),
        ("equalize", ops.equalize, lambda im, f: ImageOps.equalize(im)),
        ("flip", lambda x: x.flip(-1), lambda im, f: im.transpose(Image.FLIP_LEFT_RIGHT)),
        (
            "brightness",
            lambda x: ops.adjust_brightness(x, FACTORS),
            lambda im, f: ImageEnhance.Brightness(im).enhance(f),
        ),
        (
            "contrast",
            lambda x: ops.adjust_contrast(x, FACTORS),
            lambda im, f: ImageEnhance.Contrast(im).enhance(f),
        ),
        (
            "saturation",
            lambda x: ops.adjust_saturation(x, FACTORS),
            lambda im, f: ImageEnhance.Color(im).enhance(f),
        ),
        (
            "hue",
            lambda x: ops.adjust_hue(x, FACTORS / 4 - 0.24),
            lambda im, f: TF.adjust_hue(im, f / 4 - 0.24),
        ),
        (
            "blur",
            lambda x: ops.gaussian_blur(x, FACTORS + 0.1),
            lambda im, f: im.filter(ImageFilter.GaussianBlur(radius=f + 0.1)),
        ),
    ],
)
def test_pixel_ops_equal_pil_exactly(name, ours, pil):
    expected = pil_batch([pil(im, float(f)) for im, f in zip(PILS, FACTORS)])
    out = ours(X.clone())
    assert out.shape == expected.shape
    assert torch.equal(out, expected), f"{name}: {int((out != expected).sum())} pixels differ, " \
                                       f"max by {float((out - expected).abs().max())}"


def test_grey_images_stay_one_channel_with_the_same_pixels():
    grey = batch(smooth_images(4, 16, 16))[:, :1]
    rgb = grey.expand(-1, 3, -1, -1)
    f = torch.tensor([0.3, 0.9, 1.4, 1.8])
    for op in (ops.adjust_brightness, ops.adjust_contrast, ops.adjust_saturation):
        assert torch.equal(op(grey, f).expand(-1, 3, -1, -1), op(rgb.clone(), f))
    assert torch.equal(ops.adjust_hue(rgb.clone(), f / 4 - 0.2), rgb)  # grey has no hue
    assert torch.equal(ops.luma(rgb), grey)


@pytest.mark.parametrize("size", [8, 16, 23, 32, 48])
def test_resize_center_crop_equals_torchvision_within_a_level(size):
    expected = pil_batch([v2.Compose([v2.Resize(size, interpolation=BICUBIC), v2.CenterCrop(size)])(im)
                          for im in PILS[:6]])
    out = ops.resize_center_crop(X[:6], size)
    # PIL rounds between its two passes and picks their order itself: one level at most on smooth images
    assert (out - expected).abs().max() <= 1 and (out != expected).float().mean() < 0.1


@pytest.mark.parametrize("size", [8, 16, 32])
def test_resized_crop_matches_torchvision_within_a_level(size):
    top, left = torch.tensor([0, 1, 2, 3, 0, 5]), torch.tensor([0, 2, 4, 6, 8, 1])
    height, width = torch.tensor([23, 10, 21, 5, 12, 18]), torch.tensor([31, 20, 9, 25, 23, 30])
    smooth = X[:6]
    expected = pil_batch(
        [
            TF.resized_crop(im, int(t), int(lf), int(h), int(w), [size, size], interpolation=BICUBIC)
            for im, t, lf, h, w in zip(PILS[:6], top, left, height, width)
        ]
    )
    out = ops.resized_crop(smooth, top, left, height, width, size)
    assert (out - expected).abs().max() <= 1
    assert (out != expected).float().mean() < 0.1


def test_pipeline_without_random_ops_equals_per_image_path():
    # 23 px: no resize, a centre crop (exact); 16 px: a bicubic resize (one level at most, see above)
    aug = [plain_pipeline(23, 2), plain_pipeline(16, 1, mean=[0.1, 0.2, 0.3], std=[0.5, 0.5, 0.5])]
    per_image = build_pretrain_transform(aug, MEAN, STD)
    expected = [torch.stack(v) for v in zip(*[per_image(im) for im in PILS])]
    got = BatchedViews(aug, MEAN, STD)(X.to(torch.uint8))
    assert [v.shape for v in got] == [(12, 3, 23, 23), (12, 3, 23, 23), (12, 3, 16, 16)]
    assert all(v.dtype == torch.float32 and v.is_contiguous() for v in got)
    for g, e in zip(got[:2], expected[:2]):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-5)
    level = 1 / 255 / 0.5
    assert (got[2] - expected[2]).abs().max() <= level + 1e-5
    assert ((got[2] - expected[2]).abs() > 1e-5).float().mean() < 0.01


def test_normalisation_values_and_grey_input():
    views = BatchedViews([plain_pipeline(8, 1)], MEAN, STD)(torch.full((2, 1, 8, 8), 200, dtype=torch.uint8))
    expected = (
        torch.tensor([(200 / 255 - m) / s for m, s in zip(MEAN, STD)]).view(1, 3, 1, 1).expand(2, 3, 8, 8)
    )
    torch.testing.assert_close(views[0], expected, rtol=0, atol=1e-6)


def test_same_seed_same_views_other_seed_other_views():
    aug = [
        plain_pipeline(
            16, 2, rrc={"enabled": True}, color_jitter={"prob": 0.8}, horizontal_flip={"prob": 0.5}
        )
    ]
    views = BatchedViews(aug, MEAN, STD)
    x = X.to(torch.uint8)
    a = views(x, torch.Generator().manual_seed(3))
    torch.manual_seed(0)  # the global RNG plays no part
    b = views(x, torch.Generator().manual_seed(3))
    c = views(x, torch.Generator().manual_seed(4))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[0], a[1])


# ---------------------------------------------------------------- parameter distributions

def torchvision_rrc(n, h, w, scale):
    crop = v2.RandomResizedCrop(8, scale=scale)
    image = torch.zeros(3, h, w)
    out = [crop.make_params([image]) for _ in range(n)]
    return [torch.tensor([p[k] for p in out]) for k in ("top", "left", "height", "width")]


@pytest.mark.parametrize("h, w, scale", [(32, 32, (0.3, 1.0)), (20, 40, (0.08, 1.0)), (32, 32, (0.9, 1.0))])
def test_rrc_parameters_follow_torchvision(h, w, scale):
    n = 4000
    torch.manual_seed(0)
    ref = torchvision_rrc(n, h, w, scale)
    ours = rrc_params(n, h, w, scale, torch.Generator().manual_seed(1))
    for params in (ref, ours):
        top, left, ch, cw = params
        assert (top >= 0).all() and (left >= 0).all() and (top + ch <= h).all() and (left + cw <= w).all()
    area = {k: (p[2] * p[3]).double() / (h * w) for k, p in (("ref", ref), ("ours", ours))}
    ratio = {k: p[3].double() / p[2] for k, p in (("ref", ref), ("ours", ours))}
    q = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.float64)
    # quantiles of the crop area fraction and aspect ratio agree (sampling error of 4000 draws ~0.01-0.02)
    torch.testing.assert_close(
        torch.quantile(area["ours"], q), torch.quantile(area["ref"], q), atol=0.03, rtol=0
    )
    torch.testing.assert_close(
        torch.quantile(ratio["ours"], q), torch.quantile(ratio["ref"], q), atol=0.04, rtol=0
    )
    # ranges: the scale range (rounding of the sides widens it a little) and 3/4..4/3 up to side rounding
    assert area["ours"].min() >= scale[0] * 0.8 and area["ours"].max() <= 1.0
    assert ratio["ours"].min() >= 0.75 * 0.85 and ratio["ours"].max() <= 4 / 3 / 0.85
    for i in (0, 1):  # crop position: same mean
        assert abs(ours[i].double().mean() - ref[i].double().mean()) < 0.5


def test_rrc_fallback_is_torchvision_centre_crop():
    # no try fits a 2 x 40 strip at scale 1: torchvision falls back to the centre crop clamped to 4/3
    top, left, ch, cw = rrc_params(50, 2, 40, (1.0, 1.0), torch.Generator().manual_seed(0))
    ref = v2.RandomResizedCrop(8, scale=(1.0, 1.0)).make_params([torch.zeros(3, 2, 40)])
    assert set(ch.tolist()) == {ref["height"]} and set(cw.tolist()) == {ref["width"]}
    assert set(top.tolist()) == {ref["top"]} and set(left.tolist()) == {ref["left"]}


def test_jitter_factor_ranges_order_and_rate_follow_colorjitter():
    cj = {"prob": 0.8, "brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1}
    ranges = jitter_ranges(cj)
    ref = v2.ColorJitter(0.4, 0.4, 0.2, 0.1)
    assert ranges == {"brightness": tuple(ref.brightness), "contrast": tuple(ref.contrast),
                      "saturation": tuple(ref.saturation), "hue": tuple(ref.hue)}
    n = 8000
    applied, factors, order = jitter_params(n, ranges, cj["prob"], torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    ref_params = [ref.make_params([torch.zeros(3, 2, 2)]) for _ in range(2000)]
    for name in ranges:
        lo, hi = ranges[name]
        f = factors[name].double()
        assert lo <= f.min() and f.max() <= hi and f.max() - f.min() > 0.98 * (hi - lo)
        theirs = torch.tensor([p[f"{name}_factor"] for p in ref_params], dtype=torch.float64)
        assert abs(f.mean() - theirs.mean()) < 0.02 * (hi - lo) + 0.01 and abs(f.std() - theirs.std()) < 0.02
    assert abs(applied.double().mean() - 0.8) < 4 * math.sqrt(0.8 * 0.2 / n)
    assert (order.sort(1).values == torch.arange(4)).all()  # a permutation per sample
    first = torch.bincount(order[:, 0], minlength=4).double() / n
    assert (first - 0.25).abs().max() < 0.03
    # off, as ColorJitter's None
    assert jitter_ranges({"brightness": 0.0, "hue": 0.0}) == dict.fromkeys(ranges)


@pytest.mark.parametrize("bad", [{"brightness": -0.1}, {"hue": 0.7}, {"contrast": "a lot"}])
def test_bad_jitter_values_raise(bad):
    with pytest.raises(ValueError, match=f"color_jitter.{next(iter(bad))}"):
        jitter_ranges(bad)


def asymmetric_batch(n: int) -> torch.Tensor:
    """One 24 x 24 image n times: a red bar on the left, a green ramp (equalize needs >= 256 pixels)."""
    x = torch.zeros(n, 3, 24, 24, dtype=torch.uint8)
    x[:, 0, :, :5] = 250
    x[:, 1] = torch.arange(24, dtype=torch.uint8) * 4
    return x


@pytest.mark.parametrize("block, prob", [("horizontal_flip", 0.3), ("grayscale", 0.2), ("solarization", 0.4),
                                         ("equalization", 0.6)])
def test_coin_flip_rates(block, prob):
    n = 4000
    x = asymmetric_batch(n)
    aug = [plain_pipeline(24, 1, **{block: {"prob": prob}})]
    plain = BatchedViews([plain_pipeline(24, 1)], MEAN, STD)(x)[0]
    out = BatchedViews(aug, MEAN, STD)(x, torch.Generator().manual_seed(0))[0]
    changed = (out != plain).flatten(1).any(1).double().mean().item()
    assert abs(changed - prob) < 4 * math.sqrt(prob * (1 - prob) / n), (block, changed)
    # the per-image path changes the same image at the same rate
    per_image = build_pretrain_transform(aug, MEAN, STD)
    pil = Image.fromarray(x[0].permute(1, 2, 0).numpy())
    torch.manual_seed(0)
    m = 1500
    ref = sum(not torch.allclose(per_image(pil)[0], plain[0], atol=1e-5) for _ in range(m)) / m
    assert abs(ref - prob) < 4 * math.sqrt(prob * (1 - prob) / m), (block, ref)


def test_blur_probability_and_sigma_range():
    n = 400
    x = batch(smooth_images(1, 12, 12) * n).to(torch.uint8)
    pixels = ((0.0,) * 3, (1 / 255,) * 3)  # normalisation that leaves pixel values
    out = BatchedViews([plain_pipeline(12, 1, gaussian_blur={"prob": 0.5})], *pixels)(
        x, torch.Generator().manual_seed(0))[0]
    blurred = (out != x).flatten(1).any(1)
    assert abs(blurred.double().mean() - 0.5) < 4 * math.sqrt(0.25 / n)
    # every blurred view is, to a level, PIL's blur of the image at some sigma in [0.1, 2]
    sigmas = torch.linspace(0.1, 2.0, 600)
    candidates = ops.gaussian_blur(x[:1].float().expand(len(sigmas), -1, -1, -1), sigmas)
    nearest = (out[blurred][:, None] - candidates[None]).abs().flatten(2).amax(2).min(1).values
    assert nearest.max() <= 1
    beyond = ops.gaussian_blur(x[:1].float(), torch.tensor([3.0]))
    assert ((out[blurred] - beyond).abs().flatten(1).amax(1) > 1).all()  # no blur stronger than sigma 2
