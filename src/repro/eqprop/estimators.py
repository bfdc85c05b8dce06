"""Gradient estimators (spec §1.4) and truncated BPTT (§1.5); each fills `p.grad`.

EP: free phase (T1 steps, β = 0) to s*, nudged phase (T2 steps) to s^β, then
* one-sided:   ĝ = -(1/β) [∂Φ^β/∂θ(s^β) - ∂Φ/∂θ(s*)],
* random sign: the same with β's sign drawn fresh (p = ½) for every mini-batch,
* symmetric:   ĝ = -(1/2β) [∂Φ^β/∂θ(s^β) - ∂Φ^{-β}/∂θ(s^{-β})], the +β and -β phases
               run side by side as one batch of 2B.
∂Φ/∂θ is autograd of the batch mean of Φ (one call for both states, batched).
VF nets (§1.7) pair the pre-synaptic free state with the nudged post-synaptic states
(default) or, with `same_update`, use the symmetric formula and then give B_n and
W_{n+1} the average of their two gradients.
"""

from __future__ import annotations

import numpy as np
import torch

from repro.eqprop.dynamics import free_phase, relax, relax_with_graph, stack
from repro.eqprop.model import EnergyNet, tile

ESTIMATORS = ("one_sided", "random_sign", "symmetric")


def contrast(model, x, y, a, b, denominator, pre=None, ctx=None) -> None:
    """p.grad = batch mean of ∂/∂θ [Φ^{β_b}(s_b) - Φ^{β_a}(s_a)] / denominator.

    `a`, `b`: (states, β). `pre` (VF default update): the free state used as
    pre-synaptic input in both terms, `a`/`b` then being the post-synaptic states.
    Synapse 1's term <s_1, P(W_1 x)> has the same input and pooling in both: its
    gradient is taken once, in closed form, for the weighted difference of the two s_1
    (`ctx`: the batch's context, built if not given). The first layers the two states
    share (the same tensor: the ±β phases before the nudge reaches them) are computed
    once; the terms of Φ between two shared layers cancel and are left out, their
    synapses get exactly 0 (as in the original's Φ difference)."""
    (sa, beta_a), (sb, beta_b) = a, b
    shared = next((i for i, (u, v) in enumerate(zip(sa, sb, strict=True)) if u is not v), len(sa))
    n, scale = len(x), 1.0 / (len(x) * denominator)
    full = lambda value: torch.full((n,), float(value), dtype=sa[0].dtype, device=x.device)  # noqa: E731
    betas = torch.cat([full(beta_a), full(beta_b)])
    weights = torch.cat([full(-scale), full(scale)])
    x2, y2 = torch.cat([x, x]), torch.cat([y, y])
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():
        if pre is None:
            phi = model.phi(x2, y2, stack([sa, sb]), betas, skip=max(shared, 1))
        else:
            post = stack([sa, sb])
            phi = model.phi(x2, y2, stack([pre, pre]), betas, post=post, skip=max(shared, 1))
        if phi.requires_grad:  # (not for a one-layer MSE net: Φ is then synapse 1's term)
            (phi * weights).sum().backward()
    for syn in [*model.synapses[:shared], *model.backward_synapses[: max(shared - 1, 0)]]:
        for p in syn.parameters():
            p.grad = torch.zeros_like(p)
    if shared == 0:
        with torch.no_grad():
            ctx = ctx if ctx is not None else model.context(x, y)
            first = (sb[0] - sa[0]) * scale
            if model.masks is not None:
                first = first * model._mask(1, first)
            model.add_first_synapse_grad(ctx, first)


def _share_vf_update(model: EnergyNet) -> None:
    """`--same-update`: B_n and W_{n+1} both get the mean of their two gradients."""
    with torch.no_grad():
        for n, b in enumerate(model.backward_synapses, start=1):
            w = model.synapses[n].weight
            common = 0.5 * (b.weight.grad + w.grad)
            b.weight.grad.copy_(common)
            w.grad.copy_(common)


def ep_update(model: EnergyNet, x, y, estimator: str, beta: float, t1: int, t2: int):
    """One EP estimate for the batch into p.grad; returns (s*, free-phase residual, β used)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    ctx, s_free, residual = free_phase(model, x, y, t1)
    vf_mixed = model.vf and not model.same_update
    if estimator == "symmetric":
        n = len(x)
        betas = torch.cat(
            [torch.full((n,), b, dtype=x.dtype, device=x.device) for b in (beta, -beta)]
        )
        # s_free stands for both halves (batch B, see `model.tile`): a layer becomes 2B
        # once the nudge reaches it; the layers it has not reached are computed once and
        # are the same tensor in both states
        nudged = relax(model, ctx, s_free, t2, betas)
        a = ([t if len(t) == n else t[:n] for t in nudged], beta)
        b = ([t if len(t) == n else t[n:] for t in nudged], -beta)
    else:
        if estimator == "random_sign":  # numpy's global RNG, seeded and checkpointed by the run
            beta = beta * (2 * np.random.randint(2) - 1)
        a, b = (s_free, 0.0), (relax(model, ctx, s_free, t2, beta), beta)
    contrast(model, x, y, a, b, a[1] - b[1], pre=s_free if vf_mixed else None, ctx=ctx)
    if model.vf and model.same_update:
        _share_vf_update(model)
    return s_free, residual, beta


def bptt_update(model: EnergyNet, x, y, t1: int, t2: int):
    """Truncated BPTT: T1 - T2 steps without a graph, the last T2 with one; the loss
    (batch mean) at the final state, backpropagated into p.grad. Returns (final state,
    loss); with T2 shorter than the depth only the layers that reach the output layer are
    updated in the last steps (the others keep the last state the output depends on:
    the loss, the gradient and the predictions read the output layer only)."""
    if t2 > t1:
        raise ValueError(f"BPTT needs T2 <= T1 (got T1={t1}, T2={t2})")
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        ctx = model.context(x, y)
        s = relax(model, ctx, model.init_neurons(1, x.device, x.dtype), t1 - t2)  # see free_phase
        s = [tile(t, len(x)) for t in s]
    ctx.drive0.requires_grad_()  # synapse 1 enters only through it: its gradient below
    with torch.enable_grad():
        ctx.kernels = model.kernels()
        s = relax_with_graph(model, ctx, s, t2, to_output=True)
        loss = model.loss_terms(s, y).mean()
        loss.backward()
    # With T2 shorter than the depth the loss does not reach layer 1: synapse 1 then gets
    # no gradient (None, as autograd of the original leaves it), not an error.
    if ctx.drive0.grad is not None:
        with torch.no_grad():
            model.add_first_synapse_grad(ctx, ctx.drive0.grad)
    return [t.detach() for t in s], loss.item()
