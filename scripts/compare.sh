#!/usr/bin/env bash
# Side by side: bash scripts/compare.sh DATASET BASELINE CO_METHOD [key=value overrides...]
#   e.g. bash scripts/compare.sh fashion-mnist byol co_byol
# Trains both with the same seed, budget and backbone, evaluates them and a random-init backbone (kNN and
# linear top-1), and writes runs/compare-DATASET/{compare.md,compare.csv,curves.png}.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
exec "$PY" -m solo_coss.experiments.compare "$@"
