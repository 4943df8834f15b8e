#!/usr/bin/env bash
# Per-user metrics on MovieLens (ml-latest-small), warm chronological split (each user's earlier
# rows train, later rows validate and test; docs/DESIGN.md §Personalisation): does per-user
# fine-tuning on the support store (a user's latest training rows) improve the order of that
# user's later rows? Fine-tuned against the same model unadapted, per user (GAUC of `like`,
# nDCG@5 of `rating`), paired bootstrap 95 % CIs over users.
#
#   1. Selection (seed 1, validation split only): every serving policy (POLICIES) on the MAML
#      model; the highest validation Δ GAUC(like) + Δ nDCG@5(rating) of fine-tuned − unadapted
#      is chosen (criterion fixed in advance).
#   2. Test (SEEDS): the chosen policy on the test split, one model per seed.
#
#   usage: scripts/movielens-warm-peruser.sh        (needs a release build and $METAREC_DATA)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
OUT=${OUT:-out/warm}
EPOCHS=${EPOCHS:-8}
SEEDS=${SEEDS:-"1 2 3"}
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
declare -A POLICIES=(
  [pointwise-k3]="--steps 3 --learning-rate 0.05"
  [pointwise-k5-a0.1]="--steps 5 --learning-rate 0.1"
  [pairwise-k20]="--steps 20 --learning-rate 1 --inner-loss pairwise --head-solver offset"
  [pairwise-k10-a0.3]="--steps 10 --learning-rate 0.3 --inner-loss pairwise --head-solver offset"
  [pairwise-hidden-k20]="--steps 20 --learning-rate 1 --inner-loss pairwise --adapt-layers hidden --head-solver offset"
  [ridge-0.3]="--steps 0 --head-solver ridge --head-l2 0.3"
  [ridge-1]="--steps 0 --head-solver ridge --head-l2 1"
  [ridgesum-3]="--steps 0 --head-solver ridge --head-l2 3 --head-l2-scale sum"
  [ridgesum-10]="--steps 0 --head-solver ridge --head-l2 10 --head-l2-scale sum"
  [ridgesum-30]="--steps 0 --head-solver ridge --head-l2 30 --head-l2-scale sum"
)
[ -f "$OUT/data/test.csv" ] || "$BIN" datasets movielens --raw "$DATA/movielens-latest-small" --out "$OUT/data" >&2

train() { # seed -> model directory (cached)
  local dir="$OUT/maml-s$1"
  if [ ! -f "$dir/CURRENT" ]; then
    sed -e "s/^  seed: 1$/  seed: $1/" "$OUT/data/config.yaml" > "$dir.yaml"
    "$BIN" train --config "$dir.yaml" --data "$OUT/data/train.csv" --validation "$OUT/data/validation.csv" \
      --out "$dir" --epochs "$EPOCHS" 2> "$dir.log" >&2
  fi
  echo "$dir"
}
# evaluate MODEL SPLIT POLICY -> JSON (cached)
evaluate() {
  local out="$1/eval-$2-$3.json"
  # shellcheck disable=SC2086
  [ -s "$out" ] || "$BIN" eval --model "$1" --data "$OUT/data/$2.csv" --finetune on --support store --k 5 \
    --format json ${POLICIES[$3]} > "$out"
  echo "$out"
}
# summary JSON -> "Δgauc Δndcg5" of group all
deltas() {
  python3 -c '
import json, sys
r = {(x["task"], x["metric"]): x for x in json.load(open(sys.argv[1]))["per_user"] if x["group"] == "all"}
print(r[("like", "gauc")]["diff"], r[("rating", "ndcg@5")]["diff"])' "$1"
}

echo "1/2 selection on the validation split (seed 1)" >&2
: > "$OUT/selection.tsv"
model=$(train 1)
for policy in "${!POLICIES[@]}"; do
  read -r dg dn < <(deltas "$(evaluate "$model" validation "$policy")")
  printf '%s\t%s\t%s\n' "$policy" "$dg" "$dn" | tee -a "$OUT/selection.tsv" >&2
done
CHOSEN=$(awk -F'\t' '{ s = $2 + $3; if (NR == 1 || s > best) { best = s; p = $1 } } END { print p }' "$OUT/selection.tsv")
echo "chosen on validation: $CHOSEN (${POLICIES[$CHOSEN]})" >&2

echo "2/2 test split" >&2
{
  echo "chosen on the validation split: $CHOSEN (${POLICIES[$CHOSEN]})"
  for seed in $SEEDS; do
    json=$(evaluate "$(train "$seed")" test "$CHOSEN")
    echo; echo "## seed $seed (all users; Δ = fine-tuned − unadapted, 95 % CI)"
    python3 -c '
import json, sys
for x in json.load(open(sys.argv[1]))["per_user"]:
    if x["group"] == "all":
        print("%-7s %-9s users %4d  unadapted %.4f  fine-tuned %.4f  diff %+.4f [%+.4f, %+.4f]" % (
            x["task"], x["metric"], x["users"], x["base"], x["finetuned"], x["diff"], x["ci_low"], x["ci_high"]))' "$json"
  done
} 2>&1 | tee "$OUT/results.txt"
