"""Record what solo-learn's augmentations draw into tests/parity/augmentation_reference.json.

Needs solo-learn installed (README, "solo-learn host"); CI then checks both of our augmentation paths against
the file without it (tests/test_augmentation_parity.py). Run it after changing a shipped augmentations YAML
or a probe (tests/parity/augmentation_probes.py, the cases and draw counts in tests/parity/augmentations.py):

    python tests/parity/record_augmentations.py        # ~2 min on one core
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parity.augmentations import (  # noqa: E402
    NAMED_DATASETS,
    PROBES,
    REFERENCE,
    YAML_DATASETS,
    measure,
    seed_of,
    shipped_yamls,
    solo_normalisation,
    solo_view_shapes,
)
from parity.record_reference import solo_commit  # noqa: E402


def main() -> None:
    import torchvision

    out = {"solo_learn": solo_commit(), "torchvision": torchvision.__version__, "probes": {}, "views": {},
           "normalisation": {name: solo_normalisation(name) for name in NAMED_DATASETS}}
    for name, pipelines in shipped_yamls().items():
        out["views"][name] = solo_view_shapes(pipelines, YAML_DATASETS[name.split("/")[0]])
    for key, probe in PROBES.items():
        start = time.perf_counter()
        counts = measure(probe, "solo")
        out["probes"][key] = {
            "pipeline": probe.pipeline,
            "dataset": probe.dataset,
            "seed": seed_of(probe, "solo"),
            "counts": {name: c.tolist() for name, c in counts.items()},
        }
        print(f"recorded {key} ({probe.draws} views, {time.perf_counter() - start:.1f} s)", flush=True)
    REFERENCE.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
