"""JAX peer of `metarec retrieval train` + `metarec retrieval eval` (issue 24): the bag-of-words two-tower
model on MovieLens, trained and evaluated on the same chronological split; prints one JSON object.

    python retrieval_peer.py --data DIR/movielens-latest-small [--seed 1] [--temperature 0.1 --queue 0]
                             [--epochs 20] [--per-user-out FILE.csv]
    python retrieval_peer.py --data DIR --evaluate-model MODEL_DIR --per-user-out FILE.csv   # no training: rank
                             the test split with a `metarec retrieval train` model's parameters (a check of this
                             file's towers, exclusion, ties and metrics against `metarec retrieval eval`)

Everything MetaRec does is reproduced from its sources (Sources/Retrieval), only the random streams
differ (initial weights and example order come from numpy's PCG64 seeded with --seed):

- data (`InteractionLog.readMovieLens`): every rating an interaction; the catalogue is movies.csv in
  file order (row i = catalogue index i); a user's items sorted by (timestamp, catalogue index);
  genres (all but "(no genres listed)", sorted) as a multi-hot row scaled to unit length;
- split (`NextItemSplit`, T = --targets): users with >= 2T + 2 items; the last T items test targets
  (history: everything before them), the T before validation targets (history: the training items),
  every training position t >= 1 an example (history: the L = --max-history items before t);
- model (`RetrievalConfig`, `RetrievalParameters`): e = 32, hidden 128, d = 64; history and item-id
  embeddings N(0, 0.1²), first MLP layers He-normal, last Xavier-uniform, biases 0;
- loss (`SampledSoftmax`, `ItemFrequencyEstimator`, `NegativeQueue`): in-batch softmax over the batch's
  items and, after --queue-warmup steps, the FIFO queue's M items; logQ correction from the streaming
  estimate of Yi et al. RecSys 2019 (Algorithm 2, one slot per item); accidental hits masked;
- Adam (β 0.9 / 0.999, ε 1e-8, no weight decay) on every tensor, dense, as MetaRec's trainer does;
- epochs of shuffled full batches (the last partial batch dropped), validation recall@50 after each,
  the best epoch kept, stop after 3 epochs without improvement (`RetrievalTraining.train`);
- evaluation (`TwoTowerRanking`, `RetrievalMetrics`): exact scores over the whole catalogue, the case's
  whole history excluded, ties to the lower id; recall@K = hits / min(K, |T|), nDCG@K binary gain.

One `jax.jit` runs a whole epoch (`lax.scan` over its batches); the training set lives on the device
and each step gathers its rows by index; a second one ranks (scores, exclusions, `lax.top_k`). Epoch
seconds (wall and this process's CPU time) count training and validation, as MetaRec's `epoch N: … (x s)`
lines do. XLA's threads: the caller's `XLA_FLAGS`, else one thread (set here before JAX is imported).
"""
import argparse
import functools
import json
import math
import os
import sys
import time

if "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

CUTOFFS = (10, 50, 100)
BUCKETS = ("<30", "30-99", "100-299", ">=300")


# ---------------------------------------------------------------------------------------------------
# Data and split (InteractionLog.readMovieLens, NextItemSplit)
# ---------------------------------------------------------------------------------------------------

def data_lines(path):
    """The non-empty lines after the header (CRLF or LF)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    return [line for line in lines[1:] if line]


def read_movielens(directory):
    """Returns (item_ids (N), genres (G), features (N, G) float32, user_ids (U), sequences [U][n_u] int32).

    features[i, g] = 1/sqrt(c_i) for each of item i's c_i known genres, 0 when it has none.
    """
    item_ids, genre_lists = [], []
    for line in data_lines(os.path.join(directory, "movies.csv")):
        item_ids.append(int(line[:line.index(",")]))
        genre_lists.append([g for g in line[line.rindex(",") + 1:].split("|") if g])
    genres = sorted({g for gs in genre_lists for g in gs} - {"(no genres listed)"})
    column = {g: c for c, g in enumerate(genres)}
    features = np.zeros((len(item_ids), len(genres)), dtype=np.float32)
    for i, gs in enumerate(genre_lists):
        cols = [column[g] for g in gs if g in column]
        for c in cols:
            features[i, c] = np.float32(1) / np.sqrt(np.float32(len(cols)))
    index = {movie: i for i, movie in enumerate(item_ids)}
    events = {}
    for line in data_lines(os.path.join(directory, "ratings.csv")):
        fields = line.split(",")
        user, movie, when = int(fields[0]), int(fields[1]), int(fields[3])
        events.setdefault(user, []).append((when, index[movie]))
    user_ids = sorted(events)
    sequences = [np.array([item for _, item in sorted(events[u])], dtype=np.int32) for u in user_ids]
    return np.array(item_ids), genres, features, user_ids, sequences


class Split:
    """The chronological per-user split of `NextItemSplit.init(_:targets:)`.

    ```
    sequence  s_0 … s_{n−2T−1} | s_{n−2T} … s_{n−T−1} | s_{n−T} … s_{n−1}
              training            validation targets     test targets
    ```
    `validation`, `test`: lists of (user index, history, targets); `positions`: (entry, t) pairs,
    `training[entry][t]` the target and the items before it the history.
    """

    def __init__(self, sequences, targets):
        self.training, self.validation, self.test = [], [], []
        for u, s in enumerate(sequences):
            n = len(s)
            if n < 2 * targets + 2:
                continue
            self.training.append(s[:n - 2 * targets])
            self.validation.append((u, s[:n - 2 * targets], s[n - 2 * targets:n - targets]))
            self.test.append((u, s[:n - targets], s[n - targets:]))
        self.positions = [(k, t) for k, items in enumerate(self.training) for t in range(1, len(items))]

    def examples(self, max_history):
        """Every training position as padded arrays: history ids (P, L) int32 (oldest first, padding 0),
        lengths (P) int32, targets (P) int32."""
        p = len(self.positions)
        ids = np.zeros((p, max_history), dtype=np.int32)
        lengths = np.zeros(p, dtype=np.int32)
        targets = np.zeros(p, dtype=np.int32)
        for row, (k, t) in enumerate(self.positions):
            items = self.training[k]
            h = items[max(0, t - max_history):t]
            ids[row, :len(h)] = h
            lengths[row] = len(h)
            targets[row] = items[t]
        return ids, lengths, targets


def pad_histories(histories, max_history):
    """The last L items of each history, padded: ids (U, L) int32, lengths (U) int32."""
    ids = np.zeros((len(histories), max_history), dtype=np.int32)
    lengths = np.zeros(len(histories), dtype=np.int32)
    for row, h in enumerate(histories):
        kept = h[-max_history:]
        ids[row, :len(kept)] = kept
        lengths[row] = len(kept)
    return ids, lengths


class Cases:
    """Evaluation cases (a split's validation or test list) as arrays:

    ```
    users (U)                   log user index of each case
    history_lengths (U)         the whole history's length (the buckets of `metarec retrieval eval`)
    ids (U, L), lengths (U)     the last L history items, padded: what the user tower reads
    excluded (rows, cols)       every (case, item) of the whole history: never ranked
    relevant (U, T) int32       the distinct targets, padded with −1 (no item); relevant_counts (U) = |T|
    ```
    """

    def __init__(self, cases, max_history):
        histories = [h for _, h, _ in cases]
        self.users = np.array([u for u, _, _ in cases])
        self.history_lengths = np.array([len(h) for h in histories])
        self.ids, self.lengths = pad_histories(histories, max_history)
        self.excluded = (np.repeat(np.arange(len(cases)), self.history_lengths), np.concatenate(histories))
        targets = [np.unique(t) for _, _, t in cases]
        self.relevant_counts = np.array([len(t) for t in targets])
        self.relevant = np.full((len(cases), self.relevant_counts.max()), -1, dtype=np.int32)
        for row, t in enumerate(targets):
            self.relevant[row, :len(t)] = t


def case_metrics(cases, ranked, cutoffs=CUTOFFS):
    """Per case, for K in `cutoffs` (`RetrievalMetrics`, binary gain, r the 1-based rank):

    ```
    recall@K = |top_K ∩ T| / min(K, |T|)
    nDCG@K   = Σ_{r ≤ K, item_r ∈ T} 1/log2(r + 1)  /  Σ_{r ≤ min(K, |T|)} 1/log2(r + 1)
    ```
    ranked (U, ≥ max K) -> {"recall@K": (U), "ndcg@K": (U)}.
    """
    hit = (ranked[:, :, None] == cases.relevant[:, None, :]).any(axis=2)                      # (U, K)
    discount = 1 / np.log2(np.arange(ranked.shape[1]) + 2.0)
    ideal = np.cumsum(discount)
    out = {}
    for k in cutoffs:
        best = np.minimum(k, cases.relevant_counts)
        out[f"recall@{k}"] = hit[:, :k].sum(axis=1) / best
        out[f"ndcg@{k}"] = (hit[:, :k] * discount[:k]).sum(axis=1) / ideal[best - 1]
    return out


def bucket(length):
    return "<30" if length < 30 else "30-99" if length < 100 else "100-299" if length < 300 else ">=300"


# ---------------------------------------------------------------------------------------------------
# Model, loss and training step (JAX)
# ---------------------------------------------------------------------------------------------------

def init_parameters(rng, items, features, e, hidden, d):
    """Every trained tensor (`RetrievalParameters`), float32:

    ```
    item_embedding, history_embedding  (N, e)          N(0, 0.1²)
    item_tower  W0 (e + G, H) He-normal, b0 (H);  W1 (H, d) Xavier-uniform, b1 (d)
    user_tower  W0 (e, H)     He-normal, b0 (H);  W1 (H, d) Xavier-uniform, b1 (d)
    ```
    """
    def he(fan_in, fan_out):
        return (rng.standard_normal((fan_in, fan_out)) * math.sqrt(2 / fan_in)).astype(np.float32)

    def xavier(fan_in, fan_out):
        a = math.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-a, a, (fan_in, fan_out)).astype(np.float32)

    def tower(fan_in):
        return {"W0": he(fan_in, hidden), "b0": np.zeros(hidden, np.float32),
                "W1": xavier(hidden, d), "b1": np.zeros(d, np.float32)}

    return {"item_embedding": (rng.standard_normal((items, e)) * 0.1).astype(np.float32),
            "history_embedding": (rng.standard_normal((items, e)) * 0.1).astype(np.float32),
            "item_tower": tower(e + features), "user_tower": tower(e)}


def build(config, features):
    """The jitted functions over the model of `config`; `features` (N, G) are the items' genre rows.

    Returns (train_epoch, rank):
    - train_epoch(state, ids (P, L), lengths (P), targets (P), batches (S, B)) -> (state, losses (S)):
      S optimizer steps, step s on rows batches[s] of the training examples;
    - rank(params, ids (U, L), lengths (U), excluded rows, excluded items, k) -> (U, k) item ids: each history's
      k best items over the whole catalogue, best first, the excluded (row, item) pairs never ranked.
    """
    import jax
    import jax.numpy as jnp

    tau, m_queue, warmup = config["temperature"], config["queue"], config["queue_warmup"]
    logq_on, lr = config["logq"], config["learning_rate"]
    rate = 0.05  # ItemFrequencyEstimator's moving-average weight α
    feats = jnp.asarray(features)

    def normalize(x):
        """y = x / max(‖x‖, 1e-12) per row (RowNormalize)."""
        return x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def mlp(p, x):
        """ReLU(x W0 + b0) W1 + b1: one hidden layer, linear output."""
        return jax.nn.relu(x @ p["W0"] + p["b0"]) @ p["W1"] + p["b1"]

    def users(params, ids, lengths):
        """u = normalize(MLP_u(masked mean of the history's embeddings))   ids (B, L), lengths (B) -> (B, d)."""
        mask = (jnp.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(jnp.float32)       # (B, L)
        summed = jnp.einsum("bl,ble->be", mask, params["history_embedding"][ids])               # (B, e)
        encoded = summed / jnp.maximum(lengths, 1).astype(jnp.float32)[:, None]                 # n_b = 0 -> 0
        return normalize(mlp(params["user_tower"], encoded))

    def items(params, ids):
        """v = normalize(MLP_i([item embedding | genres]))   ids (B) -> (B, d)."""
        x = jnp.concatenate([params["item_embedding"][ids], feats[ids]], axis=1)               # (B, e + G)
        return normalize(mlp(params["item_tower"], x))

    def loss_fn(params, ids, lengths, targets, log_q, queue_emb, queue_ids, queue_log_q, queue_live):
        """(1/B) Σ_b −log softmax_j(s[b, j])_b over j ∈ batch items ∪ live queue entries:

        ```
        s[b, j] = ⟨u_b, c_j⟩/τ − log Q_j          c = [v (B, d) | queue (M, d)], the queue a constant
        s[b, j] = −∞ when id_j = target_b, j ≠ b  (accidental hits), and on dead queue slots
        ```
        Returns (loss, v): v (B, d) is what the queue takes after the step.
        """
        u = users(params, ids, lengths)                                                         # (B, d)
        v = items(params, targets)                                                              # (B, d)
        b = targets.shape[0]
        logits = u @ v.T / tau - log_q[None, :]                                                 # (B, B)
        hit = (targets[None, :] == targets[:, None]) & ~jnp.eye(b, dtype=bool)
        logits = jnp.where(hit, -jnp.inf, logits)
        if m_queue > 0:
            q = u @ jax.lax.stop_gradient(queue_emb).T / tau - queue_log_q[None, :]            # (B, M)
            dead = (queue_ids[None, :] == targets[:, None]) | ~queue_live[None, :]
            logits = jnp.concatenate([logits, jnp.where(dead, -jnp.inf, q)], axis=1)          # (B, B + M)
        loss = jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.diagonal(logits[:, :b]))
        return loss, v

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state, batch, ids_all, lengths_all, targets_all):
        """One optimizer step (`RetrievalTrainer.step`): estimator, loss, Adam, queue push."""
        ids, lengths, targets = ids_all[batch], lengths_all[batch], targets_all[batch]
        t = state["step"] + 1
        # ItemFrequencyEstimator.observe: δ[y] ← (1 − α) δ[y] + α (t − A[y]) if seen before, A[y] ← t; an item
        # twice in the batch computes the same new value from the same old ones, so the scatter sets it once.
        last, gap = state["last_seen"][targets], state["gap"][targets]
        gap_all = state["gap"].at[targets].set(jnp.where(last > 0, (1 - rate) * gap + rate * (t - last), gap))
        last_all = state["last_seen"].at[targets].set(t)
        zero = jnp.zeros_like(gap)
        log_q = -jnp.log(gap_all[targets]) if logq_on else zero                                # log Q = −log δ
        if m_queue > 0:
            queue_ids = state["queue_ids"]
            queue_log_q = -jnp.log(gap_all[jnp.maximum(queue_ids, 0)]) if logq_on else jnp.zeros(m_queue)
            live = (jnp.arange(m_queue) < state["queue_count"]) & (state["step"] >= warmup)
            queue_emb = state["queue_emb"]
        else:
            queue_ids, queue_log_q, live, queue_emb = (jnp.zeros(0, jnp.int32), jnp.zeros(0), jnp.zeros(0, bool),
                                                       jnp.zeros((0, 1)))
        (loss, v), grads = grad_fn(state["params"], ids, lengths, targets, log_q, queue_emb, queue_ids,
                                   queue_log_q, live)
        # Adam: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², θ ← θ − η (m/c₁) / (sqrt(v/c₂) + ε)
        tf = t.astype(jnp.float32)
        c1, c2 = 1 - 0.9 ** tf, 1 - 0.999 ** tf
        m1 = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, state["m"], grads)
        m2 = jax.tree.map(lambda s, g: 0.999 * s + 0.001 * g * g, state["v"], grads)
        params = jax.tree.map(lambda p, m, s: p - lr * (m / c1) / (jnp.sqrt(s / c2) + 1e-8), state["params"], m1, m2)
        new = dict(state, params=params, m=m1, v=m2, step=t, gap=gap_all, last_seen=last_all)
        if m_queue > 0:
            # NegativeQueue.push: the batch's v (before the update) over the oldest entries; a batch larger than
            # the queue keeps its last M rows.
            kept = min(targets.shape[0], m_queue)
            slots = (state["queue_head"] + jnp.arange(kept)) % m_queue
            new["queue_emb"] = state["queue_emb"].at[slots].set(v[-kept:])
            new["queue_ids"] = state["queue_ids"].at[slots].set(targets[-kept:])
            new["queue_head"] = (state["queue_head"] + kept) % m_queue
            new["queue_count"] = jnp.minimum(m_queue, state["queue_count"] + targets.shape[0])
        return new, loss

    @jax.jit
    def train_epoch(state, ids_all, lengths_all, targets_all, batches):
        return jax.lax.scan(lambda s, batch: step(s, batch, ids_all, lengths_all, targets_all), state, batches)

    @functools.partial(jax.jit, static_argnames="k")
    def rank(params, ids, lengths, excluded_rows, excluded_items, k):
        """s = u Vᵀ (U, N) over the whole catalogue, the excluded pairs set to −∞, then `lax.top_k` (equal scores:
        the lower index first, as `InnerProductSearch` breaks ties)."""
        scores = users(params, ids, lengths) @ items(params, jnp.arange(features.shape[0])).T
        return jax.lax.top_k(scores.at[excluded_rows, excluded_items].set(-jnp.inf), k)[1]

    return train_epoch, rank


def initial_state(params, config, items, batch_size):
    """The trainer's state: parameters, Adam moments, estimator slots, queue."""
    import jax
    import jax.numpy as jnp

    params = jax.tree.map(jnp.asarray, params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = {"params": params, "m": zeros, "v": jax.tree.map(jnp.zeros_like, params),
             "step": jnp.int32(0), "last_seen": jnp.zeros(items, jnp.int32),
             "gap": jnp.full(items, max(1.0, items / batch_size), jnp.float32)}
    if config["queue"] > 0:
        m = config["queue"]
        state.update(queue_emb=jnp.zeros((m, config["dimension"]), jnp.float32),
                     queue_ids=jnp.full(m, -1, jnp.int32), queue_head=jnp.int32(0), queue_count=jnp.int32(0))
    return state


# ---------------------------------------------------------------------------------------------------
# Driver (RetrievalTraining.train, TwoTowerRanking, RetrievalEval)
# ---------------------------------------------------------------------------------------------------

def rank(params, cases, fns, k):
    """Top-k of every case over the whole catalogue, its history excluded (`TwoTowerRanking.rank`): (U, k) numpy."""
    return np.asarray(fns[1](params, cases.ids, cases.lengths, *cases.excluded, k=k))


def load_metarec_parameters(directory):
    """The tensors of a `metarec retrieval train` model directory (`CURRENT` -> version ->
    parameters.safetensors) under this file's names; DenseLayer weights are (inputs, outputs), as here."""
    from safetensors.numpy import load_file

    current = os.path.join(directory, "CURRENT")
    if os.path.exists(current):
        with open(current) as f:
            directory = os.path.join(directory, f.read().strip())
    t = load_file(os.path.join(directory, "parameters.safetensors"))

    def tower(name):
        return {"W0": t[f"{name}.layers.0.weight"], "b0": t[f"{name}.layers.0.bias"],
                "W1": t[f"{name}.layers.1.weight"], "b1": t[f"{name}.layers.1.bias"]}

    return {"item_embedding": t["item_embedding"], "history_embedding": t["history_embedding"],
            "item_tower": tower("item_tower"), "user_tower": tower("user_tower")}


def write_per_user(path, cases, metrics, user_ids):
    """`metarec retrieval eval --per-user-out`'s CSV, method `jax-peer`."""
    names = [f"recall@{k}" for k in CUTOFFS] + [f"ndcg@{k}" for k in CUTOFFS]
    with open(path, "w") as f:
        f.write("method,user,bucket,history" + "".join(f",{name}" for name in names) + "\n")
        for row, (user, length) in enumerate(zip(cases.users, cases.history_lengths)):
            f.write(f"jax-peer,{user_ids[user]},{bucket(length)},{length}"
                    + "".join(f",{metrics[name][row]:.6f}" for name in names) + "\n")


def test_means(metrics):
    return {name: float(values.mean()) for name, values in metrics.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="MovieLens directory (ratings.csv, movies.csv)")
    # Defaults: `metarec retrieval train`'s.
    ap.add_argument("--dimension", type=int, default=64)
    ap.add_argument("--embedding", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--max-history", type=int, default=50)
    ap.add_argument("--queue", type=int, default=1024)
    ap.add_argument("--queue-warmup", type=int, default=1000)
    ap.add_argument("--no-logq", action="store_true")
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--targets", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-user-out", help="per-user test metrics, the CSV of `metarec retrieval eval --per-user-out`")
    ap.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    ap.add_argument("--evaluate-model", help="no training: rank the test split with this MetaRec model directory")
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp

    t0 = time.perf_counter()
    item_ids, genres, features, user_ids, sequences = read_movielens(args.data)
    split = Split(sequences, args.targets)
    ids_np, lengths_np, targets_np = split.examples(args.max_history)
    validation, test = Cases(split.validation, args.max_history), Cases(split.test, args.max_history)
    load_seconds = time.perf_counter() - t0
    config = {"temperature": args.temperature, "queue": args.queue, "queue_warmup": args.queue_warmup,
              "logq": not args.no_logq, "learning_rate": args.learning_rate, "dimension": args.dimension}
    n, b = len(item_ids), args.batch_size
    rng = np.random.Generator(np.random.PCG64(args.seed))
    fns = build(config, features)
    if args.evaluate_model:
        metrics = case_metrics(test, rank(load_metarec_parameters(args.evaluate_model), test, fns, max(CUTOFFS)))
        if args.per_user_out:
            write_per_user(args.per_user_out, test, metrics, user_ids)
        print(json.dumps({"test_cases": len(split.test), "test": test_means(metrics)}))
        return
    params = init_parameters(rng, n, len(genres), args.embedding, args.hidden, args.dimension)
    state, train_epoch = initial_state(params, config, n, b), fns[0]
    ids_d, lengths_d, targets_d = jnp.asarray(ids_np), jnp.asarray(lengths_np), jnp.asarray(targets_np)
    steps_per_epoch = len(targets_np) // b

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    log(f"data: {len(user_ids)} users, {n} items, {len(genres)} genres; {len(targets_np)} training examples, "
        f"{len(split.validation)} validation cases")
    epochs, best = [], {"epoch": 0, "recall": -1.0, "params": None}
    for epoch in range(1, max(1, args.epochs) + 1):
        started, cpu_started = time.perf_counter(), time.process_time()
        order = rng.permutation(len(targets_np))[:steps_per_epoch * b].reshape(steps_per_epoch, b).astype(np.int32)
        state, losses = train_epoch(state, ids_d, lengths_d, targets_d, order)
        loss = float(jnp.mean(losses))  # waits for the epoch
        trained = time.perf_counter() - started
        ranked = rank(state["params"], validation, fns, 50)
        recall = float(case_metrics(validation, ranked, cutoffs=(50,))["recall@50"].mean())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        epochs.append({"epoch": epoch, "loss": loss, "validation_recall50": recall, "seconds": seconds,
                       "cpu_seconds": cpu, "train_seconds": trained})
        log(f"epoch {epoch:2d}: loss {loss:.4f}, validation recall@50 {recall:.4f} ({seconds:.1f} s, "
            f"training {trained:.1f} s)")
        if not math.isfinite(loss):
            raise SystemExit(f"retrieval_peer: loss {loss} at epoch {epoch}")
        if recall > best["recall"]:
            best = {"epoch": epoch, "recall": recall, "params": jax.device_get(state["params"])}
        elif epoch - best["epoch"] >= 3:
            break

    metrics = case_metrics(test, rank(best["params"], test, fns, max(CUTOFFS)))
    examples_per_epoch = steps_per_epoch * b
    # The first epoch includes the jit compilation; the median of the epochs is not moved by it.
    summary = {
        "version": jax.__version__, "numpy_version": np.__version__, "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "users": len(user_ids), "items": n, "genres": len(genres), "training_examples": len(targets_np),
        "examples_per_epoch": examples_per_epoch, "validation_cases": len(split.validation),
        "test_cases": len(split.test), "load_seconds": load_seconds, "epochs": epochs,
        "best_epoch": best["epoch"], "best_validation_recall50": best["recall"],
        "examples_per_second_median": float(np.median([examples_per_epoch / e["seconds"] for e in epochs])),
        "examples_per_cpu_second_median": float(np.median([examples_per_epoch / e["cpu_seconds"] for e in epochs])),
        "train_only_examples_per_second_median": float(np.median([examples_per_epoch / e["train_seconds"]
                                                                   for e in epochs])),
        "seconds": float(sum(e["seconds"] for e in epochs)),
        "test": test_means(metrics),
    }
    if args.per_user_out:
        write_per_user(args.per_user_out, test, metrics, user_ids)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
