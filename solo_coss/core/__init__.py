"""Host-agnostic CO-SSL maths (pure torch): local heads, local<->global losses, the COTerm and how it joins
each method's global loss."""

from solo_coss.core.co_term import LOSSES, PAIR_REDUCTIONS, COTerm, sample_positions, view_pairs
from solo_coss.core.config import TARGETS, COConfig
from solo_coss.core.heads import PositionwiseDINOHead, PositionwiseMLP, to_tokens
from solo_coss.core.losses import local_global_byol_loss, local_global_dino_loss, local_global_infonce_loss
from solo_coss.core.methods import SPECS, base_method, build_co_term, co_defaults, parse_co_block

__all__ = [
    "LOSSES", "PAIR_REDUCTIONS", "SPECS", "TARGETS", "COConfig", "COTerm", "PositionwiseDINOHead",
    "PositionwiseMLP", "base_method", "build_co_term", "co_defaults", "local_global_byol_loss",
    "local_global_dino_loss", "local_global_infonce_loss", "parse_co_block", "sample_positions", "to_tokens",
    "view_pairs",
]
