#!/usr/bin/env bash
# Cross-domain ranking, the baselines (issue #25): per-scene test AUC and GAUC of
#   - a joint MMoE over all scenes, the scene a categorical feature (plain MMoE, no MAML),
#   - a joint Shared-Bottom, the same features,
#   - one MMoE per scene (trained and validated on that scene's rows only),
#   - a joint MMoE with shared and per-scene experts (`model.scene_experts`: a row's gates mix
#     the shared experts and its scene's), and with ARCHS including scene_experts_gates the same
#     with a gate per task and scene (`gates: per_scene`; star_scene_experts_gates: plus STAR towers),
#   - a joint MMoE with STAR towers (`model.star_towers`: a row's towers are W ⊙ W_s, b + b_s of
#     its scene, Sheng et al. CIKM 2021), and STAR towers over the scene experts,
#   - with ARCHS including private / star_private / residual: the joint MMoE (or STAR) with
#     scene-private embeddings for the features in $PRIVATE (`scene_embedding: private`; residual:
#     `shared_and_private`, a shared and a private block each; default per dataset, chosen
#     before any run for what a scene changes the meaning of: ML-100K item_id and genres (taste
#     per age group), census the detailed industry and occupation codes (how a job pays differs
#     by class of worker); none on the synthetic log, whose scene features are numeric),
#   - with ARCHS including pn / star_pn: the joint MMoE with partitioned normalisation of the towers'
#     inputs (`model.partitioned_norm`: statistics and affine per scene, STAR §PN), and STAR towers
#     plus partitioned norm (STAR's full model without its auxiliary network),
#   - with ARCHS including mmoe_maml / star_maml: the joint MMoE and STAR with MAML on (the
#     dataset config's first-order MAML, task = user), scored fine-tuned on each user's support
#     rows (`metarec eval --finetune on`),
# on the synthetic multi-scene log (with each scene's oracle AUC), on ML-100K-scenes and on census
# with scenes = class_of_worker (`metarec datasets census --scene class_of_worker`; task key = the
# crowd, which spans scenes: GAUC is then per (crowd, scene)). Small scenes (< 5 % of the test
# rows) are pooled. Mean ± sd over SEEDS model seeds (the data is fixed).
#   usage: scripts/scenes-table.sh [synthetic|ml100k|census ...]     (default: all three)
# ML-100K needs `make ml100k-scenes` first (ML100K_DIR, default .build-data); census reads
# $METAREC_DATA/census-income-kdd/census-income.test.gz.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
OUT=${OUT:-out/scenes}
SEEDS=${SEEDS:-1 2 3}
ARCHS=${ARCHS:-mmoe shared_bottom scene_experts star star_scene_experts}
EPOCHS=${EPOCHS:-5}
# partitioned norm's min_batch_rows: fewer rows of a scene in a worker's shard take its running
# statistics; 16 chosen over 2 and 64 on the synthetic validation split (MetaTrain README)
PN_MIN_ROWS=${PN_MIN_ROWS:-16}
ML100K_DIR=${ML100K_DIR:-.build-data}
DATASETS=("${@:-synthetic ml100k census}")
CENSUS_RAW=${METAREC_DATA:-../shared/data}/census-income-kdd/census-income.test.gz
[ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"

# config.yaml of a dataset → a variant: architecture, seeds, meta off. Architecture
# "scene_experts": the MMoE with 2 shared experts and 1 per scene (`model.scene_experts`; 2 + 1
# was chosen over 4 + 1 on the synthetic validation split, 3 seeds), the scenes from $SCENE_LIST
# (a YAML flow list of the quoted scene names).
# Architecture "star": the MMoE (4 shared experts) with STAR towers over $SCENE_LIST; "star_scene_experts":
# STAR towers over the scene experts' MMoE; "scene_experts_gates": the scene experts with a gate per
# task and scene; "pn": the MMoE (4 shared experts) with partitioned norm over
# $SCENE_LIST (momentum 0.99, epsilon 1e-5, min_batch_rows $PN_MIN_ROWS); "star_pn": STAR towers and partitioned norm;
# "*_maml": the same with the dataset config's MAML kept on.
variant() { # src arch seed dst
  local arch=$2 experts="experts: 4" meta="false"
  local scene_list=$SCENE_LIST
  case $arch in *_maml) meta=true; arch=${arch%_maml} ;; esac
  local private_edits=()
  local scope=private
  case $arch in *private|residual)
    [ -n "$PRIVATE" ] || { echo "architecture $arch needs PRIVATE (scene-private features) for this dataset" >&2; exit 1; }
    [ "$arch" = residual ] && scope=shared_and_private
    for f in $PRIVATE; do private_edits+=(-e "s/{name: $f, kind:/{name: $f, scene_embedding: $scope, kind:/"); done
    arch=${arch%private}; arch=${arch%residual}; arch=${arch%_}; arch=${arch:-mmoe} ;;
  esac
  case $arch in
    scene_experts) arch=mmoe; experts="experts: 2\n  scene_experts: {per_scene: 1, scenes: $scene_list}" ;;
    scene_experts_gates) arch=mmoe; experts="experts: 2\n  scene_experts: {per_scene: 1, scenes: $scene_list, gates: per_scene}" ;;
    star_scene_experts_gates) arch=mmoe; experts="experts: 2\n  scene_experts: {per_scene: 1, scenes: $scene_list, gates: per_scene}\n  star_towers: true" ;;
    star) arch=mmoe; experts="experts: 4\n  star_towers: {scenes: $scene_list}" ;;
    star_scene_experts) arch=mmoe; experts="experts: 2\n  scene_experts: {per_scene: 1, scenes: $scene_list}\n  star_towers: true" ;;
    pn) arch=mmoe; experts="experts: 4\n  partitioned_norm: {scenes: $scene_list, min_batch_rows: $PN_MIN_ROWS}" ;;
    star_pn) arch=mmoe; experts="experts: 4\n  star_towers: {scenes: $scene_list}\n  partitioned_norm: {min_batch_rows: $PN_MIN_ROWS}" ;;
  esac
  sed "${private_edits[@]}" -e "s/^meta: {enabled: true/meta: {enabled: $meta/" -e "s/architecture: mmoe/architecture: $arch/" \
      -e "s/^  experts: 4$/  $experts/" \
      -e "s/^  seed: .*/  seed: $3/" -e "s/^  shared_bottom_layers: \(.*\)/  shared_bottom_layers: \1\n  seed: $3/" "$1" > "$4"
  if [ ${#private_edits[@]} -gt 0 ] && [ "$(grep -c "scene_embedding: $scope" "$4")" != "$(wc -w <<< "$PRIVATE")" ]; then
    echo "the scene_embedding edit for '$PRIVATE' did not apply to $1" >&2; exit 1
  fi
}

train_eval() { # config train validation test model [eval flags] → scenes JSON on stdout
  "$BIN" train --config "$1" --data "$2" --validation "$3" --out "$5" --epochs "$EPOCHS" 2> "$5.log" >&2
  "$BIN" eval --model "$5" --data "$4" --format json --resamples 1 --scored-out "$5.scored" "${@:6}"
}

# Rows of one scene (the column $SCENE_COLUMN, by header name) of a CSV.
scene_rows() { # csv scene
  awk -F, -v s="$2" -v col="$SCENE_COLUMN" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; print; next } $c == s' "$1"
}

for dataset in ${DATASETS[@]}; do
  case $dataset in
    synthetic)
      data="$OUT/synthetic/data"
      [ -f "$data/train.csv" ] || "$BIN" datasets synthetic-scenes --out "$data" >&2 ;;
    ml100k)
      data="$ML100K_DIR/ml100k-scenes"
      [ -f "$data/train.csv" ] || { echo "no $data: run 'make ml100k-scenes' first" >&2; exit 1; } ;;
    census)
      data="$OUT/census/data"
      [ -f "$CENSUS_RAW" ] || { echo "census file not found: $CENSUS_RAW (set METAREC_DATA)" >&2; exit 1; }
      [ -f "$data/train.csv" ] || "$BIN" datasets census --raw "$CENSUS_RAW" --scene class_of_worker --out "$data" >&2 ;;
    *) echo "unknown dataset $dataset" >&2; exit 1 ;;
  esac
  case $dataset in
    ml100k) PRIVATE=${PRIVATE_ML100K:-item_id genres} ;;
    census) PRIVATE=${PRIVATE_CENSUS:-detailed_industry_recode detailed_occupation_recode} ;;
    *) PRIVATE="" ;;
  esac
  dir="$OUT/$dataset"
  mkdir -p "$dir"
  SCENE_COLUMN=$(sed -n 's/^scene: *//p' "$data/config.yaml")
  mapfile -t scenes < <(awk -F, -v col="$SCENE_COLUMN" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next } { print $c }' \
                        "$data/train.csv" | sort -u)
  SCENE_LIST="[$(printf '"%s", ' "${scenes[@]}" | sed 's/, $//')]"
  for seed in $SEEDS; do
    for arch in $ARCHS; do
      [ -f "$dir/$arch-$seed.json" ] && continue
      variant "$data/config.yaml" "$arch" "$seed" "$dir/$arch-$seed.yaml"
      flags=()
      case $arch in *_maml) flags=(--finetune on) ;; esac
      train_eval "$dir/$arch-$seed.yaml" "$data/train.csv" "$data/validation.csv" "$data/test.csv" "$dir/$arch-$seed" \
          "${flags[@]}" > "$dir/$arch-$seed.json"
    done
    for s in "${scenes[@]}"; do
      [ -f "$dir/per-scene-$s-$seed.json" ] && continue
      mkdir -p "$dir/split-$s"
      for split in train validation test; do scene_rows "$data/$split.csv" "$s" > "$dir/split-$s/$split.csv"; done
      variant "$data/config.yaml" mmoe "$seed" "$dir/per-scene-$s-$seed.yaml"
      train_eval "$dir/per-scene-$s-$seed.yaml" "$dir/split-$s/train.csv" "$dir/split-$s/validation.csv" \
          "$dir/split-$s/test.csv" "$dir/per-scene-$s-$seed" > "$dir/per-scene-$s-$seed.json"
    done
  done
  BIN="$BIN" ARCHS="$ARCHS" python3 scripts/scenes-table.py "$dir" "$data" $SEEDS
done
