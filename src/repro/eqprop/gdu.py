"""The GDU check (spec §1.6, code `check_gdu`, `RMSE`, `compare_estimate`).

On one batch: the per-step BPTT gradients over the last T2 steps of a T1-step free
phase, against the per-step EP increments over T2 nudged steps started from the state
after T1 free steps. Parameter series: EP_t = -(1/β)[∂Φ^β/∂θ(s_t) - ∂Φ^β/∂θ(s_{t-1})],
BPTT_t = contribution of free step T1 - t + 1 (partial sums differenced, time reversed);
neuron series: EP_t = (s_t - s_{t-1})/β, BPTT_t = -B ∂L/∂s(T1 - t + 1).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from repro.eqprop.dynamics import relax, relax_with_graph
from repro.eqprop.estimators import contrast
from repro.eqprop.model import EnergyNet


def _grads(model: EnergyNet) -> dict[str, torch.Tensor]:
    return {
        name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
        for name, p in model.tensor_names().items()
    }


def bptt_series(model: EnergyNet, x, y, t1: int, t2: int) -> dict[str, np.ndarray]:
    """Per-step BPTT gradients, time t = 1..T2 running backwards from the end of the free
    phase (the original's K loop: partial sums over the last T2 - K steps)."""
    with torch.no_grad():
        ref = relax(
            model, model.context(x, y), model.init_neurons(len(x), x.device, x.dtype), t1 - t2
        )
    partial, neuron = [], []
    for k in range(t2 + 1):
        ctx = model.context(x, y)
        leaves = [t.detach().requires_grad_() for t in relax(model, ctx, ref, k)]
        s = relax_with_graph(model, ctx, leaves, t2 - k)
        loss = model.loss_terms(s, y).sum() / len(x)
        model.zero_grad(set_to_none=True)
        loss.backward()
        if k < t2:
            partial.append(_grads(model))
        if k > 0:
            neuron.append(
                [
                    -len(x) * (leaf.grad if leaf.grad is not None else torch.zeros_like(leaf))
                    for leaf in leaves
                ]
            )
    series = {}
    for name in partial[0]:
        sums = torch.stack([p[name] for p in partial])  # sums[k]: steps k..T2-1
        steps = sums - torch.cat([sums[1:], torch.zeros_like(sums[:1])])
        series[name] = steps.flip(0).cpu().numpy()
    for n in range(model.n_layers):
        series[f"s{n + 1}"] = torch.stack([g[n] for g in neuron]).flip(0).cpu().numpy()
    return series


# Kinks of the piecewise-linear activations (spec §1.3): σ is linear between them.
KINKS = {"my_hard_sig": (0.0, 2.0), "hard_sigmoid": (0.0, 1.0), "ctrd_hard_sig": (-0.5, 0.5)}


@torch.no_grad()
def regions(model: EnergyNet, ctx, s, beta) -> list[torch.Tensor]:
    """Which linear piece the next update is on: per neuron the interval of its
    pre-activation ∂Φ^β/∂s between σ's kinks, per max-pool window its arg-max. Between
    two states with the same regions, the update is one affine map (Φ is quadratic)."""
    out = []
    kinks = KINKS.get(model.activation_name)
    if kinks is not None:
        edges = torch.tensor(kinks, dtype=ctx.x.dtype, device=ctx.x.device)
        out += [torch.bucketize(u.contiguous(), edges) for u in model.drive(ctx, s, beta)]
    layers = [ctx.x, *s]
    for k in range(model.n_conv):
        if model.pools[k] == "m":
            z = model.synapses[k](layers[k])
            out.append(F.max_pool2d(z, 2, 2, return_indices=True)[1])
    return out


def free_state(model: EnergyNet, ctx, x, t1: int) -> list[torch.Tensor]:
    """The state after T1 free steps from s = 0."""
    with torch.no_grad():
        return relax(model, ctx, model.init_neurons(len(x), x.device, x.dtype), t1)


def nudged_series(model: EnergyNet, x, y, free, t2: int, beta: float):
    """(per-step EP increments over T2 nudged steps from the free state `free`, share of
    neurons and max-pool windows whose linear piece differs, at some nudged step, from
    the free phase's: the GDU identity is affine on a piece)."""
    ctx = model.context(x, y)
    start = regions(model, ctx, free, 0.0)
    changed = [torch.zeros_like(r, dtype=torch.bool) for r in start]
    s, params, neurons = free, [], []
    for _ in range(t2):
        nxt = relax(model, ctx, s, 1, beta)
        contrast(model, x, y, (s, beta), (nxt, beta), -beta, ctx=ctx)  # both Φ with β (§6.2.8)
        params.append(_grads(model))
        neurons.append([(b - a) / beta for a, b in zip(s, nxt, strict=True)])
        for c, a, b in zip(changed, start, regions(model, ctx, nxt, beta), strict=True):
            c |= a != b
        s = nxt
    series = {name: torch.stack([p[name] for p in params]).cpu().numpy() for name in params[0]}
    for n in range(model.n_layers):
        series[f"s{n + 1}"] = torch.stack([g[n] for g in neurons]).cpu().numpy()
    total = sum(c.numel() for c in changed)
    share = float(sum(int(c.sum()) for c in changed) / total) if total else 0.0
    return series, share


@torch.no_grad()
def residual_trace(model: EnergyNet, x, y, steps: int) -> np.ndarray:
    """max_n max|s(t+1) - s(t)| for t = 0..steps-1 of the free phase from s = 0."""
    ctx = model.context(x, y)
    s = model.init_neurons(len(x), x.device, x.dtype)
    out = []
    for _ in range(steps):
        new = model.step(ctx, s, 0.0)
        out.append(max(float((a - b).abs().max()) for a, b in zip(new, s, strict=True)))
        s = new
    return np.asarray(out)


def ep_series(model: EnergyNet, x, y, t1: int, t2: int, beta: float) -> dict[str, np.ndarray]:
    """Per-step EP increments over T2 nudged steps from the state after T1 free steps."""
    free = free_state(model, model.context(x, y), x, t1)
    return nudged_series(model, x, y, free, t2, beta)[0]


# ------------------------------------------------------------------ metrics
def _rms(a: np.ndarray) -> np.ndarray:
    """sqrt(mean_t a²) per element (one pass, no temporaries)."""
    return np.sqrt(np.einsum("t...,t...->...", a, a) / len(a))


def rmse(ep: np.ndarray, bptt: np.ndarray) -> float:
    """The code's "RMSE": per element sqrt(mean_t (EP-BPTT)²) / (1e-10 + max(rms EP,
    rms BPTT)), averaged over elements."""
    scale = np.maximum(_rms(ep), _rms(bptt))
    return float(np.mean(_rms(ep - bptt) / (1e-10 + scale)))


def sign_error(ep: np.ndarray, bptt: np.ndarray) -> float:
    """Share of (t, element) where EP and BPTT have opposite signs."""
    return float(np.mean(ep * bptt < 0))


def relative_error(ep: np.ndarray, bptt: np.ndarray) -> float:
    """‖Σ_t EP - Σ_t BPTT‖ / ‖Σ_t BPTT‖ of the accumulated estimate (spec §5 Q1)."""
    total = bptt.sum(0)
    return float(np.linalg.norm(ep.sum(0) - total) / np.linalg.norm(total))


def closeness(ep_plus: np.ndarray, ep_minus: np.ndarray, bptt: np.ndarray) -> float:
    """`compare_estimate`: mean over elements of 2|sym - BPTT| / (|EP₊ - BPTT| + |EP₋ -
    BPTT|) on the estimates summed over time (1 = as close as one-sided, 0.5 = 2x closer)."""
    plus, minus, total = ep_plus.sum(0), ep_minus.sum(0), bptt.sum(0)
    sym = 0.5 * (plus + minus)
    denom = np.abs(plus - total) + np.abs(minus - total)
    ok = denom > 0
    return float(np.mean(2 * np.abs(sym - total)[ok] / denom[ok])) if ok.any() else float("nan")


def check(model: EnergyNet, x, y, t1: int, t2: int, beta: float, bptt=None, free=None) -> dict:
    """Series and metrics of one GDU check at ±β: {"bptt", "plus", "minus", "metrics",
    "regions"}. metrics[tensor] holds rel_err/rmse/sign_err for plus, minus, sym, and
    closeness. `bptt`, `free`: the β-independent `bptt_series` and `free_state` (after
    T1 steps) if already computed."""
    if model.vf:
        raise NotImplementedError("the GDU check needs a network with a primitive function")
    if bptt is None:
        bptt = bptt_series(model, x, y, t1, t2)
    if free is None:
        free = free_state(model, model.context(x, y), x, t1)
    (plus, changed_plus), (minus, changed_minus) = (
        nudged_series(model, x, y, free, t2, b) for b in (beta, -beta)
    )
    metrics = {}
    for name, g in bptt.items():
        sym = 0.5 * (plus[name] + minus[name])
        row = {}
        for label, ep in (("plus", plus[name]), ("minus", minus[name]), ("sym", sym)):
            row[f"rel_err_{label}"] = relative_error(ep, g)
            row[f"rmse_{label}"] = rmse(ep, g)
            row[f"sign_err_{label}"] = sign_error(ep, g)
        row["closeness"] = closeness(plus[name], minus[name], g)
        metrics[name] = row
    changes = {"changed_plus": changed_plus, "changed_minus": changed_minus}
    return {"bptt": bptt, "plus": plus, "minus": minus, "metrics": metrics, "regions": changes}
