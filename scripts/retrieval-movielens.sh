#!/usr/bin/env bash
# Two-tower retrieval on MovieLens (ml-latest-small), chronological per-user protocol: per user
# the last 5 items are test targets, the 5 before them validation targets, earlier items
# training data. Every choice (temperature and queue size per encoder, the encoder, epochs by
# early stopping, the co-occurrence damping) is made on validation recall@50; the test split is scored once
# per chosen setting: the best model's 3 seeds (per-user metrics averaged over seeds) against
# popularity and item-item co-occurrence, with paired bootstrap CIs over users.
#   usage: scripts/retrieval-movielens.sh      (needs a release build and $METAREC_DATA)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}/movielens-latest-small
OUT=${OUT:-out/retrieval}
EPOCHS=${EPOCHS:-20}
ENCODERS=${ENCODERS:-"bow gru lstm cnn"}
TEMPERATURES=${TEMPERATURES:-"0.05 0.1"}
QUEUES=${QUEUES:-"0 1024"}
SEEDS=${SEEDS:-"1 2 3"}
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1

# The manifest of the published version (CURRENT -> v-…/retrieval.json), or of a format-1 flat directory.
manifest() { if [ -f "$1/CURRENT" ]; then echo "$1/$(cat "$1/CURRENT")/retrieval.json"; else echo "$1/retrieval.json"; fi; }
val_recall() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['validationRecallAt50'])" "$(manifest "$1")"; }

train() {  # encoder tau queue seed -> model directory
  local dir="$OUT/$1-t$2-q$3-s$4"
  [ -f "$(manifest "$dir")" ] || "$BIN" retrieval train --data "$DATA" --out "$dir" --encoder "$1" \
    --temperature "$2" --queue "$3" --epochs "$EPOCHS" --seed "$4" > "$dir.log" 2>&1 || { cat "$dir.log" >&2; exit 1; }
  echo "$dir"
}

first_seed=${SEEDS%% *}
best_encoder="" best_value=-1
for enc in $ENCODERS; do
  enc_choice="" enc_value=-1
  for tau in $TEMPERATURES; do
    for queue in $QUEUES; do
      dir=$(train "$enc" "$tau" "$queue" "$first_seed")
      v=$(val_recall "$dir")
      echo "validation: $enc tau=$tau queue=$queue seed=$first_seed recall@50 $v"
      if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$v" "$enc_value"; then enc_choice="$tau $queue" enc_value=$v; fi
    done
  done
  echo "$enc_choice" > "$OUT/$enc.choice"
  if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$enc_value" "$best_value"; then best_encoder=$enc best_value=$enc_value; fi
done
echo "chosen on validation: $best_encoder (recall@50 $best_value)"

for enc in $ENCODERS; do
  read -r tau queue < "$OUT/$enc.choice"
  models=()
  for seed in $SEEDS; do models+=(--model "$(train "$enc" "$tau" "$queue" "$seed")"); done
  echo "== test: $enc (tau=$tau, queue=$queue, seeds $SEEDS, metrics averaged per user over seeds) =="
  "$BIN" retrieval eval --data "$DATA" "${models[@]}" --per-user-out "$OUT/$enc-test-per-user.csv"
  for seed in $SEEDS; do
    echo "-- $enc seed $seed alone --"
    "$BIN" retrieval eval --data "$DATA" --model "$OUT/$enc-t$tau-q$queue-s$seed" --resamples 1000 | sed -n '/^two-tower *all/p;/vs popularity \[all/p;/vs cooc.*\[all/p'
  done
done
