#!/usr/bin/env bash
# Pretrain over several machines without SLURM: run this on every node, with the same MASTER_ADDR (node 0's
# address) and each node's NODE_RANK (0 .. num_nodes-1). torchrun starts one process per GPU; Lightning reads
# the ranks torchrun sets. Nodes and processes per node come from the config (num_nodes, len(devices)), as
# the lr scaling counts them.
#
#   MASTER_ADDR=node0 NODE_RANK=0 bash scripts/pretrain/torchrun.sh imagenet co_byol +num_nodes=2   (node 0)
#   MASTER_ADDR=node0 NODE_RANK=1 bash scripts/pretrain/torchrun.sh imagenet co_byol +num_nodes=2   (node 1)
# MASTER_PORT defaults to 29500; DRY_RUN=1 prints the command instead of running it.
source "$(dirname "$0")/cluster_shape.sh"  # sets dataset, method, BIN, config, nodes, gpus, workers, accelerator
cmd=("$BIN/torchrun" "--nnodes=$nodes" "--nproc-per-node=$gpus" "--node-rank=${NODE_RANK:?set NODE_RANK}"
     "--master-addr=${MASTER_ADDR:?set MASTER_ADDR}" "--master-port=${MASTER_PORT:-29500}"
     "$BIN/solo-coss-pretrain" "${config[@]}" "$@")
if [ -n "${DRY_RUN:-}" ]; then echo "${cmd[*]}"; else exec "${cmd[@]}"; fi
