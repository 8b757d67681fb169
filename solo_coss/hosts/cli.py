"""Console entry points: solo-coss-pretrain / -linear / -knn [--host standalone|solo-learn].

    solo-coss-pretrain --config-path scripts/pretrain/fashion-mnist --config-name co_byol.yaml max_epochs=1
"""

from __future__ import annotations

import argparse

from solo_coss.hosts.errors import one_line_errors
from solo_coss.hosts.overrides import checked_overrides

HOSTS = ("standalone", "solo-learn")


def _parse(kind: str, argv: list[str] | None):
    parser = argparse.ArgumentParser(
        prog=f"solo-coss-{kind}",
        description=f"{kind} with a solo-learn-style YAML config; trailing key=value items are Hydra "
                    "overrides.",
    )
    parser.add_argument("--host", default="standalone", choices=HOSTS)
    parser.add_argument("--config-path", required=True, help="folder holding the YAML config")
    parser.add_argument("--config-name", required=True, help="YAML file name in that folder")
    args, overrides = parser.parse_known_args(argv)
    return args, checked_overrides(parser, overrides)


def _run(kind: str, args, overrides: list[str]):
    if args.host == "solo-learn":
        from solo_coss.hosts import solo_learn

        return solo_learn.run(kind, ["--config-path", args.config_path, "--config-name", args.config_name,
                                     *overrides])
    from solo_coss.hosts.standalone import entry

    return getattr(entry, kind)(args.config_path, args.config_name, overrides)


def invoke(kind: str, argv: list[str] | None):
    """Run solo-coss-``kind`` with ``argv`` and return its result (run folder, metrics); bad configs, paths
    and files, and a loss that became NaN, exit with one line naming the problem."""
    args, overrides = _parse(kind, argv)  # --help ends here, before Hydra and torch are imported
    with one_line_errors(f"solo-coss-{kind}"):
        return _run(kind, args, overrides)


def pretrain(argv: list[str] | None = None) -> None:  # console script: exit status 0 on success
    invoke("pretrain", argv)


def linear(argv: list[str] | None = None) -> None:  # console script: exit status 0 on success
    invoke("linear", argv)


def knn(argv: list[str] | None = None) -> None:  # console script: exit status 0 on success
    invoke("knn", argv)
