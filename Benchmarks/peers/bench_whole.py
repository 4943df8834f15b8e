"""`make bench`, whole request (issue 22): encode + bottom + fine-tune + score of the reference
request from its raw candidate features, MetaRec (`Predictor.score`, timed by `metarec-bench serving
--adapt-score`) against JAX (one jit of the whole model), PyTorch (torch.func eager, torch.compile),
and the plain unadapted model: MetaRec with `finetune: false`, JAX, and ONNX Runtime.

Every peer call starts from the request body as parsed JSON (candidates as columns) and ends with
the scores as a numpy array: Python encoding (vocabulary dict lookups) is part of the peers' time,
as the encoder is part of MetaRec's. Each peer is checked against MetaRec's scores of the same
request (fine-tuned: `scores`; unadapted: `base_scores`) before it is timed.
"""
import time

import numpy as np

import whole

TOLERANCE = 1e-4


def _percentiles(ns):
    us = np.asarray(ns, dtype=np.float64) / 1e3
    return {"p50": float(np.percentile(us, 50)), "p90": float(np.percentile(us, 90)),
            "p99": float(np.percentile(us, 99)), "mean": float(us.mean())}


def _time(fn, iterations, warmup):
    for _ in range(warmup):
        fn()
    out = np.empty(iterations, dtype=np.int64)
    for i in range(iterations):
        t0 = time.perf_counter_ns()
        fn()
        out[i] = time.perf_counter_ns() - t0
    return _percentiles(out)


def _metarec(lat):
    return {"p50": lat["p50Microseconds"], "p90": lat["p90Microseconds"], "p99": lat["p99Microseconds"],
            "mean": lat["meanMicroseconds"]}


def peers_of(m, body, args):
    """label -> (call, expected-scores key, timed calls); every call goes from `body` to numpy scores."""
    import jax
    import jax.numpy as jnp

    user = body["user"]
    support_np = m.user_support(user)
    out = {}
    jax_fn, jparams = whole.make_jax_whole(m, finetune=True)
    jax_base, _ = whole.make_jax_whole(m, finetune=False)
    jsupport = {user: jax.device_put(support_np)}

    def jax_call(fn):
        def call():
            ids, num = m.encode(body)
            return np.asarray(fn(jparams, jnp.asarray(ids), jnp.asarray(num), jsupport[body["user"]]))
        return call

    out["JAX jit, whole model"] = (jax_call(jax_fn), "scores", args.whole_iterations)
    out["JAX jit, unadapted"] = (jax_call(jax_base), "base_scores", args.whole_iterations)
    if not args.skip_torch:
        import torch
        tsupport = {user: [(torch.from_numpy(F), torch.from_numpy(y)) for F, y in support_np]}
        for label, compiled, calls in (("PyTorch torch.func (eager)", False, args.torch_eager_iterations),
                                       ("PyTorch torch.compile", True, args.whole_iterations)):
            fn = whole.make_torch_whole(m, compiled=compiled)

            def call(fn=fn):
                ids, num = m.encode(body)
                return fn(torch.from_numpy(ids).long(), torch.from_numpy(num), tsupport[body["user"]]).numpy()
            out[label] = (call, "scores", calls)
    session = whole.make_onnx_session(m)

    def onnx_call():
        ids, num = m.encode(body)
        return session.run(["scores"], {"ids": ids.astype(np.int64), "numeric": num})[0]
    out["ONNX Runtime, unadapted"] = (onnx_call, "base_scores", args.whole_iterations)
    feeds = {"ids": m.encode(body)[0].astype(np.int64), "numeric": m.encode(body)[1]}
    out["ONNX Runtime, unadapted, model only (ids given)"] = (lambda: session.run(["scores"], feeds)[0], "base_scores",
                                                              args.whole_iterations)
    out["Python encode only"] = (lambda: m.encode(body), None, args.whole_iterations)
    return out


def measure(args, model_dir, reference):
    """Checks, then times, the whole-request peers on the reference cell's dumped request."""
    import onnxruntime
    from safetensors.numpy import load_file

    dump = reference["dump"]
    m = whole.PeerModel(model_dir, dump)
    body = m.request
    tensors = load_file(dump)
    expected = {"scores": tensors["scores"], "base_scores": tensors["base_scores"]}
    ids, num = m.encode(body)
    bottom_diff = max(float(np.abs(f - tensors[f"candidates.{t}.f"]).max())
                      for t, f in enumerate(whole.numpy_bottom(m, ids, num)))
    assert bottom_diff <= TOLERANCE, f"[whole] encode + bottom disagrees with MetaRec's f: max |diff| {bottom_diff}"
    print(f"[whole] encode + bottom (numpy) vs MetaRec's meta-layer inputs: {bottom_diff:.2e}", flush=True)
    rows = {"MetaRec, whole request": dict(_metarec(reference["whole_metarec"]), diff=None, adapted=True),
            "MetaRec, unadapted (finetune: false)": dict(_metarec(reference["unadapted_metarec"]), diff=None,
                                                         adapted=False)}
    for label, (call, key, calls) in peers_of(m, body, args).items():
        t0 = time.perf_counter()
        diff = None
        if key is not None:
            diff = float(np.abs(call() - expected[key]).max())
            assert diff <= TOLERANCE, f"[whole] {label} disagrees with MetaRec: max |diff| {diff}"
            print(f"[whole] agreement: {label} {diff:.2e} (first call {time.perf_counter() - t0:.1f} s)", flush=True)
        print(f"[whole] {label}: {calls} calls", flush=True)
        rows[label] = dict(_time(call, calls, warmup=min(200, calls // 5)), diff=diff, adapted=key == "scores")
    return {"rows": rows, "S": reference["S"], "k": reference["k"], "C": reference["C"],
            "bottom_diff": bottom_diff, "onnxruntime": onnxruntime.__version__}


def report(w, prefix, serving=None):
    """BENCHMARKS.md lines of the whole-request section (`serving`: the grid's JSON, for MetaRec's phase split)."""
    if w is None:
        return []
    rows = w["rows"]
    mr, plain = rows["MetaRec, whole request"], rows["MetaRec, unadapted (finetune: false)"]
    lines = ["", "## Whole request from raw features, one core", "",
             f"The reference request (S = {w['S']}, k = {w['k']}, C = {w['C']}) from its raw candidate features "
             "(the `POST /v1/score` body, candidates as columns): encode (vocabulary lookups, numeric columns) + "
             "bottom (4 experts, 2 gates) + fine-tune the towers on the user's stored support rows + score. "
             "MetaRec: `Predictor.score` (`metarec-bench serving --adapt-score`, the same request). Peers "
             "(`Benchmarks/peers/whole.py`): the body as parsed JSON → Python dict lookups → the model; JAX: one "
             "`jax.jit` of bottom + adapt + score; PyTorch: the same with `torch.func.grad` (eager) and "
             "`torch.compile`; ONNX Runtime (" + w["onnxruntime"] + "): the plain model (no fine-tuning) as an "
             "ONNX graph built from the weights (`onnx.helper`), one intra-op thread; its \"model only\" row skips the "
             "Python encode (ids prepared once), the others do not. The cost-of-personalisation target compares whole "
             "requests (both encode). Each peer's scores were "
             f"checked against MetaRec's before timing (encode + bottom vs MetaRec's f: {w['bottom_diff']:.1e}).",
             "", "| implementation | fine-tuned | p50 µs | p90 µs | p99 µs | p50 ÷ MetaRec (same kind) | max |Δ score| |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for label, r in rows.items():
        base = mr if r["adapted"] else plain
        ratio = "—" if label.startswith("MetaRec") or label.startswith("Python") else f"{r['p50'] / base['p50']:.2f}×"
        label = label.replace("model only", "model only, no encode")
        tuned = "—" if label.startswith("Python") else ("yes" if r["adapted"] else "no")
        diff = "—" if r["diff"] is None else f"{r['diff']:.1e}"
        lines.append(f"| {label} | {tuned} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | {ratio} | {diff} |")
    peers_tuned = {l: r for l, r in rows.items() if r["adapted"] and not l.startswith("MetaRec")}
    best = min(peers_tuned.items(), key=lambda lr: lr[1]["p50"]) if peers_tuned else None
    onnx = rows.get("ONNX Runtime, unadapted")
    lines += ["", "| issue 22 target | figure | met |", "|---|---:|---|"]
    if best:
        r = best[1]["p50"] / mr["p50"]
        lines.append(f"| whole request ≥ 2× the fastest fine-tuning peer ({best[0]}) | {r:.2f}× | "
                     f"{'**yes**' if r >= 2 else '**no**'} |")
    if onnx:
        r = mr["p50"] / onnx["p50"]
        lines.append(f"| cost of personalisation: MetaRec fine-tuned ÷ ONNX Runtime unadapted ≤ 2× | {r:.2f}× | "
                     f"{'**yes**' if r <= 2 else '**no**'} |")
        lines.append(f"| (MetaRec fine-tuned ÷ MetaRec unadapted) | {mr['p50'] / plain['p50']:.2f}× | — |")
    cell = next((c for c in (serving or {}).get("cells", [])
                 if (c["support"], c["steps"], c["candidates"]) == (w["S"], w["k"], w["C"])), None)
    if cell:
        lines += ["", f"Where MetaRec's time goes in this cell (`Predictor.phaseTimes`, CPU time per request, the "
                  f"grid's users): encode {cell['encodeMicroseconds']:.1f} µs, bottom {cell['bottomMicroseconds']:.1f} µs, "
                  f"support pull + fine-tune + score {cell['finetuneMicroseconds']:.1f} µs. The peers' Python encode "
                  "alone is the \"Python encode only\" row."]
    return lines + ["", f"![whole request latency]({prefix}-whole.png)"]


def plot(path, w):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = w["rows"]
    labels = list(rows)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    y = np.arange(len(labels))
    p50 = [rows[l]["p50"] for l in labels]
    p99 = [rows[l]["p99"] for l in labels]
    colors = ["tab:blue" if rows[l]["adapted"] else "tab:gray" for l in labels]
    ax.barh(y, p50, color=colors)
    ax.scatter(p99, y, marker="|", s=200, color="black", label="p99")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("µs per request (bar p50, tick p99; blue: fine-tuned, grey: unadapted)")
    ax.set_title(f"Whole request from raw features, S = {w['S']}, k = {w['k']}, C = {w['C']}, one core", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}", flush=True)
