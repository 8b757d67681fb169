"""What a cluster launcher needs from a pretraining config, on one line: ``NODES GPUS_PER_NODE WORKERS``
(``num_nodes``, the number of ``devices`` as solo-learn counts them for the lr scaling, ``data.num_workers``).
scripts/pretrain/slurm.sh and torchrun.sh size their jobs with it, so the allocation always matches the
lr the config scales:

    python -m solo_coss.hosts.launch_shape --config-path scripts/pretrain/imagenet --config-name co_byol.yaml
"""

from __future__ import annotations

import argparse
import sys


def launch_shape(config_path: str, config_name: str, overrides: list[str]) -> tuple[int, int, int]:
    from solo_coss.hosts.standalone.config import device_count, load_config, to_plain

    cfg = to_plain(load_config(config_path, config_name, overrides))
    nodes = cfg.get("num_nodes") or 1
    if not (isinstance(nodes, int) and nodes >= 1):
        raise ValueError(f"num_nodes={nodes!r}: give a positive int")
    return nodes, device_count(cfg.get("devices")), int((cfg.get("data") or {}).get("num_workers") or 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m solo_coss.hosts.launch_shape", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-path", required=True)
    parser.add_argument("--config-name", required=True)
    args, overrides = parser.parse_known_args(argv)
    try:
        print(*launch_shape(args.config_path, args.config_name, overrides))
    except (ValueError, OSError) as err:
        sys.exit(f"launch_shape: error: {' '.join(str(err).split())}")


if __name__ == "__main__":
    main()
