#!/usr/bin/env bash
# The MMoE paper's synthetic experiment (Ma et al. KDD 2018, §4): two regression tasks whose
# weight vectors have cosine similarity p. As p falls, a Shared-Bottom model loses more than
# MMoE. Small models of similar size as in the paper (MMoE: 8 experts of 16 units; Shared-
# Bottom: one 64-unit bottom; towers of 8), the same budget for both (epochs, early stopping
# on validation); test RMSE per task (lower is better).
#   usage: scripts/synthetic-table.sh [p ...]      (default: 1.0 0.5 0.0)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
OUT=${OUT:-out/synthetic}
ROWS=${ROWS:-100000}
USERS=${USERS:-2000}
EPOCHS=${EPOCHS:-10}
PS=("${@:-1.0 0.5 0.0}")
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
rmse() {
  "$BIN" eval --model "$1" --data "$2" --format json |
    python3 -c 'import json,sys; r={x["task"]:x["rmse"] for x in json.load(sys.stdin)["results"]}; print(r["task1"], r["task2"])'
}
echo "| p (task correlation) | MMoE task1 RMSE | MMoE task2 RMSE | Shared-Bottom task1 RMSE | Shared-Bottom task2 RMSE | mean gap (SB − MMoE) |"
echo "|---:|---:|---:|---:|---:|---:|"
for p in ${PS[@]}; do
  dir="$OUT/p$p"
  [ -f "$dir/data/train.csv" ] || "$BIN" datasets synthetic --rows "$ROWS" --users "$USERS" --correlation "$p" \
      --kind regression --user-perturbation 0 --out "$dir/data" >&2
  declare -A result
  for arch in mmoe shared_bottom; do
    sed -e "s/^meta: {enabled: true/meta: {enabled: false/" -e "s/architecture: mmoe/architecture: $arch/" \
        -e "s/^  experts: .*/  experts: 8/" -e "s/^  expert_layers: .*/  expert_layers: [16]/" \
        -e "s/^  tower_layers: .*/  tower_layers: [8]/" -e "s/^  shared_bottom_layers: .*/  shared_bottom_layers: [64]/" \
        "$dir/data/config.yaml" > "$dir/$arch.yaml"
    "$BIN" train --config "$dir/$arch.yaml" --data "$dir/data/train.csv" --validation "$dir/data/validation.csv" \
        --out "$dir/$arch" --epochs "$EPOCHS" 2> "$dir/$arch.log"
    result[$arch]=$(rmse "$dir/$arch" "$dir/data/test.csv")
  done
  read -r m1 m2 <<< "${result[mmoe]}"; read -r s1 s2 <<< "${result[shared_bottom]}"
  printf '| %s | %.4f | %.4f | %.4f | %.4f | %+.4f |\n' "$p" "$m1" "$m2" "$s1" "$s2" \
    "$(awk "BEGIN{print (($s1+$s2)-($m1+$m2))/2}")"
done
