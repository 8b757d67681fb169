"""Shared by several test files: a deterministic augmentation pipeline, tiny-run overrides, run folders."""

from pathlib import Path


def plain_pipeline(crop_size: int, num_crops: int = 1, **overrides) -> dict:
    """A pipeline with every random op off (deterministic: resize + center crop)."""
    cfg = {"rrc": {"enabled": False, "crop_min_scale": 0.08, "crop_max_scale": 1.0},
           "color_jitter": {"prob": 0.0, "brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1},
           "grayscale": {"prob": 0.0}, "gaussian_blur": {"prob": 0.0}, "solarization": {"prob": 0.0},
           "equalization": {"prob": 0.0}, "horizontal_flip": {"prob": 0.0},
           "crop_size": crop_size, "num_crops": num_crops}
    for key, value in overrides.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    return cfg


def latest_run(checkpoint_dir: Path, name: str) -> Path:
    """The run folder a pretraining of ``name`` with ``checkpoint.dir=checkpoint_dir`` wrote last."""
    return (Path(checkpoint_dir) / name / "latest").resolve()


# A pretraining run of a few seconds on a sliver of Fashion-MNIST with a quarter-width rf29_resnet18.
TINY_OVERRIDES = [
    "data.fraction=0.004",
    "data.val_fraction=0.01",
    "data.num_workers=0",
    "optimizer.batch_size=32",
    "backbone.kwargs.widths=[8,16,32,64]",
    "method_kwargs.proj_hidden_dim=32",
    "method_kwargs.pred_hidden_dim=32",
    "+enable_progress_bar=false",
]


def above_chance(num_classes: int, num_images: int, z: float = 4.0) -> float:
    """An accuracy (%) that guessing among ``num_classes`` balanced classes exceeds on ``num_images`` images
    with probability below 1e-4: chance plus ``z`` binomial standard errors. A test asserts a trained (or
    merely non-constant) model's accuracy is above it."""
    p = 1 / num_classes
    return 100 * (p + z * (p * (1 - p) / num_images) ** 0.5)


def written_run(base: Path, step: int = 7, planned: int = 7, head: bool = False,
                overrides: tuple[str, ...] = ()) -> Path:
    """A standalone run as solo-coss-pretrain leaves it, without training: ``<base>/<id>/`` holding last.ckpt
    (the tiny co_byol config's freshly built backbone, at ``step``), config.json, train_time.json (finished
    when ``step == planned``), ``latest`` pointing at it, and with ``head`` a linear_head.pt trained on
    nothing. Fast enough for the default suite."""
    import json

    import torch
    from torch import nn

    from solo_coss.hosts.pretrained import checkpoint_identity
    from solo_coss.hosts.standalone.checkpoints import BACKBONE_PREFIX, save_linear
    from solo_coss.hosts.standalone.config import (
        backbone_from_config,
        load_config,
        record,
        resolve_pretrain_config,
    )
    from solo_coss.hosts.standalone.run_folder import choose_run, open_run, point_latest

    root = Path(__file__).resolve().parents[1]
    cfg = resolve_pretrain_config(load_config(str(root / "scripts/pretrain/fashion-mnist"), "co_byol.yaml",
                                              [*TINY_OVERRIDES, "max_epochs=1", *overrides]))
    run = choose_run(Path(base), cfg, {"enabled": False}, None)
    open_run(run, cfg)
    torch.manual_seed(step)
    backbone = backbone_from_config(cfg)
    state = {BACKBONE_PREFIX + k: v for k, v in backbone.state_dict().items()}
    torch.save(
        {"state_dict": state, "hyper_parameters": {"cfg": record(cfg)}, "global_step": step, "epoch": 0},
        run.path / "last.ckpt",
    )
    (run.path / "train_time.json").write_text(json.dumps({
        "seconds": 1.0, "global_step": step, "finished": step == planned,
        "parts": [{"seconds": 1.0, "from_step": 0, "to_step": step, "planned_steps": planned,
                   "status": "finished" if step == planned else "killed"}]}))
    point_latest(run.path)
    if head:
        ckpt = run.path / "last.ckpt"
        source = checkpoint_identity(ckpt, backbone.eval(), {"global_step": step, "epoch": 0})
        save_linear(run.path / "linear_head.pt", nn.Linear(backbone.num_features, 10), ckpt, record(cfg),
                    {"val_top1": 10.0}, source, run=run.path)
    return run.path
