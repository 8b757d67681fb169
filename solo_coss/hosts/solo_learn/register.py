"""Registering the CO methods and the RF-ResNet family into an installed solo-learn."""

from __future__ import annotations

from solo_coss.backbones import VARIANTS, build_backbone

INSTALL_HINT = ("solo-learn is not installed: git clone https://github.com/vturrisi/solo-learn, then "
                "pip install 'setuptools<81' && pip install --no-build-isolation -e solo-learn")


def require_solo():
    try:
        import solo.methods  # noqa: F401
    except ImportError as err:
        raise ValueError(f"{INSTALL_HINT} ({err})") from err
    return solo.methods


class BackboneFactory:
    """solo-learn's backbone-factory interface (``factory(method, **kwargs)``) for one of our names; an
    object rather than a closure because solo-learn keeps it on the model, which must stay picklable."""

    def __init__(self, name: str):
        self.__name__ = self.name = name

    def __call__(self, method=None, **kwargs):
        return build_backbone(self.name, **kwargs)


def register() -> dict[str, type]:
    """Add co_byol, co_simclr, co_mocov3, co_dino to solo.methods.METHODS and the RF-ResNets to
    BaseMethod._BACKBONES. Idempotent; returns the CO classes."""
    methods = require_solo()
    from solo.methods.base import BaseMethod

    from solo_coss.hosts.solo_learn.methods import CO_CLASSES

    methods.METHODS.update(CO_CLASSES)
    for name in VARIANTS:  # none starts with "resnet": solo rewrites the stem of those on CIFAR
        BaseMethod._BACKBONES.setdefault(name, BackboneFactory(name))
    return dict(CO_CLASSES)
