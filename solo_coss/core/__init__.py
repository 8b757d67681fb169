"""Host-agnostic CO-SSL maths (pure torch): local heads, local<->global losses, the COTerm and how it joins
each method's global loss."""

from solo_coss.core.co_term import COTerm, build_co_term, sample_positions, view_pairs
from solo_coss.core.config import COConfig, COSpec, base_method, resolve_co
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
from solo_coss.core.teacher_temperature import TeacherTemperature

__all__ = [
    "BadValueError", "COConfig", "COSpec", "COTerm", "PositionwiseDINOHead", "PositionwiseMLP",
    "TeacherTemperature", "base_method", "build_co_term", "check_annotated", "check_choice", "check_fields",
    "check_keys", "check_positive", "naming", "refuse", "global_byol_loss", "global_infonce_loss",
    "local_global_byol_loss", "local_global_dino_loss", "local_global_infonce_loss", "resolve_co",
    "sample_positions", "to_tokens", "view_pairs",
]
