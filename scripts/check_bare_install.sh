#!/usr/bin/env bash
# `pip install .` into a bare venv (no scripts/install.sh, no extras): the package alone must run the main
# job (BYOL vs CO-BYOL, tiny) and the robustness tool, and print every console script's --help fast.
# Usage: bash scripts/check_bare_install.sh        (KEEP=DIR keeps the venv and outputs in DIR)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${KEEP:-$(mktemp -d)}
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK" && cd "$WORK"
PY=${PYTHON:-python3}
"$PY" -m venv venv
V=$WORK/venv/bin
"$V/python" -m pip install -q --upgrade pip "setuptools<81" wheel
time "$V/python" -m pip install -q "$REPO"
"$V/python" -m pip check
env -u PYTHONPATH "$V/python" -c "import solo_coss, torch; print('[bare] solo-coss', solo_coss.__version__, 'from', solo_coss.__file__)"
export PYTHONPATH=  # the installed package, not a checkout

echo "[bare] --help of every console script (seconds)"
for script in "$V"/solo-coss-*; do
  start=$EPOCHREALTIME
  "$script" --help > /dev/null
  awk -v name="$(basename "$script")" -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "  %-22s %.2f\n", name, e - s }'
done

TINY=(max_epochs=1 data.fraction=0.004 data.val_fraction=0.01 data.num_workers=0 optimizer.batch_size=32
      "backbone.kwargs.widths=[8,16,32,64]" method_kwargs.proj_hidden_dim=32 method_kwargs.pred_hidden_dim=32
      +enable_progress_bar=false)
echo "[bare] the main job, tiny: solo-coss-compare fashion-mnist byol co_byol"
"$V/solo-coss-compare" fashion-mnist byol co_byol --config-root "$REPO/scripts/pretrain" --out compare \
    --eval-fraction 0.01 --eval-val-fraction 0.05 --linear-epochs 2 --robust-images 16 "${TINY[@]}"
test -s compare/compare.md && test -s compare/curves.png

echo "[bare] solo-coss-linear + solo-coss-robustness (fgsm, pgd)"
R=compare/runs
for m in byol co_byol; do
  "$V/solo-coss-linear" --config-path "$REPO/scripts/linear/fashion-mnist" --config-name linear.yaml \
      "pretrained_feature_extractor=$R/$m-seed5" max_epochs=1 data.fraction=0.01 data.val_fraction=0.05 \
      data.num_workers=0 checkpoint.dir=linear +enable_progress_bar=false
done
# each run lives in <name>/<id>/; <name>/latest is the one launched last
"$V/solo-coss-robustness" --run "byol=$R/byol-seed5/latest/linear_head.pt" \
    --run "co_byol=$R/co_byol-seed5/latest/linear_head.pt" \
    --out robustness --num-images 32 --families noise fgsm pgd
grep -q pgd robustness/robustness.csv && grep -q fgsm robustness/robustness.csv
echo "[bare] OK: pip install . alone runs the main job and the robustness tool"
