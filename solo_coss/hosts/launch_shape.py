"""What a cluster launcher needs from a pretraining config, on one line: ``NODES GPUS_PER_NODE WORKERS
ACCELERATOR`` (``num_nodes``, the number of ``devices`` as solo-learn counts them for the lr scaling,
``data.num_workers``, ``accelerator``). scripts/pretrain/slurm.sh and torchrun.sh size their jobs with it,
so the allocation always matches the lr the config scales; the config is resolved first, so a bad key or
value stops the launch with one line (``--prog`` names the script in it):

    python -m solo_coss.hosts.launch_shape --config-path scripts/pretrain/imagenet --config-name co_byol.yaml
"""

from __future__ import annotations

import argparse
import logging

from solo_coss.hosts.errors import one_line_errors


def launch_shape(config_path: str, config_name: str, overrides: list[str]) -> tuple[int, int, int, str]:
    from solo_coss.hosts.standalone import precision
    from solo_coss.hosts.standalone.config import device_count, load_config, resolve_pretrain_config

    # precision=auto's line describes the machine it runs on, which is not the one the job will run on
    precision.log.setLevel(logging.ERROR)
    cfg = resolve_pretrain_config(load_config(config_path, config_name, overrides))
    accelerator = str(cfg.get("accelerator") or "auto")
    workers = int(cfg["data"].get("num_workers") or 1)
    return int(cfg["num_nodes"]), device_count(cfg.get("devices")), workers, accelerator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m solo_coss.hosts.launch_shape", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-path", required=True)
    parser.add_argument("--config-name", required=True)
    parser.add_argument("--prog", default="launch_shape", help="the launcher's name, for its error line")
    args, overrides = parser.parse_known_args(argv)
    with one_line_errors(args.prog):
        print(*launch_shape(args.config_path, args.config_name, overrides))


if __name__ == "__main__":
    main()
