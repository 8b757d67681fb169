"""solo-coss: CO-SSL (aligning local representations with the other view's global embedding) and
RF-ResNets."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"
SUBPACKAGES = ("core", "backbones", "data", "methods", "analysis", "hosts", "experiments")


class _RegisterWhenTimmLoads(importlib.abc.MetaPathFinder):
    """Importing solo_coss registers the RF-ResNet family in timm's model registry (``timm.create_model``).
    Importing it does not load torch and timm: the family is registered right after timm itself is imported,
    whenever that happens, so that the console scripts print --help in a fraction of a second."""

    def find_spec(self, name, path=None, target=None):
        if name != "timm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("timm")
        if spec is not None and spec.loader is not None:
            run_timm = spec.loader.exec_module

            def run_timm_then_register(module):
                run_timm(module)
                importlib.import_module("solo_coss.backbones")

            spec.loader.exec_module = run_timm_then_register
        return spec


if "timm" in sys.modules:
    importlib.import_module("solo_coss.backbones")
elif not any(isinstance(f, _RegisterWhenTimmLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenTimmLoads())


def __getattr__(name: str):  # ``solo_coss.backbones`` etc. without importing them first
    if name in SUBPACKAGES:
        return importlib.import_module(f"solo_coss.{name}")
    raise AttributeError(f"module 'solo_coss' has no attribute {name!r}")
