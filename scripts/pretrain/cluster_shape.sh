# Sourced by slurm.sh and torchrun.sh (not run): takes DATASET METHOD off the arguments and sets BIN, config
# (the Hydra flags) and the job's shape from the config after the remaining overrides: nodes, gpus, workers,
# accelerator. A bad config stops the launch here with the one line launch_shape prints.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dataset=$1 method=$2
shift 2
BIN=${SOLO_COSS_BIN:-.venv/bin}
config=(--config-path "scripts/pretrain/$dataset" --config-name "$method.yaml")
shape=$("$BIN/python" -m solo_coss.hosts.launch_shape --prog "$(basename "$0")" "${config[@]}" "$@")
read -r nodes gpus workers accelerator <<< "$shape"
