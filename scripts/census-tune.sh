#!/usr/bin/env bash
# Census hyper-parameter study on the VALIDATION split only (test.csv is never read here).
# Both architectures get the same one-knob-at-a-time candidates on the shared knobs (towers,
# Adam learning rate, batch size, embedding width) plus one capacity-x2 candidate each, around
# the base of scripts/census-table.sh (MMoE 4 experts x [128, 64], Shared-Bottom [128, 64]).
# Seed s sets model.seed and training.seed, as census-table.sh does.
# Selection criterion (fixed before running): per architecture, the highest mean over the seeds of
# validation income AUC + validation marital AUC (ties < 1e-5: lower summed validation logloss).
#   usage: scripts/census-tune.sh [SEEDS...]     (default seeds: 1 2)
#   ROUND=1: the one-knob candidates only; ROUND=2: the round-2 combinations only; default: both.
# Round 2 (rule fixed before round 1): per architecture, the two best round-1 candidates that beat
# base on the criterion and change different knobs, combined (seeds 1-2 round-1 result below).
# Result (seeds 1-2): MMoE batch 256 (1.94237), Shared-Bottom batch 256 + towers [64, 32] (1.94131);
# the configuration scripts/census-table.sh uses.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
DATA=${METAREC_DATA:-../shared/data}
RAW="$DATA/census-income-kdd/census-income.test.gz"
OUT=${OUT:-out/census}
EPOCHS=${EPOCHS:-15}
SEEDS=("${@:-1 2}")
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT/tune"
[ -f "$OUT/data/train.csv" ] || "$BIN" datasets census --raw "$RAW" --out "$OUT/data" >&2

run() { # name arch seed [sed -e ...]
  local name=$1 arch=$2 seed=$3; shift 3
  local cfg="$OUT/tune/$arch-$name-$seed.yaml" dir="$OUT/tune/$arch-$name-$seed"
  sed -e "s/^meta: {enabled: true/meta: {enabled: false/" \
      -e "s/^  architecture: mmoe$/  architecture: $arch\n  seed: $seed/" \
      -e "s/^  expert_layers: \[64, 32\]$/  expert_layers: [128, 64]/" \
      -e "s/^  shared_bottom_layers: \[64, 32\]$/  shared_bottom_layers: [128, 64]/" \
      -e "s/^  seed: 1$/  seed: $seed/" "$@" "$OUT/data/config.yaml" > "$cfg"
  "$BIN" train --config "$cfg" --data "$OUT/data/train.csv" --validation "$OUT/data/validation.csv" \
    --out "$dir" --epochs "$EPOCHS" 2> "$dir.log"
  local best; best=$(grep -o 'best epoch [0-9]*' "$dir.log" | tail -1 | grep -o '[0-9]*$' || true)
  [ -n "$best" ] || best="$(grep -c '^epoch [0-9]*/[0-9]*:' "$dir.log")*"
  "$BIN" eval --model "$dir" --data "$OUT/data/validation.csv" --format json |
    python3 -c 'import json,sys; r={x["task"]:x for x in json.load(sys.stdin)["results"]}; i,m=r["income"],r["marital"]; print("| %s | %s | %s | %s | %.5f | %.5f | %.5f | %.4f |" % (sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], i["auc"], m["auc"], i["auc"]+m["auc"], i["logloss"]+m["logloss"]))' \
      "$arch" "$name" "$seed" "$best"
}

# name | shared sed (both architectures)
SHARED=(
  "base|"
  "tower64|s/^  tower_layers: \[32\]$/  tower_layers: [64]/"
  "tower64.32|s/^  tower_layers: \[32\]$/  tower_layers: [64, 32]/"
  "lr0.002|s/learning_rate: 0.001}$/learning_rate: 0.002}/"
  "lr0.0005|s/learning_rate: 0.001}$/learning_rate: 0.0005}/"
  "batch256|s/^  batch_size: 512$/  batch_size: 256/"
  "batch1024|s/^  batch_size: 512$/  batch_size: 1024/"
  "emb16|s/^  embedding_dim: 8$/  embedding_dim: 16/"
)
# round 2, from the round-1 result (seeds 1, 2): MMoE batch256 + tower64, Shared-Bottom batch256 + tower64.32
ROUND2_mmoe=("batch256+tower64|s/^  batch_size: 512$/  batch_size: 256/;s/^  tower_layers: \[32\]$/  tower_layers: [64]/")
ROUND2_shared_bottom=("batch256+tower64.32|s/^  batch_size: 512$/  batch_size: 256/;s/^  tower_layers: \[32\]$/  tower_layers: [64, 32]/")
# capacity x2, one per architecture (applied after the base widths)
CAPACITY_mmoe="s/^  experts: 4$/  experts: 8/"
CAPACITY_shared_bottom="s/^  shared_bottom_layers: \[128, 64\]$/  shared_bottom_layers: [256, 128]/"

exprs() { # "a;b" -> -e a -e b   (into array E)
  E=(); local IFS=';'; for x in $1; do [ -n "$x" ] && E+=(-e "$x"); done; return 0
}

echo "| architecture | candidate | seed | best epoch | val income AUC | val marital AUC | sum AUC | sum logloss |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for seed in ${SEEDS[@]}; do
  for arch in mmoe shared_bottom; do
    if [ "${ROUND:-all}" != 2 ]; then
      for c in "${SHARED[@]}"; do exprs "${c#*|}"; run "${c%%|*}" "$arch" "$seed" "${E[@]}"; done
      cap="CAPACITY_$arch"; run capx2 "$arch" "$seed" -e "${!cap}"
    fi
    if [ "${ROUND:-all}" != 1 ]; then
      r2="ROUND2_$arch[@]"
      for c in "${!r2}"; do exprs "${c#*|}"; run "${c%%|*}" "$arch" "$seed" "${E[@]}"; done
    fi
  done
done
