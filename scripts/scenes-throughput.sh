#!/usr/bin/env bash
# The cost of the scene machinery (issue #25): training rows/s of the cross-domain models beside
# plain MMoE on the census config with scenes = class_of_worker (`metarec datasets census --scene
# class_of_worker`). `metarec-bench training` times the real training loop on the same in-memory
# batches (1 and 2 threads, meta-learning off and first-order k = 1), median of RUNS runs; the
# variants are interleaved round by round so background load drifts over all of them alike.
#   variants: mmoe (the census config, 4 experts), scene_experts (2 shared + 1 per scene, as in
#   scripts/scenes-table.sh), scene_experts_gates (the same with a gate per task and scene, GATES=0
#   leaves it out), and the joint MMoE with STAR towers (model.star_towers; STAR=0 leaves it out).
#   usage: scripts/scenes-throughput.sh        env: ROUNDS (3), RUNS (5), BATCHES (40), STAR (1), GATES (1)
# Needs release builds of metarec and metarec-bench and $METAREC_DATA/census-income-kdd.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
BENCH=${METAREC_BENCH_BIN:-.build/release/metarec-bench}
DATA=${METAREC_DATA:-../shared/data}
RAW="$DATA/census-income-kdd/census-income.test.gz"
OUT=${OUT:-out/scenes-throughput}
ROUNDS=${ROUNDS:-3} RUNS=${RUNS:-5} BATCHES=${BATCHES:-40} STAR=${STAR:-1} GATES=${GATES:-1}
for b in "$BIN" "$BENCH"; do [ -x "$b" ] || { echo "no release binary at $b: run 'swift build -c release' first" >&2; exit 1; }; done
[ -f "$RAW" ] || { echo "census file not found: $RAW (set METAREC_DATA)" >&2; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/data/train.csv" ] || "$BIN" datasets census --raw "$RAW" --scene class_of_worker --out "$OUT/data" >&2
scenes=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "class_of_worker") c = i; next } { print $c }' "$OUT/data/train.csv" |
  sort -u | sed 's/.*/"&"/' | paste -sd, | sed 's/,/, /g')

variants=(mmoe scene_experts)
[ "$GATES" = 1 ] && variants+=(scene_experts_gates)
[ "$STAR" = 1 ] && variants+=(star)
for v in "${variants[@]}"; do
  case $v in
    mmoe) cp "$OUT/data/config.yaml" "$OUT/$v.yaml" ;;
    scene_experts) sed -e "s/^  experts: 4$/  experts: 2\n  scene_experts: {per_scene: 1, scenes: [$scenes]}/" "$OUT/data/config.yaml" > "$OUT/$v.yaml" ;;
    scene_experts_gates) sed -e "s/^  experts: 4$/  experts: 2\n  scene_experts: {per_scene: 1, scenes: [$scenes], gates: per_scene}/" "$OUT/data/config.yaml" > "$OUT/$v.yaml" ;;
    star) sed -e "s/^  architecture: mmoe$/  architecture: mmoe\n  star_towers: {scenes: [$scenes]}/" "$OUT/data/config.yaml" > "$OUT/$v.yaml" ;;
  esac
  cmp -s "$OUT/$v.yaml" "$OUT/data/config.yaml" && [ "$v" != mmoe ] && { echo "the $v edit did not apply to config.yaml" >&2; exit 1; }
done

for round in $(seq "$ROUNDS"); do
  for v in "${variants[@]}"; do
    echo "round $round: $v" >&2
    "$BENCH" training --config "$OUT/$v.yaml" --data "$OUT/data/train.csv" --runs "$RUNS" --batches "$BATCHES" --format json \
      > "$OUT/$v-$round.json"
  done
done

python3 - "$OUT" "$ROUNDS" "${variants[@]}" <<'PY'
import json, statistics, sys
out, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def cases(v, r):
    return {(c["mode"] != "plain", c["threads"]): c["rows_per_s_median"] for c in json.load(open(f"{out}/{v}-{r}.json"))["cases"]}
print("| model (census, scenes = class_of_worker) | plain, 1 thread | plain, 2 threads | MAML k = 1, 1 thread | MAML k = 1, 2 threads | ÷ MMoE (plain, 1 thread; median of rounds) |")
print("|---|---:|---:|---:|---:|---:|")
for v in variants:
    per = [cases(v, r) for r in range(1, rounds + 1)]
    base = [cases("mmoe", r) for r in range(1, rounds + 1)]
    med = lambda key: statistics.median(p[key] for p in per)
    ratio = statistics.median(p[(False, 1)] / b[(False, 1)] for p, b in zip(per, base))
    print(f"| {v} | {med((False, 1)):,.0f} | {med((False, 2)):,.0f} | {med((True, 1)):,.0f} | {med((True, 2)):,.0f} | {ratio:.2f} |")
PY
