"""Host-agnostic CO-SSL maths (pure torch): local heads, local<->global losses, the COTerm and how it joins
each method's global loss."""

from solo_coss.core.co_term import (
    LOSSES,
    PAIR_REDUCTIONS,
    COTerm,
    build_co_term,
    sample_positions,
    view_pairs,
)
from solo_coss.core.config import SPECS, TARGETS, COConfig, COSpec, base_method, co_defaults, resolve_co
from solo_coss.core.heads import PositionwiseDINOHead, PositionwiseMLP, to_tokens
from solo_coss.core.keys import (
    BadValueError,
    check_annotated,
    check_choice,
    check_fields,
    check_keys,
    check_positive,
    naming,
    refuse,
)
from solo_coss.core.losses import (
    global_byol_loss,
    global_infonce_loss,
    local_global_byol_loss,
    local_global_dino_loss,
    local_global_infonce_loss,
)

__all__ = [
    "LOSSES", "PAIR_REDUCTIONS", "SPECS", "TARGETS", "BadValueError", "COConfig", "COSpec", "COTerm",
    "PositionwiseDINOHead", "PositionwiseMLP", "base_method", "build_co_term", "check_annotated",
    "check_choice", "check_fields", "check_keys", "check_positive", "co_defaults", "naming", "refuse",
    "global_byol_loss", "global_infonce_loss", "local_global_byol_loss", "local_global_dino_loss",
    "local_global_infonce_loss", "resolve_co", "sample_positions", "to_tokens", "view_pairs",
]
