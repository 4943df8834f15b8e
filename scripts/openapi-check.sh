#!/usr/bin/env bash
# The HTTP contract, checked against the running server (`make test` runs this after `swift test`):
#   1. validates Sources/MetaRecServer/openapi.yaml as OpenAPI 3.1 (openapi-spec-validator);
#   2. writes the synthetic reference model (`metarec-bench serving --write-model`) and a synthetic
#      retrieval model over its item ids (`metarec retrieval synthetic`, so /v1/recommend recalls and
#      ranks), makes both read-only, and starts `metarec serve --retrieval` on a free loopback port with a state directory
#      and a random bearer token (METAREC_TOKENS), so the document's security scheme is exercised;
#   3. checks that GET /openapi.yaml serves the repository's document byte for byte (with the token)
#      and is 401 without it;
#   4. runs schemathesis with the token (examples, coverage and fuzzing phases, every check but
#      positive_data_acceptance, see below; its ignored_auth check sends requests without the token
#      and expects 401) for at most ST_MAX_EXAMPLES cases per operation and ST_MAX_TIME seconds:
#      any 5xx, or any response the document does not allow, fails (scripts/schemathesis.toml counts
#      413 body_too_large as refusing an invalid body);
#   5. stops the server with SIGTERM (it must exit 0, with its support-store snapshot in the state directory);
#   6. serves the same model as version 1 of a model repository (`metarec serve --models`, LABELS
#      "stable 1") and runs schemathesis on the repository routes (/v1/models/…, whose examples name
#      ranker, version 1 and label stable, so they score) for at most ST_REPO_MAX_TIME seconds.
# positive_data_acceptance is left out: whether a feature name is valid depends on the served model's
# config, which one document for every model cannot state, so schema-valid requests naming unknown
# features are rightly refused with 400 unknown_feature.
# Needs: the debug build of metarec and metarec-bench (swift test builds both), .build-venv (make test).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.build-venv}
ST_MAX_EXAMPLES=${ST_MAX_EXAMPLES:-200}
ST_MAX_TIME=${ST_MAX_TIME:-60}
ST_SEED=${ST_SEED:-20}
ST_REPO_MAX_TIME=${ST_REPO_MAX_TIME:-20}
BIN_DIR=$(swift build --show-bin-path)
OUT=.build/openapi-check
DOC=Sources/MetaRecServer/openapi.yaml

# Sets PORT to the port the server $SERVER logged in $1 (JSON log), waiting up to 30 s; $2 names it in errors.
wait_for_port() {
    PORT=""
    for _ in $(seq 300); do
        PORT=$(grep -o '"address":"http://127.0.0.1:[0-9]*' "$1" | grep -o '[0-9]*$' || true)
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER" 2>/dev/null || { cat "$1" >&2; echo "openapi-check: the $2 exited" >&2; exit 1; }
        sleep 0.1
    done
    cat "$1" >&2; echo "openapi-check: the $2 did not listen within 30 s" >&2; exit 1
}

"$VENV/bin/openapi-spec-validator" "$DOC"

chmod -R u+w "$OUT" 2>/dev/null || true
rm -rf "$OUT" && mkdir -p "$OUT"
OPENBLAS_NUM_THREADS=1 "$BIN_DIR/metarec-bench" serving --write-model "$OUT/model" >/dev/null
"$BIN_DIR/metarec" retrieval synthetic --items 1000 --out "$OUT/retrieval" >/dev/null
chmod -R a-w "$OUT/model" "$OUT/retrieval"
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
METAREC_TOKENS="$TOKEN" OPENBLAS_NUM_THREADS=1 "$BIN_DIR/metarec" serve --model "$OUT/model" --retrieval "$OUT/retrieval" --state "$OUT/state" --port 0 \
    --log-format json 2>"$OUT/server.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; chmod -R u+w "$OUT" 2>/dev/null || true' EXIT
wait_for_port "$OUT/server.log" server
URL="http://127.0.0.1:$PORT"

"$VENV/bin/python" - "$URL/openapi.yaml" "$DOC" "$TOKEN" <<'PY'
import sys, urllib.error, urllib.request
url, doc, token = sys.argv[1:4]
request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
served = urllib.request.urlopen(request, timeout=10).read()
assert served == open(doc, "rb").read(), "GET /openapi.yaml differs from the repository's document"
try:
    urllib.request.urlopen(url, timeout=10)
    raise SystemExit("GET /openapi.yaml without the token was not refused")
except urllib.error.HTTPError as error:
    assert error.code == 401 and error.headers["WWW-Authenticate"].startswith("Bearer"), error
PY

START=$(date +%s)
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml --no-color run "$DOC" --url "$URL" --header "Authorization: Bearer $TOKEN" --checks all --exclude-checks positive_data_acceptance \
    --phases examples,coverage,fuzzing --max-examples "$ST_MAX_EXAMPLES" --max-time "$ST_MAX_TIME" --seed "$ST_SEED" \
    --workers 2 --request-timeout 10 >"$OUT/schemathesis.log" 2>&1 || {
    cat "$OUT/schemathesis.log"; echo "openapi-check: schemathesis found problems (log: $OUT/schemathesis.log)" >&2; exit 1; }
ELAPSED=$(( $(date +%s) - START ))
SUMMARY=$(grep -E '^ *[0-9]+ generated' "$OUT/schemathesis.log" | tr -s ' ')
echo "openapi-check: $DOC valid; schemathesis:$SUMMARY in ${ELAPSED}s (seed $ST_SEED, at most $ST_MAX_EXAMPLES per operation)"

kill -TERM "$SERVER"
wait "$SERVER" || { cat "$OUT/server.log" >&2; echo "openapi-check: the server did not exit cleanly on SIGTERM" >&2; exit 1; }
grep -q 'support store snapshot written' "$OUT/server.log" || { echo "openapi-check: no snapshot at shutdown" >&2; exit 1; }
[ -f "$OUT/state/support.snapshot" ] || { echo "openapi-check: no snapshot in the state directory" >&2; exit 1; }
if grep -q '"level":"error"' "$OUT/server.log"; then grep '"level":"error"' "$OUT/server.log" >&2; echo "openapi-check: the server logged errors" >&2; exit 1; fi

# 6. The model repository's routes against `metarec serve --models` (no --state: refused with a repository).
mkdir -p "$OUT/repository/ranker"
cp -R "$OUT/model" "$OUT/repository/ranker/1"
echo "stable 1" >"$OUT/repository/ranker/LABELS"
chmod -R a-w "$OUT/repository"
METAREC_TOKENS="$TOKEN" OPENBLAS_NUM_THREADS=1 "$BIN_DIR/metarec" serve --models "$OUT/repository" --port 0 \
    --log-format json 2>"$OUT/repository-server.log" &
SERVER=$!
wait_for_port "$OUT/repository-server.log" "repository server"
START=$(date +%s)
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml --no-color run "$DOC" --url "http://127.0.0.1:$PORT" --header "Authorization: Bearer $TOKEN" \
    --include-path-regex '^/v1/models/' --checks all --exclude-checks positive_data_acceptance \
    --phases examples,coverage,fuzzing --max-examples "$ST_MAX_EXAMPLES" --max-time "$ST_REPO_MAX_TIME" --seed "$ST_SEED" \
    --workers 2 --request-timeout 10 >"$OUT/schemathesis-repository.log" 2>&1 || {
    cat "$OUT/schemathesis-repository.log"; echo "openapi-check: schemathesis found problems on the repository routes (log: $OUT/schemathesis-repository.log)" >&2; exit 1; }
ELAPSED=$(( $(date +%s) - START ))
SUMMARY=$(grep -E '^ *[0-9]+ generated' "$OUT/schemathesis-repository.log" | tr -s ' ')
# The examples scored (a 2xx counted for version 1), so the 200 replies were checked against the document too.
SCORED=$("$VENV/bin/python" - "http://127.0.0.1:$PORT/metrics" "$TOKEN" <<'PY'
import sys, urllib.request
url, token = sys.argv[1:3]
text = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}), timeout=10).read().decode()
print(int(sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
              if l.startswith("metarec_model_requests_total{") and 'status="2xx"' in l)))
PY
)
[ "$SCORED" -gt 0 ] || { echo "openapi-check: no repository route scored (metarec_model_requests_total 2xx = $SCORED)" >&2; exit 1; }
echo "openapi-check: repository routes (metarec serve --models); schemathesis:$SUMMARY in ${ELAPSED}s, $SCORED scored"
kill -TERM "$SERVER"
wait "$SERVER" || { cat "$OUT/repository-server.log" >&2; echo "openapi-check: the repository server did not exit cleanly on SIGTERM" >&2; exit 1; }
if grep -q '"level":"error"' "$OUT/repository-server.log"; then grep '"level":"error"' "$OUT/repository-server.log" >&2; echo "openapi-check: the repository server logged errors" >&2; exit 1; fi
