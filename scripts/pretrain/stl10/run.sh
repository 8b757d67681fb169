#!/usr/bin/env bash
# bash scripts/pretrain/stl10/run.sh METHOD [key=value overrides...]
exec bash "$(dirname "$0")/../run.sh" stl10 "$@"
