"""NVIDIA DALI pipelines (pretraining views, linear evaluation) for ImageFolder/JPEG data.

Selected by `data.format: dali`. With CUDA the images are decoded by the "mixed" (GPU) decoder and
augmented on the GPU; without CUDA everything runs on the CPU with the pipeline's device_id=None
(DALI 2.4 refuses device_id=0 on a machine without CUDA). The file list and labels come from
torchvision's ImageFolder scan, so class indices equal the torchvision path's, and `data.fraction`
selects the same stratified subset. Batches have the torchvision loaders' structure:
pretraining (list of views (B, 3, S, S) float32, labels (B,) int64), evaluation (images, labels).

Differences from the torchvision path (see docs/data.md): DALI's color_twist applies brightness,
contrast, saturation, hue in a fixed order (torchvision permutes them randomly) and centres contrast on
mid-grey rather than the image mean; resizing is DALI's cubic filter; grayscale is DALI's
saturation=0 (luma); alpha is dropped rather than composited on white; an undecodable file stops the
pipeline (skip_corrupt is unsupported), and the error names it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from solo_coss.core.distributed import world_info
from solo_coss.data.file_check import check_image_files, name_undecodable
from solo_coss.data.spec import DataSpec
from solo_coss.data.subsets import take_fraction
from solo_coss.data.transforms import BLUR_SIGMAS, SOLARIZE_THRESHOLD, normalize_augmentations

try:
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

    DALI_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the optional extra
    DALI_AVAILABLE = False

READER_NAME = "Reader"


def _require_dali() -> None:
    if not DALI_AVAILABLE:
        raise ImportError("data.format='dali' needs NVIDIA DALI: pip install 'solo-coss[dali]' "
                          "(nvidia-dali-cuda130)")


def _file_list(spec: DataSpec, train: bool, seed: int, shuffle: bool,
               pretraining: bool = False) -> tuple[list[str], list[int]]:
    """Image paths and labels in torchvision ImageFolder order (labels -1 for no_labels folders)."""
    if spec.skip_corrupt:
        raise ValueError("data.skip_corrupt=true is not supported with data.format='dali' "
                         "(DALI stops on a corrupt file); use format='image_folder'")
    no_labels = pretraining and spec.no_labels
    dataset = take_fraction(spec.build(train, None, pretraining=pretraining), spec.fraction_of(train), seed)
    indices = dataset.indices if isinstance(dataset, torch.utils.data.Subset) else range(len(dataset))
    base = dataset.dataset if isinstance(dataset, torch.utils.data.Subset) else dataset
    if no_labels:
        pairs = [(base.files[i], -1) for i in indices]
    else:
        pairs = [base.samples[i] for i in indices]
    check_image_files([p for p, _ in pairs])
    if shuffle:
        # DALI's random_shuffle only mixes within a 1024-sample buffer: start from a permuted list so
        # that batches are not drawn from a handful of (sorted) classes.
        order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed)).tolist()
        pairs = [pairs[i] for i in order]
    return [p for p, _ in pairs], [int(lab) for _, lab in pairs]


def _placement(device: str) -> dict[str, Any]:
    """device_id / sharding for the pipeline: the local GPU and the DDP rank, or None on CPU."""
    rank, world = world_info()
    device_id = int(os.environ.get("LOCAL_RANK", 0)) if device == "gpu" else None
    return {"device_id": device_id, "shard_id": rank, "num_shards": world}


def _coin(p: float):
    return fn.random.coin_flip(probability=float(p), dtype=types.BOOL)


def _uniform(lo: float, hi: float):
    if lo == hi:  # e.g. saturation 0.0: DALI refuses an empty range
        return float(lo)
    return fn.random.uniform(range=[float(lo), float(hi)])


def _view(images, cfg: dict[str, Any], mean: Sequence[float], std: Sequence[float], device: str,
          resize_shorter: int | None = None):
    """One augmented view of decoded uint8 HWC images -> normalised float CHW (crop_size x crop_size).

    Without rrc the short side is resized to `resize_shorter` (default crop_size), then center-cropped.
    """
    size = cfg["crop_size"]
    if cfg["rrc"]["enabled"]:
        area = [cfg["rrc"]["crop_min_scale"], cfg["rrc"]["crop_max_scale"]]
        view = fn.random_resized_crop(images, device=device, size=[size, size], random_area=area,
                                      random_aspect_ratio=[3 / 4, 4 / 3], interp_type=types.INTERP_CUBIC,
                                      antialias=True)
        crop = None
    else:
        view = fn.resize(
            images,
            device=device,
            resize_shorter=resize_shorter or size,
            interp_type=types.INTERP_CUBIC,
            antialias=True,
        )
        crop = (size, size)
    # Two kinds of `if` below: `if cfg[...] > 0` is Python, deciding once whether the op is in the graph at
    # all; `if _coin(p)` is DALI's conditional execution (enable_conditionals), a per-sample coin flip inside
    # the graph. Kept nested so that only the coin flip becomes a DALI conditional (an op with probability 0
    # adds nothing to the graph).
    cj = cfg["color_jitter"]
    if cj["prob"] > 0:
        if _coin(cj["prob"]):
            view = fn.color_twist(view, device=device,
                                  brightness=_uniform(max(0.0, 1 - cj["brightness"]), 1 + cj["brightness"]),
                                  contrast=_uniform(max(0.0, 1 - cj["contrast"]), 1 + cj["contrast"]),
                                  saturation=_uniform(max(0.0, 1 - cj["saturation"]), 1 + cj["saturation"]),
                                  hue=_uniform(-cj["hue"] * 360.0, cj["hue"] * 360.0))
    if cfg["grayscale"]["prob"] > 0:
        if _coin(cfg["grayscale"]["prob"]):
            view = fn.hsv(view, device=device, saturation=0.0)
    if cfg["gaussian_blur"]["prob"] > 0:
        if _coin(cfg["gaussian_blur"]["prob"]):
            view = fn.gaussian_blur(view, device=device, sigma=_uniform(*BLUR_SIGMAS))
    if cfg["solarization"]["prob"] > 0:
        if _coin(cfg["solarization"]["prob"]):
            flip = view >= SOLARIZE_THRESHOLD
            view = fn.cast(flip * (255 - view) + (flip ^ True) * view, dtype=types.UINT8)
    if cfg["equalization"]["prob"] > 0:
        if _coin(cfg["equalization"]["prob"]):
            view = fn.equalize(view, device=device)
    flip_p = cfg["horizontal_flip"]["prob"]
    mirror = fn.random.coin_flip(probability=float(flip_p), dtype=types.INT32) if flip_p > 0 else 0
    return fn.crop_mirror_normalize(view, device=device, dtype=types.FLOAT, output_layout="CHW",
                                    crop=crop, mirror=mirror,
                                    mean=[m * 255 for m in mean], std=[s * 255 for s in std])


def _read_and_decode(files: list[str], labels: list[int], shuffle: bool, device: str, placement: dict):
    jpegs, label = fn.readers.file(files=files, labels=[max(0, lab) for lab in labels],
                                   random_shuffle=shuffle, name=READER_NAME, pad_last_batch=False,
                                   shard_id=placement["shard_id"], num_shards=placement["num_shards"])
    images = fn.decoders.image(jpegs, device="mixed" if device == "gpu" else "cpu", output_type=types.RGB)
    if device == "gpu":
        label = label.gpu()
    return images, label


class DALILoader:
    """Iterates a DALI pipeline as batches of (list of views, labels) or (images, labels).

    Re-iterable (one epoch per `iter`), with `len()` = batches per epoch, like a DataLoader.
    """

    def __init__(self, pipeline, num_views: int | None, files: list[str], batch_size: int,
                 drop_last: bool, unlabeled: bool = False) -> None:
        self.num_views = num_views
        self.batch_size = batch_size
        self.files = files
        self.num_samples = len(files)
        self.drop_last = drop_last
        self.unlabeled = unlabeled
        names = [f"view{i}" for i in range(num_views or 1)] + ["label"]
        policy = LastBatchPolicy.DROP if drop_last else LastBatchPolicy.PARTIAL
        # the first batch is decoded on the first next(), where decoding errors are turned into named files
        self._iterator = DALIGenericIterator(
            pipeline,
            names,
            reader_name=READER_NAME,
            last_batch_policy=policy,
            auto_reset=True,
            prepare_first_batch=False,
        )

    def __len__(self) -> int:
        return len(self._iterator)  # DALI's own count of this shard's batches

    def __iter__(self) -> Iterator[tuple[Any, torch.Tensor]]:
        while True:
            try:
                outputs = next(self._iterator)
            except StopIteration:
                return
            except RuntimeError as err:
                raise name_undecodable(self.files, err) from err
            batch = outputs[0]
            labels = batch["label"].reshape(-1).long()
            if self.unlabeled:
                labels = torch.full_like(labels, -1)
            if self.num_views is None:
                yield batch["view0"], labels
            else:
                yield [batch[f"view{i}"] for i in range(self.num_views)], labels


def build_dali_pretrain_loader(spec: DataSpec, augmentations: Sequence[Mapping], batch_size: int,
                               num_threads: int = 2, seed: int = 0, shuffle: bool = True,
                               drop_last: bool = True) -> DALILoader:
    """DALI twin of the torchvision pretraining loader: the same augmentation schema and batches."""
    _require_dali()
    pipelines = normalize_augmentations(augmentations)
    files, labels = _file_list(spec, True, seed, shuffle, pretraining=True)
    mean, std = spec.mean, spec.std
    device = spec.dali_device or ("gpu" if torch.cuda.is_available() else "cpu")
    placement = _placement(device)
    views_cfg = [p for p in pipelines for _ in range(p["num_crops"])]

    @pipeline_def(enable_conditionals=True)
    def pretrain_pipeline():
        images, label = _read_and_decode(files, labels, shuffle, device, placement)
        views = [_view(images, p, p["mean"] or mean, p["std"] or std, device) for p in views_cfg]
        return (*views, label)

    pipe = pretrain_pipeline(batch_size=batch_size, num_threads=num_threads, device_id=placement["device_id"],
                             seed=seed, prefetch_queue_depth=2)
    pipe.build()
    return DALILoader(pipe, len(views_cfg), files, batch_size, drop_last,
                      unlabeled=all(lab == -1 for lab in labels))


def build_dali_eval_loader(spec: DataSpec, batch_size: int, train: bool,
                           augment: bool, crop_size: int, num_threads: int = 2, seed: int = 0) -> DALILoader:
    """(images, labels) batches; augment: random-resized crop (0.08-1) + flip, else resize + center crop."""
    _require_dali()
    files, labels = _file_list(spec, train, seed, augment)
    mean, std = spec.mean, spec.std
    device = spec.dali_device or ("gpu" if torch.cuda.is_available() else "cpu")
    placement = _placement(device)
    view_cfg = normalize_augmentations([{
        "crop_size": crop_size,
        "rrc": {"enabled": augment},
        "horizontal_flip": {"prob": 0.5 if augment else 0.0},
    }])[0]
    resize = round(crop_size / 0.875) if crop_size >= 128 else crop_size

    @pipeline_def(enable_conditionals=True)
    def eval_pipeline():
        images, label = _read_and_decode(files, labels, augment, device, placement)
        return _view(images, view_cfg, mean, std, device, resize_shorter=resize), label

    pipe = eval_pipeline(batch_size=batch_size, num_threads=num_threads, device_id=placement["device_id"],
                         seed=seed, prefetch_queue_depth=2)
    pipe.build()
    return DALILoader(pipe, None, files, batch_size, drop_last=False)
