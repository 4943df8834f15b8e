"""PyTorch peers of MetaRec's per-request adapt + score (issue 22): the same math as `peers.py`
(k SGD steps of each task's tower on its support, BCE on the logit over labelled rows, then the
candidates scored with the adapted tower), written with `torch.func.grad` (functional grads, no
`nn.Module` state to copy per request), run eagerly or through `torch.compile` (inductor, CPU).

One thread: the caller sets `torch.set_num_threads(1)` (`setup`).
"""
import numpy as np


def setup(threads=1):
    import torch
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set in this process
        pass
    return torch.__version__


def tower_forward(params, x, last_activation, act):
    """`params`: [(W (in, out), b (out,)), ...]; activation after every layer but the last unless asked."""
    import torch
    last = len(params) - 1
    for l, (w, b) in enumerate(params):
        x = torch.addmm(b, x, w)
        if l < last or last_activation:
            x = act(x)
    return x


def make_adapt_score(steps, lr, kinds, activation, compiled=False):
    """(towers, tasks) -> scores (C, K) with towers [[(W, b), ...] per task] and tasks [(F, y, f)] as
    float32 tensors; both tasks per call, as the JAX peer. `compiled`: `torch.compile` of the whole call."""
    import torch
    import torch.nn.functional as fn
    from torch.func import grad

    act = torch.relu if activation == "relu" else torch.tanh

    def make_loss(kind):
        def loss(params, F, y0, mask, n):
            z = tower_forward(params, F, False, act)[:, 0]
            if kind == "binary":
                per = fn.binary_cross_entropy_with_logits(z, y0, reduction="none")
            else:
                per = (z - y0) ** 2
            return torch.sum(per * mask) / n
        return loss

    grads = [grad(make_loss(kind)) for kind in kinds]

    def adapt_score(towers, tasks):
        out = []
        for t, (F, y, f) in enumerate(tasks):
            mask = ~torch.isnan(y)
            y0 = torch.where(mask, y, torch.zeros_like(y))
            n = torch.clamp(mask.sum(), min=1).to(torch.float32)
            maskf = mask.to(torch.float32)
            params = towers[t]
            for _ in range(steps):  # k is small and static: unrolled (as the JAX peer)
                g = grads[t](params, F, y0, maskf, n)
                params = [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, g)]
            z = tower_forward(params, f, False, act)[:, 0]
            out.append(torch.sigmoid(z) if kinds[t] == "binary" else z)
        return torch.stack(out, dim=1)

    body = torch.compile(adapt_score, dynamic=False, fullgraph=True) if compiled else adapt_score

    def call(towers, tasks):
        with torch.no_grad():  # torch.func.grad differentiates regardless; no autograd graph outside it
            return body(towers, tasks)

    return call


def make_adapt_score_autograd(steps, lr, kinds, activation):
    """The same call with plain eager autograd (`torch.autograd.grad` on leaf views of the weights; what
    learn2learn/higher-style MAML code does) instead of `torch.func.grad`."""
    import torch
    import torch.nn.functional as fn

    act = torch.relu if activation == "relu" else torch.tanh

    def call(towers, tasks):
        out = []
        for t, (F, y, f) in enumerate(tasks):
            mask = ~torch.isnan(y)
            y0 = torch.where(mask, y, torch.zeros_like(y))
            maskf = mask.to(torch.float32)
            n = torch.clamp(mask.sum(), min=1).to(torch.float32)
            params = [(w.detach().requires_grad_(), b.detach().requires_grad_()) for w, b in towers[t]]
            for _ in range(steps):
                with torch.enable_grad():
                    z = tower_forward(params, F, False, act)[:, 0]
                    per = (fn.binary_cross_entropy_with_logits(z, y0, reduction="none") if kinds[t] == "binary"
                           else (z - y0) ** 2)
                    flat = [p for pair in params for p in pair]
                    g = torch.autograd.grad(torch.sum(per * maskf) / n, flat)
                with torch.no_grad():
                    new = [p - lr * gp for p, gp in zip(flat, g)]
                params = [(new[2 * i].requires_grad_(), new[2 * i + 1].requires_grad_()) for i in range(len(params))]
            with torch.no_grad():
                z = tower_forward(params, f, False, act)[:, 0]
                out.append(torch.sigmoid(z) if kinds[t] == "binary" else z)
        return torch.stack(out, dim=1)

    return call


def to_torch(towers, tasks):
    """numpy towers and (F, y, f) tasks -> float32 tensors (made once, before timing)."""
    import torch
    tt = [[(torch.from_numpy(np.ascontiguousarray(w)), torch.from_numpy(np.ascontiguousarray(b))) for w, b in tower]
          for tower in towers]
    ta = [tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in task) for task in tasks]
    return tt, ta
