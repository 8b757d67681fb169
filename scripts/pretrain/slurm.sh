#!/usr/bin/env bash
# Pretrain on a SLURM cluster with Lightning's own SLURM support: srun starts one task per GPU on every node,
# Lightning reads its rank from SLURM. The job's shape comes from the config (after overrides), so the
# allocation matches the lr scaling (lr x batch_size x len(devices) x num_nodes / 256):
#   --nodes = num_nodes, --ntasks-per-node = --gres=gpu: = len(devices), --cpus-per-task = data.num_workers;
#   a config with accelerator: cpu asks for no GPU.
#
#   bash scripts/pretrain/slurm.sh DATASET METHOD [key=value overrides...]
#   e.g. bash scripts/pretrain/slurm.sh imagenet co_byol +num_nodes=4 data.train_path=/data/imagenet/train
# SBATCH_ARGS="--partition=gpu --time=48:00:00" adds site flags; DRY_RUN=1 prints the job instead of submitting.
# A job that is stopped and requeued continues from last.ckpt (auto_resume.enabled, checkpoint.every_n_steps).
source "$(dirname "$0")/cluster_shape.sh"  # sets dataset, method, BIN, config, nodes, gpus, workers, accelerator
args=$(printf '%q ' "${config[@]}" "$@")
gres=""
[ "$accelerator" = cpu ] || gres="
#SBATCH --gres=gpu:$gpus"
job="#!/usr/bin/env bash
#SBATCH --job-name=$method-$dataset
#SBATCH --nodes=$nodes
#SBATCH --ntasks-per-node=$gpus$gres
#SBATCH --cpus-per-task=$workers
#SBATCH --output=slurm-%j.out
srun $BIN/solo-coss-pretrain ${args% }"
if [ -n "${DRY_RUN:-}" ]; then
  echo "$job"
else
  # shellcheck disable=SC2086
  echo "$job" | sbatch ${SBATCH_ARGS:-}
fi
