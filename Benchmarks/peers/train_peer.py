"""Check, then time, the training-step peers (`training.py`) on the census config; prints one JSON object.

    python train_peer.py --config DATA/config.yaml --data DATA/train.csv --check
    python train_peer.py --config ... --data ... --impl jax|jax-dp|numpy --threads 2 [--batches 40 --runs 5]

A separate process per setting: XLA reads its thread flags when JAX is imported, so this script
sets the CPU affinity (cores 0 … N−1) and `XLA_FLAGS` before importing JAX. Timing mirrors `metarec-bench training`: the same number of batches of the
config's batch size per run, batches in memory, one warm-up run, the median of --runs runs.
"""
import argparse
import json
import os
import sys
import time


def set_threads(threads, impl):
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(range(os.cpu_count() or 1))[:threads]
        os.sched_setaffinity(0, set(cpus))
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # PyTorch's intra-op pool (also set with torch.set_num_threads)
    os.environ["JAX_PLATFORMS"] = "cpu"
    if impl == "jax-dp":
        # One single-threaded CPU device per thread; the jitted step runs SPMD over them.
        os.environ["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={threads} "
                                   "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    elif threads == 1:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    else:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=true"


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--impl", choices=["jax", "jax-dp", "numpy", "torch"], default="jax",
                    help="jax: one jit step (XLA's intra-op threads); jax-dp: the same step data-parallel over --threads CPU devices")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--check", action="store_true", help="check the JAX and numpy steps instead of timing")
    args = ap.parse_args()
    set_threads(args.threads, args.impl)

    import numpy as np
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import training

    cfg = training.load_config(args.config)
    ids, numeric, labels, vocab = training.load_rows(args.data, cfg)
    weights = [w for _, _, w in cfg["labels"]]
    if any(kind != "binary" for _, kind, _ in cfg["labels"]):
        raise SystemExit("train_peer: the census config's tasks are binary; regression is not implemented here")
    B = cfg["batch_size"]
    if args.check:
        print(json.dumps(check(training, cfg, ids, numeric, labels, vocab, weights)))
        return

    n = args.batches * B
    if len(ids) < n:
        raise SystemExit(f"train_peer: {args.data} has {len(ids)} rows, need {n}")
    order = np.random.default_rng(1).permutation(len(ids))[:n]
    batches = [(ids[order[i * B:(i + 1) * B]], numeric[order[i * B:(i + 1) * B]], labels[order[i * B:(i + 1) * B]])
               for i in range(args.batches)]
    params0, table0 = training.init_params(cfg, vocab)

    if args.impl == "jax":
        import jax
        step, _, _, init_opt = training.make_jax_step(cfg, weights)
        dev_batches = [jax.device_put(b) for b in batches]

        def one_run():
            params = jax.device_put(params0)
            table = jax.device_put(table0)
            opt = init_opt(params, table)
            jax.block_until_ready((params, table, opt))
            t0, c0 = time.perf_counter(), cpu_seconds()
            for b in dev_batches:
                params, table, opt, loss = step(params, table, opt, *b)
            jax.block_until_ready((params, table, loss))
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            if not np.isfinite(float(loss)):
                raise SystemExit("train_peer: non-finite loss (JAX)")
            return wall, cpu
        version = jax.__version__
    elif args.impl == "jax-dp":
        import jax
        devices = jax.local_devices()
        n_dev = len(devices)
        if n_dev != args.threads or B % n_dev:
            raise SystemExit(f"train_peer: {n_dev} devices for {args.threads} threads, batch {B}")
        step, _, _, init_opt = training.make_jax_step(cfg, weights)
        rows_sharding, replicated = training.data_parallel_shardings(np.array(devices))
        dev_batches = [tuple(jax.device_put(a, rows_sharding) for a in b) for b in batches]
        replicate = lambda tree: jax.device_put(tree, replicated)

        # Before timing: one data-parallel step equals one step on one device.
        d0 = devices[0]
        p1, t1, _, _ = step(jax.device_put(params0, d0), jax.device_put(table0, d0),
                            jax.device_put(init_opt(params0, table0), d0), *[jax.device_put(a, d0) for a in batches[0]])
        pp, pt, _, _ = step(replicate(params0), replicate(table0), replicate(init_opt(params0, table0)), *dev_batches[0])
        diff = max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
                   for x, y in zip(training.tree_leaves(jax.device_get(pp)) + [np.asarray(pt)],
                                   training.tree_leaves(jax.device_get(p1)) + [np.asarray(t1)]))
        if diff > 1e-5:
            raise SystemExit(f"train_peer: data-parallel step differs from the single-device step: {diff}")

        def one_run():
            params, table = replicate(params0), replicate(table0)
            opt = replicate(init_opt(params0, table0))
            jax.block_until_ready((params, table, opt))
            t0, c0 = time.perf_counter(), cpu_seconds()
            for b in dev_batches:
                params, table, opt, loss = step(params, table, opt, *b)
            jax.block_until_ready((params, table, loss))
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            if not np.all(np.isfinite(np.asarray(loss))):
                raise SystemExit("train_peer: non-finite loss (JAX data-parallel)")
            return wall, cpu
        version = jax.__version__
    elif args.impl == "torch":
        import torch
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
        t_batches = [training.TorchTrainer.batch(b) for b in batches]

        def one_run():
            trainer = training.TorchTrainer(cfg, weights, params0, table0)
            t0, c0 = time.perf_counter(), cpu_seconds()
            for b in t_batches:
                loss = trainer.step(*b)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            if not np.isfinite(float(loss)):
                raise SystemExit("train_peer: non-finite loss (PyTorch)")
            return wall, cpu
        version = torch.__version__
    else:
        def one_run():
            params = training.tree_map(np.copy, params0)
            table = table0.copy()
            state = training.numpy_adam_state(params, table)
            t0, c0 = time.perf_counter(), cpu_seconds()
            for b in batches:
                loss = training.numpy_step(params, table, state, b, cfg, weights)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            if not np.isfinite(loss):
                raise SystemExit("train_peer: non-finite loss (numpy)")
            return wall, cpu
        version = np.__version__

    one_run()  # warm-up (and, for JAX, compilation)
    runs = [one_run() for _ in range(args.runs)]
    walls = sorted(w for w, _ in runs)
    median = float(np.median([w for w, _ in runs]))
    print(json.dumps({
        "impl": args.impl, "version": version, "threads": args.threads, "batch_size": B, "batches": args.batches,
        "rows_per_run": n, "vocabulary_rows": vocab, "runs": args.runs,
        "rows_per_s_median": n / median, "rows_per_s_best": n / walls[0], "rows_per_s_worst": n / walls[-1],
        "cores_used_median": float(np.median([c / w for w, c in runs])),
        "seconds": [w for w, _ in runs], "cpu_seconds": [c for _, c in runs],
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "data_parallel_vs_single_step_max_abs": diff if args.impl == "jax-dp" else None,
    }))


def check(training, cfg, ids, numeric, labels, vocab, weights):
    """Before any timing: (1) the hand-written numpy gradient (float64) against central finite
    differences; (2) jax.grad (float32) against that gradient; (3) one JAX step equals one numpy
    step (float32); (4) on a planted batch the JAX step drives the loss down."""
    import jax
    import numpy as np

    B = cfg["batch_size"]
    rng = np.random.default_rng(7)
    rows = rng.choice(len(ids), B, replace=False)
    batch = (ids[rows], numeric[rows], labels[rows])
    params32, table32 = training.init_params(cfg, vocab, seed=3)
    params64 = training.tree_map(lambda a: a.astype(np.float64), params32)
    table64 = table32.astype(np.float64)
    D = len(cfg["categorical"]) * cfg["d"] + len(cfg["numeric"])
    out = {"vocabulary_rows": vocab, "batch_size": B,
           "shape": f"{len(cfg['labels'])} binary tasks, {len(cfg['categorical'])} categorical features (embedding "
                    f"d {cfg['d']}) + {len(cfg['numeric'])} numeric (D = {D}), {cfg['experts']} experts "
                    f"{' → '.join(str(w) for w in [D] + cfg['expert_layers'])}, towers "
                    f"{' → '.join(str(w) for w in cfg['expert_layers'][-1:] + cfg['tower_layers'] + [1])}"}

    # (1) finite differences of the float64 loss, 6 random coordinates per tensor (and table rows the batch touches)
    loss64, g64, gt64 = training.numpy_loss_and_grads(params64, table64, *batch, weights)
    worst_fd = worst_abs = 0.0
    leaves = training.tree_leaves(params64) + [table64]
    gleaves = training.tree_leaves(g64) + [gt64]
    touched = np.unique(batch[0])
    for leaf, gleaf in zip(leaves, gleaves):
        flat, gflat = leaf.reshape(-1), gleaf.reshape(-1)
        if leaf is table64:
            cand = (touched[:, None] * leaf.shape[1] + np.arange(leaf.shape[1])[None, :]).reshape(-1)
            picks = rng.choice(cand, 6, replace=False)
        else:
            picks = rng.choice(flat.size, min(6, flat.size), replace=False)
        for i in picks:
            # A step can cross a ReLU kink (seen: a tower bias at h = 1e-6, exact at 1e-7), so each
            # coordinate takes the best of three step sizes; a wrong gradient fails at all three.
            # Central differences also carry an absolute rounding error (~1e-16/h), so tiny entries
            # are compared against a floor of 1e-3 of the tensor's largest gradient entry.
            floor = 1e-3 * float(np.abs(gflat).max())
            old, errors = flat[i], []
            for h in (1e-5, 1e-6, 1e-7):
                flat[i] = old + h
                lp = training.numpy_loss_and_grads(params64, table64, *batch, weights)[0]
                flat[i] = old - h
                lm = training.numpy_loss_and_grads(params64, table64, *batch, weights)[0]
                flat[i] = old
                fd = (lp - lm) / (2 * h)
                errors.append((abs(fd - gflat[i]) / max(abs(fd), abs(gflat[i]), floor, 1e-12), abs(fd - gflat[i])))
            rel, err = min(errors)
            worst_fd, worst_abs = max(worst_fd, rel), max(worst_abs, err)
    out["numpy_grad_vs_finite_diff_max_rel"] = worst_fd
    out["numpy_grad_vs_finite_diff_max_abs"] = worst_abs
    assert worst_fd <= 1e-4, f"numpy gradient disagrees with finite differences: max rel {worst_fd}, max abs {worst_abs}"

    # (2) jax.grad (float32) vs the numpy float64 gradient, per tensor relative to its largest entry
    step, loss_fn, grad_fn, init_opt = training.make_jax_step(cfg, weights)
    jg, jgt = grad_fn(params32, table32, *batch)
    worst = 0.0
    for a, b in zip(training.tree_leaves(jax.device_get(jg)) + [np.asarray(jgt)], gleaves):
        scale = max(float(np.abs(b).max()), 1e-12)
        worst = max(worst, float(np.abs(np.asarray(a, np.float64) - b).max()) / scale)
    jloss = float(loss_fn(params32, table32, *batch))
    out["jax_grad_vs_numpy_max_rel"] = worst
    out["jax_loss_vs_numpy"] = abs(jloss - loss64)
    assert worst <= 1e-3 and abs(jloss - loss64) <= 1e-4 * max(1, abs(loss64)), \
        f"jax.grad disagrees with the numpy gradient: max rel {worst}, loss {jloss} vs {loss64}"

    # (3) one step each, float32: same parameters after the update
    np_params, np_table = training.tree_map(np.copy, params32), table32.copy()
    state = training.numpy_adam_state(np_params, np_table)
    training.numpy_step(np_params, np_table, state, batch, cfg, weights)
    jp, jt = jax.device_put(params32), jax.device_put(table32)
    jp, jt, _, _ = step(jp, jt, init_opt(jp, jt), *batch)
    step_diff = max(float(np.abs(np.asarray(a) - b).max())
                    for a, b in zip(training.tree_leaves(jax.device_get(jp)) + [np.asarray(jt)],
                                    training.tree_leaves(np_params) + [np_table]))
    out["one_step_jax_vs_numpy_max_abs"] = step_diff
    # Adam moves every weight by at most ~lr per step; the two must agree far below that.
    assert step_diff <= 1e-5, f"one JAX step and one numpy step disagree: max |diff| {step_diff}"

    # (3b) PyTorch: loss and gradient against the numpy float64 ones, one step against the numpy step
    import torch
    torch.set_num_threads(1)
    trainer = training.TorchTrainer(cfg, weights, params32, table32)
    tb = training.TorchTrainer.batch(batch)
    tloss = training.torch_loss(trainer.params, trainer.table, *tb, weights)
    tloss.backward()
    worst_t = 0.0
    for p, b in zip(training.tree_leaves(trainer.params) + [trainer.table], gleaves):
        scale = max(float(np.abs(b).max()), 1e-12)
        worst_t = max(worst_t, float(np.abs(p.grad.numpy().astype(np.float64) - b).max()) / scale)
    out["torch_grad_vs_numpy_max_rel"], out["torch_loss_vs_numpy"] = worst_t, abs(float(tloss) - loss64)
    assert worst_t <= 1e-3, f"PyTorch gradient disagrees with the numpy gradient: max rel {worst_t}"
    trainer = training.TorchTrainer(cfg, weights, params32, table32)
    trainer.step(*tb)
    tp, tt = trainer.numpy_state()
    out["one_step_torch_vs_numpy_max_abs"] = max(
        float(np.abs(a - b).max()) for a, b in zip(training.tree_leaves(tp) + [tt], training.tree_leaves(np_params) + [np_table]))
    assert out["one_step_torch_vs_numpy_max_abs"] <= 1e-5, \
        f"one PyTorch step and one numpy step disagree: {out['one_step_torch_vs_numpy_max_abs']}"
    out["torch_version"] = torch.__version__

    # (4) planted batch: labels from a fixed random teacher on the same inputs; 200 steps on it
    teacher = rng.standard_normal((vocab, len(cfg["labels"])))
    tnum = rng.standard_normal((numeric.shape[1], len(cfg["labels"])))
    score = teacher[batch[0]].sum(axis=1) + batch[1] @ tnum
    planted = (score > np.median(score, axis=0)).astype(np.float32)
    pbatch = (batch[0], batch[1], planted)
    jp, jt = jax.device_put(params32), jax.device_put(table32)
    opt = init_opt(jp, jt)
    losses = []
    for _ in range(200):
        jp, jt, opt, loss = step(jp, jt, opt, *pbatch)
        losses.append(float(loss))
    out["planted_loss_first"], out["planted_loss_after_200"] = losses[0], float(loss_fn(jp, jt, *pbatch))
    assert out["planted_loss_after_200"] < 0.5 * losses[0], f"loss did not halve on a planted batch: {losses[0]} -> {out['planted_loss_after_200']}"
    return out


if __name__ == "__main__":
    main()
