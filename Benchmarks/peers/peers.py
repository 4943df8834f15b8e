"""numpy and JAX-jit peers of MetaRec's per-request serving work (issue 7).

Per request and per task t (same math as Sources/Models/Meta/TowerAdaptation.swift +
TowerObjective.swift, MLP.swift, TaskLoss.swift):

    theta_0 = theta_t
    theta_{i+1} = theta_i - lr * grad L(theta_i; F_t, y_t)        i < k
    L = (1/n) sum_{s: y_s labelled} loss(Tower(F_t[s]), y_s)      n = labelled rows
    loss = BCE on the logit (binary) | (z - y)^2 (regression)
    score_t = sigmoid(Tower(f_t; theta_k)) (binary) | Tower(f_t; theta_k) (regression)

Tower: Linear layers, weight (in, out), ReLU (or tanh) after every layer but the last.
Inputs F_t (S, H), y_t (S), f_t (C, H) come from `metarec-bench serving --adapt-score S,k,C
--dump-request FILE`; the tower weights from the model directory's model.safetensors.
"""
import json
import os

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def model_version_dir(model_dir):
    """The published version a model path names (docs/DESIGN.md §Formats): the directory its
    CURRENT file names, or the path itself for a model written before versioned publishing."""
    pointer = os.path.join(model_dir, "CURRENT")
    if os.path.exists(pointer):
        with open(pointer) as f:
            return os.path.join(model_dir, f.read().strip())
    return model_dir


def load_towers(model_dir):
    """[[(W (in,out), b (out,)), ...] per task] from model.safetensors."""
    tensors = load_file(os.path.join(model_version_dir(model_dir), "model.safetensors"))
    towers = []
    t = 0
    while f"towers.{t}.layers.0.weight" in tensors:
        layers = []
        l = 0
        while f"towers.{t}.layers.{l}.weight" in tensors:
            w = tensors[f"towers.{t}.layers.{l}.weight"].astype(np.float32)
            b = tensors[f"towers.{t}.layers.{l}.bias"].astype(np.float32).reshape(-1)
            layers.append((w, b))
            l += 1
        towers.append(layers)
        t += 1
    if not towers:
        raise SystemExit(f"{model_dir}: no towers.K.layers.L.weight in model.safetensors")
    if any(name.startswith("inner_rates.") for name in tensors):
        raise SystemExit(f"{model_dir}: the model has Meta-SGD inner rates (inner_rates.*); "
                         "the peers implement plain MAML steps only")
    return towers


def load_request(path):
    """The dumped request: per task (F (S,H), y (S), f (C,H)), MetaRec's scores (C,K), metadata."""
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    tensors = load_file(path)
    kinds = meta["kinds"].split(",")
    tasks = []
    for t in range(len(kinds)):
        tasks.append((tensors[f"support.{t}.f"].astype(np.float32),
                      tensors[f"support.{t}.y"].astype(np.float32).reshape(-1),
                      tensors[f"candidates.{t}.f"].astype(np.float32)))
    return {
        "tasks": tasks,
        "scores": tensors["scores"].astype(np.float32),
        "steps": int(meta["steps"]),
        "lr": np.float32(float(meta["learning_rate"])),
        "kinds": kinds,
        "activation": meta.get("activation", "relu"),
        "support": int(meta["support"]),
        "candidates": int(meta["candidates"]),
    }


# ---------------------------------------------------------------- numpy

def _np_act(x, activation):
    return np.maximum(x, 0) if activation == "relu" else np.tanh(x)


def _np_act_grad(a, activation):
    # derivative from the activated output a
    return (a > 0).astype(np.float32) if activation == "relu" else (1 - a * a)


def numpy_adapt_score(towers, tasks, steps, lr, kinds, activation):
    """Scores (C, K): k SGD steps per tower on its support, then the candidates."""
    out = []
    for t, (F, y, f) in enumerate(tasks):
        params = [(w.copy(), b.copy()) for w, b in towers[t]]
        mask = ~np.isnan(y)
        n = int(mask.sum())
        y0 = np.where(mask, y, 0).astype(np.float32)[:, None]
        m = mask.astype(np.float32)[:, None]
        last = len(params) - 1
        for _ in range(steps if n > 0 else 0):
            acts = [F]
            a = F
            for l, (w, b) in enumerate(params):
                a = a @ w + b
                if l < last:
                    a = _np_act(a, activation)
                acts.append(a)
            z = acts[-1]
            if kinds[t] == "binary":
                d = (1 / (1 + np.exp(-z)) - y0) * m / np.float32(n)
            else:
                d = 2 * (z - y0) * m / np.float32(n)
            d = d.astype(np.float32)
            grads = [None] * len(params)
            for l in range(last, -1, -1):
                w, b = params[l]
                grads[l] = (acts[l].T @ d, d.sum(axis=0))
                if l > 0:
                    d = (d @ w.T) * _np_act_grad(acts[l], activation)
            params = [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads)]
        a = f
        for l, (w, b) in enumerate(params):
            a = a @ w + b
            if l < last:
                a = _np_act(a, activation)
        z = a[:, 0]
        out.append(1 / (1 + np.exp(-z)) if kinds[t] == "binary" else z)
    return np.stack(out, axis=1).astype(np.float32)


# ---------------------------------------------------------------- JAX

def make_jax_adapt_score(steps, lr, kinds, activation, jit=True):
    """A jitted (towers, tasks) -> scores (C, K); both tasks in one XLA computation (`jit=False`: the
    function itself, for the whole-request peer to jit with the bottom)."""
    import jax
    import jax.numpy as jnp

    act = jax.nn.relu if activation == "relu" else jnp.tanh

    def forward(params, x):
        last = len(params) - 1
        for l, (w, b) in enumerate(params):
            x = x @ w + b
            if l < last:
                x = act(x)
        return x[:, 0]

    def make_loss(kind):
        def loss(params, F, y):
            mask = ~jnp.isnan(y)
            y0 = jnp.where(mask, y, 0.0)
            n = jnp.maximum(mask.sum(), 1).astype(jnp.float32)
            z = forward(params, F)
            if kind == "binary":
                # BCE with logits, numerically stable
                per = jnp.maximum(z, 0) - z * y0 + jnp.log1p(jnp.exp(-jnp.abs(z)))
            else:
                per = (z - y0) ** 2
            return jnp.sum(jnp.where(mask, per, 0.0)) / n
        return loss

    grads = [jax.grad(make_loss(kind)) for kind in kinds]

    def adapt_score(towers, tasks):
        out = []
        for t, (F, y, f) in enumerate(tasks):
            params = towers[t]
            for _ in range(steps):  # k is small and static: unrolled
                g = grads[t](params, F, y)
                params = jax.tree_util.tree_map(lambda p, gp: p - lr * gp, params, g)
            z = forward(params, f)
            out.append(jax.nn.sigmoid(z) if kinds[t] == "binary" else z)
        return jnp.stack(out, axis=1)

    return jax.jit(adapt_score) if jit else adapt_score
