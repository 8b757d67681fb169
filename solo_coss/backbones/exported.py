"""A backbone as a plain weights file for downstream code: ``NAME.safetensors`` (the state dict alone) and
``NAME.json`` beside it (``build_backbone``'s name and kwargs, and what the weights came from). Any family
``build_backbone`` knows round-trips; the RF-ResNets also load through ``timm.create_model``.

    import json, solo_coss, timm; from safetensors.torch import load_file
    spec = json.load(open("backbone.json"))
    model = timm.create_model(spec["name"], **spec["kwargs"]); model.load_state_dict(load_file("backbone.safetensors"))

``keys: torchvision`` files (torchvision ResNets with the ImageNet stem, exported with ``torchvision_keys``)
hold torchvision's own names and load into ``torchvision.models.<name>()`` with ``fc = nn.Identity()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from solo_coss.core.keys import check_choice

FORMAT = "solo-coss-backbone/1"
KEY_STYLES = ("solo-coss", "torchvision")
TORCHVISION_STEM = {"stem.0.": "conv1.", "stem.1.": "bn1."}  # the wrapper's stem -> torchvision's names


def spec_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def torchvision_state(backbone: nn.Module, name: str, kwargs: dict[str, Any]) -> dict:
    """The state dict of a torchvision ResNet wrapper under torchvision's names (``stem.0`` -> ``conv1``)."""
    plain = not kwargs.get("cifar_stem") and kwargs.get("in_chans", 3) == 3 and not kwargs.get("head_mlp_dim")
    if not name.startswith("resnet") or not plain:
        raise ValueError(f"torchvision keys need a torchvision ResNet with its ImageNet stem, 3 input channels and "
                         f"no head MLP; got {name} {kwargs}: export it with solo-coss keys and load it with "
                         "build_backbone")
    state = {}
    for key, value in backbone.state_dict().items():
        prefix = next((p for p in TORCHVISION_STEM if key.startswith(p)), None)
        state[TORCHVISION_STEM[prefix] + key[len(prefix):] if prefix else key] = value
    return state


def save_backbone(backbone: nn.Module, name: str, kwargs: dict[str, Any], path: str | Path,
                  source: dict[str, Any] | None = None, keys: str = "solo-coss") -> tuple[Path, Path]:
    """Write ``path`` (.safetensors) and its .json; returns both paths."""
    from safetensors.torch import save_file

    check_choice("keys", keys, KEY_STYLES)
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"--out {path}: name the file *.safetensors")
    state = torchvision_state(backbone, name, kwargs) if keys == "torchvision" else backbone.state_dict()
    spec = {"format": FORMAT, "name": name, "kwargs": kwargs, "keys": keys,
            "num_features": getattr(backbone, "num_features", None), **(source or {})}
    text = json.dumps(spec, indent=2, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(path), metadata={"solo_coss": text})
    spec_path(path).write_text(text + "\n")
    return path, spec_path(path)


def load_exported_backbone(path: str | Path) -> nn.Module:
    """The backbone a ``save_backbone`` file holds (solo-coss keys), built with ``build_backbone``, in eval mode."""
    from safetensors.torch import load_file

    from solo_coss.backbones import build_backbone

    spec = json.loads(spec_path(path).read_text())
    if spec.get("keys", "solo-coss") != "solo-coss":
        raise ValueError(f"{path} holds torchvision's key names: load it into torchvision.models.{spec['name']}()")
    model = build_backbone(spec["name"], **spec["kwargs"])
    model.load_state_dict(load_file(str(path)))
    return model.eval()
