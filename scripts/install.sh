#!/usr/bin/env bash
# Installs solo-coss into ./.venv with the pinned stack, and the offline Fashion-MNIST data.
# Usage: bash scripts/install.sh            (idempotent; PYTHON=python3.11 to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."

FMNIST_DIR=/usr/share/datasets/fashion-mnist
if [ ! -f "$FMNIST_DIR/train-images-idx3-ubyte.gz" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[install] Fashion-MNIST: apt-get install dataset-fashion-mnist"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "[install] Fashion-MNIST missing: run 'sudo apt-get install dataset-fashion-mnist' (the default data set)" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip "setuptools<81" wheel
.venv/bin/python -m pip install -q -e ".[dev,dali,benchmarks,docs]"
# torchattacks is the reference tests/test_attacks.py compares our FGSM / PGD with (not a dependency): it pins
# an old `requests` it never imports, so it is installed without its dependencies.
.venv/bin/python -m pip install -q --no-deps torchattacks==3.5.1
.venv/bin/python -c "import solo_coss, torch; print('[install] solo-coss', solo_coss.__version__, 'torch', torch.__version__)"
