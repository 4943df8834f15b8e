#!/usr/bin/env bash
# MMoE vs Shared-Bottom on UCI Census-Income (KDD), the MMoE paper's two-task benchmark
# (income > 50K, marital status = never married). Same protocol for both: Adam, up to
# EPOCHS epochs, early stopping on the validation split (patience 2, best epoch kept),
# test-split AUC reported per seed and as the mean.
#   usage: scripts/census-table.sh [SEEDS...]     (default seeds: 1 2 3)
# Needs: a release build (make build) and $METAREC_DATA/census-income-kdd/census-income.test.gz.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
RAW="$DATA/census-income-kdd/census-income.test.gz"
OUT=${OUT:-out/census}
EPOCHS=${EPOCHS:-15}
SEEDS=("${@:-1 2 3}")
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
[ -f "$RAW" ] || { echo "census file not found: $RAW (set METAREC_DATA)" >&2; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/data/train.csv" ] || "$BIN" datasets census --raw "$RAW" --out "$OUT/data" >&2

auc() { # model dir -> "income_auc marital_auc"
  "$BIN" eval --model "$1" --data "$OUT/data/test.csv" --format json |
    python3 -c 'import json,sys; r={x["task"]:x["auc"] for x in json.load(sys.stdin)["results"]}; print(r["income"], r["marital"])'
}

echo "| architecture | seed | income AUC | marital AUC |"
echo "|---|---:|---:|---:|"
for arch in mmoe shared_bottom; do
  for seed in ${SEEDS[@]}; do
    cfg="$OUT/$arch-$seed.yaml"
    # Meta-learning off (plain MMoE / Shared-Bottom); the seed drives initialisation and shuffling.
    # Configuration chosen per architecture on the validation split (scripts/census-tune.sh, seeds
    # 1-2, highest mean of validation income AUC + marital AUC, same candidates for both): widths
    # [128, 64] per expert and for the shared bottom, batch 256 for both; towers [32] for MMoE and
    # [64, 32] for Shared-Bottom.
    tower=32; [ "$arch" = shared_bottom ] && tower="64, 32"
    sed -e "s/^meta: {enabled: true/meta: {enabled: false/" \
        -e "s/^  architecture: mmoe$/  architecture: $arch\n  seed: $seed/" \
        -e "s/^  expert_layers: \[64, 32\]$/  expert_layers: [128, 64]/" \
        -e "s/^  shared_bottom_layers: \[64, 32\]$/  shared_bottom_layers: [128, 64]/" \
        -e "s/^  tower_layers: \[32\]$/  tower_layers: [$tower]/" \
        -e "s/^  batch_size: 512$/  batch_size: 256/" \
        -e "s/^  seed: 1$/  seed: $seed/" "$OUT/data/config.yaml" > "$cfg"
    "$BIN" train --config "$cfg" --data "$OUT/data/train.csv" --validation "$OUT/data/validation.csv" \
      --out "$OUT/$arch-$seed" --epochs "$EPOCHS" 2> "$OUT/$arch-$seed.log"
    read -r income marital < <(auc "$OUT/$arch-$seed")
    printf '| %s | %s | %.5f | %.5f |\n' "$arch" "$seed" "$income" "$marital"
  done
done
