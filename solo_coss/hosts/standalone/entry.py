"""What the console scripts run on the standalone host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_only

from solo_coss.analysis.frozen_eval import extract_features, knn_top1
from solo_coss.core import check_keys, naming, refuse
from solo_coss.data.loaders import build_eval_dataloaders
from solo_coss.data.transforms import pretrain_crop_size
from solo_coss.hosts.pretrained import checkpoint_of, load_identified, progress_note
from solo_coss.hosts.standalone.config import check_knn, evaluation_data, load_config, to_plain
from solo_coss.hosts.standalone.linear import run_linear
from solo_coss.hosts.standalone.pretrain import run_pretrain

KNN_KEYS = (
    "name",
    "pretrained_feature_extractor",
    "data",
    "optimizer",
    "knn",
    "output",
    "seed",
    "accelerator",
    "devices",
    "crop_size",
    "defaults",
    "hydra",
)
KNN_BLOCK = ("k", "T", "distance_func")


def pretrain(config_path: str, config_name: str, overrides: list[str]) -> Path:
    out = run_pretrain(load_config(config_path, config_name, overrides))
    if rank_zero_only.rank == 0:  # another DDP rank's folder is rank 0's
        last = f"last checkpoint: {out / 'last.ckpt'}; " if (out / "last.ckpt").is_file() else ""
        print(f"run folder: {out}  ({last}{out.parent / 'latest'} points at it)")
    return out


def linear(config_path: str, config_name: str, overrides: list[str]) -> dict[str, Any]:
    """solo-learn's linear evaluation (main_linear's schema and semantics) on the standalone host."""
    metrics = run_linear(load_config(config_path, config_name, overrides))
    if rank_zero_only.rank != 0:  # rank 0 writes and reports the head
        return metrics
    print(f"linear evaluation: val top-1 {metrics.get('val_acc1', float('nan')):.2f}%  "
          f"top-5 {metrics.get('val_acc5', float('nan')):.2f}% (backbone of step "
          f"{metrics['checkpoint'].get('global_step')}{progress_note(metrics['checkpoint'])})  head saved to "
          f"{metrics['head']}")
    return metrics


def knn(config_path: str, config_name: str, overrides: list[str]) -> dict[str, float]:
    """Weighted kNN top-1 on frozen features for every (k, T, distance) of the config's knn block."""
    cfg = to_plain(load_config(config_path, config_name, overrides))
    check_keys("the kNN config", cfg, KNN_KEYS)
    knn_cfg = cfg.get("knn") or {}
    check_keys("knn", knn_cfg, KNN_BLOCK)
    distances, ks, temperatures = (as_list(knn_cfg.get(key, default)) for key, default in
                                   (("distance_func", "cosine"), ("k", 20), ("T", 0.07)))
    for distance in distances:
        check_knn("knn", ks, temperatures, distance)
    ckpt = cfg.get("pretrained_feature_extractor")
    if not ckpt:
        raise ValueError("set pretrained_feature_extractor=PATH (a checkpoint or run folder of either host)")
    with naming("pretrained_feature_extractor", ckpt):
        backbone, pre_cfg, source = load_identified(ckpt)
    data = evaluation_data(pre_cfg["data"], cfg.get("data"), f"{ckpt} was pretrained on unlabelled images "
                           "(data.no_labels); kNN needs labelled folders (<class>/<image>): add "
                           "+data.train_path=DIR (and +data.val_path=DIR)")
    device = (
        "cuda"
        if torch.cuda.is_available() and cfg.get("accelerator", "auto") in ("auto", "gpu", "cuda")
        else "cpu"
    )
    batch = int((cfg.get("optimizer") or {}).get("batch_size", 256))
    crop = cfg.get("crop_size") or pretrain_crop_size(pre_cfg["augmentations"])
    train_loader, val_loader = build_eval_dataloaders(data, batch, crop_size=crop)
    bank = len(train_loader.dataset) if hasattr(train_loader, "dataset") else train_loader.num_samples  # DALI
    for k in ks:
        if k > bank:
            refuse("knn.k", k, f"at most the bank's size: {bank} training images (data.fraction="
                   f"{data.get('fraction')}); a larger k weighs every image of the bank")
    xtr, ytr = extract_features(backbone, train_loader, device, "train features")
    xva, yva = extract_features(backbone, val_loader, device, "val features")
    results = {}
    for distance in distances:
        for k in ks:
            for t in temperatures if distance == "cosine" else [None]:
                key = f"k={k},T={t},{distance}" if t is not None else f"k={k},{distance}"
                results[key] = knn_top1(
                    xtr,
                    ytr,
                    xva,
                    yva,
                    k=int(k),
                    temperature=0.07 if t is None else float(t),
                    device=device,
                    distance=distance,
                )
                print(f"kNN {key}: top-1 {results[key]:.2f}%")
    out = Path(cfg.get("output") or checkpoint_of(ckpt).parent / "knn.json")
    kept = keep_results(out, source, results)
    print(f"kNN results written to {out} (step {source['global_step']}{progress_note(source)}"
          f"{f'; {kept}' if kept else ''})")
    return results


def keep_results(out: Path, source: dict[str, Any], results: dict[str, float]) -> str:
    """Write ``out`` with ``results`` and the earlier results of the same checkpoint (one per k, T, distance;
    a new one replaces its earlier value); results of another checkpoint are dropped. Returns what was kept
    or dropped, for the log line."""
    earlier = json.loads(out.read_text()) if out.is_file() else {}
    same = (earlier.get("checkpoint") or {}).get("backbone_sha256") == source["backbone_sha256"]
    older = {k: v for k, v in (earlier.get("top1") or {}).items() if k not in results}
    top1 = {**(older if same else {}), **results}
    out.write_text(json.dumps({"checkpoint": source, "top1": top1}, indent=2))
    if not older:
        return ""
    if same:
        return f"kept {len(older)} earlier result(s) of this checkpoint"
    return (f"dropped {len(older)} earlier result(s) of another checkpoint (step "
            f"{(earlier.get('checkpoint') or {}).get('global_step')})")


def as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
