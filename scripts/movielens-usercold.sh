#!/usr/bin/env bash
# User-cold protocol on MovieLens (ml-latest-small), docs/DESIGN.md §Personalisation: users hashed
# into 5 folds; per fold i the fold's users are held out (test), fold (i+1) mod 5 is the validation
# fold, the rest train. A held-out user's earlier rows are sent as feedback events (support), their
# last 10 rows are the query to rank. Every user is a test user exactly once.
#
#   1. Selection (seed 1, validation folds only): every training candidate (TRAIN) is trained per
#      fold; every serving policy (POLICIES) scores the fold's validation users through the serving
#      path (eval-cold: events, then score). The pair with the highest pooled validation
#      nDCG@5(rating) + GAUC(like) of the fine-tuned scores is chosen (criterion fixed in advance).
#   2. Test (SEEDS): the chosen pair per fold and seed on the test users, base and fine-tuned; the
#      plain MMoE with the same policy; baselines item-mean, popularity, mf (λ / prior chosen on the
#      validation fold).
#   3. Tables: metarec compare over all 5 folds' test users (paired bootstrap 95 % CIs over users),
#      fine-tuned against unadapted, item-mean and mf, per seed; Kendall τ and top-5 changes.
#
#   usage: scripts/movielens-usercold.sh            (needs a release build and $METAREC_DATA)
# About 25 minutes on 2 idle cores (release build); ONLY="a b" runs only those training candidates. Results: $OUT/selection.tsv, $OUT/results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
OUT=${OUT:-out/usercold}
FOLDS=${FOLDS:-5}
QUERY=${QUERY:-10}
FOLD_SEED=${FOLD_SEED:-1}
EPOCHS=${EPOCHS:-10}
SEEDS=${SEEDS:-"1 2 3"}
L2=${L2:-"1,3,10,30"}            # mf ridge λ candidates, chosen on the validation fold
PRIOR=${PRIOR:-"1,5,20"}         # item-mean prior counts, chosen on the validation fold
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"

# Training candidates: name → `meta` section; a "-nouid" name drops the user_id feature (a held-out
# user has no embedding row, so personalisation must come from adaptation).
declare -A TRAIN=(
  [mmoe]="{enabled: false}"
  [maml]="{enabled: true, order: first, inner_steps: 1, inner_learning_rate: 0.05, min_task_rows: 4, support_fraction: 0.5}"
  [maml-nouid]="{enabled: true, order: first, inner_steps: 1, inner_learning_rate: 0.05, min_task_rows: 4, support_fraction: 0.5}"
  [maml-ridge-nouid]="{enabled: true, order: first, inner_steps: 0, head_solver: ridge, head_l2: 0.3, min_task_rows: 4, support_fraction: 0.5}"
  [maml-pairwise-nouid]="{enabled: true, order: first, inner_steps: 3, inner_learning_rate: 0.3, inner_loss: pairwise, min_task_rows: 4, support_fraction: 0.5}"
  [mmoe-enc]="{enabled: false}"
  [mmoe-enc-nouid]="{enabled: false}"
  [maml-enc]="{enabled: true, order: first, inner_steps: 1, inner_learning_rate: 0.05, min_task_rows: 4, support_fraction: 0.5}"
  [maml-enc-nouid]="{enabled: true, order: first, inner_steps: 1, inner_learning_rate: 0.05, min_task_rows: 4, support_fraction: 0.5}"
  [mmoe-encown]="{enabled: false}"
  [mmoe-encown-nouid]="{enabled: false}"
  [maml-encown]="{enabled: true, order: first, inner_steps: 1, inner_learning_rate: 0.05, min_task_rows: 4, support_fraction: 0.5}"
  [mmoe-enclw]="{enabled: false}"
  [mmoe-encmean]="{enabled: false}"
  [mmoe-encsg]="{enabled: false}"
  [mmoe-encsg-nouid]="{enabled: false}"
  [mmoe-encmeansg]="{enabled: false}"
  [mmoe-cap256]="{enabled: false}"
  [maml-ridgesum-cap256]="{enabled: true, order: first, inner_steps: 0, head_solver: ridge, head_l2: 10, head_l2_scale: sum, min_task_rows: 8, support_fraction: 0.8, task_chunk_rows: 128}"
  [maml-ridgesum-cap256-nouid]="{enabled: true, order: first, inner_steps: 0, head_solver: ridge, head_l2: 10, head_l2_scale: sum, min_task_rows: 8, support_fraction: 0.8, task_chunk_rows: 128}"
)
# A "-cap256" name keeps a user's newest 256 rows (support_store.capacity) instead of 64: a
# held-out user has 166 support rows on average, which matrix factorisation's fold-in all reads.
# A "-enc" name adds the support encoder (docs/DESIGN.md §Personalisation): the user's earlier
# items pooled into the bottom's input, mean and rating-centred (label-weighted) blocks; over the
# item embeddings themselves, or ("-encown") over their own rows (SVD++'s y_j).
ENCODER=${ENCODER:-"{source: item_id, pooling: [mean, label_weighted], label: rating}"}
ENCODER_OWN=${ENCODER_OWN:-"{source: item_id, pooling: [mean, label_weighted], label: rating, embedding: own}"}
ENCODER_LW=${ENCODER_LW:-"{source: item_id, pooling: [label_weighted], label: rating}"}     # "-enclw": offset-free pool only
ENCODER_MEAN=${ENCODER_MEAN:-"{source: item_id, pooling: [mean]}"}                        # "-encmean": mean pool only
ENCODER_SG=${ENCODER_SG:-"{source: item_id, pooling: [mean, label_weighted], label: rating, stop_gradient: true}"}  # "-encsg"
ENCODER_MEAN_SG=${ENCODER_MEAN_SG:-"{source: item_id, pooling: [mean], stop_gradient: true}"}                      # "-encmeansg"
# Candidates to run (default: all); e.g. ONLY="mmoe mmoe-enc maml-enc-nouid" cuts the sweep.
ONLY=${ONLY:-"${!TRAIN[*]}"}
# Serving policies: name → eval-cold flags (steps, rate, inner loss, adapted layers, head).
declare -A POLICIES=(
  [pointwise-k3]="--steps 3 --learning-rate 0.05"
  [pairwise-k20]="--steps 20 --learning-rate 1 --inner-loss pairwise --head-solver offset"
  [pairwise-k20-a0.5]="--steps 20 --learning-rate 0.5 --inner-loss pairwise --head-solver offset"
  [pairwise-hidden-k20]="--steps 20 --learning-rate 1 --inner-loss pairwise --adapt-layers hidden --head-solver offset"
  [listwise-k20]="--steps 20 --learning-rate 1 --inner-loss listwise --head-solver offset"
  [ridge-0.1]="--steps 0 --head-solver ridge --head-l2 0.1"
  [ridge-0.3]="--steps 0 --head-solver ridge --head-l2 0.3"
  [ridgesum-3]="--steps 0 --head-solver ridge --head-l2 3 --head-l2-scale sum"
  [ridgesum-10]="--steps 0 --head-solver ridge --head-l2 10 --head-l2-scale sum"
  [ridgesum-30]="--steps 0 --head-solver ridge --head-l2 30 --head-l2-scale sum"
)

[ -f "$OUT/data/fold-$((FOLDS - 1))/test.csv" ] ||
  "$BIN" datasets movielens --raw "$DATA/movielens-latest-small" --out "$OUT/data" \
    --protocol user-cold --folds "$FOLDS" --query "$QUERY" --fold-seed "$FOLD_SEED" >&2

# train CANDIDATE FOLD SEED -> model directory (cached)
train() {
  local name=$1 i=$2 seed=$3 d="$OUT/data/fold-$2" dir="$OUT/models/$1-s$3/fold-$2"
  if [ ! -f "$dir/CURRENT" ]; then
    mkdir -p "$dir"
    sed -e "s/^meta: .*/meta: ${TRAIN[$name]}/" -e "s/^  seed: 1$/  seed: $seed/" "$d/config.yaml" > "$dir.yaml"
    [[ $name == *-nouid ]] && sed -i '/- {name: user_id, kind: categorical}/d' "$dir.yaml"
    local encoder=$ENCODER
    [[ $name == *-encown* ]] && encoder=$ENCODER_OWN
    [[ $name == *-enclw* ]] && encoder=$ENCODER_LW
    [[ $name == *-encmean* ]] && encoder=$ENCODER_MEAN
    [[ $name == *-encsg* ]] && encoder=$ENCODER_SG
    [[ $name == *-encmeansg* ]] && encoder=$ENCODER_MEAN_SG
    [[ $name == *-cap256* ]] && printf 'support_store: {capacity: 256}\n' >> "$dir.yaml"
    [[ $name == *-enc* ]] && sed -i "s/^  shared_bottom_layers: \(.*\)$/  shared_bottom_layers: \1\n  support_encoder: $encoder/" "$dir.yaml"
    "$BIN" train --config "$dir.yaml" --data "$d/train.csv" --validation "$d/validation.csv" --out "$dir" \
      --epochs "$EPOCHS" 2> "$dir.log" >&2
  fi
  echo "$dir"
}

# score MODEL FOLD SPLIT POLICY -> scored-rows directory (cached)
score() {
  local out="$1/$3-$4"
  # shellcheck disable=SC2086
  [ -f "$out/finetuned.csv" ] ||
    "$BIN" eval-cold --model "$1" --data "$OUT/data/fold-$2/$3.csv" --scored-out "$out" ${POLICIES[$4]} > "$out.log" 2>&1
  echo "$out"
}

# pooled FILES... -> "ndcg5 gauc" of the b side (pooled users of all folds)
pooled() {
  "$BIN" compare --k 5 --resamples 1 --format json "$@" 2>/dev/null | python3 -c '
import json, sys
r = {(x["task"], x["metric"]): x for x in json.load(sys.stdin)["results"]}
print(r[("rating", "ndcg@5")]["b"], r[("like", "gauc")]["b"])'
}

echo "1/3 selection on the validation folds (seed 1)" >&2
: > "$OUT/selection.tsv"
for name in $ONLY; do
  for policy in "${!POLICIES[@]}"; do
    args=()
    for i in $(seq 0 $((FOLDS - 1))); do
      m=$(train "$name" "$i" 1)
      s=$(score "$m" "$i" validation "$policy")
      args+=(--a "$s/base.csv" --b "$s/finetuned.csv")
    done
    read -r ndcg gauc < <(pooled "${args[@]}")
    printf '%s\t%s\t%s\t%s\n' "$name" "$policy" "$ndcg" "$gauc" | tee -a "$OUT/selection.tsv" >&2
  done
done
# The plain MMoE is reported, not selected: it is the non-meta-learned, encoder-less reference.
best() { awk -F'\t' '{ s = $3 + $4; if (s > best) { best = s; line = $1 " " $2 } } END { print line }'; }
read -r CHOSEN_TRAIN CHOSEN_POLICY < <(grep -v -P '^mmoe\t' "$OUT/selection.tsv" | best)
echo "chosen on validation: $CHOSEN_TRAIN with $CHOSEN_POLICY" >&2
# The best encoder candidate (same criterion), reported unadapted against the plain MMoE.
read -r ENC_TRAIN ENC_POLICY < <(grep -P '^[^\t]*-enc' "$OUT/selection.tsv" | best)
echo "best encoder candidate on validation: ${ENC_TRAIN:-none} with ${ENC_POLICY:-none}" >&2

echo "2/3 test folds: the chosen pair, plain MMoE, baselines" >&2
for i in $(seq 0 $((FOLDS - 1))); do
  d="$OUT/data/fold-$i" b="$OUT/baselines/fold-$i"
  mkdir -p "$b"
  for seed in $SEEDS; do
    score "$(train "$CHOSEN_TRAIN" "$i" "$seed")" "$i" test "$CHOSEN_POLICY" > /dev/null
    score "$(train mmoe "$i" "$seed")" "$i" test "$CHOSEN_POLICY" > /dev/null
    [ -z "$ENC_TRAIN" ] || score "$(train "$ENC_TRAIN" "$i" "$seed")" "$i" test "$CHOSEN_POLICY" > /dev/null
  done
  [ -f "$b/mf.csv" ] || {
    "$BIN" baseline --method item-mean --train "$d/train.csv" --validation "$d/validation.csv" \
      --prior-count "$PRIOR" --data "$d/test.csv" --out "$b/item-mean.csv" >&2
    "$BIN" baseline --method popularity --train "$d/train.csv" --data "$d/test.csv" --out "$b/popularity.csv" >&2
    "$BIN" baseline --method mf --train "$d/train.csv" --validation "$d/validation.csv" \
      --l2 "$L2" --data "$d/test.csv" --out "$b/mf.csv" >&2
  }
done

echo "3/3 tables over all test users" >&2
files() { for i in $(seq 0 $((FOLDS - 1))); do echo "--$1" "$2/fold-$i/$3"; done; }
{
  echo "chosen on validation folds: training $CHOSEN_TRAIN, serving policy $CHOSEN_POLICY (${POLICIES[$CHOSEN_POLICY]})"
  for seed in $SEEDS; do
    run="$OUT/models/$CHOSEN_TRAIN-s$seed" plain="$OUT/models/mmoe-s$seed" t="test-$CHOSEN_POLICY"
    echo; echo "## seed $seed: fine-tuned (b) vs the same model unadapted (a)"
    # shellcheck disable=SC2046
    "$BIN" compare --k 5,10 $(files a "$run" "$t/base.csv") $(files b "$run" "$t/finetuned.csv")
    for baseline in item-mean popularity mf; do
      echo; echo "## seed $seed: fine-tuned (b) vs $baseline (a)"
      # shellcheck disable=SC2046
      "$BIN" compare --k 5,10 $(files a "$OUT/baselines" "$baseline.csv") $(files b "$run" "$t/finetuned.csv")
    done
    echo; echo "## seed $seed: plain MMoE fine-tuned (b) vs unadapted (a)"
    # shellcheck disable=SC2046
    "$BIN" compare --k 5,10 $(files a "$plain" "$t/base.csv") $(files b "$plain" "$t/finetuned.csv")
    if [ -n "$ENC_TRAIN" ]; then
      enc="$OUT/models/$ENC_TRAIN-s$seed"
      echo; echo "## seed $seed: encoder model $ENC_TRAIN unadapted (b) vs plain MMoE unadapted (a)"
      # shellcheck disable=SC2046
      "$BIN" compare --k 5,10 $(files a "$plain" "$t/base.csv") $(files b "$enc" "$t/base.csv")
      echo; echo "## seed $seed: encoder model $ENC_TRAIN unadapted (b) vs item-mean (a)"
      # shellcheck disable=SC2046
      "$BIN" compare --k 5,10 $(files a "$OUT/baselines" item-mean.csv) $(files b "$enc" "$t/base.csv")
      echo; echo "## seed $seed: encoder model $ENC_TRAIN unadapted (b) vs mf (a)"
      # shellcheck disable=SC2046
      "$BIN" compare --k 5,10 $(files a "$OUT/baselines" mf.csv) $(files b "$enc" "$t/base.csv")
    fi
  done
  echo; echo "## mf (b) vs item-mean (a)"
  # shellcheck disable=SC2046
  "$BIN" compare --k 5,10 $(files a "$OUT/baselines" item-mean.csv) $(files b "$OUT/baselines" mf.csv)
} 2>&1 | tee "$OUT/results.txt"
