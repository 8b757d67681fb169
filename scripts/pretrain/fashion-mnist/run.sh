#!/usr/bin/env bash
# bash scripts/pretrain/fashion-mnist/run.sh METHOD [key=value overrides...]
exec bash "$(dirname "$0")/../run.sh" fashion-mnist "$@"
