"""The original implementation's way (spec §1, code `P_CNN.forward`, `train`): rebuild an
autograd graph of Φ at every step and differentiate it for ∂Φ/∂s; BPTT differentiates
through those graphs (double backward). Tensors in PyTorch's default (NCHW) layout, as
the original's `torch.zeros` neurons and DataLoader batches. Slow; kept to pin
`model.drive` and the fast estimators to it (tests) and as the benchmark's baseline."""

from __future__ import annotations

import torch

from repro.eqprop.model import EnergyNet


def step(model: EnergyNet, x, y, s, beta=0.0, create_graph=False):
    """s(t+1) = σ(autograd ∂Φ^β/∂s); per layer ∂Φ_n/∂s_n for a VF net."""
    if not create_graph:
        s = [t.detach().contiguous().requires_grad_() for t in s]
    with torch.enable_grad():
        if model.vf:
            terms = model.layer_phis(x, y, s, beta)
            grads = [
                torch.autograd.grad(term.sum(), layer, create_graph=create_graph)[0]
                for term, layer in zip(terms, s, strict=True)
            ]
        else:
            grads = torch.autograd.grad(
                model.phi(x, y, s, beta).sum(), s, create_graph=create_graph
            )
    out = [model.activation(g) for g in grads]
    return out if create_graph else [t.detach() for t in out]


def _zeros(model, x):
    """s(0) = 0 in the default layout (the original's `init_neurons`)."""
    return [torch.zeros(len(x), *shape, dtype=x.dtype, device=x.device) for shape in model.shapes]


def relax(model, x, y, s, steps, beta=0.0, create_graph=False):
    x = x.contiguous()
    for _ in range(steps):
        s = step(model, x, y, s, beta, create_graph)
    return s


def compute_syn_grads(model, x, y, s1, s2, betas):
    """The original `compute_syn_grads` for symmetric nets: (Φ^{β2}(s2) - Φ^{β1}(s1)) /
    (β1 - β2), batch means, backpropagated into p.grad."""
    beta_1, beta_2 = betas
    model.zero_grad(set_to_none=True)
    phi_1 = model.phi(x, y, s1, beta_1).mean()
    phi_2 = model.phi(x, y, s2, beta_2).mean()
    ((phi_2 - phi_1) / (beta_1 - beta_2)).backward()


def ep_update(model, x, y, estimator, beta, t1, t2):
    """One EP step as the original `train` does it (symmetric nets; `beta` already signed
    for random sign). Returns s*."""
    s = relax(model, x, y, _zeros(model, x), t1)
    s_free = [t.clone() for t in s]
    s_pos = relax(model, x, y, s, t2, beta)
    if estimator == "symmetric":
        s_neg = relax(model, x, y, s_free, t2, -beta)
        compute_syn_grads(model, x, y, s_pos, s_neg, (beta, -beta))
    else:
        compute_syn_grads(model, x, y, s_free, s_pos, (0.0, beta))
    return s_free


def bptt_update(model, x, y, t1, t2):
    """Truncated BPTT through graphs of Φ's gradient (the original's `check_thm=True`)."""
    s = relax(model, x, y, _zeros(model, x), t1 - t2)
    s = [t.detach().requires_grad_() for t in s]
    with torch.enable_grad():
        s = relax(model, x, y, s, t2, create_graph=True)
        loss = model.loss_terms(s, y).mean()
        model.zero_grad(set_to_none=True)
        loss.backward()
    return [t.detach() for t in s]
