#!/usr/bin/env bash
# Exact top-k latency over 10k / 100k / 1M items (d = 64, k = 100, one query per call, one core),
# one run printing every method on the same vectors:
#   MetaRec (`metarec-bench topn`): InnerProductSearch (blocked GEMM), CatalogueScan fp32 and
#   CatalogueScan int8 exact, each with its floor (bytes read ÷ copy bandwidth measured in the
#   same run); then numpy and faiss-cpu's IndexFlatIP (Benchmarks/peers/topn_peer.py, faiss only
#   if importable), both validated against MetaRec's ids first.
#   usage: scripts/topn-bench.sh    (needs a release metarec-bench; PYTHON= a python with numpy [+ faiss-cpu])
#   REPEAT=n runs the whole comparison n times (the machine's noise shows between repeats).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${METAREC_BENCH:-.build/release/metarec-bench}
PYTHON=${PYTHON:-python3}
ITEMS=${ITEMS:-10000,100000,1000000}
RUNS=${RUNS:-15}
REPEAT=${REPEAT:-1}
DUMP=${DUMP:-$(mktemp -d)}
PIN=$(command -v taskset >/dev/null 2>&1 && echo "taskset -c 0" || true)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for r in $(seq 1 "$REPEAT"); do
    echo "== repeat $r of $REPEAT ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
    $PIN "$BENCH" topn --items "$ITEMS" --runs "$RUNS" --dump "$DUMP"
    $PIN "$PYTHON" Benchmarks/peers/topn_peer.py --dump "$DUMP" --items "$ITEMS" --runs "$RUNS"
done
rm -rf "$DUMP"
