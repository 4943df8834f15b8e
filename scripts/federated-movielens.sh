#!/usr/bin/env bash
# Federated personalisation on MovieLens (ml-latest-small), warm chronological split (each user's
# earlier 70 % train, later rows validate and test; clients = the 610 users): DP-FedAvg over the
# towers (`metarec federated`) at ε ∈ {∞, 8, 3, 1} (δ = 1e-5, σ calibrated to end each run at
# its ε), against centralised training on the same split. The bottom (embeddings, experts,
# gates) comes frozen from the central model (--init) and the towers start from the config's
# seeded initialisation (--reset-towers), so everything the federated towers learn went through
# the clipped, noised aggregate; the (ε, δ) covers the tower updates only, not the bottom.
#
#   1. Selection (validation split, ε = 3, seed 1): clients a round m ∈ {61, 183} (q = 0.1, 0.3),
#      clipping norm S ∈ {0.1, 0.3, 1}, rounds ∈ {100, 300}; 5 local steps at 0.05, server rate 1.
#      Criterion fixed in advance: the last round's validation like AUC − rating RMSE.
#   2. Test: the chosen settings at every ε, and the central model.
#
# Per model, on the test split: the global model and the model fine-tuned per user on the
# device's rows (the support store: each user's newest training rows) with the serving policy
# chosen on validation by scripts/movielens-warm-peruser.sh (ridge head, λ 0.3); per-user GAUC of
# `like` and nDCG@5 of `rating`, with paired bootstrap 95 % CIs over users of fine-tuned − global
# (`eval`) and of federated − central for the same variant (`compare`).
#
#   usage: scripts/federated-movielens.sh      (needs a release build and $METAREC_DATA)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
OUT=${OUT:-out/federated}
EPOCHS=${EPOCHS:-8}
SEED=${SEED:-1}
EPSILONS=${EPSILONS:-"inf 8 3 1"}
LOCAL_STEPS=${LOCAL_STEPS:-5}
LOCAL_LR=${LOCAL_LR:-0.05}
SERVER_LR=${SERVER_LR:-1}
POLICY=${POLICY:-"--steps 0 --head-solver ridge --head-l2 0.3"}
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/data/test.csv" ] || "$BIN" datasets movielens --raw "$DATA/movielens-latest-small" --out "$OUT/data" >&2
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

echo "1/2 selection on the validation split (ε = 3)" >&2
if [ -z "${CHOSEN:-}" ]; then
  : > "$OUT/selection.tsv"
  for m in 61 183; do for clip in 0.1 0.3 1; do for rounds in 100 300; do
    dir=$(federated 3 "$m" "$clip" "$rounds" "$OUT/select-m$m-S$clip-R$rounds")
    read -r auc rmse < <(grep "round $rounds/$rounds" "$dir.log" | sed -E 's/.*like auc ([0-9.]+), rating rmse ([0-9.]+).*/\1 \2/')
    printf '%s %s %s\t%s\t%s\n' "$m" "$clip" "$rounds" "$auc" "$rmse" | tee -a "$OUT/selection.tsv" >&2
  done; done; done
  CHOSEN=$(awk -F'\t' '{ s = $2 - $3; if (NR == 1 || s > best) { best = s; p = $1 } } END { print p }' "$OUT/selection.tsv")
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
  echo "2/2 test split: seed $SEED; $ROUNDS rounds, $CLIENTS clients a round (q = $CLIENTS/610), $LOCAL_STEPS local steps at $LOCAL_LR,"
  echo "clip S = $CLIP, server rate $SERVER_LR, δ = 1e-5, central noise; fine-tuning policy: $POLICY"
  for eps in $EPSILONS; do
    model=$(federated "$eps" "$CLIENTS" "$CLIP" "$ROUNDS" "$OUT/fed-eps$eps-s$SEED")
    evaluate "$model" > /dev/null
    compare base "$model" > /dev/null
    compare finetuned "$model" > /dev/null
  done
  # One row per model: global like AUC / rating RMSE (all test rows), per-user GAUC(like) and
  # nDCG@5(rating) global → fine-tuned, Δ fine-tuned − global [CI], and federated − central [CI].
  python3 - "$central" $(for eps in $EPSILONS; do echo "$OUT/fed-eps$eps-s$SEED"; done) <<'PY'
import json, re, sys
def per_user(path, variant_a="base"):
    d = json.load(open(path))
    return {(x["task"], x["metric"]): x for x in d.get("per_user", d.get("results", [])) if x["group"] == "all"}
def glob(path):
    r = {(x["variant"], x["task"]): x for x in json.load(open(path))["results"] if x["group"] == "all"}
    return r
def ci(x): return "%+.4f [%+.4f, %+.4f]" % (x["diff"], x["ci_low"], x["ci_high"])
central = sys.argv[1]
print()
print("| model | ε | σ | like AUC g → ft | rating RMSE g → ft | like GAUC g → ft | Δ ft − g [CI] | rating nDCG@5 g → ft | Δ ft − g [CI] |")
print("|---|---|---|---|---|---|---|---|---|")
vs = []
for m in sys.argv[1:]:
    g, p = glob(m + ".eval.json"), per_user(m + ".eval.json")
    eps, sigma = "—", "—"
    if m != central:
        log = open(m + ".log").read()
        sigma = re.search(r"σ ([0-9.]+|inf)", log).group(1)
        eps = re.findall(r"ε ([0-9.]+|inf) \(δ", log)[-1]
    name = "central" if m == central else "federated"
    lg, ln = p[("like", "gauc")], p[("rating", "ndcg@5")]
    print("| %s | %s | %s | %.4f → %.4f | %.4f → %.4f | %.4f → %.4f | %s | %.4f → %.4f | %s |" % (
        name, eps, sigma, g[("base", "like")]["auc"], g[("finetuned", "like")]["auc"],
        g[("base", "rating")]["rmse"], g[("finetuned", "rating")]["rmse"],
        lg["base"], lg["finetuned"], ci(lg), ln["base"], ln["finetuned"], ci(ln)))
    if m != central:
        b, f = per_user(m + ".compare-base.json"), per_user(m + ".compare-finetuned.json")
        vs.append((eps, b[("like", "gauc")], b[("rating", "ndcg@5")], f[("like", "gauc")], f[("rating", "ndcg@5")]))
print()
print("federated − central, paired over users (95 % CI):")
print()
print("| ε | like GAUC, global | rating nDCG@5, global | like GAUC, fine-tuned | rating nDCG@5, fine-tuned |")
print("|---|---|---|---|---|")
for eps, *xs in vs:
    print("| %s | %s |" % (eps, " | ".join(ci(x) for x in xs)))
PY
} 2>&1 | tee "$OUT/results-s$SEED.txt"
