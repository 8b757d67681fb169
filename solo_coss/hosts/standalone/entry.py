"""What the console scripts run on the standalone host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from solo_coss.analysis.frozen_eval import extract_features, knn_top1, top1, train_linear_probe
from solo_coss.data.loaders import build_eval_dataloaders
from solo_coss.data.transforms import pretrain_crop_size
from solo_coss.hosts.standalone.checkpoints import load_backbone, save_linear
from solo_coss.hosts.standalone.config import _check, load_config, to_plain
from solo_coss.hosts.standalone.pretrain import run_pretrain

EVAL_KEYS = ("name", "pretrained_feature_extractor", "backbone", "data", "optimizer", "max_epochs", "knn",
             "output", "seed", "accelerator", "devices", "crop_size", "defaults", "hydra", "precision")


def pretrain(config_path: str, config_name: str, overrides: list[str]) -> Path:
    out = run_pretrain(load_config(config_path, config_name, overrides))
    print(f"run folder: {out}  (last checkpoint: {out / 'last.ckpt'})")
    return out


def _eval_setup(config_path: str, config_name: str, overrides: list[str]):
    cfg = to_plain(load_config(config_path, config_name, overrides))
    _check("the evaluation config", cfg, EVAL_KEYS)
    ckpt = cfg.get("pretrained_feature_extractor")
    if not ckpt:
        raise ValueError("set pretrained_feature_extractor=PATH/TO/last.ckpt")
    backbone, pre_cfg = load_backbone(ckpt)
    data = {**pre_cfg["data"], **(cfg.get("data") or {})}
    if data.pop("no_labels", False) and "train_path" not in (cfg.get("data") or {}):
        raise ValueError(f"{ckpt} was pretrained on unlabelled images (data.no_labels); the linear probe and "
                         "kNN need labelled folders (<class>/<image>): add +data.train_path=DIR (and "
                         "+data.val_path=DIR)")
    device = "cuda" if torch.cuda.is_available() and cfg.get("accelerator", "auto") in ("auto", "gpu", "cuda") \
        else "cpu"
    batch = int((cfg.get("optimizer") or {}).get("batch_size", 256))
    crop = cfg.get("crop_size") or pretrain_crop_size(pre_cfg["augmentations"])
    train_loader, val_loader = build_eval_dataloaders(data, batch, crop_size=crop)
    train = extract_features(backbone, train_loader, device, "train features")
    val = extract_features(backbone, val_loader, device, "val features")
    return cfg, ckpt, backbone, pre_cfg, train, val, device


def linear(config_path: str, config_name: str, overrides: list[str]) -> dict[str, Any]:
    """Linear probe on frozen features; saves the head (for solo-coss-robustness) and its metrics."""
    cfg, ckpt, backbone, pre_cfg, (xtr, ytr), (xva, yva), device = _eval_setup(config_path, config_name, overrides)
    opt = cfg.get("optimizer") or {}
    num_classes = int(max(ytr.max(), yva.max())) + 1
    head = train_linear_probe(xtr, ytr, num_classes, epochs=int(cfg.get("max_epochs", 30)),
                              lr=float(opt.get("lr", 0.1)), weight_decay=float(opt.get("weight_decay", 0.0)),
                              batch_size=int(opt.get("batch_size", 256)), seed=int(cfg.get("seed", 0)),
                              device=device)
    metrics = {"train_top1": top1(head, xtr, ytr), "val_top1": top1(head, xva, yva)}
    out = Path(cfg.get("output") or Path(ckpt).parent / "linear_head.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_linear(out, head, ckpt, pre_cfg, metrics)
    print(f"linear probe of {ckpt}: val top-1 {metrics['val_top1']:.2f}% (train {metrics['train_top1']:.2f}%)"
          f"  head saved to {out}")
    return metrics


def knn(config_path: str, config_name: str, overrides: list[str]) -> dict[str, float]:
    """Weighted kNN top-1 for every (k, T) of the config's knn block."""
    cfg, ckpt, _, _, (xtr, ytr), (xva, yva), device = _eval_setup(config_path, config_name, overrides)
    knn_cfg = cfg.get("knn") or {}
    ks = knn_cfg.get("k", [20])
    temps = knn_cfg.get("T", [0.07])
    results = {}
    for k in ks if isinstance(ks, list) else [ks]:
        for t in temps if isinstance(temps, list) else [temps]:
            results[f"k={k},T={t}"] = knn_top1(xtr, ytr, xva, yva, k=int(k), temperature=float(t), device=device)
            print(f"kNN k={k} T={t}: top-1 {results[f'k={k},T={t}']:.2f}%")
    out = Path(cfg.get("output") or Path(ckpt).parent / "knn.json")
    out.write_text(json.dumps(results, indent=2))
    return results
