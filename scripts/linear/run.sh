#!/usr/bin/env bash
# Linear probe, then kNN, of a pretrained checkpoint:
#   bash scripts/linear/run.sh DATASET CHECKPOINT [key=value overrides...]
set -euo pipefail
cd "$(dirname "$0")/../.."
dataset=$1 ckpt=$2
shift 2
BIN=${SOLO_COSS_BIN:-.venv/bin}
"$BIN/solo-coss-linear" --config-path "scripts/linear/$dataset" --config-name linear.yaml \
    "pretrained_feature_extractor=$ckpt" "$@"
"$BIN/solo-coss-knn" --config-path "scripts/linear/$dataset" --config-name knn.yaml \
    "pretrained_feature_extractor=$ckpt" "$@"
