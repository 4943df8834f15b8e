#!/usr/bin/env bash
# POST /v1/recommend end to end under closed-loop load, against /v1/score of the same size on the
# same server, and the recall stage timed in process:
#   1. writes the reference ranker (`metarec-bench serving --write-model`: towers 64 → 64 → 1,
#      2 tasks, item ids 0..9999) and an untrained retrieval model over N = ITEMS item ids, d = 64
#      (`metarec retrieval synthetic`);
#   2. `metarec-bench recall`: the recall alone (user tower + exact top-n), one thread;
#   3. starts `metarec serve --retrieval` and runs wrk (CONNECTIONS connections, DURATION) on
#      /v1/recommend {"user", "k": 10, "n": 200, "history": 20 item ids} (100 users), then on
#      /v1/score with 200 candidates {"item_id"} per request (the ranking of the same n without
#      the recall); latency percentiles; non-2xx responses counted; then stops the server.
# Needs: release builds of metarec and metarec-bench, wrk, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${METAREC_BIN:-.build/release/metarec}
BENCH_BIN=${METAREC_BENCH_BIN:-.build/release/metarec-bench}
OUT=${OUT:-out/recommend-load}
PORT=${PORT:-18081}
ITEMS=${ITEMS:-10000}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-30s}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
[ -f "$OUT/model/CURRENT" ] || "$BENCH_BIN" serving --write-model "$OUT/model" >&2
[ -f "$OUT/retrieval/CURRENT" ] || "$BIN" retrieval synthetic --items "$ITEMS" --dimension 64 --out "$OUT/retrieval" >&2

echo "== recall in process (one thread, thread CPU time)"
"$BENCH_BIN" recall --retrieval "$OUT/retrieval" --history 20 --n 200

python3 - "$OUT" "$ITEMS" <<'PY'
import json, random, sys
out, items = sys.argv[1], int(sys.argv[2])
rng = random.Random(11)
def script(name, path, bodies):
    with open(f"{out}/{name}.lua", "w") as f:
        f.write("local bodies = {\n" + ",\n".join("[==[" + b + "]==]" for b in bodies) + "\n}\n")
        f.write('''local requests = {}
init = function(args)
  for k, body in ipairs(bodies) do
    requests[k] = wrk.format("POST", "%s", {["Content-Type"] = "application/json"}, body)
  end
end
local i = 0
request = function()
  i = i + 1
  return requests[(i %% #requests) + 1]
end
done = function(summary, latency, counts)
  io.write(string.format("non-2xx responses: %%d; socket errors: connect %%d read %%d write %%d timeout %%d\\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  for _, p in ipairs({50, 90, 99}) do
    io.write(string.format("p%%s %%.2f ms\\n", p, latency:percentile(p) / 1000))
  end
end
''' % path)
recommend = [json.dumps({"user": f"u{u}", "k": 10, "n": 200, "history": [str(rng.randrange(items)) for _ in range(20)]},
                        separators=(",", ":")) for u in range(100)]
score = [json.dumps({"user": f"u{u}", "candidates": [{"item_id": str(rng.randrange(items))} for _ in range(200)]},
                    separators=(",", ":")) for u in range(100)]
script("recommend", "/v1/recommend", recommend)
script("score", "/v1/score", score)
with open(f"{out}/one.json", "w") as f:
    f.write(recommend[0])
PY

"$BIN" serve --model "$OUT/model" --retrieval "$OUT/retrieval" --port "$PORT" > "$OUT/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }
printf 'one /v1/recommend: '
curl -s -H 'Content-Type: application/json' --data-binary @"$OUT/one.json" "http://127.0.0.1:$PORT/v1/recommend" | head -c 300; echo
for name in recommend score; do
    echo "== wrk /v1/$name: $CONNECTIONS connections, $DURATION"
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$OUT/$name.lua" "http://127.0.0.1:$PORT" | tee "$OUT/wrk-$name.txt"
done
kill -TERM $server
wait $server && echo "server stopped cleanly (SIGTERM)" || echo "server exit status $?"
trap - EXIT
