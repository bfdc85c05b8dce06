"""optlab: initialisation variances and shapes against closed forms written here, with
tolerances from the sampling distribution of the variance, and the hand-written
optimizers' first steps by hand and `make`'s hyperparameter wiring."""

import math

import pytest
import torch

from repro.models.mlp import MLP
from repro.optlab import optim
from repro.optlab.init import initialise

SIZES = [784, 512, 256, 128, 10]


def _linears(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def _moments(w):
    w = w.detach().double().flatten()
    var = float(w.var())
    kurtosis = float(((w - w.mean()) ** 4).mean()) / var**2
    return float(w.mean()), var, kurtosis


# closed forms (d_x = fan-in, d_y = fan-out); "normal" or "uniform" weights
CLOSED_FORMS = {
    "equal_var": (lambda fi, fo, first: 1 / fi, "normal"),
    "xavier": (lambda fi, fo, first: 2 / (fi + fo), "uniform"),
    "kaiming": (lambda fi, fo, first: (1 if first else 2) / fi, "normal"),
}


@pytest.mark.parametrize("scheme", sorted(CLOSED_FORMS))
def test_init_variance_and_shape_match_the_closed_form(scheme):
    torch.manual_seed(0)
    model = MLP(SIZES)
    initialise(model, scheme)
    variance, family = CLOSED_FORMS[scheme]
    for index, layer in enumerate(_linears(model)):
        fan_out, fan_in = layer.weight.shape
        expected = variance(fan_in, fan_out, index == 0)
        n = layer.weight.numel()
        mean, var, kurtosis = _moments(layer.weight)
        # Var(sample variance) = (mu4 - sigma^4) / n: 2 sigma^4 / n (normal), 0.8 sigma^4 / n
        # (uniform); 5 standard deviations
        rel = 5 * math.sqrt((2.0 if family == "normal" else 0.8) / n)
        assert var == pytest.approx(expected, rel=rel), (scheme, index)
        assert abs(mean) < 5 * math.sqrt(expected / n)
        # kurtosis 3 (normal) vs 1.8 (uniform); its sampling sd is < sqrt(100 / n) here
        assert kurtosis == pytest.approx(3.0 if family == "normal" else 1.8, abs=0.4)
        assert torch.count_nonzero(layer.bias) == 0
    if family == "uniform":
        first = _linears(model)[0].weight
        bound = math.sqrt(6 / (784 + 512))
        assert float(first.detach().abs().max()) <= bound


def test_kaiming_first_layer_differs_from_the_rest():
    torch.manual_seed(1)
    model = MLP([400, 400, 400, 10])
    initialise(model, "kaiming")
    v = [_moments(layer.weight)[1] for layer in _linears(model)]
    assert v[0] == pytest.approx(1 / 400, rel=0.03)
    assert v[1] == pytest.approx(2 / 400, rel=0.03)
    assert v[2] == pytest.approx(2 / 400, rel=0.15)  # fan-out 10: 4000 draws


def test_normal_and_constant_set_biases_too():
    torch.manual_seed(2)
    model = MLP([300, 200, 10])
    initialise(model, "normal", 0.2)
    layer = _linears(model)[0]
    assert _moments(layer.weight)[1] == pytest.approx(0.04, rel=5 * math.sqrt(2 / 60000))
    assert _moments(layer.bias)[1] == pytest.approx(0.04, rel=0.5)
    initialise(model, "constant", -0.3)
    for p in model.parameters():
        assert torch.all(p == -0.3)
    with pytest.raises(ValueError, match="unknown init"):
        initialise(model, "orthogonal")


def _one_param(value=1.0, grad=0.5):
    p = torch.nn.Parameter(torch.tensor([value], dtype=torch.float64))
    p.grad = torch.tensor([grad], dtype=torch.float64)
    return p


def test_optimizer_steps_by_hand():
    p = _one_param()
    optim.SGD([p], lr=0.1).step()
    assert float(p) == pytest.approx(1.0 - 0.05)
    # EMA momentum: m1 = 0.1 * 0.5 = 0.05, m2 = 0.9 * 0.05 + 0.1 * 0.5 = 0.095
    p = _one_param()
    opt = optim.SGDMomentum([p], lr=0.2, momentum=0.9)
    opt.step()
    assert float(p) == pytest.approx(1.0 - 0.2 * 0.05)
    opt.step()
    assert float(p) == pytest.approx(1.0 - 0.2 * 0.05 - 0.2 * 0.095)
    # Adam: m_hat = g, v_hat = g^2 at t = 1 -> step lr * g / (|g| + eps)
    p = _one_param()
    opt = optim.Adam([p], lr=0.01, beta1=0.8, beta2=0.99, eps=0.1)
    opt.step()
    assert float(p) == pytest.approx(1.0 - 0.01 * 0.5 / (0.5 + 0.1))
    # t = 2, gradient 0.5 again: m = 0.5, v = 0.25 after bias correction; same step
    opt.step()
    assert float(p) == pytest.approx(1.0 - 2 * 0.01 * 0.5 / 0.6)
    # t = 3 with a gradient of -1: m = 0.8 m2 + 0.2 * (-1), m2 = 0.5 (1 - 0.8^2)
    p.grad = torch.tensor([-1.0], dtype=torch.float64)
    before = float(p)
    opt.step()
    m = 0.8 * 0.5 * (1 - 0.8**2) + 0.2 * -1.0
    v = 0.99 * 0.25 * (1 - 0.99**2) + 0.01 * 1.0
    m_hat, v_hat = m / (1 - 0.8**3), v / (1 - 0.99**3)
    assert float(p) == pytest.approx(before - 0.01 * m_hat / (math.sqrt(v_hat) + 0.1))


def test_make_wires_the_hyperparameters():
    hp = {"lr": 0.3, "beta1": 0.7, "beta2": 0.95, "eps": 1e-3}
    params = [torch.nn.Parameter(torch.zeros(1))]
    sgd = optim.make("sgd", params, hp)
    assert type(sgd) is optim.SGD and sgd.lr == 0.3
    mom = optim.make("sgd_momentum", params, hp)
    assert type(mom) is optim.SGDMomentum and (mom.lr, mom.momentum) == (0.3, 0.7)
    adam = optim.make("adam", params, hp)
    assert type(adam) is optim.Adam
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (0.3, 0.7, 0.95, 1e-3)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.make("rmsprop", params, hp)


def test_zero_grad_and_parameters_without_gradients():
    a = _one_param()
    b = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))  # no gradient
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    assert float(b) == 2.0 and opt.state[1] == {}
    opt.zero_grad()
    assert float(a.grad) == 0.0
