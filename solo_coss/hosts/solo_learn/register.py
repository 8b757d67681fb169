"""Registering the CO methods and the RF-ResNet family into an installed solo-learn."""

from __future__ import annotations

from solo_coss.backbones import VARIANTS, build_backbone

INSTALL_HINT = ("solo-learn is not installed: git clone https://github.com/vturrisi/solo-learn, then "
                "pip install 'setuptools<81' && pip install --no-build-isolation -e solo-learn")
_REGISTERED: dict[str, type] = {}


def require_solo():
    try:
        import solo.methods  # noqa: F401
    except ImportError as err:
        raise ValueError(f"{INSTALL_HINT} ({err})") from err
    return solo.methods


def _backbone_factory(name: str):
    def factory(method=None, **kwargs):
        return build_backbone(name, **kwargs)

    factory.__name__ = name
    return factory


def register() -> dict[str, type]:
    """Add co_byol, co_simclr, co_mocov3, co_dino to solo.methods.METHODS and the RF-ResNets to
    BaseMethod._BACKBONES. Idempotent; returns the CO classes."""
    methods = require_solo()
    from solo.methods.base import BaseMethod

    from solo_coss.hosts.solo_learn.methods import build_classes

    if not _REGISTERED:
        _REGISTERED.update(build_classes())
    methods.METHODS.update(_REGISTERED)
    for name in VARIANTS:  # none starts with "resnet": solo rewrites the stem of those on CIFAR
        BaseMethod._BACKBONES.setdefault(name, _backbone_factory(name))
    return dict(_REGISTERED)
