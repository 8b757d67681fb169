#!/usr/bin/env bash
# bash scripts/pretrain/imagenet-100/run.sh METHOD [key=value overrides...]
exec bash "$(dirname "$0")/../run.sh" imagenet-100 "$@"
