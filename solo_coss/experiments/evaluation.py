"""What a comparison measures on one pretrained backbone: weighted kNN and a linear probe on frozen
features, a robustness summary and the local-redundancy numbers, all on fixed validation images."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from solo_coss.analysis import redundancy as red
from solo_coss.analysis import robustness as rob
from solo_coss.analysis.frozen_eval import extract_features, knn_top1, top1, train_linear_probe
from solo_coss.data.datasets import dataset_stats
from solo_coss.data.loaders import build_eval_dataloaders
from solo_coss.data.transforms import pretrain_crop_size
from solo_coss.experiments.eval_images import eval_images
from solo_coss.hosts.standalone.precision import resolve_precision

# (family, level): ImageNet-C Gaussian noise severity 3 and 5, L-inf PGD with eps 1/255 and 4/255, a grey
# square over 30% of the image.
ROBUST_CONDITIONS = (("gaussian_noise", 3), ("gaussian_noise", 5), ("pgd", 1), ("pgd", 4), ("occlusion", 0.3))


@dataclass
class EvalOptions:
    eval_fraction: float = 0.2       # training images used as kNN bank and linear-probe training set
    eval_val_fraction: float = 1.0   # validation images for kNN and linear top-1
    linear_epochs: int = 30
    robust_images: int = 500         # validation images for robustness and redundancy (0: skip both)
    seed: int = 0


def metric_name(family: str, level: float) -> str:
    unit = {"gaussian_noise": "s", "pgd": "eps", "occlusion": ""}[family]
    return f"robust_{family}_{unit}{level:g}"


METRICS = ("knn_top1", "linear_top1", "robust_clean", *(metric_name(f, lv) for f, lv in ROBUST_CONDITIONS),
           "redundancy_pearson", "redundancy_intra_sim")


def conditions() -> list[rob.Condition]:
    build = {
        "gaussian_noise": lambda lv: rob.noise("gaussian_noise", int(lv)),
        "pgd": lambda lv: rob.attack("pgd", lv),
        "occlusion": rob.occlusion,
    }
    return [rob.Condition("clean", 0, lambda x, y, m, g: x)] + \
        [rob.Condition(f, lv, build[f](lv)) for f, lv in ROBUST_CONDITIONS]


def forward_precision(backbone, cfg: dict):
    """The forward passes of the evaluation in the precision and layout the run trained in: bf16 autocast for
    a bf16 run (``precision: auto`` on a CPU with native bf16), fp32 otherwise; a channels_last backbone
    unless the run set ``performance.disable_channel_last``. Features leave it as fp32; the linear probe,
    kNN and redundancy statistics are computed in fp32."""
    if not (cfg.get("performance") or {}).get("disable_channel_last", False):
        backbone.to(memory_format=torch.channels_last)
    if not str(resolve_precision(cfg.get("precision", 32), "cpu")).startswith("bf16"):
        return nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


def evaluate_backbone(backbone, cfg: dict, options: EvalOptions, desc: str = "") -> dict[str, float]:
    """Every METRICS value (percentages for accuracies) for a backbone and its run's config."""
    backbone.eval()
    data = {k: v for k, v in cfg["data"].items() if k not in ("num_large_crops", "num_small_crops")}
    data.update(fraction=options.eval_fraction, val_fraction=options.eval_val_fraction)
    train_loader, val_loader = build_eval_dataloaders(
        data, 512, crop_size=pretrain_crop_size(cfg["augmentations"])
    )
    with forward_precision(backbone, cfg):
        xtr, ytr = extract_features(backbone, train_loader, desc=f"{desc} train features")
        xva, yva = extract_features(backbone, val_loader, desc=f"{desc} val features")
    head = train_linear_probe(xtr, ytr, int(max(ytr.max(), yva.max())) + 1, epochs=options.linear_epochs,
                              seed=options.seed)
    out = {
        "knn_top1": knn_top1(xtr, ytr, xva, yva, k=20, temperature=0.07),
        "linear_top1": top1(head, xva, yva),
    }
    if options.robust_images:
        x, y = eval_images(cfg, options.robust_images, pixel_space=True)
        model = rob.NormalizedClassifier(backbone, head, *dataset_stats(cfg["data"]["dataset"]))
        batches = [(x[k:k + 100], y[k:k + 100]) for k in range(0, len(x), 100)]
        with forward_precision(backbone, cfg):
            rows = rob.evaluate(model, batches, conditions(), seed=options.seed, desc=f"{desc} robustness")
        for row in rows:
            name = "robust_clean" if row["family"] == "clean" else metric_name(row["family"], row["level"])
            out[name] = row["accuracy"]
        mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in dataset_stats(cfg["data"]["dataset"]))
        stats = red.redundancy(backbone, (x - mean) / std)
        out.update(redundancy_pearson=stats["pearson"], redundancy_intra_sim=stats["intra_image_similarity"])
    return out
