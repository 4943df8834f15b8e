#!/usr/bin/env python3
"""The tables of scripts/scenes-table.sh: per scene and task, test AUC and GAUC (mean ± sd over
seeds) of the joint MMoE, the joint Shared-Bottom, one MMoE per scene and the scene-aware models
of $ARCHS (scene experts, STAR towers, both; with MAML); small scenes (< 5 % of the test rows)
and large scenes pooled, then all rows. Then, per seed, the paired bootstrap 95 % CI over users
(`metarec compare`, GAUC) of each scene-aware model − the joint MMoE on the small scenes' users
(or, without small scenes, the smallest scene's) and on all users.

Figures are computed from each model's scored rows (`metarec eval --scored-out`). The scene and
task-key columns are the dataset config's (`scene:`, `task_key:`). Where every task key lives in
one scene (the synthetic and ML-100K users), a row's scene is its key's; where keys span scenes
(census crowds across class_of_worker), a scored row's scene is its test row's, by position (the
base scored rows of each task follow the test file's order: checked), and GAUC
and the CIs group by (key, scene). For the joint models the figures are checked against
`metarec eval`'s own per-scene JSON (same rows, same definitions) where keys do not span scenes.
    usage: scenes-table.py DIR DATA SEED...
"""
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

SMALL_SHARE = 0.05
LABELS = {"mmoe": "joint MMoE", "shared_bottom": "joint Shared-Bottom", "per_scene": "MMoE per scene",
          "scene_experts": "MMoE + scene experts", "star": "MMoE + STAR", "star_scene_experts": "scene experts + STAR",
          "scene_experts_gates": "scene experts + per-scene gates", "star_scene_experts_gates": "scene experts + per-scene gates + STAR",
          "mmoe_maml": "MMoE + MAML (fine-tuned)", "star_maml": "STAR + MAML (fine-tuned)",
          "private": "MMoE + private embeddings", "star_private": "STAR + private embeddings",
          "residual": "MMoE + shared and private embeddings",
          "pn": "MMoE + PN", "star_pn": "STAR + PN", "pn_maml": "MMoE + PN + MAML (fine-tuned)",
          "star_pn_maml": "STAR + PN + MAML (fine-tuned)"}


def auc(pairs):
    """ROC AUC by ranks, ties averaged; None with one class."""
    pairs = sorted(pairs, key=lambda p: p[1])
    rank_sum, positives, i = 0.0, 0, 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][1] == pairs[i][1]:
            j += 1
        average = (i + j) / 2 + 1
        for t in range(i, j + 1):
            if pairs[t][0] >= 0.5:
                rank_sum += average
                positives += 1
        i = j + 1
    negatives = len(pairs) - positives
    if positives == 0 or negatives == 0:
        return None
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def gauc(rows):
    """Σ_u n_u AUC_u / Σ_u n_u over users with both classes."""
    by_user = defaultdict(list)
    for user, label, score in rows:
        by_user[user].append((label, score))
    total = weight = 0.0
    for pairs in by_user.values():
        a = auc(pairs)
        if a is not None:
            total += len(pairs) * a
            weight += len(pairs)
    return total / weight if weight else None


def read_scored(path, test_rows=None):
    """(key, task, label, score) of a scored-rows file. With `test_rows` ([(key, scene, labels)] of the rows
    the file scored, in order), the key becomes `key|scene`, each row's scene taken by position."""
    with open(path) as f:
        scored = [(r["user"], r["task"], float(r["label"]), float(r["score"])) for r in csv.DictReader(f)]
    if test_rows is None:
        return scored
    tasks, n = list(dict.fromkeys(t for _, t, _, _ in scored)), len(test_rows)
    assert len(scored) == len(tasks) * n, f"{path}: {len(scored)} scored rows for {n} test rows × {len(tasks)} tasks"
    # Each task's rows are in the test file's order (`metarec eval --scored-out` writes a batch's rows task by task).
    seen, out = defaultdict(int), []
    for u, t, y, score in scored:
        key, scene, labels = test_rows[seen[t]]
        assert u == key and float(labels[t]) == y, f"{path}: {t} row {seen[t]} is of {u} (label {y}), the test file's of {key} ({labels[t]}): no scene by position"
        seen[t] += 1
        out.append((f"{u}|{scene}", t, y, score))
    return out


def test_rows_of(data):
    """[(task key, scene, {label: value})] of the test file's rows, by the dataset config's column names."""
    config = open(f"{data}/config.yaml").read()
    scene_column = re.search(r"^scene: *(.+?) *$", config, re.M).group(1)
    key_column = re.search(r"^task_key: *(.+?) *$", config, re.M).group(1)
    labels = re.findall(r"^  - \{name: ([^,]+), kind: (?:binary|regression)", config, re.M)
    with open(f"{data}/test.csv") as f:
        return [(r[key_column], r[scene_column], {l: r[l] for l in labels}) for r in csv.DictReader(f)]


def figures(scored, scene_of, groups, task):
    """{group: (auc, gauc)} for the rows of `task`."""
    out = {}
    for name, members in groups.items():
        rows = [(u, y, s) for u, t, y, s in scored if t == task and scene_of[u] in members]
        out[name] = (auc([(y, s) for _, y, s in rows]), gauc(rows))
    return out


def cell(values):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main():
    directory, data, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
    test_rows, rows_of = test_rows_of(data), defaultdict(int)
    scenes_of_key = defaultdict(set)
    for key, scene, _ in test_rows:
        scenes_of_key[key].add(scene)
        rows_of[scene] += 1
    spanning = any(len(v) > 1 for v in scenes_of_key.values())
    if spanning:  # group by (key, scene): scored rows get their scene by position
        scene_of = {f"{k}|{scene}": scene for k, scene, _ in test_rows}
        positions = lambda members: [r for r in test_rows if r[1] in members]
    else:
        scene_of = {k: next(iter(v)) for k, v in scenes_of_key.items()}
        positions = lambda members: None
    total = sum(rows_of.values())
    scenes = sorted(rows_of, key=lambda s: (-rows_of[s], s))
    small = {s for s in scenes if rows_of[s] < SMALL_SHARE * total}
    groups = {s: {s} for s in scenes}
    if small:
        groups["small scenes"] = small
    groups["large scenes"] = set(scenes) - small
    groups["all"] = set(scenes)
    oracle = {}
    try:
        with open(f"{data}/scenes.csv") as f:
            oracle = {r["scene"]: r for r in csv.DictReader(f)}
    except FileNotFoundError:
        pass

    archs = os.environ.get("ARCHS", "mmoe shared_bottom scene_experts").split()
    results = defaultdict(list)  # (model, task, group) → [(auc, gauc)] over seeds
    tasks = None
    for seed in seeds:
        for model in archs:
            fine_tuned = model.endswith("_maml")
            scored = read_scored(f"{directory}/{model}-{seed}.scored/{'finetuned' if fine_tuned else 'base'}.csv",
                                 None if fine_tuned else positions(set(rows_of)))
            assert not (spanning and fine_tuned), "fine-tuned rows are not in file order: no positional scenes"
            document = json.load(open(f"{directory}/{model}-{seed}.json"))
            # A fine-tuned document has one result per task and activity bucket: keep each task once.
            tasks = list(dict.fromkeys(r["task"] for r in document["results"]))
            for task_index, task in enumerate(tasks):
                for name, value in figures(scored, scene_of, groups, task).items():
                    results[(model, task, name)].append(value)
                if fine_tuned or spanning or "scenes" not in document:  # eval's per-scene block: the base model's, by user
                    continue
                for g in document["scenes"]["scenes"] + document["scenes"]["pools"]:
                    mine = results[(model, task, g["name"])][-1]
                    theirs = g["tasks"][task_index]
                    if mine[0] is not None and theirs.get("auc") is not None:
                        assert abs(mine[0] - theirs["auc"]) < 1e-6, (model, seed, g["name"], mine, theirs)
                    if mine[1] is not None and theirs.get("gauc") is not None:
                        assert abs(mine[1] - theirs["gauc"]) < 1e-6, (model, seed, g["name"], mine, theirs)
        per_scene = []
        for s in scenes:
            per_scene += read_scored(f"{directory}/per-scene-{s}-{seed}.scored/base.csv", positions({s}))
        for task in tasks:
            for name, value in figures(per_scene, scene_of, groups, task).items():
                results[("per_scene", task, name)].append(value)

    order = ["mmoe", "shared_bottom", "per_scene"] + [a for a in archs if a not in ("mmoe", "shared_bottom")]
    models = [(m, LABELS.get(m, m)) for m in order]
    for task in tasks:
        print(f"\n{data} · task {task} · test split · {len(seeds)} seeds (mean ± sd)\n")
        header = "| scene | test rows | share | small |" + ("" if not oracle else " oracle AUC |")
        header += "".join(f" {label} AUC |" for _, label in models) + "".join(f" {label} GAUC |" for _, label in models)
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        for name, members in groups.items():
            rows = sum(rows_of[s] for s in members)
            line = f"| {name} | {rows} | {rows / total:.3f} | {'yes' if members <= small else 'no'} |"
            if oracle:
                line += f" {oracle[name]['oracle_auc_' + task] or '–'} |" if name in oracle else " – |"
            line += "".join(f" {cell([v[0] for v in results[(m, task, name)]])} |" for m, _ in models)
            line += "".join(f" {cell([v[1] for v in results[(m, task, name)]])} |" for m, _ in models)
            print(line)
    for baseline in ["mmoe", "per_scene"]:
        confidence_intervals(directory, data, seeds, archs, scene_of, scenes, small, tasks, baseline, positions)


def confidence_intervals(directory, data, seeds, archs, scene_of, scenes, small, tasks, baseline, positions):
    """Per seed and task, `metarec compare` of each scene-aware model's scored rows − the
    baseline's (the joint MMoE, or the per-scene models' rows together) on the users of the small
    scenes (or of the smallest scene) and on all users: GAUC difference with its paired bootstrap
    95 % CI over users (2,000 resamples, seed 1)."""
    binary = os.environ.get("BIN", ".build/release/metarec")
    contenders = [a for a in archs if a not in ("mmoe", "shared_bottom")]
    if not contenders:
        return
    focus_name, focus = ("small scenes", small) if small else (scenes[-1], {scenes[-1]})
    print(f"\n{data} · GAUC − {LABELS[baseline]}, paired bootstrap 95 % CI over users, per seed\n")
    print("| model | users of | task | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    print("|---|---|---|" + "---|" * len(seeds))
    with tempfile.TemporaryDirectory() as tmp:
        def subset(model, seed, members):
            fine_tuned = model.endswith("_maml")
            if model == "per_scene":
                rows = [r for s in scenes for r in read_scored(f"{directory}/per-scene-{s}-{seed}.scored/base.csv", positions({s}))]
            else:
                rows = read_scored(f"{directory}/{model}-{seed}.scored/{'finetuned' if fine_tuned else 'base'}.csv",
                                   None if fine_tuned else positions(set(scenes)))
            path = f"{tmp}/{model}-{seed}-{len(members)}.csv"
            with open(path, "w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["user", "task", "label", "score"])
                for u, t, y, score in rows:
                    if scene_of[u] in members:
                        writer.writerow([u, t, repr(y), repr(score)])
            return path
        for model in contenders:
            for group_name, members in [(focus_name, focus), ("all", set(scenes))]:
                cells = defaultdict(list)
                for seed in seeds:
                    document = json.loads(subprocess.run(
                        [binary, "compare", "--a", subset(baseline, seed, members), "--b", subset(model, seed, members),
                         "--resamples", "2000", "--seed", "1", "--format", "json"],
                        check=True, capture_output=True, text=True).stdout)
                    for r in document["results"]:
                        if r["metric"].lower() == "gauc":
                            cells[r["task"]].append(f"{r['diff']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]")
                for task in tasks:
                    print(f"| {LABELS.get(model, model)} | {group_name} | {task} | " + " | ".join(cells[task]) + " |")


if __name__ == "__main__":
    main()
