"""Whole-request peers (issue 22): encode + bottom + fine-tune + score from raw candidate features,
and the plain (unadapted) model in ONNX Runtime.

Per request (same math as Sources/Serving/Predictor.swift, MultiTaskNetwork.forwardBottom):

    ids[:, j]  = vocab_j[value]  (unknown value -> a zero row)      (C, Fc)   Python dict lookups
    x          = [E_1[ids[:, 1]] | ... | E_Fc[ids[:, Fc]] | numeric]  (C, D)
    h_e        = act(... act(x W1_e + b1_e) ...)                     (C, H)    act after every expert layer
    g_k        = softmax(x Wg_k + bg_k)                              (C, E)
    f_k        = sum_e g_k[:, e] h_e                                 (C, H)
    theta'_k   = k SGD steps of tower k on the user's stored support (F_k (S, H), y_k (S))
    score_k    = sigmoid(Tower_k(f_k; theta'_k))                     (C)

The user's support rows are held per user (like MetaRec's support store holds the rows a
request pulls); weights from `model.safetensors`, vocabularies, embedding rows and support from
the `PeerState` safetensors `metarec-bench` writes (`--dump-request`, `--peer-state`).
"""
import json
import os

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


class PeerModel:
    """Weights, vocabularies and support rows, as numpy; `encode` turns a `POST /v1/score` body into ids."""

    def __init__(self, model_dir, state_path):
        from peers import model_version_dir  # the version CURRENT names (versioned publishing)

        w = load_file(os.path.join(model_version_dir(model_dir), "model.safetensors"))
        with safe_open(state_path, framework="numpy") as f:
            meta = f.metadata()
        st = load_file(state_path)
        self.categorical = meta["categorical"].split(",")
        self.numeric = meta["numeric"].split(",") if meta["numeric"] else []
        self.task_key = meta["task_key"]
        self.kinds = meta["kinds"].split(",")
        self.activation = meta.get("activation", "relu")
        self.steps, self.lr = int(meta["steps"]), np.float32(float(meta["learning_rate"]))
        self.request = json.loads(meta["request"]) if "request" in meta else None
        self.vocab = {f: {v: i for i, v in enumerate(json.loads(meta[f"vocab.{f}"]))} for f in self.categorical}
        self.tables = [st[f"embedding.{f}"].astype(np.float32) for f in self.categorical]
        self.experts = _mlps(w, "experts")
        self.towers = _mlps(w, "towers")
        self.gates = []
        while f"gates.{len(self.gates)}.weight" in w:
            k = len(self.gates)
            self.gates.append((w[f"gates.{k}.weight"].astype(np.float32), w[f"gates.{k}.bias"].astype(np.float32).reshape(-1)))
        self.K, self.H = len(self.towers), self.towers[0][0][0].shape[0]
        self.support = {}
        for user in json.loads(meta["users"]):
            F, Y = st[f"support.{user}.f"].astype(np.float32), st[f"support.{user}.y"].astype(np.float32)
            self.support[user] = (F, Y)

    def encode(self, body):
        """(ids int32 (C, Fc), numeric float32 (C, Fn)) of a request body (candidates as columns or rows)."""
        cands = body["candidates"]
        if isinstance(cands, list):
            cands = {key: [row.get(key) for row in cands] for key in (cands[0] if cands else {})}
        c = len(next(iter(cands.values()))) if cands else 0
        ids = np.empty((c, len(self.categorical)), dtype=np.int32)
        for j, feat in enumerate(self.categorical):
            vocab, oov = self.vocab[feat], len(self.vocab[feat])
            if feat == self.task_key and feat not in cands:
                ids[:, j] = vocab.get(str(body["user"]), oov)
            else:
                ids[:, j] = [vocab.get(v if isinstance(v, str) else str(v), oov) for v in cands[feat]]
        numeric = np.array([cands[f] for f in self.numeric], dtype=np.float32).T.reshape(c, len(self.numeric))
        return ids, numeric

    def user_support(self, user):
        """Per task (F (S, H), y (S)) of a known user."""
        F, Y = self.support[user]
        return [(np.ascontiguousarray(F[:, k * self.H:(k + 1) * self.H]), np.ascontiguousarray(Y[:, k]))
                for k in range(self.K)]


def _mlps(w, prefix):
    out, i = [], 0
    while f"{prefix}.{i}.layers.0.weight" in w:
        layers, l = [], 0
        while f"{prefix}.{i}.layers.{l}.weight" in w:
            layers.append((w[f"{prefix}.{i}.layers.{l}.weight"].astype(np.float32),
                           w[f"{prefix}.{i}.layers.{l}.bias"].astype(np.float32).reshape(-1)))
            l += 1
        out.append(layers)
        i += 1
    return out


def numpy_bottom(m, ids, numeric):
    """Reference bottom: K × (C, H) meta-layer inputs (checked against MetaRec's `candidates.t.f`)."""
    act = (lambda a: np.maximum(a, 0)) if m.activation == "relu" else np.tanh
    x = np.concatenate([t[ids[:, j]] for j, t in enumerate(m.tables)] + [numeric], axis=1)
    hs = []
    for layers in m.experts:
        a = x
        for w, b in layers:
            a = act(a @ w + b)
        hs.append(a)
    hs = np.stack(hs, axis=1)
    out = []
    for wg, bg in m.gates:
        lg = x @ wg + bg
        g = np.exp(lg - lg.max(axis=1, keepdims=True))
        g /= g.sum(axis=1, keepdims=True)
        out.append(np.einsum("ce,ceh->ch", g, hs).astype(np.float32))
    return out


# ---------------------------------------------------------------- JAX: one jit of the whole model

def make_jax_whole(m, finetune=True):
    """jit((params, ids, numeric, support) -> scores (C, K)) and its device-resident params."""
    import jax
    import jax.numpy as jnp
    import peers

    act = jax.nn.relu if m.activation == "relu" else jnp.tanh
    adapt_score = peers.make_jax_adapt_score(m.steps if finetune else 0, m.lr, m.kinds, m.activation, jit=False)

    def whole(params, ids, numeric, support):
        tables, experts, gates, towers = params
        x = jnp.concatenate([t[ids[:, j]] for j, t in enumerate(tables)] + [numeric], axis=1)
        hs = []
        for layers in experts:
            a = x
            for w, b in layers:
                a = act(a @ w + b)
            hs.append(a)
        hs = jnp.stack(hs, axis=1)
        fs = [jnp.einsum("ce,ceh->ch", jax.nn.softmax(x @ wg + bg, axis=1), hs) for wg, bg in gates]
        return adapt_score(towers, [(F, y, f) for (F, y), f in zip(support, fs)])

    params = jax.device_put((m.tables, m.experts, m.gates, m.towers))
    return jax.jit(whole), params


# ---------------------------------------------------------------- PyTorch: torch.func, eager or compiled

def make_torch_whole(m, compiled=False):
    """(ids, numeric, support) -> scores (C, K) as torch tensors, and the tensors it closes over."""
    import torch
    import peers_torch

    act = torch.relu if m.activation == "relu" else torch.tanh
    adapt_score = peers_torch.make_adapt_score(m.steps, float(m.lr), m.kinds, m.activation, compiled=False)
    tables = [torch.from_numpy(t) for t in m.tables]
    experts = [[(torch.from_numpy(w), torch.from_numpy(b)) for w, b in layers] for layers in m.experts]
    gates = [(torch.from_numpy(w), torch.from_numpy(b)) for w, b in m.gates]
    towers = [[(torch.from_numpy(w), torch.from_numpy(b)) for w, b in layers] for layers in m.towers]

    def bottom(ids, numeric):
        x = torch.cat([t[ids[:, j]] for j, t in enumerate(tables)] + [numeric], dim=1)
        hs = torch.stack([peers_torch.tower_forward(layers, x, True, act) for layers in experts], dim=1)
        return [torch.einsum("ce,ceh->ch", torch.softmax(torch.addmm(bg, x, wg), dim=1), hs) for wg, bg in gates]

    def whole(ids, numeric, support):
        fs = bottom(ids, numeric)
        return adapt_score(towers, [(F, y, f) for (F, y), f in zip(support, fs)])

    body = torch.compile(whole, dynamic=False) if compiled else whole

    def call(ids, numeric, support):
        with torch.no_grad():
            return body(ids, numeric, support)

    return call


# ---------------------------------------------------------------- ONNX Runtime: the plain model

def onnx_model(m):
    """The unadapted model as an ONNX graph built from the weights (onnx.helper): inputs ids int64 (C, Fc)
    and numeric float (C, Fn), output scores (C, K); embedding tables and weights are initializers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.array(array, copy=True, order="C"), name))  # keeps 0-d arrays 0-d
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], **attrs))
        return name

    act = "Relu" if m.activation == "relu" else "Tanh"

    def dense(x, w, b, prefix, activate):
        y = node("Add", [node("MatMul", [x, const(prefix + ".w", w)], prefix + ".mm"), const(prefix + ".b", b)], prefix + ".z")
        return node(act, [y], prefix + ".a") if activate else y

    cols = []
    for j, table in enumerate(m.tables):
        idx = node("Gather", ["ids", const(f"col{j}", np.array(j, dtype=np.int64))], f"ids{j}", axis=1)
        cols.append(node("Gather", [const(f"table{j}", table), idx], f"emb{j}", axis=0))
    x = node("Concat", cols + ["numeric"], "x", axis=1)
    hs = []
    for e, layers in enumerate(m.experts):
        a = x
        for l, (w, b) in enumerate(layers):
            a = dense(a, w, b, f"expert{e}.{l}", True)
        hs.append(node("Unsqueeze", [a, const(f"ax1.{e}", np.array([1], dtype=np.int64))], f"h{e}"))
    stack = node("Concat", hs, "hs", axis=1)  # (C, E, H)
    scores = []
    for k, ((wg, bg), tower) in enumerate(zip(m.gates, m.towers)):
        g = node("Softmax", [dense(x, wg, bg, f"gate{k}", False)], f"g{k}", axis=1)
        g3 = node("Unsqueeze", [g, const(f"ax2.{k}", np.array([2], dtype=np.int64))], f"g3.{k}")
        f = node("ReduceSum", [node("Mul", [g3, stack], f"gh{k}"), const(f"rax.{k}", np.array([1], dtype=np.int64))],
                 f"f{k}", keepdims=0)
        a = f
        for l, (w, b) in enumerate(tower):
            a = dense(a, w, b, f"tower{k}.{l}", l < len(tower) - 1)
        scores.append(node("Sigmoid", [a], f"s{k}") if m.kinds[k] == "binary" else a)
    node("Concat", scores, "scores", axis=1)
    graph = helper.make_graph(
        nodes, "metarec_plain",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["C", len(m.tables)]),
         helper.make_tensor_value_info("numeric", TensorProto.FLOAT, ["C", len(m.numeric)])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["C", len(m.towers)])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_onnx_session(m, threads=1):
    """An onnxruntime session of `onnx_model(m)`: one intra-op and one inter-op thread, all graph optimisations."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(onnx_model(m).SerializeToString(), opts, providers=["CPUExecutionProvider"])
