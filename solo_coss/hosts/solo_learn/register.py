"""Registering the CO methods and our backbones (RF-ResNets, vit_micro) into an installed solo-learn."""

from __future__ import annotations

from solo_coss.backbones import VARIANTS, build_backbone, build_solo_net
from solo_coss.backbones.vit import check_patch_grid

INSTALL_HINT = ("solo-learn is not installed: git clone https://github.com/vturrisi/solo-learn, then "
                "pip install 'setuptools<81' && pip install --no-build-isolation -e solo-learn")
# ours, not solo-learn's; none starts with "resnet" (solo rewrites the stem of those on CIFAR)
EXTRA_BACKBONES = (*VARIANTS, "vit_micro")


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
        if self.name in VARIANTS:
            return build_backbone(self.name, **kwargs)
        return build_solo_net(self.name, method, **kwargs)


class BaseMethodFactory:
    """One of solo-learn's backbone factories, called with a CO method's base method: solo-learn picks the
    ViT by method name, so ``co_mocov3`` (in main_pretrain's ``method`` and main_linear's
    ``pretrain_method``) gets MoCo v3's ViT as ``mocov3`` does. A ViT whose img_size does not divide by its
    patch_size is refused (timm would drop the remainder silently)."""

    def __init__(self, name: str, factory):
        self.__name__ = self.name = name
        self.factory = factory

    def __call__(self, method=None, *args, **kwargs):
        if self.name.startswith("vit"):
            check_patch_grid(self.name, kwargs.get("img_size", 224), kwargs.get("patch_size", 16))
        if isinstance(method, str):
            method = method.removeprefix("co_")
        return self.factory(method, *args, **kwargs)


def register() -> dict[str, type]:
    """Add co_byol, co_simclr, co_mocov3, co_dino to solo.methods.METHODS and our backbones to
    BaseMethod._BACKBONES; solo-learn's own factories give a CO method its base method's ViT. Idempotent;
    returns the CO classes."""
    methods = require_solo()
    from solo.methods.base import BaseMethod

    from solo_coss.hosts.solo_learn.methods import CO_CLASSES

    methods.METHODS.update(CO_CLASSES)
    for name in EXTRA_BACKBONES:
        BaseMethod._BACKBONES.setdefault(name, BackboneFactory(name))
    for name, factory in list(BaseMethod._BACKBONES.items()):
        if not isinstance(factory, (BackboneFactory, BaseMethodFactory)):
            BaseMethod._BACKBONES[name] = BaseMethodFactory(name, factory)
    return dict(CO_CLASSES)
