#!/usr/bin/env bash
# Two-tower retrieval on ml-latest-small under TensorFlow Lite's on-device recommendation protocol
# (its MovieLens example): every position of a user's time line is an example, its history the 10
# items before it, a random 90/10 split of the examples (seed SPLIT_SEED; 10 % of the 90 % held for
# validation: early stopping). Per encoder the temperature of its chronological choice
# ($OUT/<encoder>.choice from scripts/retrieval-movielens.sh, else 0.1), queue off; 3 seeds, the
# test examples scored once against popularity and co-occurrence, with the encoder's per-request
# adaptation ($OUT/<encoder>.adapt from scripts/retrieval-adaptation.sh, chosen on the
# chronological validation split) as a second row. The bootstrap is over examples (the unit of this
# protocol), not users.
#   usage: scripts/retrieval-tflite.sh [encoder ...]     (default: bow cnn gru lstm)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}/movielens-latest-small
OUT=${OUT:-out/retrieval}
SEEDS=${SEEDS:-"1 2 3"}
EPOCHS=${EPOCHS:-20}
SPLIT_SEED=${SPLIT_SEED:-1}
ENCODERS=("${@:-bow cnn gru lstm}")
export OPENBLAS_NUM_THREADS=1
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"

for enc in ${ENCODERS[@]}; do
  tau=0.1
  [ -f "$OUT/$enc.choice" ] && read -r tau _ < "$OUT/$enc.choice"
  models=()
  for seed in $SEEDS; do
    dir="$OUT/tflite-$enc-t$tau-s$seed"
    [ -f "$dir/CURRENT" ] || "$BIN" retrieval train --data "$DATA" --out "$dir" --protocol tflite --split-seed "$SPLIT_SEED" \
      --max-history 10 --encoder "$enc" --temperature "$tau" --queue 0 --epochs "$EPOCHS" --seed "$seed" > "$dir.log" 2>&1 \
      || { cat "$dir.log" >&2; exit 1; }
    echo "trained $dir: $(grep 'best epoch' "$dir.log")"
    models+=(--model "$dir")
  done
  adapt=()
  if [ -f "$OUT/$enc.adapt" ]; then
    read -r steps rate support < "$OUT/$enc.adapt"
    adapt=(--adapt-steps "$steps" --adapt-rate "$rate" --adapt-support "$support")
  fi
  echo "== test (tflite protocol): $enc (tau=$tau, L 10, seeds $SEEDS) ${adapt[*]:-} =="
  "$BIN" retrieval eval --data "$DATA" --protocol tflite --context 10 --split-seed "$SPLIT_SEED" "${models[@]}" "${adapt[@]}"
done
