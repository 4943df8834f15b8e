"""Top-k by inner product on the vectors `metarec-bench topn --dump DIR` wrote: numpy
(`V @ q`, `argpartition`, sort of the k) and, when importable, faiss-cpu's exact
`IndexFlatIP`, one thread each, thread CPU time, median [p10-p90] of --runs searches after
one warm-up. Nothing is timed before a peer's top-k set equals MetaRec's for every query.

Usage: python topn_peer.py --dump DIR --items 10000,100000,1000000 [--dimension 64] [--k 100] [--runs 15]
Run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1.
"""
import argparse
import time

import numpy as np


def timed(fn, runs):
    fn()
    samples = []
    for _ in range(runs):
        start = time.thread_time()
        fn()
        samples.append(time.thread_time() - start)
    samples.sort()
    return 1000 * samples[len(samples) // 2], 1000 * samples[len(samples) // 10], 1000 * samples[(len(samples) * 9) // 10]


def numpy_topk(v, q, k):
    s = q @ v.T                                   # (Q, N)
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--items", default="10000,100000,1000000")
    ap.add_argument("--dimension", type=int, default=64)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    d, k = args.dimension, args.k
    q = np.fromfile(f"{args.dump}/queries.f32", dtype=np.float32).reshape(-1, d)
    try:
        import faiss
        faiss.omp_set_num_threads(1)
    except ImportError:
        faiss = None
        print("faiss: not importable, numpy only")
    print(f"peers: top-{k}, d = {d}, {q.shape[0]} query per call, thread CPU time, median [p10-p90] ms of {args.runs} runs")
    for n in (int(x) for x in args.items.split(",")):
        v = np.fromfile(f"{args.dump}/items_{n}.f32", dtype=np.float32).reshape(n, d)
        ours = np.fromfile(f"{args.dump}/topk_{n}.i32", dtype=np.int32).reshape(-1, k)
        got = numpy_topk(v, q, k)
        assert all(set(a) == set(b) for a, b in zip(got, ours)), f"numpy top-{k} differs from MetaRec's at {n} items"
        line = "numpy %9.3f [%.3f-%.3f]" % timed(lambda: numpy_topk(v, q, k), args.runs)
        if faiss is not None:
            index = faiss.IndexFlatIP(d)
            index.add(v)
            _, ids = index.search(q, k)
            assert all(set(a) == set(b) for a, b in zip(ids, ours)), f"faiss top-{k} differs from MetaRec's at {n} items"
            line += "   faiss IndexFlatIP %9.3f [%.3f-%.3f]" % timed(lambda: index.search(q, k), args.runs)
        print(f"{n:9d}  {line}")


if __name__ == "__main__":
    main()
