"""numpy and JAX-jit peers of one MMoE training step (issue 7), on the census config's shapes.

One step on a batch of B rows (same math as Sources/Models/Network/MultiTaskNetwork.swift,
TaskLoss.swift, MetaTrain's DenseOptimizer (Adam) and the parameter server's AdaGrad rows):

    x    = [E[id_1] | ... | E[id_Fc] | numeric]             (B, D)   D = Fc*d + Fn; E (V, d) dense table
    h_e  = relu(relu(x W1_e + b1_e) W2_e + b2_e)            (B, H)   e < E experts (ReLU after every layer)
    g_k  = softmax(x Wg_k + bg_k)                           (B, E)
    f_k  = sum_e g_k[:, e] * h_e                            (B, H)
    z_k  = Tower_k(f_k)                                     (B,)     ReLU hidden layers, last linear
    L    = sum_k w_k (1/n_k) sum_b BCE(z_k[b], y_k[b])      n_k = labelled rows (NaN label = missing)
    dense parameters: Adam (b1 0.9, b2 0.999, eps 1e-8, bias-corrected), learning rate from the config
    embedding table:  AdaGrad per row (a0 = 0.1; a += g^2; w -= lr g / (sqrt(a) + eps)); untouched rows have g = 0

Shapes come from the census `config.yaml` written by `metarec datasets census` (features, embedding
dim, experts, expert/tower layers, batch size, learning rates); the rows from its `train.csv`,
each distinct (categorical feature, value) one row of the dense table, so V is the census
vocabulary (what MetaRec's embedding store creates on first touch).
"""
import csv
import math
import re

import numpy as np

EPS_ADAM = 1e-8
EPS_ADAGRAD = 1e-10  # MetaRec's AdaGrad defaults (ModelConfig+Optimizer.swift): epsilon 1e-10,
ADAGRAD_A0 = 0.1     # initial accumulator 0.1


# ---------------------------------------------------------------- config and data

def _inline_map(text):
    """`{a: 1, b: [2, 3], c: x}` -> dict of strings / lists of strings."""
    body = text.strip()[1:-1]
    out, depth, key, cur = {}, 0, None, ""
    for ch in body + ",":
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == ":" and depth == 0 and key is None:
            key, cur = cur.strip(), ""
            continue
        if ch == "," and depth == 0:
            out[key] = cur.strip()
            key, cur = None, ""
            continue
        cur += ch
    return out


def _ints(text):
    return [int(v) for v in re.findall(r"-?\d+", text)]


def load_config(path):
    """The parts of a `metarec datasets` config.yaml the step needs (that file's simple layout only)."""
    cfg = {"features": [], "labels": [], "model": {}, "training": {}}
    section = None
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            if not line.startswith(" "):
                key, _, rest = line.partition(":")
                section, rest = key.strip(), rest.strip()
                if rest.startswith("{"):
                    cfg[section] = _inline_map(rest)
                elif rest:
                    cfg[section] = rest
                continue
            item = line.strip()
            if item.startswith("- "):
                cfg[section].append(_inline_map(item[2:]))
            else:
                key, _, rest = item.partition(":")
                rest = rest.strip()
                cfg[section][key.strip()] = _inline_map(rest) if rest.startswith("{") else rest
    model, training = cfg["model"], cfg["training"]
    if model.get("architecture", "mmoe") != "mmoe":
        raise SystemExit(f"{path}: the training peer implements MMoE only")
    return {
        "categorical": [f["name"] for f in cfg["features"] if f["kind"] == "categorical"],
        "numeric": [(f["name"], f.get("normalization", "standard")) for f in cfg["features"] if f["kind"] == "numeric"],
        "labels": [(l["name"], l["kind"], float(l.get("weight", 1.0))) for l in cfg["labels"]],
        "d": int(model.get("embedding_dim", 16)),
        "experts": int(model.get("experts", 4)),
        "expert_layers": _ints(model.get("expert_layers", "[64, 32]")),
        "tower_layers": _ints(model.get("tower_layers", "[32]")),
        "batch_size": int(training.get("batch_size", 512)),
        "lr": float(training.get("optimizer", {}).get("learning_rate", 0.001)),
        "embedding_lr": float(training.get("embedding_optimizer", {}).get("learning_rate", 0.05)),
    }


def load_rows(csv_path, cfg, limit=None):
    """(ids int32 (N, Fc) into a dense table of V rows, numeric float32 (N, Fn), labels float32 (N, K), V)."""
    vocab = {}
    ids, nums, labels = [], [], []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        for n, row in enumerate(reader):
            if limit is not None and n >= limit:
                break
            ids.append([vocab.setdefault((c, row[c]), len(vocab)) for c in cfg["categorical"]])
            nums.append([float(row[c]) if row[c] not in ("", "?") else 0.0 for c, _ in cfg["numeric"]])
            labels.append([float(row[l]) if row[l] != "" else math.nan for l, _, _ in cfg["labels"]])
    numeric = np.asarray(nums, dtype=np.float64)
    for j, (_, norm) in enumerate(cfg["numeric"]):
        col = numeric[:, j]
        if norm == "log1p":
            numeric[:, j] = np.sign(col) * np.log1p(np.abs(col))
        elif norm == "standard":
            sd = col.std()
            numeric[:, j] = (col - col.mean()) / (sd if sd > 0 else 1.0)
    return (np.asarray(ids, dtype=np.int32), numeric.astype(np.float32),
            np.asarray(labels, dtype=np.float32), len(vocab))


def init_params(cfg, vocab, seed=1, dtype=np.float32):
    """Glorot-uniform dense weights, zero biases, a small uniform embedding table (V, d)."""
    rng = np.random.default_rng(seed)
    D = len(cfg["categorical"]) * cfg["d"] + len(cfg["numeric"])

    def dense(i, o):
        bound = math.sqrt(6.0 / (i + o))
        return (rng.uniform(-bound, bound, (i, o)).astype(dtype), np.zeros(o, dtype))

    widths = [D] + cfg["expert_layers"]
    H = widths[-1]
    experts = [[dense(widths[l], widths[l + 1]) for l in range(len(widths) - 1)] for _ in range(cfg["experts"])]
    gates = [dense(D, cfg["experts"]) for _ in cfg["labels"]]
    tw = [H] + cfg["tower_layers"] + [1]
    towers = [[dense(tw[l], tw[l + 1]) for l in range(len(tw) - 1)] for _ in cfg["labels"]]
    table = rng.uniform(-0.05, 0.05, (vocab, cfg["d"])).astype(dtype)
    return {"experts": experts, "gates": gates, "towers": towers}, table


def tree_map(fn, *trees):
    """Minimal pytree map over the nested lists / tuples / dicts of `init_params`."""
    t = trees[0]
    if isinstance(t, dict):
        return {k: tree_map(fn, *[x[k] for x in trees]) for k in t}
    if isinstance(t, (list, tuple)):
        return type(t)(tree_map(fn, *xs) for xs in zip(*trees))
    return fn(*trees)


def tree_leaves(tree):
    if isinstance(tree, dict):
        return [l for k in tree for l in tree_leaves(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [l for x in tree for l in tree_leaves(x)]
    return [tree]


# ---------------------------------------------------------------- numpy (forward / backward by hand)

def numpy_loss_and_grads(params, table, ids, numeric, labels, weights):
    """Loss and gradients (dense params tree, (V, d) table) by hand; works in the inputs' dtype."""
    B, Fc = ids.shape
    d = table.shape[1]
    dt = table.dtype
    x = np.concatenate([table[ids].reshape(B, Fc * d), numeric.astype(dt)], axis=1)  # (B, D)
    # experts
    exp_acts = []
    for layers in params["experts"]:
        acts = [x]
        a = x
        for w, b in layers:
            a = np.maximum(a @ w + b, 0)
            acts.append(a)
        exp_acts.append(acts)
    hs = np.stack([acts[-1] for acts in exp_acts], axis=1)  # (B, E, H)
    dx = np.zeros_like(x)
    dhs = np.zeros_like(hs)
    grads = tree_map(np.zeros_like, params)
    total = 0.0
    for k, ((wg, bg), tower) in enumerate(zip(params["gates"], params["towers"])):
        logits = x @ wg + bg
        logits = logits - logits.max(axis=1, keepdims=True)
        g = np.exp(logits)
        g /= g.sum(axis=1, keepdims=True)                       # (B, E)
        f = np.einsum("be,beh->bh", g, hs)                      # (B, H)
        acts = [f]
        a = f
        last = len(tower) - 1
        for l, (w, b) in enumerate(tower):
            a = a @ w + b
            if l < last:
                a = np.maximum(a, 0)
            acts.append(a)
        z = acts[-1][:, 0]
        y = labels[:, k]
        mask = ~np.isnan(y)
        n = int(mask.sum())
        if n == 0:
            continue
        y0 = np.where(mask, y, 0).astype(dt)
        per = np.maximum(z, 0) - z * y0 + np.log1p(np.exp(-np.abs(z)))
        total += weights[k] * float(np.sum(np.where(mask, per, 0))) / n
        dz = (weights[k] / n) * (1 / (1 + np.exp(-z)) - y0) * mask   # (B,)
        da = dz[:, None].astype(dt)
        for l in range(last, -1, -1):
            w, b = tower[l]
            grads["towers"][k][l] = (acts[l].T @ da, da.sum(axis=0))
            da = da @ w.T
            if l > 0:
                da = da * (acts[l] > 0)
        df = da                                                 # (B, H)
        dhs += g[:, :, None] * df[:, None, :]
        dg = np.einsum("bh,beh->be", df, hs)
        dlogits = g * (dg - (dg * g).sum(axis=1, keepdims=True))
        grads["gates"][k] = (x.T @ dlogits, dlogits.sum(axis=0))
        dx += dlogits @ wg.T
    for e, (layers, acts) in enumerate(zip(params["experts"], exp_acts)):
        da = dhs[:, e, :] * (acts[-1] > 0)
        for l in range(len(layers) - 1, -1, -1):
            w, b = layers[l]
            grads["experts"][e][l] = (acts[l].T @ da, da.sum(axis=0))
            da = da @ w.T
            if l > 0:
                da = da * (acts[l] > 0)
        dx += da
    dtable = np.zeros_like(table)
    np.add.at(dtable, ids.reshape(-1), dx[:, :Fc * d].reshape(B * Fc, d))
    return total, grads, dtable


def numpy_adam_state(params, table):
    zeros = tree_map(np.zeros_like, params)
    return {"m": zeros, "v": tree_map(np.zeros_like, params), "a": np.full_like(table, ADAGRAD_A0), "t": 0}


def numpy_step(params, table, state, batch, cfg, weights):
    """One training step in place of `params`/`table`/`state`; returns the loss before the step."""
    ids, numeric, labels = batch
    loss, grads, dtable = numpy_loss_and_grads(params, table, ids, numeric, labels, weights)
    state["t"] += 1
    t = state["t"]
    lr, b1, b2 = cfg["lr"], 0.9, 0.999
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    for p, g, m, v in zip(tree_leaves(params), tree_leaves(grads), tree_leaves(state["m"]), tree_leaves(state["v"])):
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        p -= (lr * (m / c1) / (np.sqrt(v / c2) + EPS_ADAM)).astype(p.dtype)
    state["a"] += dtable * dtable
    table -= (cfg["embedding_lr"] * dtable / (np.sqrt(state["a"]) + EPS_ADAGRAD)).astype(table.dtype)
    return loss


# ---------------------------------------------------------------- JAX

def _jax_loss(cfg, weights):
    """loss(params, table, ids, numeric, labels, counts): the base loss, each task's sum divided by
    `counts[k]` (its labelled rows in the whole batch, so data-parallel shards sum to the batch loss)."""
    import jax
    import jax.numpy as jnp

    def loss_fn(params, table, ids, numeric, labels, counts):
        B, Fc = ids.shape
        x = jnp.concatenate([table[ids].reshape(B, Fc * table.shape[1]), numeric], axis=1)
        hs = []
        for layers in params["experts"]:
            a = x
            for w, b in layers:
                a = jax.nn.relu(a @ w + b)
            hs.append(a)
        hs = jnp.stack(hs, axis=1)                                  # (B, E, H)
        total = 0.0
        for k, ((wg, bg), tower) in enumerate(zip(params["gates"], params["towers"])):
            g = jax.nn.softmax(x @ wg + bg, axis=1)
            a = jnp.einsum("be,beh->bh", g, hs)
            last = len(tower) - 1
            for l, (w, b) in enumerate(tower):
                a = a @ w + b
                if l < last:
                    a = jax.nn.relu(a)
            z = a[:, 0]
            y = labels[:, k]
            mask = ~jnp.isnan(y)
            y0 = jnp.where(mask, y, 0.0)
            per = jnp.maximum(z, 0) - z * y0 + jnp.log1p(jnp.exp(-jnp.abs(z)))
            total = total + weights[k] * jnp.sum(jnp.where(mask, per, 0.0)) / jnp.maximum(counts[k], 1).astype(z.dtype)
        return total

    return loss_fn


def _jax_update(cfg):
    """(params, table, opt, grads, dtable) -> (params, table, opt): Adam on dense, AdaGrad on the table."""
    import jax
    import jax.numpy as jnp
    lr, elr, b1, b2 = cfg["lr"], cfg["embedding_lr"], 0.9, 0.999

    def update(params, table, opt, g, gt):
        t = opt["t"] + 1
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, opt["m"], g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, opt["v"], g)
        params = jax.tree_util.tree_map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + EPS_ADAM), params, m, v)
        a = opt["a"] + gt * gt
        table = table - elr * gt / (jnp.sqrt(a) + EPS_ADAGRAD)
        return params, table, {"m": m, "v": v, "a": a, "t": t}

    return update


def _jax_init_opt(params, table):
    import jax
    import jax.numpy as jnp
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"m": zeros, "v": jax.tree_util.tree_map(jnp.zeros_like, params), "a": jnp.full_like(table, ADAGRAD_A0),
            "t": jnp.zeros((), jnp.float32)}


def make_jax_step(cfg, weights):
    """A jitted step (params, table, opt, ids, numeric, labels) -> (params, table, opt, loss); buffers donated.
    Also returns the jitted loss, the gradient function and the optimiser-state initialiser."""
    import jax
    import jax.numpy as jnp

    loss_with_counts = _jax_loss(cfg, weights)
    update = _jax_update(cfg)

    def loss_fn(params, table, ids, numeric, labels):
        return loss_with_counts(params, table, ids, numeric, labels, jnp.sum(~jnp.isnan(labels), axis=0))

    grad_fn = jax.value_and_grad(loss_fn, argnums=(0, 1))

    def step(params, table, opt, ids, numeric, labels):
        loss, (g, gt) = grad_fn(params, table, ids, numeric, labels)
        params, table, opt = update(params, table, opt, g, gt)
        return params, table, opt, loss

    return jax.jit(step, donate_argnums=(0, 1, 2)), jax.jit(loss_fn), jax.grad(loss_fn, argnums=(0, 1)), _jax_init_opt


def data_parallel_shardings(devices):
    """(batch sharding, replicated sharding) over `devices`: the jitted step of `make_jax_step`, given
    batches split along rows and replicated weights, runs data-parallel (XLA's SPMD partitioner adds the
    cross-device gradient sums)."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(devices, ("batch",))
    return NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())


# ---------------------------------------------------------------- PyTorch (eager autograd, torch.optim)

def torch_loss(params, table, ids, numeric, labels, weights):
    """The loss of `_jax_loss` in PyTorch: `params` the tree of `init_params` as tensors, `ids` int64."""
    import torch
    import torch.nn.functional as fn

    B, Fc = ids.shape
    x = torch.cat([table[ids].reshape(B, Fc * table.shape[1]), numeric], dim=1)
    hs = []
    for layers in params["experts"]:
        a = x
        for w, b in layers:
            a = torch.relu(torch.addmm(b, a, w))
        hs.append(a)
    hs = torch.stack(hs, dim=1)                                     # (B, E, H)
    total = 0.0
    for k, ((wg, bg), tower) in enumerate(zip(params["gates"], params["towers"])):
        g = torch.softmax(torch.addmm(bg, x, wg), dim=1)
        a = torch.einsum("be,beh->bh", g, hs)
        last = len(tower) - 1
        for l, (w, b) in enumerate(tower):
            a = torch.addmm(b, a, w)
            if l < last:
                a = torch.relu(a)
        z = a[:, 0]
        y = labels[:, k]
        mask = ~torch.isnan(y)
        y0 = torch.where(mask, y, torch.zeros_like(y))
        per = fn.binary_cross_entropy_with_logits(z, y0, reduction="none")
        n = torch.clamp(mask.sum(), min=1).to(z.dtype)
        total = total + weights[k] * torch.sum(per * mask.to(z.dtype)) / n
    return total


class TorchTrainer:
    """One training step as a PyTorch user writes it: eager forward, `loss.backward()`,
    `torch.optim.Adam` on the dense weights (betas 0.9/0.999, eps 1e-8: the same bias-corrected
    update as the JAX and numpy steps) and `torch.optim.Adagrad` on the (V, d) table
    (initial accumulator 0.1, eps 1e-10, as MetaRec's AdaGrad rows)."""

    def __init__(self, cfg, weights, params0, table0):
        import torch
        self.torch = torch
        self.weights = weights
        self.params = tree_map(lambda a: torch.tensor(np.array(a), requires_grad=True), params0)
        self.table = torch.tensor(np.array(table0), requires_grad=True)
        self.adam = torch.optim.Adam(tree_leaves(self.params), lr=cfg["lr"], betas=(0.9, 0.999), eps=EPS_ADAM)
        self.adagrad = torch.optim.Adagrad([self.table], lr=cfg["embedding_lr"], initial_accumulator_value=ADAGRAD_A0,
                                           eps=EPS_ADAGRAD)

    @staticmethod
    def batch(b):
        import torch
        ids, numeric, labels = b
        return torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(numeric), torch.from_numpy(labels)

    def step(self, ids, numeric, labels):
        self.adam.zero_grad(set_to_none=True)
        self.adagrad.zero_grad(set_to_none=True)
        loss = torch_loss(self.params, self.table, ids, numeric, labels, self.weights)
        loss.backward()
        self.adam.step()
        self.adagrad.step()
        return loss.detach()

    def numpy_state(self):
        return tree_map(lambda t: t.detach().numpy(), self.params), self.table.detach().numpy()
