"""forde: the repulsion pushes members apart, in the kernel and in the training step.

The reference R here is written out in the test (vectorised, NumPy-style medians), with
the j-side and the bandwidths frozen at the values before the step, the way FoRDE's
stop-gradients define the descent direction. A flipped sign anywhere (kernel exponent,
`nll + R` in the step, the repulsion weight) makes R go up, or the step differ from
-lr * grad of the reference."""

import math

import numpy as np
import pytest
import torch

from repro.forde import kernel
from repro.forde.step import Repulsion, forward_with_input_grads, train_step
from repro.models.ensemble import EnsembleMLP


def jax_median(values: np.ndarray, axis) -> np.ndarray:
    """np.median (the mean of the two middle values for an even count), as JAX's."""
    return np.median(values, axis=axis)


def frozen_r(first: torch.Tensor, fixed: torch.Tensor, variant="code", eps=1e-24, proj=None):
    """R(first | fixed) = (1/B) sum_i log((1/B) sum_{j,b} k(first_i,b ; fixed_j,b)).

    Bandwidths from `fixed` only: code: h[j,b] = median_i D[i,j,b] / ln M + 1e-12;
    paper: h[b] = median_{i,j} (D/2) / (2 ln M) + 1e-12 and exponent -(d/2)/h."""
    m, b, _ = first.shape

    def unit(g):
        s = g / torch.sqrt((g * g).sum(-1, keepdim=True) + eps)
        return s if proj is None else s @ proj

    s_fixed = unit(fixed).detach()
    s_first = unit(first)
    d_fixed = ((s_fixed[:, None] - s_fixed[None]) ** 2).sum(-1).numpy()  # (M, M, B)
    d = ((s_first[:, None] - s_fixed[None]) ** 2).sum(-1)  # (M_i, M_j, B)
    if variant == "code":
        h = torch.as_tensor(jax_median(d_fixed, 0) / math.log(m) + 1e-12)  # (M_j, B)
        logk = -d / h[None]
    else:
        flat = (d_fixed / 2).reshape(m * m, b)
        h = torch.as_tensor(jax_median(flat, 0) / (2 * math.log(m)) + 1e-12)  # (B,)
        logk = -(d / 2) / h
    per_member = torch.log(torch.exp(logk).reshape(m, -1).sum(1) / b)
    return per_member.sum() / b


def mean_pairwise_distance(g):
    s = g / g.norm(dim=-1, keepdim=True)
    m = len(s)
    d = ((s[:, None] - s[None]) ** 2).sum(-1)
    return float(d.sum() / (m * (m - 1) * s.shape[1]))


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_reference_r_equals_kernel_at_the_unfrozen_point(variant):
    torch.manual_seed(0)
    g = torch.randn(4, 3, 5, dtype=torch.float64)
    r, _ = kernel.repulsion(g, variant=variant)
    assert float(r) == pytest.approx(float(frozen_r(g, g, variant)), rel=1e-12)


def test_reference_r_by_hand_for_two_members_one_sample():
    # s_0 = (1, 0), s_1 = (0, 1): D = [[0, 2], [2, 0]]; code bandwidth per j: median of
    # {0, 2} = 1, h = 1 / ln 2; log sum_j k = log(exp(0) + exp(-2 ln 2)) = log(1 + 1/4)
    g = torch.tensor([[[3.0, 0.0]], [[0.0, 0.5]]], dtype=torch.float64)
    r, med = kernel.repulsion(g)
    assert float(r) == pytest.approx(2 * math.log(1.25), rel=1e-10)
    assert float(med) == pytest.approx(1.0)
    # paper: D/2 = [[0, 1], [1, 0]], median over the 4 pairs 0.5, h = 0.5 / (2 ln 2);
    # exponent -(1) / h = -4 ln 2: log(1 + 1/16)
    r, _ = kernel.repulsion(g, variant="paper")
    assert float(r) == pytest.approx(2 * math.log(1 + 1 / 16), rel=1e-10)


@pytest.mark.parametrize("variant", ["code", "paper"])
@pytest.mark.parametrize("projected", [False, True])
def test_gradient_step_on_r_lowers_frozen_r_and_spreads_members(variant, projected):
    torch.manual_seed(1)
    m, b, d = 4, 3, 6
    proj = None
    if projected:
        basis, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))
        proj = basis * torch.linspace(0.5, 2.0, d, dtype=torch.float64).sqrt()
    g0 = torch.randn(m, b, d, dtype=torch.float64)
    g = g0.clone().requires_grad_(True)
    r, _ = kernel.repulsion(g, proj, variant=variant)
    (grad,) = torch.autograd.grad(r, g)
    before = float(frozen_r(g0, g0, variant, proj=proj))
    lr = 1e-3
    after = float(frozen_r(g0 - lr * grad, g0, variant, proj=proj))
    assert after < before
    # first order: the decrease is lr * ||grad||^2 (grad is the frozen R's gradient)
    assert before - after == pytest.approx(lr * float(grad.square().sum()), rel=0.05)
    # the members' unit gradients move apart
    big = g0 - 0.3 * grad / grad.norm() * g0.norm()
    assert mean_pairwise_distance(big) > mean_pairwise_distance(g0)


def _setup(seed=2):
    torch.manual_seed(seed)
    model = EnsembleMLP(3, [2, 6, 4], zero_head=False).double()
    x = torch.randn(8, 2, dtype=torch.float64)
    y = torch.randint(0, 4, (8,))
    return model, x, y


def _grads(objective, params):
    """d objective / d params; zeros for parameters it does not use (the head bias
    does not reach an input gradient)."""
    grads = torch.autograd.grad(objective, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def _nll_by_hand(logits, y):
    """sum_i mean_b -log softmax(f_i(x_b))_{y_b}, logits (M, B, K)."""
    logp = logits - torch.logsumexp(logits, dim=2, keepdim=True)
    picked = logp[:, torch.arange(len(y)), y]  # (M, B)
    return -picked.mean(1).sum()


@pytest.mark.parametrize("weight", [1.0, 2.5])
@pytest.mark.parametrize("with_nll", [False, True])
def test_train_step_is_minus_lr_times_grad_of_nll_plus_weighted_frozen_r(weight, with_nll):
    model, x, y = _setup()
    params = list(model.parameters())
    before = [p.detach().clone() for p in params]
    _, g0 = forward_with_input_grads(model, x, y)
    g0 = g0.detach()
    logits, g = forward_with_input_grads(model, x, y)
    r_frozen = frozen_r(g, g0)
    objective = weight * r_frozen + (_nll_by_hand(logits, y) if with_nll else 0.0)
    expected_grads = _grads(objective, params)
    r_grads = _grads(frozen_r(forward_with_input_grads(model, x, y)[1], g0), params)

    sq = sum(float(gr.square().sum()) for gr in r_grads)
    lr = 1e-5 / sq  # small enough for the first-order decrease below
    opt = torch.optim.SGD(params, lr=lr)
    zero_nll = lambda logits, y: (logits * 0).sum()  # noqa: E731
    out = train_step(
        model,
        opt,
        x,
        y,
        Repulsion(weight=weight),
        **({} if with_nll else {"nll_fn": zero_nll}),
    )
    assert out["repulsion"] == pytest.approx(float(frozen_r(g0, g0)), rel=1e-10)
    if with_nll:
        assert out["nll"] == pytest.approx(float(_nll_by_hand(logits, y).detach()) / 3, rel=1e-10)
    for p, p0, gr in zip(params, before, expected_grads, strict=True):
        torch.testing.assert_close(p.detach(), p0 - lr * gr, rtol=1e-9, atol=1e-12)
    if not with_nll:  # the step lowers R with the j-side frozen, by lr * w * ||dR||^2
        _, g1 = forward_with_input_grads(model, x, y, create_graph=False)
        drop = float(frozen_r(g0, g0)) - float(frozen_r(g1.detach(), g0))
        assert drop > 0
        assert drop == pytest.approx(lr * weight * sq, rel=0.05)


def test_forde_differs_from_de_by_the_repulsion_gradient_only():
    """Same weights, same batch: FoRDE's step minus DE's step is -lr * grad of frozen R."""
    results = []
    for rep in (None, Repulsion()):
        model, x, y = _setup(3)
        opt = torch.optim.SGD(model.parameters(), lr=1e-2)
        train_step(model, opt, x, y, rep)
        results.append([p.detach().clone() for p in model.parameters()])
    model, x, y = _setup(3)
    _, g0 = forward_with_input_grads(model, x, y)
    r = frozen_r(forward_with_input_grads(model, x, y)[1], g0.detach())
    grads = _grads(r, list(model.parameters()))
    for de, forde, gr in zip(*results, grads, strict=True):
        torch.testing.assert_close(forde - de, -1e-2 * gr, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_train_step_uses_the_projection_the_variant_and_the_index(variant):
    """FoRDE-PCA's projection, the kernel variant and the repelled output (`index`, not the
    label) all reach the step: it is -lr * grad of the frozen R built from them."""
    model, x, y = _setup(4)
    params = list(model.parameters())
    before = [p.detach().clone() for p in params]
    gen = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(2, 2, dtype=torch.float64, generator=gen))
    proj = basis * torch.tensor([0.2, 3.0], dtype=torch.float64).sqrt()
    index = (y + 1) % 4
    _, g0 = forward_with_input_grads(model, x, index)
    r = frozen_r(forward_with_input_grads(model, x, index)[1], g0.detach(), variant, proj=proj)
    expected = _grads(r, params)
    lr = 1e-3
    zero_nll = lambda logits, y: (logits * 0).sum()  # noqa: E731
    rep = Repulsion(projection=proj, variant=variant)
    out = train_step(model, torch.optim.SGD(params, lr=lr), x, y, rep, zero_nll, index)
    assert out["repulsion"] == pytest.approx(float(r.detach()), rel=1e-10)
    for p, p0, gr in zip(params, before, expected, strict=True):
        torch.testing.assert_close(p.detach(), p0 - lr * gr, rtol=1e-9, atol=1e-12)
    # the same step without the projection, or with the label, would be another step
    identity = _grads(
        frozen_r(forward_with_input_grads(model, x, index)[1], g0.detach(), variant), params
    )
    assert max(float((a - b).abs().max()) for a, b in zip(identity, expected, strict=True)) > 1e-6


def test_deep_ensemble_step_makes_its_zeros_on_the_batch_device():
    model, x, y = _setup(5)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    torch.set_default_device("meta")
    try:
        out = train_step(model, opt, x, y, None)
    finally:
        torch.set_default_device(None)
    assert out["repulsion"] == 0.0 and out["median"] == 0.0 and out["nll"] > 0
