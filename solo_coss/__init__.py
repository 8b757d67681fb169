"""solo-coss: CO-SSL (aligning local representations with the other view's global embedding) and RF-ResNets."""

__version__ = "0.1.0"

# Importing the backbones registers the RF-ResNet family in timm's model registry.
from solo_coss import backbones  # noqa: E402,F401
