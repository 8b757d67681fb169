#!/usr/bin/env bash
# Side by side inside solo-learn: its own scripts/pretrain/cifar/byol.yaml and our co_byol.yaml, with the
# same overrides (then evaluate both checkpoints with solo-coss-linear --host solo-learn).
#   bash scripts/compare_solo_learn.sh data.train_path=/data/cifar data.val_path=/data/cifar max_epochs=200
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
ROOT=$("$PY" -c "from solo_coss.hosts.solo_learn import solo_root; print(solo_root())")
"$PY" -m solo_coss.hosts.solo_learn pretrain --config-path "$ROOT/scripts/pretrain/cifar" \
    --config-name byol.yaml "$@"
"$PY" -m solo_coss.hosts.solo_learn pretrain --config-path scripts/pretrain/solo-learn/cifar \
    --config-name co_byol.yaml "$@"
