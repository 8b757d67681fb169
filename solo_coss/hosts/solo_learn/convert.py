"""Moving weights between the two hosts' models and checkpoints.

Standalone checkpoints keep the method under ``method.`` (backbone under ``method.backbone.``) and the config
in ``hyper_parameters["cfg"]``; solo-learn's keep the same modules at the top level (``backbone.``,
``projector.``, ...) with solo-learn's own config. Within one module the two hosts build the same layers in
the same order, only some names differ (lightly's ``layers.0`` vs ``0``, a ``stem`` Sequential vs
``conv1``/``bn1``), so module states pair up entry by entry (``pair_in_order``: how
``solo_coss.hosts.pretrained`` loads a solo-learn backbone; the tests pair whole checkpoints with it,
tests/solo_convert.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

SOLO_PREFIX = "backbone."


def same_up_to_unit_dims(a: torch.Size, b: torch.Size) -> bool:
    """Shapes that hold the same values: equal once their size-1 dimensions are dropped (DINO's centre is
    (1, 1, K) here and (1, K) in solo-learn)."""
    return [d for d in a if d != 1] == [d for d in b if d != 1]


def pair_in_order(ours: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor], where: str,
                  same_shape: bool = False) -> dict[str, str]:
    """{our name: their name}, the entries of two states of the same layers paired in order.

    Each pair must end in the same attribute name (``weight``, ``running_mean``, ...) and hold the same
    shape (with ``same_shape=False``, up to size-1 dimensions); otherwise, or when the counts differ, a
    ValueError names the first pair that does not match."""
    if len(ours) != len(theirs):
        raise ValueError(f"{where}: {len(ours)} state entries here but {len(theirs)} in solo-learn's")
    pairs = {}
    for (x, a), (y, b) in zip(ours.items(), theirs.items()):
        shapes_fit = a.shape == b.shape if same_shape else same_up_to_unit_dims(a.shape, b.shape)
        if x.rsplit(".", 1)[-1] != y.rsplit(".", 1)[-1] or not shapes_fit:
            raise ValueError(f"{where}: entry {len(pairs)} does not pair: {x} {tuple(a.shape)} here, "
                             f"{y} {tuple(b.shape)} in solo-learn's")
        pairs[x] = y
    return pairs
