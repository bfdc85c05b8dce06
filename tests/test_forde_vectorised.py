"""forde: the stacked (vectorised) toy ensemble against a member-by-member loop written
here, the sort-based median against torch.quantile, and the channels-last evaluation
copy against the model it copies.

The looped reference runs each member as its own small MLP (F.linear on that member's
slice of the stacked weights), takes each member's true-class input gradient with its
own autograd call, and only then stacks the M gradients for the repulsion (which couples
the members). Logits, input gradients, every parameter gradient of NLL + R and one
optimiser step must agree with the stacked network's."""

import pytest
import torch
import torch.nn.functional as F

from repro.forde import kernel
from repro.forde.step import Repulsion, forward_with_input_grads, train_step
from repro.forde.toys import _class_nll, rde_step
from repro.models.ensemble import EnsembleMLP, EnsembleSmallCNN
from repro.training import eager_optimizer


def looped_logits(model, x, per_member=None):
    """Member i's MLP on x (or on per_member[i]), one member at a time: (M, B, K)."""
    out = []
    last = len(model.layers) - 1
    for i in range(model.members):
        h = x if per_member is None else per_member[i]
        for k, layer in enumerate(model.layers):
            h = F.linear(h, layer.weight[i], layer.bias[i])
            if k < last:
                h = torch.relu(h)
        out.append(h)
    return torch.stack(out)


def looped_input_grads(model, x, y):
    """Each member's gradient of sum_b f_i(x_b)_{y_b} w.r.t. its own copy of x."""
    copies = [x.clone().requires_grad_(True) for _ in range(model.members)]
    logits = looped_logits(model, x, copies)
    grads = []
    for i in range(model.members):
        picked = logits[i].gather(1, y[:, None]).sum()
        (g,) = torch.autograd.grad(picked, copies[i], create_graph=True)
        grads.append(g)
    return logits, torch.stack(grads)


def _setup(seed=0, members=4, sizes=(2, 16, 16, 5), batch=12):
    torch.manual_seed(seed)
    model = EnsembleMLP(members, list(sizes), zero_head=False).double()
    x = torch.randn(batch, sizes[0], dtype=torch.float64)
    y = torch.randint(0, sizes[-1], (batch,))
    return model, x, y


def test_stacked_mlp_matches_member_loop_forward_and_input_gradients():
    model, x, y = _setup()
    torch.testing.assert_close(model(x), looped_logits(model, x), rtol=1e-12, atol=1e-12)
    logits, grads = forward_with_input_grads(model, x, y)
    ref_logits, ref_grads = looped_input_grads(model, x, y)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads, ref_grads, rtol=1e-12, atol=1e-12)
    assert grads.shape == (4, len(x), 2)


@pytest.mark.parametrize("with_repulsion", [False, True])
def test_stacked_train_step_matches_member_loop(with_repulsion):
    """One Adam step of NLL (+ R): the stacked step's parameters equal those of the
    looped reference's gradients fed to torch.optim.Adam."""
    model, x, y = _setup(1)
    reference = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    ref_model, _, _ = _setup(1)
    with torch.no_grad():
        for p, q in zip(ref_model.parameters(), reference, strict=True):
            p.copy_(q)
    # looped reference gradients
    if with_repulsion:
        logits, grads = looped_input_grads(ref_model, x, y)
        r, _ = kernel.repulsion(grads)
        loss = _class_nll(logits, y) + r
    else:
        loss = _class_nll(looped_logits(ref_model, x), y)
    ref_grads = torch.autograd.grad(loss, list(ref_model.parameters()))
    ref_opt = torch.optim.Adam(reference, lr=1e-2, weight_decay=5e-4)
    for p, g in zip(reference, ref_grads, strict=True):
        p.grad = g.detach().clone()
    ref_opt.step()
    # the stacked step
    opt = eager_optimizer(torch.optim.Adam)(model.parameters(), lr=1e-2, weight_decay=5e-4)
    train_step(model, opt, x, y, Repulsion() if with_repulsion else None, _class_nll)
    for p, q in zip(model.parameters(), reference, strict=True):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)


def test_stacked_rde_step_uses_member_parameters_and_outputs():
    """weight-RDE's particles are the members' own flattened parameters; function-RDE's
    their outputs on the batch: the stacked step's gradient equals the looped one's."""
    for method in ("weight_rde", "function_rde"):
        model, x, y = _setup(2)
        ref, _, _ = _setup(2)
        out = looped_logits(ref, x)
        if method == "weight_rde":
            particles = torch.stack(
                [torch.cat([p[i].reshape(-1) for p in ref.parameters()]) for i in range(4)]
            )
        else:
            particles = out.reshape(4, -1)
        loss = _class_nll(out, y) + kernel.rbf_repulsion(particles) / len(x)
        ref_grads = torch.autograd.grad(loss, list(ref.parameters()))
        opt = eager_optimizer(torch.optim.SGD)(model.parameters(), lr=1.0)
        before = [p.detach().clone() for p in model.parameters()]
        rde_step(model, opt, x, y, _class_nll, method)
        for p, p0, g in zip(model.parameters(), before, ref_grads, strict=True):
            torch.testing.assert_close(p0 - p.detach(), g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(16, 16, 40), (4, 4, 9), (3, 5, 2), (5,), (1, 3), (2, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_median_equals_torch_quantile_bit_for_bit(shape, dtype):
    g = torch.Generator().manual_seed(len(shape))
    x = torch.rand(*shape, generator=g, dtype=dtype) ** 3
    assert torch.equal(kernel.median(x, 0), torch.quantile(x, 0.5, dim=0))
    if len(shape) == 3:
        flat = x.reshape(-1, shape[2])
        assert torch.equal(kernel.median(x, (0, 1)), torch.quantile(flat, 0.5, dim=0))
    x[0] = float("nan")  # a NaN in the slice makes its median NaN, as quantile's
    ref, got = torch.quantile(x, 0.5, dim=0), kernel.median(x, 0)
    assert torch.equal(ref.isnan(), got.isnan())
    assert torch.equal(ref[~ref.isnan()], got[~got.isnan()])


def test_channels_last_evaluation_copy_matches_the_model():
    from repro.forde.data import normaliser
    from repro.forde.train import fast_forward_copy, input_gradients, predict

    torch.manual_seed(4)
    model = EnsembleSmallCNN(3, 1, 10, 28)
    torch.nn.init.normal_(model.head.weight, std=0.05)
    model.eval()
    x = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (40,))
    norm = normaliser("mnist", "cpu")
    fast = fast_forward_copy(model)
    assert fast is not model and model.conv2.weight.is_contiguous()
    torch.testing.assert_close(
        predict(fast, x, norm, 16), predict(model, x, norm, 16), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        input_gradients(fast, x, y, norm, 16),
        input_gradients(model, x, y, norm, 16),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("offset", [0.0, 50.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rbf_distances_match_the_difference_form(offset, dtype):
    """The Gram-form distances of `rbf_repulsion` (weight-/function-RDE) against
    ||v_i - stopgrad v_j||^2 from the (M, M, P) difference tensor, values and gradients,
    also for particles far from the origin (where a plain Gram form cancels)."""
    g = torch.Generator().manual_seed(3)
    v = offset + torch.randn(1, 300, generator=g) + 0.1 * torch.randn(6, 300, generator=g)
    v = v.to(dtype).requires_grad_(True)
    diff = v.unsqueeze(1) - v.detach().unsqueeze(0)
    ref = diff.square().sum(-1)
    got = kernel._sqdist_to_fixed(v)
    assert got.dtype == dtype and torch.equal(got.diagonal(), torch.zeros(6, dtype=dtype))
    tol = {"rtol": 1e-5, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-9}
    torch.testing.assert_close(got, ref, **tol)
    w = torch.rand(6, 6, generator=g, dtype=dtype)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), v)
    (g_got,) = torch.autograd.grad((got * w).sum(), v)
    torch.testing.assert_close(g_got, g_ref, **tol)
