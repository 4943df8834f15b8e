#!/usr/bin/env bash
# Per-request adaptation of the user embedding (issue #24, "meta-learned user tower"), on the models
# scripts/retrieval-movielens.sh trains (ml-latest-small, chronological protocol). Per encoder: the
# adaptation (steps, rate, support) is chosen on validation recall@50 (seed 1) from a small grid, then
# the test split is scored once: the 3 seeds adapted against the same models unadapted (paired
# bootstrap over users, by history length), popularity and co-occurrence. With META=1 it also trains
# and scores the bag of words meta-trained with the chosen adaptation in the loop (first order).
#   usage: scripts/retrieval-adaptation.sh [encoder ...]     (default: bow gru lstm cnn; run
#          scripts/retrieval-movielens.sh first for the <encoder>.choice files and the models)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}/movielens-latest-small
OUT=${OUT:-out/retrieval}
SEEDS=${SEEDS:-"1 2 3"}
EPOCHS=${EPOCHS:-20}
GRID=${GRID:-"1,0.03,5 3,0.03,5 5,0.03,5 5,0.01,3 3,0.01,5 10,0.03,5"}
ENCODERS=("${@:-bow gru lstm cnn}")
export OPENBLAS_NUM_THREADS=1
first_seed=${SEEDS%% *}

# recall@50 of the adapted model on validation: eval's "two-tower adapted  all" row, 6th field.
validation_recall() { # model steps rate support
  "$BIN" retrieval eval --data "$DATA" --model "$1" --split validation --resamples 1 --adapt-steps "$2" \
    --adapt-rate "$3" --adapt-support "$4" 2>>"$OUT/adaptation-validation.log" | awk '/^two-tower adapted +all/ { print $6 }'
}

for enc in ${ENCODERS[@]}; do
  [ -f "$OUT/$enc.choice" ] || { echo "no $OUT/$enc.choice: run scripts/retrieval-movielens.sh first" >&2; exit 1; }
  read -r tau queue < "$OUT/$enc.choice"
  best="" best_value=-1
  for cell in $GRID; do
    IFS=, read -r steps rate support <<< "$cell"
    v=$(validation_recall "$OUT/$enc-t$tau-q$queue-s$first_seed" "$steps" "$rate" "$support")
    echo "validation: $enc adapt steps=$steps rate=$rate support=$support recall@50 $v"
    if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$v" "$best_value"; then
      best="$steps $rate $support" best_value=$v
    fi
  done
  echo "$best" > "$OUT/$enc.adapt"
  read -r steps rate support <<< "$best"
  models=()
  for seed in $SEEDS; do models+=(--model "$OUT/$enc-t$tau-q$queue-s$seed"); done
  echo "== test: $enc (tau=$tau, queue=$queue) adapted with steps=$steps rate=$rate support=$support (validation $best_value), seeds $SEEDS =="
  "$BIN" retrieval eval --data "$DATA" "${models[@]}" --adapt-steps "$steps" --adapt-rate "$rate" --adapt-support "$support" \
    --per-user-out "$OUT/$enc-adapted-test-per-user.csv"
done

if [ "${META:-0}" = 1 ]; then
  read -r tau queue < "$OUT/bow.choice"
  read -r steps rate support < "$OUT/bow.adapt"
  models=()
  for seed in $SEEDS; do
    dir="$OUT/bowmeta-t$tau-q$queue-s$seed"
    [ -f "$dir/CURRENT" ] || "$BIN" retrieval train --data "$DATA" --out "$dir" --encoder bow --temperature "$tau" --queue "$queue" \
      --epochs "$EPOCHS" --seed "$seed" --adapt-steps "$steps" --adapt-rate "$rate" --adapt-support "$support" > "$dir.log" 2>&1
    models+=(--model "$dir")
  done
  echo "== test: bow meta-trained with the adaptation in the loop, served adapted (its own settings), seeds $SEEDS =="
  "$BIN" retrieval eval --data "$DATA" "${models[@]}"
fi
