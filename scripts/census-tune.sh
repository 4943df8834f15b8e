#!/usr/bin/env bash
# The census widths of scripts/census-table.sh, chosen on the VALIDATION split (the test split
# is never read here): MMoE with 4 experts of [64, 32] or [128, 64], or 8 experts of [64, 32];
# Shared-Bottom with a bottom of [64, 32] or [128, 64]. Prints validation AUCs per seed.
#   usage: scripts/census-tune.sh [SEEDS...]     (default seeds: 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
RAW="$DATA/census-income-kdd/census-income.test.gz"
OUT=${OUT:-out/census}
EPOCHS=${EPOCHS:-15}
SEEDS=("${@:-1 2}")
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT/tune"
[ -f "$OUT/data/train.csv" ] || "$BIN" datasets census --raw "$RAW" --out "$OUT/data" >&2

run() { # name seed [sed -e ...]
  local name=$1 seed=$2; shift 2
  local cfg="$OUT/tune/$name-$seed.yaml"
  sed -e "s/^meta: {enabled: true/meta: {enabled: false/" -e "s/^  seed: 1$/  seed: $seed/" "$@" "$OUT/data/config.yaml" > "$cfg"
  "$BIN" train --config "$cfg" --data "$OUT/data/train.csv" --validation "$OUT/data/validation.csv" \
    --out "$OUT/tune/$name-$seed" --epochs "$EPOCHS" 2> "$OUT/tune/$name-$seed.log"
  "$BIN" eval --model "$OUT/tune/$name-$seed" --data "$OUT/data/validation.csv" --format json |
    python3 -c 'import json,sys; r={x["task"]:x["auc"] for x in json.load(sys.stdin)["results"]}; print("| '"$name"' | '"$seed"' | %.4f | %.4f |" % (r["income"], r["marital"]))'
}

echo "| candidate | seed | validation income AUC | validation marital AUC |"
echo "|---|---:|---:|---:|"
for seed in ${SEEDS[@]}; do
  run mmoe-4x64.32 "$seed"
  run mmoe-8x64.32 "$seed" -e 's/^  experts: 4$/  experts: 8/'
  run mmoe-4x128.64 "$seed" -e 's/^  expert_layers: \[64, 32\]$/  expert_layers: [128, 64]/'
  run sb-64.32 "$seed" -e 's/^  architecture: mmoe$/  architecture: shared_bottom/'
  run sb-128.64 "$seed" -e 's/^  architecture: mmoe$/  architecture: shared_bottom/' \
    -e 's/^  shared_bottom_layers: \[64, 32\]$/  shared_bottom_layers: [128, 64]/'
done
