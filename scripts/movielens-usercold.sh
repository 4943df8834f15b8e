#!/usr/bin/env bash
# User-cold protocol on MovieLens (ml-latest-small), DESIGN §1.1: users hashed into 5 folds;
# per fold i the fold's users are held out (test), fold (i+1) mod 5 is the validation fold, the
# rest train. A held-out user's earlier rows are sent as feedback events (support), their last
# 10 rows are the query to rank. Per fold this script
#   1. trains a MetaRec model on fold-i/train.csv (early stopping on fold-i/validation.csv),
#   2. scores fold-i/test.csv through the serving path, fine-tuning off and on (eval-cold),
#   3. scores it with the baselines item-mean, popularity and mf (ridge fold-in; λ chosen on
#      the validation fold),
# leaving scored-rows files (user,task,label,score) in out/usercold/fold-i/:
#   base.csv finetuned.csv item-mean.csv popularity.csv mf.csv
#
#   usage: scripts/movielens-usercold.sh                     (needs a release build and $METAREC_DATA)
#          FOLDS_TO_RUN="0" EPOCHS=3 scripts/movielens-usercold.sh   (one fold, quicker)
# Five folds at EPOCHS=5 take ≈ 1 minute on 2 cores (release build).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
OUT=${OUT:-out/usercold}
FOLDS=${FOLDS:-5}
QUERY=${QUERY:-10}
FOLD_SEED=${FOLD_SEED:-1}
FOLDS_TO_RUN=${FOLDS_TO_RUN:-$(seq -s ' ' 0 $((FOLDS - 1)))}
EPOCHS=${EPOCHS:-5}
L2=${L2:-"1,3,10,30"}            # mf ridge λ candidates, chosen on the validation fold
PRIOR=${PRIOR:-"1,5,20"}         # item-mean prior counts, chosen on the validation fold
EVAL_FLAGS=${EVAL_FLAGS:-}       # e.g. "--steps 5 --learning-rate 0.05 --min-support 11"
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"

[ -f "$OUT/data/fold-$((FOLDS - 1))/test.csv" ] ||
  "$BIN" datasets movielens --raw "$DATA/movielens-latest-small" --out "$OUT/data" \
    --protocol user-cold --folds "$FOLDS" --query "$QUERY" --fold-seed "$FOLD_SEED" >&2

for i in $FOLDS_TO_RUN; do
  d="$OUT/data/fold-$i" o="$OUT/fold-$i"
  mkdir -p "$o"
  echo "fold $i: training" >&2
  [ -f "$o/model/manifest.json" ] ||
    "$BIN" train --config "$d/config.yaml" --data "$d/train.csv" --validation "$d/validation.csv" \
      --out "$o/model" --epochs "$EPOCHS" 2> "$o/train.log"
  echo "fold $i: MetaRec through the serving path (base, finetuned)" >&2
  # shellcheck disable=SC2086
  "$BIN" eval-cold --model "$o/model" --data "$d/test.csv" --scored-out "$o" $EVAL_FLAGS
  echo "fold $i: baselines" >&2
  "$BIN" baseline --method item-mean --train "$d/train.csv" --validation "$d/validation.csv" \
    --prior-count "$PRIOR" --data "$d/test.csv" --out "$o/item-mean.csv"
  "$BIN" baseline --method popularity --train "$d/train.csv" --data "$d/test.csv" --out "$o/popularity.csv"
  "$BIN" baseline --method mf --train "$d/train.csv" --validation "$d/validation.csv" \
    --l2 "$L2" --data "$d/test.csv" --out "$o/mf.csv"
done

# TODO(compare): per-user GAUC / nDCG@K / recall@K with paired bootstrap CIs over the folds'
# scored-rows files, e.g.
#   "$BIN" compare --baseline base $(for v in finetuned item-mean popularity mf; do echo "$OUT/fold-*/$v.csv"; done)
# (`metarec compare` is on another branch; the integrator fills this step in.)
echo "scored rows in $OUT/fold-{${FOLDS_TO_RUN// /,}}/{base,finetuned,item-mean,popularity,mf}.csv" >&2
