"""`make bench`, retrieval (issue 24): the bag-of-words two-tower model of `metarec retrieval train` against
its JAX peer (`retrieval_peer.py`) on MovieLens ml-latest-small, the same chronological split, quality
and training throughput.

Per seed, alternating: `metarec retrieval train` (its per-epoch lines, read as they are printed, give each
epoch's wall and CPU seconds, training + validation), `metarec retrieval eval --per-user-out` (the test metrics; popularity and
co-occurrence come with it), then the peer with the same settings. Before anything is reported the split
is checked to be the same: the peer's count of training examples and validation cases equals the one
`retrieval train` prints, and its per-user test CSV has the same users with the same history lengths as
MetaRec's. One core each (the caller's `taskset`, `OPENBLAS_NUM_THREADS=1`, `XLA_FLAGS`).
"""
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

PEERS_DIR = os.path.dirname(os.path.abspath(__file__))
METRICS = ["recall@10", "recall@50", "recall@100", "ndcg@10", "ndcg@50", "ndcg@100"]
DATA_LINE = re.compile(r"^data: (\d+) users, (\d+) items, (\d+) genres; (\d+) training examples, (\d+) validation cases")
EPOCH_LINE = re.compile(r"^epoch +(\d+): loss ([-\d.naif]+), validation recall@50 ([\d.]+) \(([\d.]+) s\)")
BEST_LINE = re.compile(r"^best epoch (\d+) \(validation recall@50 ([\d.]+)\)")


def data_directory():
    root = os.environ.get("METAREC_DATA") or os.path.join(PEERS_DIR, "..", "..", "..", "shared", "data")
    return os.path.join(root, "movielens-latest-small")


def read_per_user(path, method):
    """user -> (history length, {metric: value}) of one method's rows of a per-user CSV."""
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["method"] == method:
                out[int(row["user"])] = (int(row["history"]), {m: float(row[m]) for m in METRICS})
    return out


def cpu_seconds_of(pid):
    """utime + stime of a running process (/proc/PID/stat, clock ticks), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def metarec_train(args, directory, out, seed):
    """`metarec retrieval train`: split counts, epochs [loss, validation recall@50, seconds, CPU seconds], best epoch.

    Its lines are read as they come (`stdbuf -oL`: line-buffered through the pipe): an epoch's wall seconds are
    the time between its line and the one before (the `model:` line is printed as training starts), at the clock's
    resolution rather than the printed 0.1 s, and its CPU seconds the process's utime + stime between the two
    (/proc, 10 ms ticks). Without `stdbuf` or /proc: the printed seconds, no CPU time.
    """
    cmd = [args.metarec, "retrieval", "train", "--data", directory, "--out", out, "--encoder", "bow",
           "--temperature", str(args.retrieval_temperature), "--queue", str(args.retrieval_queue),
           "--epochs", str(args.retrieval_epochs), "--seed", str(seed)]
    streamed = shutil.which("stdbuf") is not None and os.path.exists("/proc/self/stat")
    proc = subprocess.Popen((["stdbuf", "-oL"] if streamed else []) + cmd, stdout=subprocess.PIPE, text=True)
    lines, marks = [], []
    for line in proc.stdout:
        marks.append((time.perf_counter(), cpu_seconds_of(proc.pid)))
        lines.append(line.rstrip("\n"))
    if proc.wait() != 0:
        raise SystemExit(f"retrieval: {' '.join(cmd)} exited with {proc.returncode}")
    data = next(DATA_LINE.match(line) for line in lines if DATA_LINE.match(line))
    best = next(BEST_LINE.match(line) for line in lines if BEST_LINE.match(line))
    epochs = []
    for i, line in enumerate(lines):
        m = EPOCH_LINE.match(line)
        if not m:
            continue
        (t1, c1), (t0, c0) = marks[i], marks[i - 1]
        exact = streamed and c0 is not None and c1 is not None
        epochs.append({"epoch": int(m[1]), "loss": float(m[2]), "validation_recall50": float(m[3]),
                       "seconds": t1 - t0 if exact else float(m[4]), "printed_seconds": float(m[4]),
                       "cpu_seconds": c1 - c0 if exact else None})
    return {"users": int(data[1]), "items": int(data[2]), "training_examples": int(data[4]),
            "validation_cases": int(data[5]), "epochs": epochs,
            "best_epoch": int(best[1]), "best_validation_recall50": float(best[2])}


def check_evaluation(directory, model, mr_users, work):
    """The peer's evaluation (towers, exclusion, ties, metrics) run on MetaRec's own trained parameters must give
    `metarec retrieval eval`'s per-user metrics: returns (users differing, max |difference|)."""
    out = os.path.join(work, "retrieval-jax-on-metarec.csv")
    subprocess.run([sys.executable, os.path.join(PEERS_DIR, "retrieval_peer.py"), "--data", directory,
                    "--evaluate-model", model, "--per-user-out", out], check=True, capture_output=True, text=True)
    peer_users = read_per_user(out, "jax-peer")
    if set(peer_users) != set(mr_users):
        raise SystemExit("retrieval: the peer's evaluation has other test users than MetaRec's")
    gaps = [max(abs(peer_users[u][1][m] - mr_users[u][1][m]) for m in METRICS) for u in mr_users]
    differing, worst = sum(g > 1e-6 for g in gaps), max(gaps)
    mean_gap = max(abs(np.mean([peer_users[u][1][m] - mr_users[u][1][m] for u in mr_users])) for m in METRICS)
    print(f"[retrieval] the peer's evaluation of MetaRec's model: {differing} of {len(gaps)} users differ "
          f"(max |diff| {worst:.2e}), means within {mean_gap:.1e}", flush=True)
    # A near-tie at a cut-off may order two items differently in float32 (BLAS vs XLA sums); means must agree.
    if mean_gap > 1e-3:
        raise SystemExit(f"retrieval: the peer's evaluation of MetaRec's model differs from MetaRec's by {mean_gap}")
    return {"differing": differing, "users": len(gaps), "max": worst, "mean_gap": mean_gap}


def measure(args, work):
    """Both implementations on every seed of `--retrieval-seeds` (the dict `report` reads), or {"skipped": why}."""
    directory = data_directory()
    if not all(os.path.exists(os.path.join(directory, f)) for f in ("ratings.csv", "movies.csv")):
        print(f"[retrieval] {directory} missing: retrieval section skipped", flush=True)
        return {"skipped": f"`{directory}` not found (set METAREC_DATA)"}
    seeds = [int(s) for s in args.retrieval_seeds.split(",") if s]
    runs = {"MetaRec": [], "JAX jit": []}
    baselines = {}
    per_user = {"MetaRec": [], "JAX jit": []}
    peer_info = None
    for seed in seeds:
        model = os.path.join(work, f"retrieval-seed{seed}")
        print(f"[retrieval] seed {seed}: metarec retrieval train", flush=True)
        mr = metarec_train(args, directory, model, seed)
        csv_mr = os.path.join(work, f"retrieval-metarec-{seed}.csv")
        print(f"[retrieval] seed {seed}: metarec retrieval eval", flush=True)
        subprocess.run([args.metarec, "retrieval", "eval", "--data", directory, "--model", model,
                        "--per-user-out", csv_mr, "--resamples", "100"], check=True, capture_output=True, text=True)
        mr_users = read_per_user(csv_mr, "two-tower")
        if not baselines:
            for method in ("popularity", "cooc(a=0.0)", "cooc(a=0.5)", "cooc(a=1.0)"):
                rows = read_per_user(csv_mr, method)
                if rows:
                    baselines[method] = {m: float(np.mean([v[m] for _, v in rows.values()])) for m in METRICS}

        print(f"[retrieval] seed {seed}: retrieval_peer.py (JAX)", flush=True)
        csv_peer = os.path.join(work, f"retrieval-jax-{seed}.csv")
        res = subprocess.run([sys.executable, os.path.join(PEERS_DIR, "retrieval_peer.py"), "--data", directory,
                              "--temperature", str(args.retrieval_temperature), "--queue", str(args.retrieval_queue),
                              "--epochs", str(args.retrieval_epochs), "--seed", str(seed),
                              "--per-user-out", csv_peer, "--quiet"], check=True, capture_output=True, text=True)
        peer = json.loads(res.stdout)
        peer_users = read_per_user(csv_peer, "jax-peer")

        # The same split, or nothing is reported.
        for key in ("users", "items", "training_examples", "validation_cases"):
            if mr[key] != peer[key]:
                raise SystemExit(f"retrieval: {key} MetaRec {mr[key]} != peer {peer[key]}")
        if {u: h for u, (h, _) in mr_users.items()} != {u: h for u, (h, _) in peer_users.items()}:
            raise SystemExit("retrieval: the peer's test users or their history lengths differ from MetaRec's")
        if seed == seeds[0]:
            agreement = check_evaluation(directory, model, mr_users, work)
        peer_info = {k: peer[k] for k in ("version", "numpy_version", "xla_flags", "users", "items",
                                          "training_examples", "examples_per_epoch", "validation_cases", "test_cases")}

        for label, run, users in (("MetaRec", mr, mr_users), ("JAX jit", peer, peer_users)):
            epochs = run["epochs"]
            # MetaRec's trainer, like the peer, takes every full batch of the shuffled examples.
            per_epoch = peer["examples_per_epoch"]
            runs[label].append({
                "seed": seed, "test": {m: float(np.mean([v[m] for _, v in users.values()])) for m in METRICS},
                "examples_per_second": float(np.median([per_epoch / e["seconds"] for e in epochs])),
                "examples_per_cpu_second": float(np.median([per_epoch / e["cpu_seconds"] for e in epochs]))
                if all(e["cpu_seconds"] for e in epochs) else None,
                "seconds": float(sum(e["seconds"] for e in epochs)), "epochs": len(epochs),
                "best_epoch": run["best_epoch"], "best_validation_recall50": run["best_validation_recall50"],
                "train_only_examples_per_second": run.get("train_only_examples_per_second_median")})
            per_user[label].append(users)
        print(f"[retrieval] seed {seed}: test recall@50 MetaRec {runs['MetaRec'][-1]['test']['recall@50']:.4f}, "
              f"JAX {runs['JAX jit'][-1]['test']['recall@50']:.4f}; examples/s MetaRec "
              f"{runs['MetaRec'][-1]['examples_per_second']:,.0f}, JAX {runs['JAX jit'][-1]['examples_per_second']:,.0f}; "
              f"per CPU-second MetaRec {runs['MetaRec'][-1]['examples_per_cpu_second'] or float('nan'):,.0f}, "
              f"JAX {runs['JAX jit'][-1]['examples_per_cpu_second'] or float('nan'):,.0f}",
              flush=True)

    # JAX − MetaRec, each user's metric averaged over the seeds, paired bootstrap over users.
    users = sorted(per_user["MetaRec"][0])
    diff = {}
    rng = np.random.Generator(np.random.PCG64(1))
    for m in ("recall@50", "ndcg@50"):
        a = np.array([np.mean([run[u][1][m] for run in per_user["MetaRec"]]) for u in users])
        b = np.array([np.mean([run[u][1][m] for run in per_user["JAX jit"]]) for u in users])
        d = b - a
        boot = d[rng.integers(0, len(d), (2000, len(d)))].mean(axis=1)
        diff[m] = (float(d.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))
    return {"runs": runs, "baselines": baselines, "peer": peer_info, "diff": diff, "seeds": seeds,
            "agreement": agreement,
            "temperature": args.retrieval_temperature, "queue": args.retrieval_queue, "epochs": args.retrieval_epochs,
            "source": directory}


def _mean_sd(values):
    return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)


def report(r):
    if r is None:
        return []
    lines = ["", "## Two-tower retrieval: MetaRec vs a JAX peer, MovieLens ml-latest-small (issue 24)", ""]
    if "skipped" in r:
        return lines + [f"Skipped: {r['skipped']}."]
    p = r["peer"]
    lines += [
        f"`metarec retrieval train --encoder bow --temperature {r['temperature']:g} --queue {r['queue']} "
        f"--epochs {r['epochs']}` (the other flags at their defaults: d 64, e 32, hidden 128, L 50, batch 256, Adam 1e-3, "
        "logQ on) then `metarec retrieval eval`, against `Benchmarks/peers/retrieval_peer.py` with the same settings: "
        "the same model, loss (in-batch softmax with logQ from the same streaming estimator, accidental hits masked"
        + (f", {r['queue']} queued negatives after 1000 steps" if r["queue"] else "") + "), Adam, epochs, early stopping "
        "(best validation recall@50, stop after 3 epochs without one) and evaluation (whole catalogue, the history "
        "excluded), one `jax.jit` of each epoch (`lax.scan` over its batches); only the random streams differ. "
        f"Split checked equal before reporting: {p['users']} users, {p['items']} items, {p['training_examples']:,} "
        f"training examples ({p['examples_per_epoch']:,} per epoch in full batches), {p['validation_cases']} validation "
        f"and {p['test_cases']} test users, each test user's history length the same. The peer's evaluation run on "
        f"MetaRec's seed-{r['seeds'][0]} parameters gives `metarec retrieval eval`'s per-user metrics "
        f"({r['agreement']['differing']} of {r['agreement']['users']} users differ, max |difference| "
        f"{r['agreement']['max']:.1e}). One core each; JAX {p['version']}, `XLA_FLAGS={p['xla_flags']}`.",
        "",
        "Test metrics are means over users; train examples/s = examples per epoch ÷ epoch wall seconds (training and "
        "validation; MetaRec's epoch from the arrival of its `epoch N` line to the next, the peer's timed inside), "
        "median over the epochs (the peer's first epoch includes its jit compilation); per CPU-second: the same over "
        "the process's CPU time in the epoch, the figure least moved by other processes on the core; seconds = the "
        "wall time of all epochs run. Mean ± sd over seeds " + ", ".join(map(str, r["seeds"])) + ".",
        "",
        "| model | seed | recall@10 | recall@50 | recall@100 | nDCG@10 | nDCG@50 | train examples/s | per CPU-second "
        "| seconds | epochs (best) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    cpu = lambda value: "—" if value is None else f"{value:,.0f}"
    for label, runs in r["runs"].items():
        for run in runs:
            t = run["test"]
            lines.append(f"| {label} | {run['seed']} | {t['recall@10']:.4f} | {t['recall@50']:.4f} | {t['recall@100']:.4f} "
                         f"| {t['ndcg@10']:.4f} | {t['ndcg@50']:.4f} | {run['examples_per_second']:,.0f} | "
                         f"{cpu(run['examples_per_cpu_second'])} | {run['seconds']:.1f} | {run['epochs']} ({run['best_epoch']}) |")
    for label, runs in r["runs"].items():
        cells = []
        for m in ("recall@10", "recall@50", "recall@100", "ndcg@10", "ndcg@50"):
            mean, sd = _mean_sd([run["test"][m] for run in runs])
            cells.append(f"{mean:.4f} ± {sd:.4f}")
        eps = _mean_sd([run["examples_per_second"] for run in runs])
        secs = _mean_sd([run["seconds"] for run in runs])
        per_cpu = "—"
        if all(run["examples_per_cpu_second"] for run in runs):
            per_cpu = "{:,.0f} ± {:,.0f}".format(*_mean_sd([run["examples_per_cpu_second"] for run in runs]))
        lines.append(f"| **{label}** | mean | " + " | ".join(cells) + f" | {eps[0]:,.0f} ± {eps[1]:,.0f} | {per_cpu} | "
                     f"{secs[0]:.1f} ± {secs[1]:.1f} | |")
    for method, t in r["baselines"].items():
        lines.append(f"| {method} | — | {t['recall@10']:.4f} | {t['recall@50']:.4f} | {t['recall@100']:.4f} | "
                     f"{t['ndcg@10']:.4f} | {t['ndcg@50']:.4f} | — | — | — | — |")
    def speed(key):
        values = {label: [run[key] for run in runs] for label, runs in r["runs"].items()}
        if not all(v is not None for vs in values.values() for v in vs):
            return "—"
        return f"{statistics.median(values['MetaRec']) / statistics.median(values['JAX jit']):.2f}×"

    d50, n50 = r["diff"]["recall@50"], r["diff"]["ndcg@50"]
    lines += ["", f"JAX − MetaRec (each user's metric averaged over the seeds, paired bootstrap over users, 2000 "
              f"resamples, 95 % CI): recall@50 {d50[0]:+.4f} [{d50[1]:+.4f}, {d50[2]:+.4f}], nDCG@50 {n50[0]:+.4f} "
              f"[{n50[1]:+.4f}, {n50[2]:+.4f}]. Training throughput MetaRec ÷ JAX (medians over seeds): {speed('examples_per_second')} in "
              f"examples/s, {speed('examples_per_cpu_second')} per CPU-second; "
              "the JAX epochs without their validation: "
              + ", ".join(f"{run['train_only_examples_per_second']:,.0f}" for run in r["runs"]["JAX jit"])
              + " examples/s (seeds in order; MetaRec prints no such split). Both ran pinned to the same core as "
              "other processes on this machine (load average above): the examples/s move with that load between "
              "runs; the test metrics do not (both are deterministic for a seed)."]
    return lines
