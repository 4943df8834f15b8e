#!/usr/bin/env bash
# Closed-loop HTTP load on `metarec serve` with the reference model (towers 64 → 64 → 1,
# 2 tasks, S = 64 support rows per user, k = 3) and C = 200 candidates per request:
#   1. writes the model (`metarec-bench serving --write-model`) and 100 request bodies, with
#      the candidates as rows (FORM=rows, the default: [{"item_id": …, …}, …]) or as columns
#      (FORM=columns: {"item_id": […], …});
#   2. starts the server (WORKERS auto-batcher threads, default 1 as `metarec serve`) and runs wrk: CONNECTIONS connections,
#      DURATION, latency percentiles; every non-2xx response counts as an error;
#   3. sends a 10 MB body and a 100 000-candidate request (expects 413 and 400) and checks
#      that the server still answers /healthz; then stops it with SIGTERM.
# Needs: a release build of metarec and metarec-bench, wrk and curl (Debian packages), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
BENCH_BIN=${METAREC_BENCH_BIN:-.build/release/metarec-bench}
OUT=${OUT:-out/serve-load}
PORT=${PORT:-18080}
WORKERS=${WORKERS:-1}  # the server's default; on 2 shared cores a second worker only adds tail (see README)
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-30s}
FORM=${FORM:-rows}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
mkdir -p "$OUT"
[ -f "$OUT/model/CURRENT" ] || OPENBLAS_NUM_THREADS=1 "$BENCH_BIN" serving --write-model "$OUT/model" >&2

python3 - "$OUT" "$FORM" <<'PY'
import json, random, sys
out, form = sys.argv[1], sys.argv[2]
rng = random.Random(11)
def candidate():
    item = rng.randrange(10_000)
    return {"item_id": str(item), "category": str(item % 50), "price": (item % 997) / 10, "popularity": round(rng.random(), 6)}
def candidates():
    rows = [candidate() for _ in range(200)]
    return rows if form == "rows" else {key: [r[key] for r in rows] for key in rows[0]}
bodies = [json.dumps({"user": f"u{u}", "candidates": candidates()}, separators=(",", ":")) for u in range(100)]
with open(f"{out}/load.lua", "w") as f:
    f.write("local bodies = {\n" + ",\n".join("[==[" + b + "]==]" for b in bodies) + "\n}\n")
    # Requests are formatted once; no per-response Lua callback (wrk counts non-2xx itself):
    # wrk shares the machine's cores with the server, so its own CPU time is kept small.
    # (In init: wrk adds the Host header to wrk.headers only after loading the script.)
    f.write('''local requests = {}
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
  io.write(string.format("non-2xx responses: %d; socket errors: connect %d read %d write %d timeout %d\\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s %.2f ms\\n", p, latency:percentile(p) / 1000))
  end
end
''')
with open(f"{out}/many.json", "w") as f:
    f.write('{"user":"u0","candidates":[' + ",".join(["{}"] * 100_000) + "]}")
with open(f"{out}/big.json", "w") as f:
    f.write('{"user":"u0","candidates":[' + ",".join([json.dumps(candidate())] * 150_000) + "]}")
PY

OPENBLAS_NUM_THREADS=1 "$BIN" serve --model "$OUT/model" --port "$PORT" --workers "$WORKERS" > "$OUT/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }

echo "== wrk: $CONNECTIONS connections, $DURATION, $WORKERS auto-batcher workers, C = 200 as $FORM, S = 64, k = 3"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$OUT/load.lua" "http://127.0.0.1:$PORT" | tee "$OUT/wrk.txt"

echo "== limits"
printf '10 MB body (%s bytes): HTTP ' "$(wc -c < "$OUT/big.json")"
curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' --data-binary @"$OUT/big.json" "http://127.0.0.1:$PORT/v1/score"
printf '100 000 candidates (%s bytes): HTTP ' "$(wc -c < "$OUT/many.json")"
curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' --data-binary @"$OUT/many.json" "http://127.0.0.1:$PORT/v1/score"
printf 'healthz afterwards: HTTP '
curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/healthz"
kill -TERM $server
wait $server && echo "server stopped cleanly (SIGTERM)" || echo "server exit status $?"
trap - EXIT
