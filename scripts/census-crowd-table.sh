#!/usr/bin/env bash
# Crowd-level meta-learning on UCI Census-Income (KDD): the task key is a crowd (age band ×
# sex × education, `metarec datasets census`'s default), each crowd's towers are fine-tuned on
# its most recent training rows (the support store), and we ask whether MAML-trained towers
# fine-tune better than plainly trained ones:
#   (a) MMoE, no fine-tuning          (b) MMoE + plain fine-tuning at evaluation
#   (c) MAML-trained MMoE (first order, k = 1 or 3 in training), fine-tuned
#   (d) (c) with Meta-SGD (a learned inner-rate multiplier per tower parameter), fine-tuned
# Evaluation steps and α are chosen on the validation split (lowest summed logloss of the
# fine-tuned predictions); the test split is only scored with the chosen settings.
#   usage: scripts/census-crowd-table.sh     (needs a release build and $METAREC_DATA)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
RAW="$DATA/census-income-kdd/census-income.test.gz"
OUT=${OUT:-out/census-crowd}
EPOCHS=${EPOCHS:-15}
STEPS=${STEPS:-"1 3 5"}
RATES=${RATES:-"0.01 0.05 0.1"}
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/data/train.csv" ] || "$BIN" datasets census --raw "$RAW" --out "$OUT/data" >&2

evaluate() { # model split steps rate -> JSON
  "$BIN" eval --model "$1" --data "$OUT/data/$2.csv" --finetune on --steps "$3" --learning-rate "$4" --format json
}
summarise() { # JSON -> "group variant income_auc marital_auc income_logloss marital_logloss" per line
  python3 -c '
import json, sys
out = {}
for r in json.load(sys.stdin)["results"]:
    out.setdefault((r["group"], r["variant"]), {})[r["task"]] = r
def f(x): return "nan" if x is None else x
for (g, v), t in out.items():
    print(g, v, f(t["income"]["auc"]), f(t["marital"]["auc"]), f(t["income"]["logloss"]), f(t["marital"]["logloss"]))
'
}
train() { # name, meta enabled, inner steps, learned inner rates
  local cfg="$OUT/$1.yaml"
  sed -e "s/^meta: {enabled: true, order: first, inner_steps: 1/meta: {enabled: $2, learn_inner_rates: ${4:-false}, order: first, inner_steps: $3/" \
      -e "s/^  expert_layers: \[64, 32\]$/  expert_layers: [128, 64]/" "$OUT/data/config.yaml" > "$cfg"
  [ -f "$OUT/$1/CURRENT" ] || "$BIN" train --config "$cfg" --data "$OUT/data/train.csv" \
      --validation "$OUT/data/validation.csv" --out "$OUT/$1" --epochs "$EPOCHS" 2> "$OUT/$1.log"
}
train mmoe false 1
train maml-k1 true 1
train maml-k3 true 3
train maml-k1-rates true 1 true
train maml-k3-rates true 3 true

choose() { # models... -> "model steps rate" with the lowest validation logloss (fine-tuned, all rows)
  local best="" bestLoss=1e9
  for m in "$@"; do for s in $STEPS; do for r in $RATES; do
    loss=$(evaluate "$OUT/$m" validation "$s" "$r" | summarise | awk '$1=="all" && $2=="finetuned" {print $5 + $6}')
    if awk "BEGIN{exit !($loss < $bestLoss)}"; then best="$m $s $r"; bestLoss=$loss; fi
  done; done; done
  echo "$best"
}
row() { # label model variant steps rate settings
  local file="$OUT/$2-test-$4-$5.txt" all low
  evaluate "$OUT/$2" test "$4" "$5" | summarise > "$file"
  all=$(awk -v v="$3" '$1=="all" && $2==v' "$file")
  low=$(awk -v v="$3" '$1=="6-20" && $2==v' "$file")
  printf '| %s | %s | %.4f | %.4f | %.4f / %.4f |\n' "$1" "$6" \
    "$(echo "$all" | awk '{print $3}')" "$(echo "$all" | awk '{print $4}')" \
    "$(echo "$low" | awk '{print $3}')" "$(echo "$low" | awk '{print $4}')"
}
echo "| model | fine-tuning (steps, α; chosen on validation) | income AUC | marital AUC | 6–20-row crowds: income / marital AUC |"
echo "|---|---|---:|---:|---:|"
read -r m s r <<< "$(choose mmoe)"
row "(a) MMoE" mmoe base "$s" "$r" "none"
row "(b) MMoE + fine-tuning" mmoe finetuned "$s" "$r" "$s, $r"
read -r m s r <<< "$(choose maml-k1 maml-k3)"
row "(c) MAML, first order ($m)" "$m" finetuned "$s" "$r" "$s, $r"
read -r m s r <<< "$(choose maml-k1-rates maml-k3-rates)"
row "(d) MAML, first order + Meta-SGD ($m)" "$m" finetuned "$s" "$r" "$s, $r"
