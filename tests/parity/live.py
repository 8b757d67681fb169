"""Whether solo-learn is importable here, and the mark of the parity tests that need it (the live half)."""

from __future__ import annotations

import pytest


def solo_learn_importable() -> bool:
    try:
        import solo.methods  # noqa: F401
    except ImportError:
        return False
    return True


HAS_SOLO = solo_learn_importable()
SKIP_REASON = ("solo-learn is not installed (README 'solo-learn host': git checkout + pip install -e); the "
               "recorded-reference tests cover CI")


def needs_solo(test):
    """Marks ``test`` `solo` (``-m "not solo"`` selects the CI half, as .ci/run's kernel matrix does) and
    skips it, saying why, where solo-learn is not installed."""
    return pytest.mark.solo(pytest.mark.skipif(not HAS_SOLO, reason=SKIP_REASON)(test))
