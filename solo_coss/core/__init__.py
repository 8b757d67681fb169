"""Host-agnostic CO-SSL maths (pure torch): local heads, local<->global losses, the COTerm."""

from solo_coss.core.co_term import LOSSES, COTerm, sample_positions
from solo_coss.core.config import TARGETS, COConfig
from solo_coss.core.heads import PositionwiseDINOHead, PositionwiseMLP, to_tokens
from solo_coss.core.losses import local_global_byol_loss, local_global_dino_loss, local_global_infonce_loss

__all__ = [
    "COConfig", "COTerm", "LOSSES", "TARGETS", "PositionwiseDINOHead", "PositionwiseMLP",
    "local_global_byol_loss", "local_global_dino_loss", "local_global_infonce_loss", "sample_positions",
    "to_tokens",
]
