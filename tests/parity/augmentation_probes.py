"""Probes that read the random parameters of an augmentation pipeline back from the views it makes.

A probe is one YAML pipeline with every op but a few switched off, run on a designed input image from which
the drawn parameters can be read back out of the view:

- crop:   random-resized crop alone (output 32 px: the crop box does not depend on the output size) on a
          coordinate ramp (red = 8x or x, green = 8y or y): a straight-line fit of the ramp over the middle
          half of the view gives the crop box -> area fraction, log aspect ratio, box centre.
- coins:  grayscale, solarization, equalization, flip on a coloured, left-right asymmetric image: every
          view must equal exactly one of the 16 outcomes PIL gives for the coin flips, which gives the four
          coins; anything else (e.g. another solarization threshold) is counted as `unmatched`.
- blur:   Gaussian blur alone on a one-pixel vertical line: blurred or not, and the blur's sigma as the
          spread (second moment) of the blurred line (PIL's box-blur Gaussian has that variance).
- bc:     colour jitter with brightness and contrast only, on a grey image half 32 / half 96: the two
          ops commute on grey, out = b * (64 +- 32 c), so b and c are read from the two halves.
- sh:     colour jitter with saturation and hue only, on one colour (180, 80, 110): saturation scales
          max - min, hue rotation keeps it and saturation keeps the HSV hue, so both are read in either order.
- full:   the YAML pipeline as it is, on fixed images: per-channel mean and std of the normalised view.

Views come in normalised; the probes other than `full` run with mean 0 and std 1, so pixels = view x 255.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

JITTER_OFF = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}
COINS = ("grayscale", "solarization", "equalization", "horizontal_flip")
PROBE_SIZE = {"crop": 32, "coins": 32, "blur": 20, "bc": 16, "sh": 16}
SH_COLOUR = (180, 80, 110)


@dataclass(frozen=True)
class Quantity:
    """Histogram bins of one read-back quantity; values outside [lo, hi] fall in the end bins."""

    lo: float
    hi: float
    bins: int
    binary: bool = False

    def histogram(self, values: np.ndarray) -> np.ndarray:
        """Counts per bin; NaN (not read: the coins of an unmatched view) is left out."""
        values = np.asarray(values, dtype=np.float64)
        width = (self.hi - self.lo) / self.bins
        index = np.clip(np.floor((values[~np.isnan(values)] - self.lo) / width), 0, self.bins - 1)
        return np.bincount(index.astype(np.int64), minlength=self.bins)

    def centres(self) -> np.ndarray:
        return self.lo + (np.arange(self.bins) + 0.5) * (self.hi - self.lo) / self.bins


BINARY = Quantity(-0.5, 1.5, 2, binary=True)
QUANTITIES = {
    "crop": {"area": Quantity(0.0, 1.0, 50), "log_ratio": Quantity(-0.4, 0.4, 40),
             "centre_x": Quantity(0.0, 1.0, 20), "centre_y": Quantity(0.0, 1.0, 20)},
    "coins": {**{coin: BINARY for coin in COINS}, "unmatched": BINARY},
    "blur": {"blurred": BINARY, "sigma": Quantity(0.0, 3.0, 60)},
    "bc": {"brightness": Quantity(0.0, 2.0, 80), "contrast": Quantity(0.0, 2.0, 80)},
    "sh": {"saturation": Quantity(0.0, 2.0, 80), "hue": Quantity(-0.5, 0.5, 100)},
    "full": {**{f"mean_{c}": Quantity(-3.0, 3.0, 120) for c in "rgb"},
             **{f"std_{c}": Quantity(0.0, 3.0, 60) for c in "rgb"}},
}


def isolate(pipeline: dict, kind: str) -> dict:
    """The YAML pipeline with every op but those `kind` reads switched off (mean 0 / std 1, small crop)."""
    if kind == "full":
        return pipeline
    out = {key: dict(value) if isinstance(value, dict) else value for key, value in pipeline.items()}
    cj = out["color_jitter"]
    for block in ("grayscale", "gaussian_blur", "solarization", "equalization", "horizontal_flip"):
        if not (kind == "coins" and block in COINS or kind == "blur" and block == "gaussian_blur"):
            out[block]["prob"] = 0.0
    if kind in ("bc", "sh"):
        kept = ("brightness", "contrast") if kind == "bc" else ("saturation", "hue")
        out["color_jitter"] = {**cj, **{k: v for k, v in JITTER_OFF.items() if k not in kept}}
        if all(out["color_jitter"][k] == 0 for k in kept):
            out["color_jitter"]["prob"] = 0.0
    else:
        out["color_jitter"] = {"prob": 0.0, **JITTER_OFF}
    if kind != "crop":
        out["rrc"] = {"enabled": False, "crop_min_scale": 0.08, "crop_max_scale": 1.0}
    out["crop_size"], out["num_crops"] = PROBE_SIZE[kind], 1
    out["mean"], out["std"] = [0.0] * 3, [1.0] * 3
    return out


def is_off(pipeline: dict, kind: str) -> bool:
    """The probe's ops are all off in this pipeline: every view equals the input (a point mass)."""
    if kind == "crop":
        return not pipeline["rrc"]["enabled"]
    if kind in ("bc", "sh"):
        return pipeline["color_jitter"]["prob"] == 0
    if kind == "blur":
        return pipeline["gaussian_blur"]["prob"] == 0
    if kind == "coins":
        return all(pipeline[c]["prob"] == 0 for c in COINS)
    return False


# ---------------------------------------------------------------- designed images

def ramp_image(size: int) -> np.ndarray:
    step = max(1, 255 // (size - 1))
    x = np.arange(size) * step
    img = np.full((size, size, 3), 128, np.uint8)
    img[..., 0], img[..., 1] = x[None, :], x[:, None]
    return img


def coins_image() -> np.ndarray:
    rng = np.random.default_rng(20)
    img = rng.integers(0, 200, (32, 32, 3), dtype=np.uint8)
    img[:, :8, 0] = 250  # a red band on the left: flips show
    img[0, 4:8] = [[127, 127, 127], [128, 128, 128], [126, 129, 127], [129, 126, 128]]  # the threshold
    return img


def line_image() -> np.ndarray:
    size = PROBE_SIZE["blur"]
    img = np.zeros((size, size, 3), np.uint8)
    img[:, size // 2] = 255
    return img


def bc_image() -> np.ndarray:
    img = np.full((16, 16, 3), 32, np.uint8)
    img[:, 8:] = 96
    return img


def sh_image() -> np.ndarray:
    return np.tile(np.array(SH_COLOUR, np.uint8), (16, 16, 1))


def natural_images(count: int, height: int, width: int, grey: bool, seed: int = 7) -> list[np.ndarray]:
    """Photo-like fixed images: coarse random colours (or greys) upsampled, a bright disk on some."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        coarse = rng.integers(0, 256, (height // 6 + 2, width // 6 + 2, 1 if grey else 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse.squeeze(-1) if grey else coarse)
                         .resize((width, height), Image.BILINEAR)).copy()
        if i % 2:
            yy, xx = np.mgrid[:height, :width]
            img[(yy - height / 2) ** 2 + (xx - width / 3) ** 2 < (min(height, width) / 5) ** 2] = 240
        images.append(img if grey else img.reshape(height, width, 3))
    return images


def probe_images(kind: str, image_size: tuple[int, int], grey: bool) -> list[np.ndarray]:
    """Input images, (H, W, 3) uint8, or (H, W) for the grey data of the `full` probe."""
    if kind == "full":
        return natural_images(8, *image_size, grey=grey)
    return {"crop": lambda: [ramp_image(image_size[0])], "coins": lambda: [coins_image()],
            "blur": lambda: [line_image()], "bc": lambda: [bc_image()], "sh": lambda: [sh_image()]}[kind]()


# ---------------------------------------------------------------- read-backs

def pixels(views: np.ndarray) -> np.ndarray:
    return np.rint(views.astype(np.float64) * 255)


def _line_fit(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (intercept at column 0, slope) of each row of profile (n, S) over its middle half."""
    size = profile.shape[1]
    cols = np.arange(size // 4, 3 * size // 4, dtype=np.float64)
    y = profile[:, size // 4: 3 * size // 4]
    slope = ((cols - cols.mean()) * (y - y.mean(1, keepdims=True))).sum(1) / ((cols - cols.mean()) ** 2).sum()
    return y.mean(1) - slope * cols.mean(), slope


def read_crop(views: np.ndarray, image_size: int) -> dict[str, np.ndarray]:
    """Crop box from the ramp: pixel j of an S-px view samples x = left + (j + 0.5) w / S - 0.5."""
    px, size = pixels(views), views.shape[-1]
    step = max(1, 255 // (image_size - 1))
    boxes = []
    for profile in (px[:, 0].mean(1), px[:, 1].mean(2)):  # red along the columns, green along the rows
        a, b = _line_fit(profile / step)
        extent = b * size
        start = a - 0.5 * b + 0.5
        boxes.append((start, extent))
    (left, w), (top, h) = boxes
    return {"area": w * h / image_size**2, "log_ratio": np.log(w / h),
            "centre_x": (left + w / 2) / image_size, "centre_y": (top + h / 2) / image_size}


def coin_outcomes() -> np.ndarray:
    """(16, 3, 32, 32) views for every combination of the coins, index = sum of 2^i over coins on."""
    base = Image.fromarray(coins_image())
    ops = (lambda im: im.convert("L").convert("RGB"), lambda im: ImageOps.solarize(im, 128),
           ImageOps.equalize, ImageOps.mirror)
    outcomes = []
    for index in range(16):
        img = base
        for bit, op in enumerate(ops):
            if index >> bit & 1:
                img = op(img)
        outcomes.append(np.asarray(img, np.float64).transpose(2, 0, 1))
    outcomes = np.stack(outcomes)
    assert len(np.unique(outcomes.reshape(16, -1), axis=0)) == 16, (
        "the coins image must tell all outcomes apart"
    )
    return outcomes


def read_coins(views: np.ndarray) -> dict[str, np.ndarray]:
    px = pixels(views).reshape(len(views), 1, -1)
    match = (px == coin_outcomes().reshape(1, 16, -1)).all(-1)
    index = np.where(match.any(1), match.argmax(1), -1)
    out = {coin: np.where(index >= 0, index >> bit & 1, np.nan) for bit, coin in enumerate(COINS)}
    out["unmatched"] = index < 0
    return out


def read_blur(views: np.ndarray) -> dict[str, np.ndarray]:
    px = pixels(views)
    profile = px[:, 0, px.shape[2] // 2]
    x = np.arange(profile.shape[1], dtype=np.float64)
    mass = profile.sum(1)
    centre = (profile * x).sum(1) / mass
    sigma = np.sqrt((profile * (x[None] - centre[:, None]) ** 2).sum(1) / mass)
    changed = (px != line_image().transpose(2, 0, 1)[None]).any((1, 2, 3))
    return {"blurred": changed, "sigma": sigma}


def read_bc(views: np.ndarray) -> dict[str, np.ndarray]:
    px = pixels(views)[:, 0]
    half = px.shape[-1] // 2
    dark, light = px[..., :half].mean((1, 2)), px[..., half:].mean((1, 2))
    brightness = (dark + light) / 128
    return {"brightness": brightness, "contrast": (light - dark) / (64 * np.maximum(brightness, 1e-9))}


def hsv_hue(rgb: np.ndarray) -> np.ndarray:
    """PIL's 8-bit HSV hue of (n, 3) uint8 colours."""
    return np.asarray(Image.fromarray(rgb.astype(np.uint8)[None]).convert("HSV"), np.int64)[0, :, 0]


def read_sh(views: np.ndarray) -> dict[str, np.ndarray]:
    colour = pixels(views).mean((2, 3))
    spread = colour.max(1) - colour.min(1)
    shift = hsv_hue(colour) - hsv_hue(np.array([SH_COLOUR]))
    return {
        "saturation": spread / (max(SH_COLOUR) - min(SH_COLOUR)),
        "hue": ((shift + 128) % 256 - 128) / 255,
    }


def read_full(views: np.ndarray) -> dict[str, np.ndarray]:
    v = views.astype(np.float64)
    out = {f"mean_{c}": v[:, i].mean((1, 2)) for i, c in enumerate("rgb")}
    out.update({f"std_{c}": v[:, i].std((1, 2)) for i, c in enumerate("rgb")})
    return out


def read_back(kind: str, views: np.ndarray, image_size: tuple[int, int]) -> dict[str, np.ndarray]:
    if kind == "crop":
        return read_crop(views, image_size[0])
    return {"coins": read_coins, "blur": read_blur, "bc": read_bc, "sh": read_sh, "full": read_full}[kind](
        views
    )
