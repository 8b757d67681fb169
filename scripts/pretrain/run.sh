#!/usr/bin/env bash
# Pretrain one method on one dataset with the standalone host (add --host solo-learn for solo-learn):
#   bash scripts/pretrain/run.sh DATASET METHOD [key=value overrides...]
#   e.g. bash scripts/pretrain/run.sh fashion-mnist co_byol max_epochs=5
set -euo pipefail
cd "$(dirname "$0")/../.."
dataset=$1 method=$2
shift 2
BIN=${SOLO_COSS_BIN:-.venv/bin}
exec "$BIN/solo-coss-pretrain" --config-path "scripts/pretrain/$dataset" --config-name "$method.yaml" "$@"
