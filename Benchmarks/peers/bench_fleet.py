"""`make bench` (section `fleet`) or `make bench-fleet`, issue 23: the reference request (S = 64, k = 3,
C = 200 candidates) over HTTP on loopback, `metarec serve` with the in-process support store against the
same server with `--support redis://…` (a private redis-server on loopback, nothing persisted), the same
load client as bench_http (wrk, 2 threads, 16 connections, the same 100 bodies), rounds alternating.
Both servers are seeded with the same events (users f0 … f99, 64 rows each; the model directory's own
users u0 … u99 are in the in-process store only), and their scores are compared before any load. The floor:
`redis-benchmark`'s own round trip, one client (PING, and LRANGE of one user's 64 rows).
Also: Redis round trips per auto-batch, from the server's /metrics.

Standalone: python3 Benchmarks/peers/bench_fleet.py --metarec M --metarec-bench B [--out FILE.md]
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_http  # noqa: E402

REDIS_PORT, LOCAL_PORT, SHARED_PORT = 18391, 18280, 18281


def events(user, rng, count=64, start=1_700_000_000):
    """`count` events of `user` (the shape of SyntheticTraffic.events: item features, two binary labels)."""
    out = []
    for i in range(count):
        item = rng.randrange(10_000)
        out.append({"user": user, "item_id": str(item), "category": str(item % 50), "price": (item % 997) / 10,
                    "popularity": round(rng.random(), 6), "timestamp": start + i,
                    "task0": rng.randrange(2), "task1": rng.randrange(2)})
    return out


def post(port, path, payload):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ") or line.startswith(name + "{"))


def redis_cpu():
    """CPU seconds redis-server has used (user + system), from INFO cpu."""
    info = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "info", "cpu"], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(":", 1) for line in info.replace("\r", "").splitlines() if ":" in line)
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


def redis_floor(cores):
    """redis-benchmark, one client, no pipelining: PING and LRANGE of one stored user's rows (µs)."""
    key = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "--scan", "--pattern", "metarec:support:*"],
                         capture_output=True, text=True, check=True).stdout.split()[0]
    floor = {}
    for label, command in (("PING", ["-t", "ping_mbulk"]), ("LRANGE 64 rows", ["LRANGE", key, "-64", "-1"])):
        csv = subprocess.run(cores(["redis-benchmark", "-p", str(REDIS_PORT), "-c", "1", "-n", "20000", "--csv"] + command),
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()
        header = [h.strip('"') for h in csv[0].split(",")]
        row = dict(zip(header, (v.strip('"') for v in csv[-1].split(","))))
        floor[label] = {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]) * 1e3,
                        "p99": float(row["p99_latency_ms"]) * 1e3}
    return floor


def measure(args, work, cores):
    for tool in ("wrk", "redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            return {"skipped": f"{tool} not found (Debian packages wrk, redis-server, redis-tools)"}
    model = os.path.join(work, "fleet-model")
    subprocess.run([args.metarec_bench, "serving", "--write-model", model], check=True, stdout=subprocess.DEVNULL)
    # Users f0 … f99, not in the model directory (whose rows the in-process store has and Redis has not):
    # both stores then hold exactly the 64 rows of the events seeded below.
    texts = [b.replace('"user":"u', '"user":"f', 1) for b in bench_http.bodies()]
    script = os.path.join(work, "fleet-load.lua")
    with open(script, "w") as f:
        f.write("bodies = {\n" + ",\n".join("[==[" + b + "]==]" for b in texts) + "\n}\n" + bench_http.LUA)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    procs = []
    try:
        procs.append(subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        base = [args.metarec, "serve", "--model", model, "--workers", "1"]
        procs.append(subprocess.Popen(cores(base + ["--port", str(LOCAL_PORT)]), env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(cores(base + ["--port", str(SHARED_PORT), "--support", f"redis://127.0.0.1:{REDIS_PORT}"]),
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        bench_http.wait_healthy(LOCAL_PORT, procs[1])
        bench_http.wait_healthy(SHARED_PORT, procs[2])
        print("[fleet] seeding both servers: 100 users × 64 events", flush=True)
        rng = random.Random(7)
        for u in range(100):
            batch = {"events": events(f"f{u}", rng)}
            for port in (LOCAL_PORT, SHARED_PORT):
                assert post(port, "/v1/events", batch)["appended"] == 64
        diff = 0.0
        for body in texts[:5]:
            a, b = (post(port, "/v1/score", json.loads(body)) for port in (LOCAL_PORT, SHARED_PORT))
            if not (a["finetuned"] and b["finetuned"] and a["support_rows"] == b["support_rows"] == 64):
                raise SystemExit(f"[fleet] not both fine-tuned on 64 rows: {a.get('finetuned')}, {a.get('support_rows')}, "
                                 f"{a.get('fallback')} / {b.get('finetuned')}, {b.get('support_rows')}, {b.get('fallback')}")
            for ra, rb in zip(a["scores"], b["scores"]):
                diff = max(diff, max(abs(ra[k] - rb[k]) for k in ra))
        if diff > 1e-5:
            raise SystemExit(f"[fleet] the Redis-backed server scores differently: max |diff| {diff}")
        print(f"[fleet] same scores from both stores (max |diff| {diff:.1e}); redis-benchmark floor", flush=True)
        floor = redis_floor(cores)
        for port in (LOCAL_PORT, SHARED_PORT):
            bench_http.wrk(port, script, 2, 16, cores)
        runs = {"in-process store": [], "Redis on loopback": []}
        degraded = {label: 0.0 for label in runs}
        trips, batches, redis_seconds, wall = 0.0, 0.0, 0.0, 0.0
        for r in range(args.fleet_rounds):
            for label, port in zip(runs, (LOCAL_PORT, SHARED_PORT)):
                print(f"[fleet] round {r + 1}/{args.fleet_rounds}: {label}, {args.fleet_seconds} s", flush=True)
                t0, b0 = metric(port, "metarec_support_store_round_trips_total"), metric(port, "metarec_autobatch_batches_total")
                f0, e0 = metric(port, "metarec_finetune_fallbacks_total"), metric(port, "metarec_support_store_failures_total")
                c0, w0 = redis_cpu(), time.time()
                runs[label].append(bench_http.wrk(port, script, args.fleet_seconds, 16, cores))
                # Base-tower fallbacks are cheaper to serve: a round that fell back would flatter its req/s.
                fell = metric(port, "metarec_finetune_fallbacks_total") - f0
                failed = metric(port, "metarec_support_store_failures_total") - e0
                degraded[label] += fell + failed
                if fell or failed:
                    print(f"[fleet] {label}: {fell:.0f} fallbacks, {failed:.0f} store failures during the round: "
                          "not every request was fine-tuned (reported beside the figures)", flush=True)
                if port == SHARED_PORT:
                    trips += metric(port, "metarec_support_store_round_trips_total") - t0
                    batches += metric(port, "metarec_autobatch_batches_total") - b0
                    redis_seconds += redis_cpu() - c0
                    wall += time.time() - w0
    finally:
        bench_http.stop(procs)
    return {"runs": runs, "floor": floor, "diff": diff, "degraded": degraded,
            "trips_per_batch": trips / batches if batches else float("nan"),
            "redis_cores": redis_seconds / wall if wall else float("nan"),
            "batches": batches, "seconds": args.fleet_seconds, "rounds": args.fleet_rounds}


def report(h):
    if h is None:
        return []
    lines = ["", "## Serving fleet: the support store in-process vs Redis on loopback", ""]
    if "skipped" in h:
        return lines + [f"Skipped: {h['skipped']}."]
    lines += [
        "The reference request (S = 64, k = 3, C = 200 candidates) over HTTP: `metarec serve --workers 1` with the "
        "in-process support store and with `--support redis://127.0.0.1:…` (a private redis-server, no persistence), "
        "both seeded with the same 100 users × 64 events (users absent from the model directory) and checked to return the same scores "
        f"(max |Δ| {h['diff']:.1e}) before the load. Load: wrk, 2 threads, 16 connections, closed loop, the same 100 "
        f"bodies, {h['rounds']} rounds × {h['seconds']} s per server, alternating, after a 2 s warm-up each; servers, "
        "Redis and wrk share the 2 cores. req/s: median of the rounds; latency: wrk's percentiles, median over rounds.", "",
        "| support store | req/s | per round | p50 ms | p90 ms | p99 ms | errors | fallbacks + store failures |",
        "|---|---:|---|---:|---:|---:|---:|---:|"]
    for label, runs in h["runs"].items():
        m = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p90", "p99")}
        per_round = ", ".join(f"{r['rps']:,.0f}" for r in runs)
        lines.append(f"| {label} | {m['rps']:,.0f} | {per_round} | {m['p50'] / 1e3:.2f} | "
                     f"{m['p90'] / 1e3:.2f} | {m['p99'] / 1e3:.2f} | {sum(r['errors'] for r in runs)} | "
                     f"{h['degraded'][label]:.0f} |")
    lines += ["", "| floor: `redis-benchmark -c 1 -n 20000` (no pipelining) | req/s | p50 µs | p99 µs |", "|---|---:|---:|---:|"]
    for label, f in h["floor"].items():
        lines.append(f"| {label} | {f['rps']:,.0f} | {f['p50']:.0f} | {f['p99']:.0f} |")
    lines += ["", f"Redis round trips per auto-batch under the load (the server's `metarec_support_store_round_trips_total` "
              f"over `metarec_autobatch_batches_total`, {h['batches']:,.0f} batches): **{h['trips_per_batch']:.2f}** "
              f"(issue 23's bound: ≤ 1.5). redis-server's own CPU during the Redis rounds: {h['redis_cores']:.2f} of the 2 "
              "cores (`INFO cpu`), taken from the server and wrk on the same cores."]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metarec", required=True)
    ap.add_argument("--metarec-bench", required=True)
    ap.add_argument("--fleet-seconds", type=int, default=10)
    ap.add_argument("--fleet-rounds", type=int, default=2)
    ap.add_argument("--out", default="", help="write the markdown section here (default: print it)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="metarec-bench-fleet-")
    try:
        text = "\n".join(report(measure(args, work, lambda c: c))) + "\n"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
