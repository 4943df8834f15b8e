"""Runs an exported MetaRec user scorer (`metarec export-onnx`) in onnxruntime on the request's
meta-layer inputs written by `--check-out`, and compares the scores with MetaRec's for the same
request (the whole serving path). Prints one JSON object; exits 1 when the largest absolute
difference exceeds the tolerance.

    python onnx_check.py MODEL.onnx CHECK.json [--tolerance 1e-5] [--iterations 200]

Timing: one intra-op and one inter-op thread, sequential execution, all graph optimisations;
the median of `iterations` runs after a warm-up (a quick measurement).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("check")
    p.add_argument("--tolerance", type=float, default=1e-5)
    p.add_argument("--iterations", type=int, default=200)
    a = p.parse_args()
    onnx.checker.check_model(onnx.load(a.model), full_check=True)
    check = json.load(open(a.check))
    c, width = check["count"], check["width"]
    f = np.array(check["f"], dtype=np.float32).reshape(c, width)
    expected = np.array(check["metarec_scores"], dtype=np.float32).reshape(c, -1)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    scores = session.run(["scores"], {"f": f})[0]
    diff = float(np.max(np.abs(scores - expected))) if scores.shape == expected.shape else float("inf")
    times = []
    for _ in range(a.iterations):
        t0 = time.perf_counter()
        session.run(["scores"], {"f": f})
        times.append((time.perf_counter() - t0) * 1e6)
    print(json.dumps({
        "shape": list(scores.shape), "expected_shape": list(expected.shape), "max_abs_diff": diff,
        "size_bytes": os.path.getsize(a.model), "onnxruntime": ort.__version__,
        "onnxruntime_p50_us": float(np.median(times)),
        "metarec_whole_request_p50_us": check["metarec_whole_request_p50_us"],
        "metarec_towers_only_p50_us": check["metarec_towers_only_p50_us"],
    }, sort_keys=True))
    return 0 if diff <= a.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
