#!/usr/bin/env bash
# bash scripts/pretrain/cifar/run.sh METHOD [key=value overrides...]
exec bash "$(dirname "$0")/../run.sh" cifar "$@"
