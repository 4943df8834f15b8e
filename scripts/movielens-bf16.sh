#!/usr/bin/env bash
# bf16 support rows against float32 on the same trained models (issue 23, part 5): the per-user
# metrics of fine-tuned scoring with the support store at `--support-precision f32` and `bf16`,
# paired over users (`metarec compare`: b = bf16 − a = f32, bootstrap 95 % CI over users).
#
#   warm:       the models and split of scripts/movielens-warm-peruser.sh, `eval --support store`
#               (the model's rows restored into the store at each precision, then pulled), the
#               policy it chose on validation (pairwise-hidden-k20) and serving's default (k = 3).
#   user-cold:  the chosen candidate of scripts/movielens-usercold.sh (mmoe-encsg: the support
#               encoder, whose item keys ride in the rows as bit patterns) and its policy
#               (ridgesum-3), `eval-cold` (support rows appended as events), all folds pooled.
#
#   usage: scripts/movielens-bf16.sh    (needs a release build and the two scripts' models:
#          WARM=out/warm, USERCOLD=out/usercold; writes OUT=out/bf16)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
WARM=${WARM:-out/warm}
USERCOLD=${USERCOLD:-out/usercold}
OUT=${OUT:-out/bf16}
SEEDS=${SEEDS:-"1 2 3"}
FOLDS=${FOLDS:-5}
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
declare -A WARM_POLICIES=(
  [pairwise-hidden-k20]="--steps 20 --learning-rate 1 --inner-loss pairwise --adapt-layers hidden --head-solver offset"
  [pointwise-k3]="--steps 3 --learning-rate 0.05"
)
COLD_POLICY="--steps 0 --head-solver ridge --head-l2 3 --head-l2-scale sum"

{
  for policy in "${!WARM_POLICIES[@]}"; do
    for seed in $SEEDS; do
      for p in f32 bf16; do
        dir="$OUT/warm-$policy-s$seed-$p"
        # shellcheck disable=SC2086
        [ -f "$dir/finetuned.csv" ] || "$BIN" eval --model "$WARM/maml-s$seed" --data "$WARM/data/test.csv" --finetune on \
          --support store --support-precision "$p" --scored-out "$dir" ${WARM_POLICIES[$policy]} > "$dir.txt"
      done
      echo "## warm, test split, $policy, seed $seed: fine-tuned with bf16 rows (b) vs f32 rows (a)"
      "$BIN" compare --k 5 --a "$OUT/warm-$policy-s$seed-f32/finetuned.csv" --b "$OUT/warm-$policy-s$seed-bf16/finetuned.csv"
      echo
    done
  done
  args=()
  for i in $(seq 0 $((FOLDS - 1))); do
    for p in f32 bf16; do
      dir="$OUT/usercold-f$i-$p"
      # shellcheck disable=SC2086
      [ -f "$dir/finetuned.csv" ] || "$BIN" eval-cold --model "$USERCOLD/models/mmoe-encsg-s1/fold-$i" \
        --data "$USERCOLD/data/fold-$i/test.csv" --scored-out "$dir" --support-precision "$p" $COLD_POLICY > "$dir.log" 2>&1
    done
    args+=(--a "$OUT/usercold-f$i-f32/finetuned.csv" --b "$OUT/usercold-f$i-bf16/finetuned.csv")
  done
  echo "## user-cold, test folds pooled, mmoe-encsg seed 1, ridgesum-3: fine-tuned with bf16 rows (b) vs f32 rows (a)"
  "$BIN" compare --k 5 "${args[@]}"
} 2>&1 | tee "$OUT/results.txt"
