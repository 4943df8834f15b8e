#!/usr/bin/env bash
# The whole MetaRec loop on built-in synthetic data (nothing to download):
#   1. make CSV logs: users whose task weights differ, so per-user fine-tuning can help;
#   2. train MMoE without and with MAML-meta-learned towers;
#   3. evaluate each with and without per-user fine-tuning (the lift table);
#   4. serve in-process and print latency percentiles of fine-tuned scoring.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
OUT=${OUT:-out/demo}
USERS=${USERS:-5000}
ROWS=${ROWS:-300000}
EPOCHS=${EPOCHS:-3}
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

step "1/4 synthetic logs: $USERS users, $ROWS rows"
"$BIN" datasets synthetic --users "$USERS" --rows "$ROWS" --out "$OUT/data"

step "2/4 training MMoE (plain) and MMoE with MAML towers (first order), $EPOCHS epochs each"
sed -e "s/^meta: {enabled: true/meta: {enabled: false/" "$OUT/data/config.yaml" > "$OUT/plain.yaml"
sed -e "s/^meta: {enabled: true, order: first, inner_steps: 1/meta: {enabled: true, order: first, inner_steps: 3/" \
    "$OUT/data/config.yaml" > "$OUT/maml.yaml"
for name in plain maml; do
  "$BIN" train --config "$OUT/$name.yaml" --data "$OUT/data/train.csv" --validation "$OUT/data/validation.csv" \
    --out "$OUT/$name" --epochs "$EPOCHS"
done

step "3/4 test split, with and without per-user fine-tuning (support: each user's latest training rows)"
for name in plain maml; do
  echo "-- $name"
  "$BIN" eval --model "$OUT/$name" --data "$OUT/data/test.csv" --finetune on --steps 3 --learning-rate 0.05
done

step "4/4 in-process serving latency (reference config: towers 64→64→1, 2 tasks, S = 64, k = 3, C = 200)"
OPENBLAS_NUM_THREADS=1 "$BIN" bench serving --reference-only
