"""Pixel operations on whole batches, each sample with its own parameter, reproducing what PIL does to an
8-bit image (the per-image path of transforms.py runs torchvision on PIL images).

Images are float32 tensors (B, C, H, W) holding whole numbers 0..255: every op rounds back to that grid as
PIL stores uint8 after each operation, so the deterministic ops give PIL's pixels (tests/test_batched_views.py
checks which are exact and which are within one level).

The contract: ``augment_on: batch`` trains on the same pixels as the per-image path (``augment_on: sample``,
what solo-learn runs), so switching the loader for speed does not change what a run learns. kornia's batched
augmentation (RRC, jitter, blur, solarize, flip) was not used: it follows its own arithmetic (float
colour-space conversions, its own resampling kernels, no rounding to 8 bits between ops), so its views
differ from PIL's by more than a level, and it would be one more dependency for ops written here in ~250
lines.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

TABLE_LIMIT = 4_000_000  # weights cached per (in, out) size when the table of every crop is this small


def _round(x: torch.Tensor) -> torch.Tensor:
    """PIL's fixed-point rounding (half up) and clipping to 0..255."""
    return torch.floor(x + 0.5).clamp_(0, 255)


def _cubic(t: torch.Tensor) -> torch.Tensor:
    """PIL's bicubic kernel (a = -0.5)."""
    t = t.abs()
    near = ((1.5 * t - 2.5) * t) * t + 1
    far = (((t - 5) * t + 8) * t - 4) * -0.5
    return torch.where(t < 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def resample_weights(start: torch.Tensor, length: torch.Tensor, out_size: int, in_size: int) -> torch.Tensor:
    """(B, out_size, in_size) weights resampling the pixels [start, start + length) of an axis of in_size to
    out_size pixels: PIL's antialiased bicubic (the kernel is stretched by the scale when shrinking), with
    pixels outside the crop getting no weight and every row normalised, as PIL does after cropping."""
    start, length = start.double(), length.double()
    scale = length / out_size
    stretch = scale.clamp(min=1.0)
    centre = (torch.arange(out_size, dtype=torch.float64) + 0.5)[None, :] * scale[:, None]
    pos = torch.arange(in_size, dtype=torch.float64)[None, None, :] - start[:, None, None]
    w = _cubic((pos + 0.5 - centre[..., None]) / stretch[:, None, None])
    w = w * ((pos >= 0) & (pos < length[:, None, None]))
    return (w / w.sum(-1, keepdim=True)).float()


@lru_cache(maxsize=8)
def _weight_table(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights of every crop (start, length) of an axis, and the map (length, start) -> row of them."""
    length, start = torch.meshgrid(torch.arange(1, in_size + 1), torch.arange(in_size), indexing="ij")
    valid = start + length <= in_size
    rows = torch.full((in_size + 1, in_size), -1, dtype=torch.long)
    rows[1:][valid] = torch.arange(int(valid.sum()))
    return resample_weights(start[valid], length[valid], out_size, in_size), rows


def crop_weights(start: torch.Tensor, length: torch.Tensor, out_size: int, in_size: int) -> torch.Tensor:
    """resample_weights, looked up in a cached table for small images (random crops of 32 px images
    would otherwise spend most of their time computing the same weights again)."""
    if (in_size * (in_size + 1) // 2) * out_size * in_size > TABLE_LIMIT:
        return resample_weights(start, length, out_size, in_size)
    table, rows = _weight_table(in_size, out_size)
    return table[rows[length.long(), start.long()]]


def resized_crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor,
                 width: torch.Tensor, size: int) -> torch.Tensor:
    """Crop box b of every sample, resized to size x size: PIL's crop + resize(BICUBIC), horizontal pass
    first, rounded after each pass."""
    wx = crop_weights(left, width, size, x.shape[-1])  # (B, S, W)
    wy = crop_weights(top, height, size, x.shape[-2])  # (B, S, H)
    x = _round(torch.matmul(x, wx.transpose(1, 2)[:, None]))  # (B, C, H, S)
    return _round(torch.matmul(wy[:, None], x))  # (B, C, S, S)


def resize_center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """torchvision's Resize(size) (short side, bicubic) + CenterCrop(size), on same-sized images."""
    n, _, h, w = x.shape
    short, long = min(h, w), max(h, w)
    new_long = int(size * long / short)
    new_h, new_w = (new_long, size) if w <= h else (size, new_long)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    full = torch.ones(n)
    wx = resample_weights(full * 0, full * w, new_w, w)[:, left:left + size]
    wy = resample_weights(full * 0, full * h, new_h, h)[:, top:top + size]
    if new_w != w:  # PIL skips a pass whose size does not change
        x = _round(torch.matmul(x, wx.transpose(1, 2)[:, None]))
    else:
        x = x[..., left:left + size]
    if new_h != h:
        x = _round(torch.matmul(wy[:, None], x))
    else:
        x = x[..., top:top + size, :]
    return x


def luma(x: torch.Tensor) -> torch.Tensor:
    """PIL's convert("L") of RGB pixels, (B, 1, H, W): (R*19595 + G*38470 + B*7471 + 2^15) >> 16, exact in
    float32 because every partial sum stays below 2^24. A one-channel (grey) image is its own luma, as
    the formula gives for R = G = B."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.floor((r * 19595 + g * 38470 + b * 7471 + 32768) / 65536)


def _per_sample(v: torch.Tensor) -> torch.Tensor:
    return v.float().view(-1, 1, 1, 1)


def blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's Image.blend(degenerate, x, factor): interpolation or extrapolation, truncated to 0..255."""
    return torch.floor((degenerate + _per_sample(factor) * (x - degenerate)).clamp(0, 255))


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend(torch.zeros_like(x), x, factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend towards the image's mean grey, rounded to an integer (PIL's ImageEnhance.Contrast)."""
    mean = torch.floor(luma(x).mean(dim=(1, 2, 3), keepdim=True, dtype=torch.float64) + 0.5).float()
    return blend(mean.expand_as(x), x, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:  # grey stays grey
        return x
    return blend(luma(x).expand_as(x), x, factor)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's PIL adjust_hue: to PIL's 8-bit HSV, H += int(factor * 255) mod 256, back to RGB.
    Follows PIL's conversion formulas with its float32 / float64 steps."""
    if x.shape[1] == 1:  # grey has no hue
        return x
    f32, f64 = torch.float32, torch.float64
    r, g, b = x.unbind(1)
    maxc, minc = torch.maximum(r, torch.maximum(g, b)), torch.minimum(r, torch.minimum(g, b))
    grey = maxc == minc
    cr = torch.where(grey, torch.ones_like(maxc), maxc - minc)
    s = cr / torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    rc, gc, bc = (maxc - r) / cr, (maxc - g) / cr, (maxc - b) / cr
    h = torch.where(r == maxc, (bc - gc).double(),
                    torch.where(g == maxc, 2.0 + rc.double() - bc, 4.0 + gc.double() - rc)).to(f32)
    h = torch.fmod(h.double() / 6.0 + 1.0, 1.0).to(f32)
    uh = torch.where(grey, 0.0, torch.trunc(h.double() * 255.0).clamp(0, 255))
    us = torch.where(grey, 0.0, torch.trunc(s.double() * 255.0).clamp(0, 255))
    shift = torch.trunc(factor.double() * 255).view(-1, 1, 1)
    uh = torch.remainder(uh + shift, 256)
    sector = torch.floor(uh * 6.0 / 255.0)
    frac = (uh * 6.0 / 255.0 - sector).to(f32)
    fs = (us / 255.0).to(f32)
    v = maxc.double()

    def c_round(t: torch.Tensor) -> torch.Tensor:  # C's round: half away from zero (t >= 0 here)
        return torch.floor(t + 0.5).clamp(0, 255)

    p = c_round(v * (1.0 - fs.double()))
    q = c_round(v * (1.0 - (fs * frac).to(f64)))
    t = c_round(v * (1.0 - fs.double() * (1.0 - frac.double())))
    table = torch.stack([torch.stack(c) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
                                                   (v, p, q))])  # (6 sectors, 3 channels, B, H, W)
    k = torch.remainder(sector, 6).long()
    out = torch.gather(table.permute(2, 1, 3, 4, 0), -1, k[:, None, ..., None].expand(-1, 3, -1, -1, 1))[
        ..., 0
    ]
    return torch.where((us == 0)[:, None], v[:, None].expand(-1, 3, -1, -1), out).float()


def solarize(x: torch.Tensor, threshold: float = 128) -> torch.Tensor:
    return torch.where(x >= threshold, 255 - x, x)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """PIL's ImageOps.equalize on every channel of every image (histogram LUT, step from all but the
    brightest populated bin)."""
    b, c, h, w = x.shape
    flat = x.reshape(b * c, h * w).long()
    hist = torch.zeros(b * c, 256, dtype=torch.long).scatter_add_(1, flat, torch.ones_like(flat))
    last = 255 - torch.argmax((hist.flip(1) > 0).long(), dim=1)  # brightest populated bin
    step = (hist.sum(1) - hist.gather(1, last[:, None]).squeeze(1)) // 256
    before = torch.cumsum(hist, 1) - hist  # pixels in the bins below each level
    safe = step.clamp(min=1)[:, None]
    lut = ((safe // 2 + before) // safe).clamp(max=255)
    lut = torch.where((step > 0)[:, None], lut, torch.arange(256).expand_as(lut))
    return lut.gather(1, flat).float().reshape(b, c, h, w)


def _box_radius(sigma: torch.Tensor, passes: int = 3) -> torch.Tensor:
    """PIL's _gaussian_blur_radius: the (fractional) box radius whose `passes` box blurs have std sigma,
    in float32 as PIL computes it."""
    sigma = sigma.float()
    sigma2 = sigma * sigma / passes
    big_l = torch.sqrt(12.0 * sigma2.double() + 1.0).float()
    l_int = torch.floor((big_l.double() - 1.0) / 2.0).float()
    a = (2 * l_int + 1) * (l_int * (l_int + 1) - 3 * sigma2)
    a = a / (6 * (sigma2 - (l_int + 1) * (l_int + 1)))
    return l_int + a


def _box_pass(x: torch.Tensor, radius: torch.Tensor, width: int) -> torch.Tensor:
    """One horizontal box-blur pass of PIL (fixed-point weights, edge pixels repeated), per-sample radius.
    Exact integer arithmetic in float64."""
    r_int = radius.floor()
    ww = torch.floor(float(1 << 24) / (radius * 2 + 1)).double()
    fw = torch.floor(((1 << 24) - (r_int.double() * 2 + 1) * ww) / 2)
    reach = int(r_int.max().item()) + 1
    b, c, h, w = x.shape
    pad = F.pad(x.double().reshape(b, c * h, w), (reach, reach), mode="replicate").reshape(
        b, c, h, w + 2 * reach
    )
    acc = torch.zeros_like(x, dtype=torch.float64)
    for k in range(-reach, reach + 1):
        tap = pad[..., reach + k: reach + k + width]
        weight = torch.where(abs(k) <= r_int.double(), ww, torch.where(abs(k) == r_int.double() + 1, fw, 0.0))
        acc += weight.view(-1, 1, 1, 1) * tap
    return torch.floor((acc + (1 << 23)) / (1 << 24)).float()


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, passes: int = 3) -> torch.Tensor:
    """PIL's ImageFilter.GaussianBlur(radius=sigma): `passes` box blurs along the width, then along the
    height, rounded after each pass."""
    radius = _box_radius(sigma, passes)
    for _ in range(passes):
        x = _box_pass(x, radius, x.shape[-1])
    x = x.transpose(-1, -2)
    for _ in range(passes):
        x = _box_pass(x, radius, x.shape[-1])
    return x.transpose(-1, -2).contiguous()


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """0..255 pixels -> (x / 255 - mean) / std per channel, float32 contiguous; grey images are
    replicated to the channels of mean/std (PIL's convert("RGB"))."""
    m = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
    return torch.addcmul(-m / s, x, 1.0 / (255.0 * s)).contiguous()  # one pass; broadcasts grey to 3 channels


__all__ = ["adjust_brightness", "adjust_contrast", "adjust_hue", "adjust_saturation", "blend", "equalize",
           "gaussian_blur", "luma", "normalize", "resample_weights", "resize_center_crop", "resized_crop",
           "solarize"]
