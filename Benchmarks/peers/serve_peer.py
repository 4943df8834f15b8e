"""A small Python scoring service (issue 22): FastAPI on uvicorn around the JAX whole-request peer
(`whole.py`), with MetaRec's `POST /v1/score` request and response JSON:

    {"user": "u7", "candidates": [{"item_id": "17", "category": "17", "price": 1.7, "popularity": 0.3}, ...]}
    (or the candidates as columns: {"item_id": [...], ...}); optional "steps" / "finetune"
    -> {"model_version": "...", "finetuned": true, "support_rows": 64, "scores": [{"task0": 0.51, "task1": 0.47}, ...]}

What a team would write to serve per-user fine-tuning from Python: one process, one jitted
function of the whole model (encode in Python, then bottom + k SGD steps + score in XLA), the
users' support rows held in memory. Compiled for the request shape at start-up (the health
check answers only after that).

    python serve_peer.py --model DIR --state PEER_STATE.safetensors --port 18090
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def build_app(model_dir, state_path, candidates):
    import jax
    from fastapi import FastAPI, Request, Response

    import whole

    m = whole.PeerModel(model_dir, state_path)
    finetuned_fn, params = whole.make_jax_whole(m, finetune=True)
    base_fn, _ = whole.make_jax_whole(m, finetune=False)
    support = {u: jax.device_put(m.user_support(u)) for u in m.support}
    task_names = [f"task{k}" for k in range(m.K)]
    version = os.path.basename(os.path.abspath(model_dir))
    from peers import model_version_dir

    manifest = os.path.join(model_version_dir(model_dir), "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            version = json.load(f).get("model_version", version)

    # Compile for the benchmark's shape (C candidates, S support rows) before serving.
    user0 = next(iter(support))
    ids = np.zeros((candidates, len(m.categorical)), np.int32)
    num = np.zeros((candidates, len(m.numeric)), np.float32)
    finetuned_fn(params, ids, num, support[user0]).block_until_ready()
    base_fn(params, ids, num, support[user0]).block_until_ready()

    app = FastAPI()

    @app.get("/healthz")
    async def healthz():
        return Response(content="ok", media_type="text/plain")

    @app.post("/v1/score")
    async def score(request: Request):
        body = json.loads(await request.body())
        ids, numeric = m.encode(body)
        user_support = support.get(str(body.get("user")))
        tune = body.get("finetune", True) and user_support is not None and body.get("steps", m.steps) != 0
        if body.get("steps", m.steps) not in (0, m.steps):
            return Response(content='{"error":"this peer serves k = %d only"}' % m.steps, status_code=400,
                            media_type="application/json")
        fn = finetuned_fn if tune else base_fn
        out = np.asarray(fn(params, ids, numeric, user_support if tune else support[user0]))
        rows = [dict(zip(task_names, r)) for r in out.tolist()]
        payload = {"model_version": version, "finetuned": bool(tune),
                   "support_rows": int(user_support[0][0].shape[0]) if tune else 0, "scores": rows}
        return Response(content=json.dumps(payload, separators=(",", ":")), media_type="application/json")

    return app


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="model directory (metarec-bench serving --write-model)")
    ap.add_argument("--state", required=True, help="peer state (metarec-bench serving --peer-state)")
    ap.add_argument("--port", type=int, default=18090)
    ap.add_argument("--candidates", type=int, default=200, help="request size compiled for at start-up")
    args = ap.parse_args()
    import uvicorn
    app = build_app(args.model, args.state, args.candidates)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, workers=1)


if __name__ == "__main__":
    main()
