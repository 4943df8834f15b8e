"""`make bench`: MetaRec vs JAX jit vs numpy on the per-request fine-tune-and-score work,
one core, one run; writes BENCHMARKS.md (and BENCHMARKS-latency.png when matplotlib is there).

Order per config: MetaRec (`metarec bench serving --adapt-score S,k,C --dump-request F`, which
times adapt + score from given f and dumps that request's inputs and scores), then the peers on
the dumped inputs with the weights of `metarec bench serving --write-model DIR`. Nothing is
timed before both peers agree with MetaRec's scores to <= 1e-4.

Usage: python bench.py --metarec BIN [--out BENCHMARKS.md] [--iterations N] [--peer-iterations N]
The caller pins the process to one core and sets the one-thread environment (see Makefile).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

CONFIGS = [
    ("reference", 64, 3, 200),
    ("small", 16, 1, 100),
]
TOLERANCE = 1e-4


def percentiles(ns):
    us = np.asarray(ns, dtype=np.float64) / 1e3
    return {"p50": float(np.percentile(us, 50)), "p90": float(np.percentile(us, 90)),
            "p99": float(np.percentile(us, 99)), "mean": float(us.mean())}


def time_calls(fn, iterations, warmup):
    for _ in range(warmup):
        fn()
    out = np.empty(iterations, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(iterations):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metarec", required=True)
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--iterations", type=int, default=5000, help="MetaRec timed iterations per config")
    ap.add_argument("--peer-iterations", type=int, default=3000, help="timed calls per peer per config")
    ap.add_argument("--command", default="make bench")
    ap.add_argument("--plot", default="BENCHMARKS-latency.png")
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp

    work = tempfile.mkdtemp(prefix="metarec-bench-")
    try:
        model_dir = os.path.join(work, "model")
        subprocess.run([args.metarec, "bench", "serving", "--write-model", model_dir], check=True,
                       stdout=subprocess.DEVNULL)
        towers = peers.load_towers(model_dir)
        rows = []
        for name, s, k, c in CONFIGS:
            dump = os.path.join(work, f"request-{name}.safetensors")
            print(f"[{name}] MetaRec: S {s} k {k} C {c}, {args.iterations} iterations", flush=True)
            res = subprocess.run([args.metarec, "bench", "serving", "--adapt-score", f"{s},{k},{c}",
                                  "--dump-request", dump, "--iterations", str(args.iterations),
                                  "--format", "json"], check=True, capture_output=True, text=True)
            metarec = json.loads(res.stdout)
            req = peers.load_request(dump)
            assert (req["support"], req["steps"], req["candidates"]) == (s, k, c), "dump is of another cell"
            expected = req["scores"]

            # numpy peer: agree first
            np_fn = lambda: peers.numpy_adapt_score(towers, req["tasks"], req["steps"], req["lr"], req["kinds"],
                                                    req["activation"])
            np_diff = float(np.max(np.abs(np_fn() - expected)))
            assert np_diff <= TOLERANCE, f"[{name}] numpy peer disagrees with MetaRec: max |diff| {np_diff}"

            # JAX jit peer: inputs and weights on the device once (the most favourable setting for JAX)
            jax_fn_raw = peers.make_jax_adapt_score(req["steps"], req["lr"], req["kinds"], req["activation"])
            jtowers = jax.device_put([[(w, b) for w, b in tower] for tower in towers])
            jtasks = jax.device_put(req["tasks"])
            jax_fn = lambda: jax_fn_raw(jtowers, jtasks).block_until_ready()
            jax_diff = float(np.max(np.abs(np.asarray(jax_fn()) - expected)))
            assert jax_diff <= TOLERANCE, f"[{name}] JAX peer disagrees with MetaRec: max |diff| {jax_diff}"
            print(f"[{name}] agreement: numpy {np_diff:.2e}, JAX {jax_diff:.2e} (<= {TOLERANCE:g}); "
                  f"MetaRec adapt+score vs Predictor.score {metarec['maxDifferenceToServed']:.2e}", flush=True)

            print(f"[{name}] JAX jit: {args.peer_iterations} calls", flush=True)
            jax_t = percentiles(time_calls(jax_fn, args.peer_iterations, warmup=200))
            print(f"[{name}] numpy: {args.peer_iterations} calls", flush=True)
            np_t = percentiles(time_calls(np_fn, args.peer_iterations, warmup=200))
            mr = {"p50": metarec["p50Microseconds"], "p90": metarec["p90Microseconds"],
                  "p99": metarec["p99Microseconds"], "mean": metarec["meanMicroseconds"]}
            rows.append({"name": name, "S": s, "k": k, "C": c, "metarec": mr, "jax": jax_t, "numpy": np_t,
                         "serving_finetune": metarec["servingFinetuneMicroseconds"],
                         "np_diff": np_diff, "jax_diff": jax_diff,
                         "served_diff": metarec["maxDifferenceToServed"],
                         "mflop": flops(towers, s, k, c) / 1e6})
            print(f"[{name}] p50 µs: MetaRec {mr['p50']:.1f}, JAX {jax_t['p50']:.1f}, numpy {np_t['p50']:.1f}",
                  flush=True)
        write_report(args, rows, jax.__version__, np.__version__)
        if args.plot:
            plot(args.plot, rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def flops(towers, s, k, c):
    """GEMM FLOPs: per task k·S·(2·fwd + dInput of layers > 0) + C·fwd (as `BenchServingRun.flops`)."""
    total = 0.0
    for tower in towers:
        fwd = sum(2 * w.shape[0] * w.shape[1] for w, _ in tower)
        dinput = sum(2 * w.shape[0] * w.shape[1] for w, _ in tower[1:])
        total += k * s * (2 * fwd + dinput) + c * fwd
    return total


def write_report(args, rows, jax_version, numpy_version):
    targets = {"reference": 1.5, "small": 3.0}
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`Benchmarks/peers/bench.py`); do not edit by hand.",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical cores; this run pinned to {affinity} "
        f"core(s) (`taskset -c 0` when available)",
        f"- Command: `{args.command}`",
        f"- Environment: `OPENBLAS_NUM_THREADS=1`, `JAX_PLATFORMS=cpu`, "
        f"`XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}`; Python {platform.python_version()}, "
        f"JAX {jax_version}, numpy {numpy_version}",
        "",
        "## Per-request fine-tune and score (serving), one core",
        "",
        "The work of `metarec bench serving` after the bottom: for each of the 2 tasks, k SGD steps of "
        "the 64 → 64 → 1 tower on the user's S support rows (BCE on the logit, mean over labelled rows), "
        "then the C candidates scored with the adapted tower. All three take the same meta-layer inputs "
        "(one real request's support and candidate `f_k`, dumped by `metarec bench serving --adapt-score "
        "S,k,C --dump-request`) and the same tower weights (`model.safetensors` of "
        "`metarec bench serving --write-model`).",
        "",
        f"MetaRec: {args.iterations} timed iterations; peers: {args.peer_iterations} timed calls each, "
        "after 200 warm-up calls. Latency in µs (wall clock per request). Ratio = peer ÷ MetaRec "
        "(> 1: MetaRec faster).",
        "",
        "| config | S | k | C | MFLOP | impl | p50 | p90 | p99 | p50 ratio | p99 ratio |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mr = r["metarec"]
        for label, key in (("MetaRec", "metarec"), ("JAX jit", "jax"), ("numpy", "numpy")):
            t = r[key]
            ratio50 = "—" if key == "metarec" else f"{t['p50'] / mr['p50']:.2f}×"
            ratio99 = "—" if key == "metarec" else f"{t['p99'] / mr['p99']:.2f}×"
            lines.append(f"| {r['name']} | {r['S']} | {r['k']} | {r['C']} | {r['mflop']:.2f} | {label} | "
                         f"{t['p50']:.1f} | {t['p90']:.1f} | {t['p99']:.1f} | {ratio50} | {ratio99} |")
    lines += ["", "### Issue 7 targets (p50)", "",
              "| config | target | JAX ÷ MetaRec | numpy slower than both | met |", "|---|---|---:|---|---|"]
    for r in rows:
        need = targets.get(r["name"])
        ratio = r["jax"]["p50"] / r["metarec"]["p50"]
        np_slowest = r["numpy"]["p50"] > max(r["jax"]["p50"], r["metarec"]["p50"])
        met = need is not None and ratio >= need and np_slowest
        lines.append(f"| {r['name']} | MetaRec ≥ {need}× faster than JAX; numpy slowest | {ratio:.2f}× | "
                     f"{'yes' if np_slowest else 'no'} | {'**yes**' if met else '**no**'} |")
    lines += ["", "### Agreement (checked before timing; max |score difference|, tolerance 1e-4)", "",
              "| config | numpy vs MetaRec | JAX vs MetaRec | MetaRec adapt+score vs `Predictor.score` |",
              "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['np_diff']:.1e} | {r['jax_diff']:.1e} | {r['served_diff']:.1e} |")
    lines += ["", "### Notes", "",
              "- MetaRec's figure is the pure adapt + score from given `f` (`--adapt-score`): the same "
              "`MLPParameters.adapt` and `TowerObjective.predictions` calls `Predictor` makes, on "
              "preallocated fast weights. The serving path's own fine-tune + score phase (`Predictor."
              "phaseTimes`, which also pulls the support rows from the store and copies blocks) is, as a "
              "mean: " + ", ".join(f"{r['name']} {r['serving_finetune']:.1f} µs" for r in rows) + ".",
              "- JAX: one `jax.jit` of both tasks' k unrolled `jax.grad` steps and scoring; weights and "
              "inputs placed on the device once before timing (the most favourable setting for JAX); "
              "each timed call includes `block_until_ready()`.",
              "- numpy: the same forward/backward written out by hand (float32), one OpenBLAS thread.",
              "- Not covered yet (issue 7): the full request (encode + bottom) against peers, training "
              "rows/s, two-core throughput, latency-vs-S/C plots, microbenchmarks.",
              ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    if args.plot:
        lines_png = os.path.basename(args.plot)
        with open(args.out, "a") as f:
            f.write(f"\n![p50/p99 latency per config]({lines_png})\n")
    print(f"wrote {args.out}", flush=True)


def plot(path, rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.25
    impls = [("MetaRec", "metarec"), ("JAX jit", "jax"), ("numpy", "numpy")]
    x = np.arange(len(rows))
    for i, (label, key) in enumerate(impls):
        p50 = [r[key]["p50"] for r in rows]
        p99 = [r[key]["p99"] for r in rows]
        ax.bar(x + (i - 1) * width, p50, width, label=f"{label} p50")
        ax.scatter(x + (i - 1) * width, p99, marker="_", s=200, color="black")
    ax.set_xticks(x, [f"{r['name']}\nS={r['S']} k={r['k']} C={r['C']}" for r in rows])
    ax.set_ylabel("µs per request (bar p50, tick p99)")
    ax.set_title("Per-request fine-tune + score, one core")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
