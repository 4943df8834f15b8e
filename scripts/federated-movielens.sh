#!/usr/bin/env bash
# Federated personalisation on MovieLens (ml-latest-small), warm chronological split (each user's
# earlier 70 % train, later rows validate and test; clients = the 610 users): DP-FedAvg over the
# towers (`metarec federated`) at ε ∈ {∞, 8, 3, 1} (δ = 1e-5, σ calibrated to end each run at
# its ε), against centralised training on the same split. The bottom (embeddings, experts,
# gates) comes frozen from the central model (--init) and the towers start from the config's
# seeded initialisation (--reset-towers), so everything the federated towers learn went through
# the clipped, noised aggregate; the (ε, δ) covers the tower updates only, not the bottom.
# DATASET=synthetic (scripts/federated-synthetic.sh) runs the same on the synthetic generator's
# ≈ 5 000 users (per-user weights, two binary tasks).
#
#   1. Selection (validation split, ε = 3, seed 1): clients a round m ∈ M_GRID (movielens: 61,
#      183, i.e. q = 0.1, 0.3), clipping norm S ∈ {0.1, 0.3, 1}, rounds ∈ {100, 300}; 5 local
#      steps at 0.05, server rate 1. Criterion fixed in advance: the last round's validation
#      Σ AUC − Σ RMSE over the tasks (movielens: like AUC − rating RMSE).
#   2. Test: the chosen settings at every ε, and the central model.
#
# Per model, on the test split: the global model and the model fine-tuned per user on the
# device's rows (the support store: each user's newest training rows) with POLICY (movielens:
# the serving policy chosen on validation by scripts/movielens-warm-peruser.sh: pairwise, 20
# steps at α = 1 on the towers' hidden layer, the offset refitted; synthetic: the model's own); per-user GAUC of binary tasks and nDCG@5 of graded ones,
# with paired bootstrap 95 % CIs over users of fine-tuned − global (`eval`) and of
# federated − central for the same variant (`compare`).
#
#   usage: [SEED=1] scripts/federated-movielens.sh      (needs a release build and $METAREC_DATA)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
DATASET=${DATASET:-movielens}
EPOCHS=${EPOCHS:-8}
SEED=${SEED:-1}
EPSILONS=${EPSILONS:-"inf 8 3 1"}
LOCAL_STEPS=${LOCAL_STEPS:-5}
LOCAL_LR=${LOCAL_LR:-0.05}
SERVER_LR=${SERVER_LR:-1}
case "$DATASET" in
  movielens)
    OUT=${OUT:-out/federated}
    M_GRID=${M_GRID:-"61 183"}
    POLICY=${POLICY-"--steps 20 --learning-rate 1 --inner-loss pairwise --adapt-layers hidden --head-solver offset"} ;;
  synthetic)
    OUT=${OUT:-out/federated-synthetic}
    M_GRID=${M_GRID:-"500 1500"}
    POLICY=${POLICY-""} ;;
  *) echo "DATASET must be movielens or synthetic, got $DATASET" >&2; exit 1 ;;
esac
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
if [ ! -f "$OUT/data/test.csv" ]; then
  if [ "$DATASET" = movielens ]; then
    "$BIN" datasets movielens --raw "$DATA/movielens-latest-small" --out "$OUT/data" >&2
  else
    "$BIN" datasets synthetic --out "$OUT/data" >&2
  fi
fi
D="$OUT/data"

central="$OUT/central-s$SEED"
if [ ! -f "$central/CURRENT" ]; then
  sed -e "s/^  seed: 1$/  seed: $SEED/" "$D/config.yaml" > "$central.yaml"
  "$BIN" train --config "$central.yaml" --data "$D/train.csv" --validation "$D/validation.csv" \
    --out "$central" --epochs "$EPOCHS" 2> "$central.log" >&2
fi

# federated EPSILON CLIENTS CLIP ROUNDS DIR: a federated model directory (cached), its log in DIR.log
federated() {
  local noise dir="$5"
  if [ "$1" = inf ]; then noise="--noise-multiplier 0"; else noise="--target-epsilon $1"; fi
  if [ ! -f "$dir/CURRENT" ]; then
    # shellcheck disable=SC2086
    "$BIN" federated --config "$central.yaml" --data "$D/train.csv" --validation "$D/validation.csv" \
      --init "$central" --reset-towers --out "$dir" --rounds "$4" --clients-per-round "$2" \
      --local-steps "$LOCAL_STEPS" --local-learning-rate "$LOCAL_LR" --clip-norm "$3" \
      --server-learning-rate "$SERVER_LR" --delta 1e-5 $noise --seed "$SEED" --report-every 25 2> "$dir.log" >&2
  fi
  echo "$dir"
}
# criterion LOG ROUNDS -> Σ AUC − Σ RMSE of the last round's validation metrics
criterion() {
  grep "round $2/$2" "$1" | python3 -c '
import re, sys
line = sys.stdin.read()
print(sum(map(float, re.findall(r"auc ([0-9.]+)", line))) - sum(map(float, re.findall(r"rmse ([0-9.]+)", line))))'
}

echo "1/2 selection on the validation split (ε = 3)" >&2
if [ -z "${CHOSEN:-}" ]; then
  : > "$OUT/selection.tsv"
  for m in $M_GRID; do for clip in 0.1 0.3 1; do for rounds in 100 300; do
    dir=$(federated 3 "$m" "$clip" "$rounds" "$OUT/select-m$m-S$clip-R$rounds")
    metrics=$(grep "round $rounds/$rounds" "$dir.log" | sed -E 's/.*\); //')
    printf '%s %s %s\t%s\t%s\n' "$m" "$clip" "$rounds" "$(criterion "$dir.log" "$rounds")" "$metrics" | tee -a "$OUT/selection.tsv" >&2
  done; done; done
  CHOSEN=$(awk -F'\t' '{ if (NR == 1 || $2 > best) { best = $2; p = $1 } } END { print p }' "$OUT/selection.tsv")
fi
read -r CLIENTS CLIP ROUNDS <<< "$CHOSEN"
echo "chosen on validation: $CLIENTS clients a round, S = $CLIP, $ROUNDS rounds" >&2

evaluate() { # model -> eval JSON, scored rows in MODEL.scored/ (cached)
  # shellcheck disable=SC2086
  [ -s "$1.eval.json" ] || "$BIN" eval --model "$1" --data "$D/test.csv" --finetune on --support store --k 5 \
    --format json --scored-out "$1.scored" $POLICY > "$1.eval.json"
  echo "$1.eval.json"
}
compare() { # variant model -> compare JSON of model − central (cached)
  local out="$2.compare-$1.json"
  [ -s "$out" ] || "$BIN" compare --a "$central.scored/$1.csv" --b "$2.scored/$1.csv" --k 5 --format json > "$out"
  echo "$out"
}

evaluate "$central" > /dev/null
{
  echo "2/2 test split ($DATASET): seed $SEED; $ROUNDS rounds, $CLIENTS clients a round, $LOCAL_STEPS local steps at $LOCAL_LR,"
  echo "clip S = $CLIP, server rate $SERVER_LR, δ = 1e-5, central noise; fine-tuning policy: ${POLICY:-the model config}"
  for eps in $EPSILONS; do
    model=$(federated "$eps" "$CLIENTS" "$CLIP" "$ROUNDS" "$OUT/fed-eps$eps-s$SEED")
    evaluate "$model" > /dev/null
    compare base "$model" > /dev/null
    compare finetuned "$model" > /dev/null
  done
  # One row per model: global AUC (binary) / RMSE (regression) per task, then per task its per-user
  # metric (GAUC for binary tasks, nDCG@5 for graded ones) global → fine-tuned with Δ [CI]; then
  # federated − central per task and variant.
  python3 - "$central" $(for eps in $EPSILONS; do echo "$OUT/fed-eps$eps-s$SEED"; done) <<'PY'
import json, re, sys
def per_user(path):
    d = json.load(open(path))
    return {(x["task"], x["metric"]): x for x in d.get("per_user", d.get("results", [])) if x["group"] == "all"}
def glob(path):
    return {(x["variant"], x["task"]): x for x in json.load(open(path))["results"] if x["group"] == "all"}
def ci(x): return "%+.4f [%+.4f, %+.4f]" % (x["diff"], x["ci_low"], x["ci_high"])
central = sys.argv[1]
p0 = per_user(central + ".eval.json")
tasks = sorted({t for t, _ in p0}, key=lambda t: list(dict.fromkeys(t for t, _ in p0)).index(t))
metric = {t: ("gauc" if (t, "gauc") in p0 else "ndcg@5") for t in tasks}
gmetric = {t: ("auc" if glob(central + ".eval.json")[("base", t)].get("auc") is not None else "rmse") for t in tasks}
head = ["model", "ε", "σ"] + ["%s %s g → ft" % (t, gmetric[t].upper()) for t in tasks]
for t in tasks: head += ["%s %s g → ft" % (t, metric[t].upper().replace("NDCG", "nDCG")), "Δ ft − g [CI]"]
print(); print("| " + " | ".join(head) + " |"); print("|" + "---|" * len(head))
vs = []
for m in sys.argv[1:]:
    g, p = glob(m + ".eval.json"), per_user(m + ".eval.json")
    eps, sigma = "—", "—"
    if m != central:
        log = open(m + ".log").read()
        sigma = re.search(r"σ ([0-9.]+|inf)", log).group(1)
        eps = re.findall(r"ε ([0-9.]+|inf) \(δ", log)[-1]
    row = ["central" if m == central else "federated", eps, sigma]
    row += ["%.4f → %.4f" % (g[("base", t)][gmetric[t]], g[("finetuned", t)][gmetric[t]]) for t in tasks]
    for t in tasks:
        x = p[(t, metric[t])]
        row += ["%.4f → %.4f" % (x["base"], x["finetuned"]), ci(x)]
    print("| " + " | ".join(row) + " |")
    if m != central:
        b, f = per_user(m + ".compare-base.json"), per_user(m + ".compare-finetuned.json")
        vs.append([eps] + [ci(b[(t, metric[t])]) for t in tasks] + [ci(f[(t, metric[t])]) for t in tasks])
print(); print("federated − central, paired over users (95 % CI):"); print()
head = ["ε"] + ["%s %s, global" % (t, metric[t]) for t in tasks] + ["%s %s, fine-tuned" % (t, metric[t]) for t in tasks]
print("| " + " | ".join(head) + " |"); print("|" + "---|" * len(head))
for r in vs: print("| " + " | ".join(r) + " |")
PY
} 2>&1 | tee "$OUT/results-s$SEED.txt"
