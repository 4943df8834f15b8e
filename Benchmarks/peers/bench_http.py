"""`make bench`, HTTP (issue 22): the reference request (S = 64 support rows, k = 3, C = 200 candidates
as rows) over HTTP on loopback, `metarec serve` (1 auto-batcher worker, its default) against the
Python service `serve_peer.py` (FastAPI/uvicorn, one process, the JAX whole-model jit), with the
same load client: wrk, 2 client threads, 16 connections, closed loop, the same 100 request bodies
(users u0 … u99 of `metarec-bench serving --write-model`), rounds alternating between the servers.
Before any load, a few requests are sent to both and their scores compared.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np

PEERS_DIR = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-4
LUA = '''local requests = {}
init = function(args)
  for k, body in ipairs(bodies) do
    requests[k] = wrk.format("POST", "/v1/score", {["Content-Type"] = "application/json"}, body)
  end
end
local i = 0
request = function()
  i = i + 1
  return requests[(i % #requests) + 1]
end
done = function(summary, latency, counts)
  io.write(string.format("non-2xx: %d; socket errors: connect %d read %d write %d timeout %d\\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  for _, p in ipairs({50, 90, 99}) do
    io.write(string.format("P%s %.1f us\\n", p, latency:percentile(p)))
  end
  io.write(string.format("REQUESTS %d SECONDS %.3f\\n", summary.requests, summary.duration / 1e6))
end
'''


def bodies(candidates=200, users=100):
    """The same 100 bodies as scripts/serve-load.sh (candidates as rows)."""
    rng = random.Random(11)

    def candidate():
        item = rng.randrange(10_000)
        return {"item_id": str(item), "category": str(item % 50), "price": (item % 997) / 10,
                "popularity": round(rng.random(), 6)}
    return [json.dumps({"user": f"u{u}", "candidates": [candidate() for _ in range(candidates)]}, separators=(",", ":"))
            for u in range(users)]


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/score", data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def wait_healthy(port, proc, seconds=600):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"[http] server on port {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"[http] server on port {port} not healthy after {seconds} s")


def wrk(port, script, seconds, connections, cores):
    out = subprocess.run(cores(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script,
                                f"http://127.0.0.1:{port}"]), check=True, capture_output=True, text=True).stdout
    errors = re.search(r"non-2xx: (\d+); socket errors: connect (\d+) read (\d+) write (\d+) timeout (\d+)", out)
    n, secs = re.search(r"REQUESTS (\d+) SECONDS ([\d.]+)", out).groups()
    pct = {p: float(v) for p, v in re.findall(r"P(\d+) ([\d.]+) us", out)}
    return {"rps": int(n) / float(secs), "requests": int(n), "p50": pct["50"], "p90": pct["90"], "p99": pct["99"],
            "errors": sum(int(x) for x in errors.groups()) if errors else -1}


def stop(procs):
    """Terminates the processes, the last started first, and reaps each (killed after 20 s)."""
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def measure(args, work, cores):
    if not shutil.which("wrk"):
        return {"skipped": "wrk not found (Debian package `wrk`)"}
    model, state = os.path.join(work, "http-model"), os.path.join(work, "http-peer-state.safetensors")
    subprocess.run([args.metarec_bench, "serving", "--write-model", model, "--peer-state", state], check=True,
                   stdout=subprocess.DEVNULL)
    texts = bodies()
    script = os.path.join(work, "load.lua")
    with open(script, "w") as f:
        f.write("bodies = {\n" + ",\n".join("[==[" + b + "]==]" for b in texts) + "\n}\n" + LUA)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    mr_port, py_port = 18180, 18190
    procs = []
    try:
        print("[http] starting metarec serve and the Python service (FastAPI/uvicorn + JAX)", flush=True)
        procs.append(subprocess.Popen(cores([args.metarec, "serve", "--model", model, "--port", str(mr_port),
                                             "--workers", "1"]), env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(cores([sys.executable, os.path.join(PEERS_DIR, "serve_peer.py"), "--model", model,
                                             "--state", state, "--port", str(py_port)]), env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_healthy(mr_port, procs[0])
        wait_healthy(py_port, procs[1])
        diff = 0.0
        for body in texts[:5]:
            a, b = post(mr_port, body), post(py_port, body)
            if not (a["finetuned"] and b["finetuned"] and a["support_rows"] == b["support_rows"]):
                raise SystemExit(f"[http] responses not both fine-tuned: {a['support_rows']} / {b['support_rows']}")
            sa = np.array([[row[k] for k in sorted(row)] for row in a["scores"]])
            sb = np.array([[row[k] for k in sorted(row)] for row in b["scores"]])
            diff = max(diff, float(np.abs(sa - sb).max()))
        assert diff <= TOLERANCE, f"[http] the Python service disagrees with metarec serve: max |diff| {diff}"
        print(f"[http] agreement over HTTP (5 requests): {diff:.2e}", flush=True)
        for port in (mr_port, py_port):  # warm-up
            wrk(port, script, 2, 16, cores)
        runs = {"MetaRec (`metarec serve`)": [], "Python (FastAPI/uvicorn + JAX jit)": []}
        for r in range(args.http_rounds):
            for label, port in zip(runs, (mr_port, py_port)):
                print(f"[http] round {r + 1}/{args.http_rounds}: {label}, {args.http_seconds} s", flush=True)
                runs[label].append(wrk(port, script, args.http_seconds, 16, cores))
    finally:
        stop(procs)
    return {"runs": runs, "diff": diff, "seconds": args.http_seconds, "rounds": args.http_rounds}


def report(h, prefix):
    if h is None:
        return []
    lines = ["", "## HTTP: `metarec serve` against a Python service, loopback", ""]
    if "skipped" in h:
        return lines + [f"Skipped: {h['skipped']}."]
    lines += [
        "The reference request (S = 64, k = 3, C = 200 candidates as rows) over HTTP: `metarec serve --workers 1` "
        "(its default) and `Benchmarks/peers/serve_peer.py` (FastAPI on uvicorn, one process, the JAX whole-model "
        "jit with one XLA thread; encode in Python), the same model and support rows (`metarec-bench serving "
        "--write-model --peer-state`). Load: wrk, 2 threads, 16 connections, closed loop, the same 100 bodies "
        f"(users u0 … u99), {h['rounds']} rounds × {h['seconds']} s per server, alternating, after a 2 s warm-up "
        "each; servers and wrk share the 2 cores. req/s: median of the rounds; latency: wrk's percentiles, "
        f"the median over rounds. Scores over HTTP checked equal before the load (max |Δ| {h['diff']:.1e}).", "",
        "| server | req/s | per round | p50 ms | p90 ms | p99 ms | errors |", "|---|---:|---|---:|---:|---:|---:|"]
    med = {}
    for label, runs in h["runs"].items():
        m = {k: float(np.median([r[k] for r in runs])) for k in ("rps", "p50", "p90", "p99")}
        med[label] = m
        per_round = ", ".join(f"{r['rps']:,.0f}" for r in runs)
        lines.append(f"| {label} | {m['rps']:,.0f} | {per_round} | "
                     f"{m['p50'] / 1e3:.2f} | {m['p90'] / 1e3:.2f} | {m['p99'] / 1e3:.2f} | "
                     f"{sum(r['errors'] for r in runs)} |")
    (a, ma), (b, mb) = list(med.items())
    r = ma["rps"] / mb["rps"] if mb["rps"] else float("nan")
    met = r >= 5 and ma["p99"] < mb["p99"]
    lines += ["", "| issue 22 target | figure | met |", "|---|---:|---|",
              f"| ≥ 5× the Python service's req/s at a lower p99 | {r:.2f}× (p99 {ma['p99'] / 1e3:.2f} vs "
              f"{mb['p99'] / 1e3:.2f} ms) | {'**yes**' if met else '**no**'} |",
              "", f"![HTTP throughput]({prefix}-http.png)"]
    return lines


def plot(path, h):
    if "runs" not in h:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = list(h["runs"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
    rps = [float(np.median([r["rps"] for r in h["runs"][l]])) for l in labels]
    ax1.bar(range(len(labels)), rps, color=["tab:blue", "tab:orange"])
    ax1.set_xticks(range(len(labels)), [l.split(" (")[0] for l in labels])
    ax1.set_ylabel("requests / s (median of rounds)")
    for i, (p, name) in enumerate(((50, "p50"), (99, "p99"))):
        ax2.bar(np.arange(len(labels)) + (i - 0.5) * 0.35,
                [float(np.median([r[name] for r in h["runs"][l]])) / 1e3 for l in labels], 0.35, label=name)
    ax2.set_xticks(range(len(labels)), [l.split(" (")[0] for l in labels])
    ax2.set_ylabel("latency ms")
    ax2.set_yscale("log")
    ax2.legend()
    fig.suptitle("HTTP, 16 connections, S = 64, k = 3, C = 200")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}", flush=True)
