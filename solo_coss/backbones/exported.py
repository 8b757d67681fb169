"""A backbone as a weights file timm loads: ``NAME.safetensors`` under the keys of the backbone's timm twin
(``timm_twins``), and ``NAME.json`` beside it (also in the file's metadata): ``build_backbone``'s name and
kwargs, what the weights came from, and the ``timm`` block, the twin's name and kwargs and a pretrained_cfg
(the file, input size, mean, std, interpolation, crop, number of classes) for

    spec = json.load(open("NAME.json"))["timm"]
    model = timm.create_model(spec["model"], pretrained=True, pretrained_cfg_overlay=spec["pretrained_cfg"],
                              **spec["kwargs"])

A backbone without a twin (a torchvision ResNet with the CIFAR stem or a head MLP, a PoolFormer with
non-default layers) is written under our own keys, with ``"timm": null`` and the reason; every export loads
back through ``load_exported_backbone``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from solo_coss.backbones.timm_twins import TimmTwin, timm_twin
from solo_coss.core.keys import refuse

FORMAT = "solo-coss-backbone/2"


def spec_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def network_of(backbone: nn.Module) -> nn.Module:
    """What the twin's keys describe: the wrapped network (``LocalMapBackbone.net``) or the backbone."""
    return getattr(backbone, "net", backbone)


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_backbone(backbone: nn.Module, name: str, kwargs: dict[str, Any], path: str | Path,
                  source: dict[str, Any] | None = None, preprocessing: dict[str, Any] | None = None,
                  head: nn.Linear | None = None) -> tuple[Path, Path]:
    """Write ``path`` (.safetensors, the file mode the umask gives, as for any new file) and its .json.

    Args:
        backbone: a ``build_backbone`` model holding the weights.
        name, kwargs: ``build_backbone``'s arguments that rebuild it.
        source: what the weights came from (run, method, dataset, ...), recorded in the .json.
        preprocessing: pretrained_cfg entries (input_size, mean, std, interpolation, crop_pct, crop_mode).
        head: a linear classifier on ``backbone(x)``, written as the twin's classifier (num_classes = its
            outputs); None: a headless model (num_classes 0).

    Returns:
        The paths of the weights and of the .json.
    """
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"--out {path}: name the file *.safetensors")
    twin = timm_twin(name, kwargs)
    state = dict(network_of(backbone).state_dict())
    timm_block: dict[str, Any] | None = None
    if isinstance(twin, TimmTwin):
        state = {twin.rename(k): v for k, v in state.items()}
        if head is not None:
            state.update({f"{twin.classifier}.weight": head.weight, f"{twin.classifier}.bias": head.bias})
        cfg = {**(preprocessing or {}), "num_classes": head.out_features if head is not None else 0,
               "classifier": twin.classifier, "file": str(path.resolve())}
        timm_block = {"model": twin.model, "kwargs": twin.kwargs, "pretrained_cfg": cfg,
                      "import_solo_coss": twin.needs_solo_coss, **({"note": twin.note} if twin.note else {})}
    elif head is not None:
        refuse("--head", (source or {}).get("head"), f"{twin}; export the backbone alone")
    spec = {"format": FORMAT, "name": name, "kwargs": kwargs, "keys": "timm" if timm_block else "solo-coss",
            "timm": timm_block, **({} if timm_block else {"no_timm_twin": twin}),
            "num_features": getattr(backbone, "num_features", None), **(source or {})}
    text = json.dumps(spec, indent=2, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(save(_tensors(state), metadata={"solo_coss": text}))
    spec_path(path).write_text(text + "\n")
    return path, spec_path(path)


def load_exported_backbone(path: str | Path) -> nn.Module:
    """The backbone a ``save_backbone`` file holds, built with ``build_backbone``, in eval mode (a classifier
    in the file is left out: this is the backbone alone)."""
    from safetensors.torch import load_file

    from solo_coss.backbones import build_backbone

    spec = json.loads(spec_path(path).read_text())
    model = build_backbone(spec["name"], **spec["kwargs"])
    state = load_file(str(path))
    network = network_of(model)
    if spec.get("keys") == "timm":
        twin = timm_twin(spec["name"], spec["kwargs"])
        state = {ours: state[twin.rename(ours)] for ours in network.state_dict()}
    network.load_state_dict(state)
    return model.eval()
