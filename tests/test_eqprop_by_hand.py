"""eqprop against values and recurrences written out here (not the model's own Φ or σ):
the activations at chosen points, Φ^β of small MLP / CE / VF / conv nets by hand, the
dynamics as an explicit two-layer recurrence, the EP estimators as the closed-form
∂Φ/∂θ contrasts, truncated BPTT by finite differences, and the augmentation's flip and
shift frequencies (binomial tolerances)."""

import math

import numpy as np
import pytest
import torch

from repro.eqprop import dynamics, estimators
from repro.eqprop.model import ACTIVATIONS, EnergyNet
from repro.eqprop.train import augment

U = torch.tensor([-1.0, -0.3, 0.0, 0.2, 0.5, 0.9, 1.0, 1.7, 2.0, 3.0], dtype=torch.float64)
EXPECTED = {
    # (1 + hardtanh(u - 1)) / 2 = clip(u / 2, 0, 1)
    "my_hard_sig": [0.0, 0.0, 0.0, 0.1, 0.25, 0.45, 0.5, 0.85, 1.0, 1.0],
    # (1 + hardtanh(2u - 1)) / 2 = clip(u, 0, 1)
    "hard_sigmoid": [0.0, 0.0, 0.0, 0.2, 0.5, 0.9, 1.0, 1.0, 1.0, 1.0],
    # hardtanh(2u) / 2 = clip(u, -1/2, 1/2)
    "ctrd_hard_sig": [-0.5, -0.3, 0.0, 0.2, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    "mysig": [1 / (1 + math.exp(-4 * (u - 0.5))) for u in U.tolist()],
    "tanh": [math.tanh(u) for u in U.tolist()],
    "sigmoid": [1 / (1 + math.exp(-u)) for u in U.tolist()],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_activation_values(name):
    f = ACTIVATIONS[name]
    expected = torch.tensor(EXPECTED[name], dtype=torch.float64)
    torch.testing.assert_close(f(U.clone()), expected, rtol=1e-12, atol=1e-15)
    copy = U.clone()
    torch.testing.assert_close(f(copy, inplace=True), expected, rtol=1e-12, atol=1e-15)


def test_activation_table_is_complete():
    assert set(ACTIVATIONS) == set(EXPECTED)


def _f(t: torch.Tensor) -> float:
    return float(t.detach())


def _set(linear, weight, bias=None):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=linear.weight.dtype))
        if bias is not None:
            linear.bias.copy_(torch.tensor(bias, dtype=linear.bias.dtype))


def _mlp(activation="my_hard_sig", vf=False):
    """3 inputs -> 2 hidden -> 2 outputs, weights by hand."""
    model = EnergyNet((3,), fc=(2, 2), activation=activation, vf=vf).double()
    _set(model.synapses[0], [[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]], [0.1, -0.2])
    _set(model.synapses[1], [[2.0, -1.0], [0.5, 3.0]], [0.3, 0.0])
    if vf:
        _set(model.backward_synapses[0], [[1.0, 1.0], [-2.0, 0.5]])
    return model


X = torch.tensor([[1.0, 0.5, 2.0]], dtype=torch.float64)
Y = torch.tensor([1])
S = [
    torch.tensor([[0.4, 0.7]], dtype=torch.float64),
    torch.tensor([[0.2, 0.9]], dtype=torch.float64),
]


def test_phi_of_the_mlp_by_hand():
    model = _mlp()
    # W1 x + b1 = (1 - 1 + 1 + 0.1, 0 + 0.5 + 2 - 0.2) = (1.1, 2.3); <s1, .> = 0.44 + 1.61
    # W2 s1 + b2 = (0.8 - 0.7 + 0.3, 0.2 + 2.1) = (0.4, 2.3); <s2, .> = 0.08 + 2.07
    phi0 = 0.44 + 1.61 + 0.08 + 2.07
    ell = 0.5 * (0.2**2 + (0.9 - 1.0) ** 2)  # onehot(1) = (0, 1)
    assert _f(model.phi(X, Y, S)) == pytest.approx(phi0, rel=1e-12)
    assert _f(model.phi(X, Y, S, 0.5)) == pytest.approx(phi0 - 0.5 * ell, rel=1e-12)
    assert _f(model.phi(X, Y, S, -0.5)) == pytest.approx(phi0 + 0.5 * ell, rel=1e-12)
    terms = model.layer_phis(X, Y, S, 0.5)
    assert [_f(t) for t in terms] == pytest.approx([2.05, 2.15 - 0.5 * ell], rel=1e-12)
    assert _f(model.loss_terms(S, Y)) == pytest.approx(ell, rel=1e-12)


def test_drive_and_step_of_the_mlp_by_hand():
    model = _mlp()
    ctx = model.context(X, Y)
    # dΦ/ds1 = W1 x + b1 + W2^T s2 = (1.1 + 0.4 + 0.45, 2.3 - 0.2 + 2.7)
    # dΦ^β/ds2 = W2 s1 + b2 - β (s2 - onehot) = (0.4 - 0.5 * 0.2, 2.3 - 0.5 * (-0.1))
    d1, d2 = model.drive(ctx, [t.clone() for t in S], 0.5)
    torch.testing.assert_close(d1, torch.tensor([[1.95, 4.8]], dtype=torch.float64))
    torch.testing.assert_close(d2, torch.tensor([[0.3, 2.35]], dtype=torch.float64))
    s1, s2 = model.step(ctx, [t.clone() for t in S], 0.5)  # clip(u / 2, 0, 1)
    torch.testing.assert_close(s1, torch.tensor([[0.975, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(s2, torch.tensor([[0.15, 1.0]], dtype=torch.float64))


def test_phi_of_a_vf_net_by_hand():
    model = _mlp(vf=True)
    # Φ_1 = <s1, W1 x + b1> + <s2, B1 s1>, B1 s1 = (0.4 + 0.7, -0.8 + 0.35) = (1.1, -0.45)
    terms = model.layer_phis(X, Y, S)
    assert _f(terms[0]) == pytest.approx(2.05 + 0.2 * 1.1 + 0.9 * -0.45, rel=1e-12)
    assert _f(terms[1]) == pytest.approx(2.15, rel=1e-12)


def test_phi_of_a_softmax_readout_net_by_hand():
    model = EnergyNet((3,), fc=(2, 3), loss="ce").double()
    _set(model.synapses[0], [[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]], [0.1, -0.2])
    _set(model.synapses[1], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.5, -1.0])
    s = [S[0]]
    logits = [0.4, 0.7 + 0.5, 1.1 - 1.0]
    ce = -logits[2] + math.log(sum(math.exp(v) for v in logits))
    assert _f(model.loss_terms(s, torch.tensor([2]))) == pytest.approx(ce, rel=1e-12)
    phi = model.phi(X, torch.tensor([2]), s, 0.25)
    assert _f(phi) == pytest.approx(2.05 - 0.25 * ce, rel=1e-12)


def test_phi_of_a_conv_net_with_max_pool_by_hand():
    # 1 channel 4x4 input, a 1x1 conv with weight 2 and bias -1, 2x2 max pool, 1 output
    model = EnergyNet(
        (1, 4, 4), channels=(1,), kernels=(1,), strides=(1,), paddings=(0,), pools="m", fc=(1,)
    ).double()
    with torch.no_grad():
        model.synapses[0].weight.fill_(2.0)
        model.synapses[0].bias.fill_(-1.0)
        model.synapses[1].weight.copy_(torch.tensor([[1.0, -1.0, 2.0, 0.5]]))
        model.synapses[1].bias.fill_(0.25)
    x = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    # conv: 2 x - 1; 2x2 max of x is at (1,1)=5, (1,3)=7, (3,1)=13, (3,3)=15 -> 9, 13, 25, 29
    s1 = torch.tensor([[[[0.5, -1.0], [2.0, 1.0]]]], dtype=torch.float64)
    s2 = torch.tensor([[0.3]], dtype=torch.float64)
    phi1 = 0.5 * 9 - 13 + 2 * 25 + 29
    fc = 0.5 - (-1.0) + 2 * 2.0 + 0.5 * 1.0 + 0.25
    assert _f(model.phi(x, torch.tensor([0]), [s1, s2])) == pytest.approx(phi1 + 0.3 * fc)
    d1, d2 = model.drive(model.context(x, torch.tensor([0])), [s1, s2])
    torch.testing.assert_close(
        d1.contiguous(), torch.tensor([[[[9.3, 12.7], [25.6, 29.15]]]]).double()
    )
    torch.testing.assert_close(d2, torch.tensor([[fc]], dtype=torch.float64))


# ------------------------------------------------------------------ dynamics, estimators
def _weights(model):
    w1, b1 = model.synapses[0].weight.detach(), model.synapses[0].bias.detach()
    w2, b2 = model.synapses[1].weight.detach(), model.synapses[1].bias.detach()
    return w1, b1, w2, b2


def _hand_relax(model, x, y, s, steps, beta, sigma):
    """s1 <- σ(W1 x + b1 + W2^T s2), s2 <- σ(W2 s1 + b2 - β (s2 - onehot)), synchronously."""
    w1, b1, w2, b2 = _weights(model)
    onehot = torch.nn.functional.one_hot(y, 2).double()
    s1, s2 = s
    for _ in range(steps):
        s1, s2 = sigma(x @ w1.T + b1 + s2 @ w2), sigma(s1 @ w2.T + b2 - beta * (s2 - onehot))
    return [s1, s2]


def _clip_half(u):
    return np.clip(u / 2, 0, 1)


def _batch():
    torch.manual_seed(0)
    x = torch.rand(5, 3, dtype=torch.float64) * 2
    y = torch.tensor([0, 1, 1, 0, 1])
    return x, y


def test_free_phase_follows_the_hand_recurrence_and_reports_the_residual():
    model = _mlp()
    x, y = _batch()
    zeros = [torch.zeros(5, 2, dtype=torch.float64)] * 2
    sigma = lambda u: u.clamp(0, 2) / 2  # noqa: E731
    _, s, residual = dynamics.free_phase(model, x, y, 7)
    expected = _hand_relax(model, x, y, zeros, 7, 0.0, sigma)
    before = _hand_relax(model, x, y, zeros, 6, 0.0, sigma)
    for a, b in zip(s, expected, strict=True):
        torch.testing.assert_close(a, b)
    res = max(float((a - b).abs().max()) for a, b in zip(expected, before, strict=True))
    assert residual == pytest.approx(res)
    nudged = dynamics.relax(model, model.context(x, y), s, 4, 0.7)
    for a, b in zip(nudged, _hand_relax(model, x, y, expected, 4, 0.7, sigma), strict=True):
        torch.testing.assert_close(a, b)


def _dphi_dtheta(x, s):
    """Batch means of ∂Φ/∂θ for the MLP: s1 x^T, s1, s2 s1^T, s2 (ℓ has no θ for MSE)."""
    s1, s2 = s
    n = len(x)
    return [s1.T @ x / n, s1.mean(0), s2.T @ s1 / n, s2.mean(0)]


@pytest.mark.parametrize("estimator", ["one_sided", "symmetric", "random_sign"])
def test_ep_estimators_are_the_closed_form_contrasts(estimator):
    model = _mlp(activation="tanh")
    x, y = _batch()
    t1, t2, beta = 20, 6, 0.3
    np.random.seed(1)
    sign = 2 * np.random.randint(2) - 1  # what random_sign draws from numpy's RNG
    np.random.seed(1)
    _, _, used = estimators.ep_update(model, x, y, estimator, beta, t1, t2)
    zeros = [torch.zeros(5, 2, dtype=torch.float64)] * 2
    free = _hand_relax(model, x, y, zeros, t1, 0.0, torch.tanh)
    if estimator == "symmetric":
        pos = _hand_relax(model, x, y, free, t2, beta, torch.tanh)
        neg = _hand_relax(model, x, y, free, t2, -beta, torch.tanh)
        expected = [
            -(a - b) / (2 * beta)
            for a, b in zip(_dphi_dtheta(x, pos), _dphi_dtheta(x, neg), strict=True)
        ]
        assert used == beta
    else:
        b = beta * (sign if estimator == "random_sign" else 1)
        assert used == b
        nudged = _hand_relax(model, x, y, free, t2, b, torch.tanh)
        expected = [
            -(a - f) / b
            for a, f in zip(_dphi_dtheta(x, nudged), _dphi_dtheta(x, free), strict=True)
        ]
    grads = [model.synapses[0].weight.grad, model.synapses[0].bias.grad]
    grads += [model.synapses[1].weight.grad, model.synapses[1].bias.grad]
    for got, want in zip(grads, expected, strict=True):
        # rtol 1e-6: `contrast` builds its per-sample weights in float32
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-12)


def test_bptt_gradient_matches_finite_differences_of_the_hand_recurrence():
    model = _mlp(activation="tanh")
    x, y = _batch()
    t1, t2 = 12, 12
    estimators.bptt_update(model, x, y, t1, t2)
    onehot = torch.nn.functional.one_hot(y, 2).double()
    zeros = [torch.zeros(5, 2, dtype=torch.float64)] * 2

    def loss():
        s2 = _hand_relax(model, x, y, zeros, t1, 0.0, torch.tanh)[1]
        return float((0.5 * (s2 - onehot).pow(2).sum(1)).mean())

    for param, idx in [
        (model.synapses[0].weight, (1, 2)),
        (model.synapses[0].weight, (0, 0)),
        (model.synapses[1].weight, (1, 0)),
        (model.synapses[1].bias, (0,)),
    ]:
        values = []
        for h in (1e-6, -1e-6):
            with torch.no_grad():
                param[idx] += h
            values.append(loss())
            with torch.no_grad():
                param[idx] -= h
        assert float(param.grad[idx]) == pytest.approx(
            (values[0] - values[1]) / 2e-6, rel=1e-4, abs=1e-10
        )


# ------------------------------------------------------------------ augmentation
def _decode(out):
    """(flipped, top, left) of each augmented image of the ramp r*32 + c (edge padded):
    away from the border out[16, 16] = ramp[top + 12, col(left + 12)]."""
    centre, right = out[:, 0, 16, 16], out[:, 0, 16, 17]
    flipped = (right - centre) < 0
    row, col = (centre // 32).long(), (centre % 32).long()
    col = torch.where(flipped, 31 - col, col)
    return flipped, row - 12, col - 12


def test_augment_flips_half_and_shifts_uniformly_over_nine_offsets():
    torch.manual_seed(0)
    n = 9000
    ramp = torch.arange(32 * 32, dtype=torch.float32).view(1, 1, 32, 32)
    out = augment(ramp.expand(n, 1, 32, 32).contiguous())
    flipped, top, left = _decode(out)
    # every image equals the crop its decoded parameters describe (edge padding)
    padded = np.pad(ramp[0, 0].numpy(), 4, mode="edge")
    for k in range(0, n, 300):
        src = padded[:, ::-1] if flipped[k] else padded
        crop = src[top[k] : top[k] + 32, left[k] : left[k] + 32]
        np.testing.assert_array_equal(out[k, 0].numpy(), crop)

    def within(count, total, p):  # 4.5 binomial standard deviations
        return abs(count - total * p) <= 4.5 * math.sqrt(total * p * (1 - p))

    assert within(int(flipped.sum()), n, 0.5)
    for offsets in (top, left):
        assert int(offsets.min()) == 0 and int(offsets.max()) == 8
        for value in range(9):
            assert within(int((offsets == value).sum()), n, 1 / 9), value
    assert within(int((top == left).sum()), n, 1 / 9)  # drawn independently
    assert within(int((flipped & (top == 0)).sum()), n, 1 / 18)
    # shifted images really move: an identity crop (top = left = 4, no flip) is 1/18 of them
    identity = (~flipped) & (top == 4) & (left == 4)
    assert within(int(identity.sum()), n, 1 / 162)


# ------------------------------------------------------------------ VF updates (spec §1.7)
def _vf_batch():
    model = _mlp(activation="tanh", vf=True)
    x = torch.tensor([[1.0, 0.5, 2.0], [-0.5, 1.0, 0.25], [0.3, -1.2, 0.8]], dtype=torch.float64)
    return model, x, torch.tensor([1, 0, 1])


def test_vf_default_update_pairs_free_pre_synaptic_with_nudged_post_synaptic_states():
    """VF net, one-sided β: ĝ = -(1/β)[∂Φ^β(pre s*, post s^β) - ∂Φ(s*)]/∂θ, batch mean:
    W1: (s^β_1 - s*_1) xᵀ; W2: (s^β_2 - s*_2) s*_1ᵀ (the free s_1, not s^β_1); B1 (s_1 ->
    layer 2): s*_2 (s^β_1 - s*_1)ᵀ; biases: s^β - s*."""
    model, x, y = _vf_batch()
    beta, t1, t2 = 0.5, 40, 12
    ctx, s_star, _ = dynamics.free_phase(model, x, y, t1)
    s_beta = dynamics.relax(model, ctx, s_star, t2, beta)
    estimators.ep_update(model, x, y, "one_sided", beta, t1, t2)
    n = len(x)
    d1, d2 = s_beta[0] - s_star[0], s_beta[1] - s_star[1]
    assert float(d1.abs().max()) > 1e-3 and float(d2.abs().max()) > 1e-3  # really nudged
    expected = {
        "W1": -(d1.T @ x) / (beta * n),
        "b1": -d1.mean(0) / beta,
        "W2": -(d2.T @ s_star[0]) / (beta * n),
        "b2": -d2.mean(0) / beta,
        "B1": -(s_star[1].T @ d1) / (beta * n),
    }
    got = {
        "W1": model.synapses[0].weight.grad,
        "b1": model.synapses[0].bias.grad,
        "W2": model.synapses[1].weight.grad,
        "b2": model.synapses[1].bias.grad,
        "B1": model.backward_synapses[0].weight.grad,
    }
    for name, value in expected.items():
        # rtol 1e-7, not 1e-12: `contrast` builds its batch weights ±1/(n β) in float32
        # (torch's default dtype) before casting them, a 2^-24 relative rounding (reported)
        torch.testing.assert_close(got[name], value, rtol=1e-7, atol=1e-12, msg=name)
    # the symmetric net's Hebbian term (s^β_2 s^β_1ᵀ) would give W2 another value
    hebbian = -(s_beta[1].T @ s_beta[0] - s_star[1].T @ s_star[0]) / (beta * n)
    assert float((hebbian - got["W2"]).abs().max()) > 1e-4


def test_vf_default_update_keeps_beta_on_a_softmax_readout():
    """With a CE read-out the loss term depends on the read-out weights, so β must reach
    the nudged Φ: ĝ = -(1/β) ∂/∂θ mean[Φ^β(pre s*, post s^β) - Φ(pre s*, post s*)],
    autograd of the model's Φ (tested by hand above) with β written here."""
    torch.manual_seed(0)
    model = EnergyNet((3,), fc=(4, 3, 5), loss="ce", activation="tanh", vf=True).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 4, 2, 1])
    beta, t1, t2 = 0.7, 40, 12
    ctx, s_star, _ = dynamics.free_phase(model, x, y, t1)
    s_beta = dynamics.relax(model, ctx, s_star, t2, beta)
    estimators.ep_update(model, x, y, "one_sided", beta, t1, t2)
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    nudged = model.phi(x, y, s_star, beta, post=s_beta)
    free = model.phi(x, y, s_star, 0.0, post=s_star)
    (-(nudged - free).mean() / beta).backward()
    readout = ["synapses.2.weight", "synapses.2.bias"]  # s_2 (3) -> logits (5)
    for name, p in model.named_parameters():  # rtol: see the float32 batch weights above
        torch.testing.assert_close(got[name], p.grad, rtol=1e-7, atol=1e-12, msg=name)
    # without β in the nudged term the read-out's gradient would lose its loss part
    model.zero_grad(set_to_none=True)
    free = model.phi(x, y, s_star, 0.0, post=s_star)
    (-(model.phi(x, y, s_star, 0.0, post=s_beta) - free).mean() / beta).backward()
    params = dict(model.named_parameters())
    without = {n: params[n].grad if params[n].grad is not None else 0 * got[n] for n in readout}
    assert any(float((got[n] - without[n]).abs().max()) > 1e-6 for n in readout)


def test_vf_same_update_gives_b_and_w_the_mean_of_their_symmetric_estimates():
    """`same_update`: the symmetric formula with s^{±β} everywhere, then B1 and W2 both
    get the mean of their two gradients. On this dense VF net both are
    -(1/2β)[s^β_2 (s^β_1)ᵀ - s^{-β}_2 (s^{-β}_1)ᵀ], so the mean is that value too."""
    model, x, y = _vf_batch()
    model.same_update = True
    beta, t1, t2 = 0.5, 40, 12
    ctx, s_star, _ = dynamics.free_phase(model, x, y, t1)
    pos = dynamics.relax(model, ctx, s_star, t2, beta)
    neg = dynamics.relax(model, ctx, s_star, t2, -beta)
    estimators.ep_update(model, x, y, "symmetric", beta, t1, t2)
    expected = -(pos[1].T @ pos[0] - neg[1].T @ neg[0]) / (2 * beta * len(x))
    assert float(expected.abs().max()) > 1e-3
    torch.testing.assert_close(model.synapses[1].weight.grad, expected)
    torch.testing.assert_close(model.backward_synapses[0].weight.grad, expected)
    w1 = -((pos[0] - neg[0]).T @ x) / (2 * beta * len(x))
    torch.testing.assert_close(model.synapses[0].weight.grad, w1)


def test_share_vf_update_averages_gradients_written_by_hand():
    model = _mlp(vf=True)
    b, w = model.backward_synapses[0].weight, model.synapses[1].weight
    b.grad = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    w.grad = torch.tensor([[3.0, 0.0], [-3.0, 8.0]], dtype=torch.float64)
    estimators._share_vf_update(model)
    mean = torch.tensor([[2.0, 1.0], [0.0, 6.0]], dtype=torch.float64)
    torch.testing.assert_close(b.grad, mean)
    torch.testing.assert_close(w.grad, mean)


def test_estimator_arguments_are_checked_with_a_clear_message():
    model, x, y = _vf_batch()
    with pytest.raises(ValueError, match=r"unknown estimator 'two_sided'; expected one of"):
        estimators.ep_update(model, x, y, "two_sided", 0.5, 5, 2)
    with pytest.raises(ValueError, match=r"BPTT needs T2 <= T1 \(got T1=3, T2=5\)"):
        estimators.bptt_update(model, x, y, 3, 5)


def test_estimators_make_their_tensors_on_the_batch_device():
    """With torch's default device set to `meta`, a tensor made without `device=` would
    land there and fail against the CPU batch (as a CPU tensor fails on a GPU run)."""
    model, x, y = _vf_batch()
    torch.set_default_device("meta")
    try:
        for estimator in ("symmetric", "one_sided", "random_sign"):
            estimators.ep_update(model, x, y, estimator, 0.5, 5, 3)
            assert model.synapses[0].weight.grad.device.type == "cpu"
        estimators.bptt_update(model, x, y, 5, 3)
        assert model.synapses[0].weight.grad.device.type == "cpu"
    finally:
        torch.set_default_device(None)
