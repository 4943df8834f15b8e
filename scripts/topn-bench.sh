#!/usr/bin/env bash
# Exact top-k latency over 10k / 100k / 1M items (d = 64, k = 100, one query per call, one core):
# MetaRec's InnerProductSearch (`metarec-bench topn`) and, on the same vectors, numpy and
# faiss-cpu's IndexFlatIP (Benchmarks/peers/topn_peer.py, faiss only if importable).
#   usage: scripts/topn-bench.sh    (needs a release metarec-bench; PYTHON= a python with numpy [+ faiss-cpu])
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${METAREC_BENCH:-.build/release/metarec-bench}
PYTHON=${PYTHON:-python3}
ITEMS=${ITEMS:-10000,100000,1000000}
RUNS=${RUNS:-15}
DUMP=${DUMP:-$(mktemp -d)}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
taskset -c 0 "$BENCH" topn --items "$ITEMS" --runs "$RUNS" --dump "$DUMP"
taskset -c 0 "$PYTHON" Benchmarks/peers/topn_peer.py --dump "$DUMP" --items "$ITEMS" --runs "$RUNS"
rm -rf "$DUMP"
