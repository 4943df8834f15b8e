#!/usr/bin/env bash
# Per-user fine-tuning on MovieLens (ml-latest-small), chronological per-user split:
#   (a) MMoE, no fine-tuning          (b) MMoE + plain fine-tuning at evaluation
#   (c) MAML-trained MMoE, 1st order  (d) MAML-trained MMoE, 2nd order      — (c), (d) fine-tuned
#   (e), (f): (c), (d) with Meta-SGD, a learned inner-rate multiplier per tower parameter
# Fine-tuning adapts each user's towers on the user's most recent training rows (the model's
# support store) with the same inner loop as training and serving. Inner steps, learning rate
# and the fewest support rows a user needs to be fine-tuned (fewer: base towers, serving's
# finetune_min_support_rows) are chosen on the validation split (lowest like-logloss +
# rating-MSE); the test split is only scored with the chosen settings.
#   usage: scripts/movielens-table.sh            (needs a release build and $METAREC_DATA)
#          SEED=2 OUT=out/movielens-seed2 scripts/movielens-table.sh   (another initialisation and shuffle)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
OUT=${OUT:-out/movielens}
EPOCHS=${EPOCHS:-8}
SEED=${SEED:-1}
STEPS=${STEPS:-"1 3 5"}
RATES=${RATES:-"0.01 0.05 0.1"}
MIN_SUPPORT=${MIN_SUPPORT:-"1 11 21"}
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/data/train.csv" ] || "$BIN" datasets movielens --raw "$DATA/movielens-latest-small" --out "$OUT/data" >&2

# eval MODEL SPLIT STEPS RATE MIN_SUPPORT -> JSON of the base and fine-tuned results
evaluate() {
  "$BIN" eval --model "$1" --data "$OUT/data/$2.csv" --finetune on --steps "$3" --learning-rate "$4" \
    --min-support "$5" --format json
}
# summary JSON -> "group variant like_auc like_logloss rating_rmse" per line
summarise() {
  python3 -c '
import json, sys
rows = json.load(sys.stdin)["results"]
out = {}
for r in rows:
    key = (r["group"], r["variant"])
    out.setdefault(key, {})[r["task"]] = r
for (group, variant), t in out.items():
    print(group, variant, t["like"]["auc"], t["like"]["logloss"], t["rating"]["rmse"], t["like"]["tasks"] if "tasks" in t["like"] else 0)
'
}

train() { # name, meta enabled, order, inner steps, learned inner rates
  local cfg="$OUT/$1.yaml"
  sed -e "s/^meta: {enabled: true, order: first, inner_steps: 1/meta: {enabled: $2, learn_inner_rates: ${5:-false}, order: $3, inner_steps: $4/" \
      -e "s/^  seed: 1$/  seed: $SEED/" "$OUT/data/config.yaml" |
    awk -v seed="$SEED" '{ print } /^  architecture: mmoe$/ { print "  seed: " seed }' > "$cfg"
  [ -f "$OUT/$1/CURRENT" ] || "$BIN" train --config "$cfg" --data "$OUT/data/train.csv" \
      --validation "$OUT/data/validation.csv" --out "$OUT/$1" --epochs "$EPOCHS" 2> "$OUT/$1.log"
}
# Candidates: plain MMoE; MAML with 1 or 3 inner steps (α = 0.05) in training, each order, with
# and without learned inner rates (Meta-SGD).
train mmoe false first 1
for order in first second; do for k in 1 3; do
  train "maml-$order-k$k" true "$order" "$k"
  train "maml-$order-k$k-rates" true "$order" "$k" true
done; done

# Choose (model, evaluation steps, rate, min support rows) on validation: lowest like-logloss +
# rating-RMSE² of the fine-tuned predictions, over every candidate model given.
choose() {
  local best="" bestLoss=1e9
  for m in "$@"; do for s in $STEPS; do for r in $RATES; do for n in $MIN_SUPPORT; do
    loss=$(evaluate "$OUT/$m" validation "$s" "$r" "$n" | summarise | awk '$1=="all" && $2=="finetuned" {print $4 + $5*$5}')
    if awk "BEGIN{exit !($loss < $bestLoss)}"; then best="$m $s $r $n"; bestLoss=$loss; fi
  done; done; done; done
  echo "$best"
}

echo "| model | fine-tuning (steps, α, min support rows; chosen on validation) | like AUC | rating RMSE | like AUC, lowest-activity bucket | rating RMSE, lowest-activity bucket |"
echo "|---|---|---:|---:|---:|---:|"
row() { # label model variant steps rate min-support description
  local file="$OUT/$2-test-$4-$5-$6.txt"
  evaluate "$OUT/$2" test "$4" "$5" "$6" | summarise > "$file"
  local all low lowName
  all=$(awk -v v="$3" '$1=="all" && $2==v' "$file")
  lowName=$(awk '$1!="all" {print $1}' "$file" | sort -u | head -1)
  for g in 0 1-5 6-20 21-100 ">100"; do
    if grep -q "^$g " "$file"; then lowName=$g; break; fi
  done
  low=$(awk -v v="$3" -v g="$lowName" '$1==g && $2==v' "$file")
  printf '| %s | %s | %.4f | %.4f | %.4f (%s rows) | %.4f |\n' "$1" "$7" \
    "$(echo "$all" | awk '{print $3}')" "$(echo "$all" | awk '{print $5}')" \
    "$(echo "$low" | awk '{print $3}')" "$lowName" "$(echo "$low" | awk '{print $5}')"
}
read -r m s r n <<< "$(choose mmoe)";  row "(a) MMoE" mmoe base 1 0.01 1 "none"
row "(b) MMoE + fine-tuning" mmoe finetuned "$s" "$r" "$n" "$s, $r, $n"
read -r m s r n <<< "$(choose maml-first-k1 maml-first-k3)"
row "(c) MAML 1st order ($m)" "$m" finetuned "$s" "$r" "$n" "$s, $r, $n"
read -r m s r n <<< "$(choose maml-second-k1 maml-second-k3)"
row "(d) MAML 2nd order ($m)" "$m" finetuned "$s" "$r" "$n" "$s, $r, $n"
read -r m s r n <<< "$(choose maml-first-k1-rates maml-first-k3-rates)"
row "(e) MAML 1st order + Meta-SGD ($m)" "$m" finetuned "$s" "$r" "$n" "$s, $r, $n"
read -r m s r n <<< "$(choose maml-second-k1-rates maml-second-k3-rates)"
row "(f) MAML 2nd order + Meta-SGD ($m)" "$m" finetuned "$s" "$r" "$n" "$s, $r, $n"
