"""forde: kernel and repulsion against literal formulas, double back-prop against finite
differences, metrics against hand computations, the PCA basis and its flattening order,
the stacked ensemble, and (slow) the quick preset's paired conclusion."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from repro import pca as pca_io
from repro.forde import corruption, kernel, metrics
from repro.forde.step import Repulsion, forward_with_input_grads, make_optimizer, train_step
from repro.forde.train import lr_factor
from repro.models.ensemble import EnsembleMLP, EnsembleSmallCNN


# ----------------------------------------------------------------------- literal kernel
def literal_log_sums(first, second, variant="code", eps=1e-24, weights=None, basis=None):
    """log sum_j k(theta_i, theta_j) per i, written with loops from spec 1.3 / Alg. 1.

    `first` are member i's gradients (differentiated), `second` the fixed j gradients;
    bandwidths come from `second` alone (stop-gradient values)."""
    m, b, _ = first.shape

    def embed(g):
        s = g / torch.sqrt((g * g).sum() + eps)
        if basis is not None:
            s = (basis.T @ s) * torch.sqrt(weights)
        return s

    fixed = [[embed(second[j, n]) for n in range(b)] for j in range(m)]
    dist_fixed = torch.zeros(m, m, b, dtype=second.dtype)
    for i in range(m):
        for j in range(m):
            for n in range(b):
                dist_fixed[i, j, n] = ((fixed[i][n] - fixed[j][n]) ** 2).sum()
    out = []
    for i in range(m):
        terms = []
        for j in range(m):
            for n in range(b):
                d = ((embed(first[i, n]) - fixed[j][n]) ** 2).sum()
                if variant == "code":
                    values = sorted(float(dist_fixed[k, j, n]) for k in range(m))
                    med = (values[(m - 1) // 2] + values[m // 2]) / 2
                    h = med / math.log(m) + 1e-12
                    terms.append(torch.exp(-d / h))
                else:
                    values = sorted(
                        float(dist_fixed[k, l, n]) / 2 for k in range(m) for l in range(m)
                    )
                    med = (values[(m * m - 1) // 2] + values[m * m // 2]) / 2
                    h = med / (2 * math.log(m)) + 1e-12
                    terms.append(torch.exp(-(d / 2) / h))
        out.append(torch.log(sum(terms) / b))
    return torch.stack(out)


@pytest.mark.parametrize("variant", ["code", "paper"])
@pytest.mark.parametrize("members", [2, 3, 4])
def test_repulsion_matches_literal_formulas(variant, members):
    torch.manual_seed(members)
    g = torch.randn(members, 3, 5, dtype=torch.float64)
    r, _ = kernel.repulsion(g, variant=variant)
    expected = literal_log_sums(g, g, variant).sum() / 3
    torch.testing.assert_close(r, expected, rtol=1e-10, atol=1e-12)


def test_bandwidth_is_jax_median_over_i_including_self():
    sq = torch.tensor([[[0.0], [4.0]], [[1.0], [0.0]], [[3.0], [2.0]], [[5.0], [7.0]]])  # (4,2,1)
    sq = sq.expand(4, 2, 1)
    # column j=0: values over i = 0, 1, 3, 5 -> median 2 (mean of middle two), not 1
    logk = kernel.log_kernel(torch.stack([sq[:, 0], sq[:, 1]], 1), "code")
    h0 = 2.0 / math.log(4) + 1e-12
    torch.testing.assert_close(logk[2, 0, 0], torch.tensor(-3.0 / h0))


def test_log_kernel_defaults_to_the_code_variant_and_needs_two_members():
    sq = torch.rand(3, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(kernel.log_kernel(sq), kernel.log_kernel(sq, "code"))
    assert not torch.allclose(kernel.log_kernel(sq), kernel.log_kernel(sq, "paper"))
    with pytest.raises(ValueError) as err:
        kernel.log_kernel(torch.zeros(1, 1, 2))
    assert str(err.value) == "the repulsion needs at least two members (log M = 0)"
    with pytest.raises(ValueError, match=r"unknown kernel variant 'x' \(code \| paper\)"):
        kernel.log_kernel(sq, "x")


def test_pca_projection_matches_literal():
    torch.manual_seed(0)
    d = 6
    basis, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))
    lam = torch.rand(d, dtype=torch.float64) * 3
    g = torch.randn(3, 4, d, dtype=torch.float64)
    proj = kernel.projection_matrix(basis, kernel.component_weights(lam, "pca"), torch.float64)
    r, _ = kernel.repulsion(g, proj)
    expected = literal_log_sums(g, g, weights=lam, basis=basis).sum() / 4
    torch.testing.assert_close(r, expected, rtol=1e-10, atol=1e-12)


def test_tuned_weights_interpolate():
    lam = torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)
    torch.testing.assert_close(kernel.component_weights(lam, "tuned", 1.0), lam)
    torch.testing.assert_close(kernel.component_weights(lam, "tuned", 0.0), torch.ones(3).double())
    half = kernel.component_weights(lam, "tuned", 0.5, "paper")
    torch.testing.assert_close(half, 1 / (0.5 / lam + 0.5))
    torch.testing.assert_close(kernel.component_weights(lam, "tuned", 0.5, "site"), 0.5 + 0.5 * lam)


def test_lengthscale_weights_and_projection_dtypes_devices_and_defaults():
    """Weights in float64 on the CPU whatever the eigenvalues' dtype (a float32 PCA
    file) or torch's default device; alpha defaults to 1 (FoRDE-Tuned = FoRDE-PCA); the
    projection U diag(sqrt(w)) comes in the dtype and on the device asked for."""
    lam32 = np.array([4.0, 1.0, 0.25], dtype=np.float32)
    weights = kernel.component_weights(lam32, "tuned")
    assert weights.dtype == torch.float64 and weights.tolist() == [4.0, 1.0, 0.25]
    basis = np.array([[0.6, -0.8, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]])
    torch.set_default_device("meta")
    try:
        w = kernel.component_weights(lam32, "pca")
        proj = kernel.projection_matrix(basis, w, torch.float32)
    finally:
        torch.set_default_device(None)
    assert w.device.type == "cpu" and proj.device.type == "cpu" and proj.dtype == torch.float32
    expected = basis * np.sqrt([4.0, 1.0, 0.25])[None, :]  # column k scaled by sqrt(w_k)
    np.testing.assert_allclose(proj.numpy(), expected, rtol=1e-7)
    assert kernel.projection_matrix(basis, w, torch.float64).dtype == torch.float64
    assert kernel.projection_matrix(basis, w, device="meta").device.type == "meta"
    with pytest.raises(ValueError, match="unknown lengthscale mode 'diag'"):
        kernel.component_weights(lam32, "diag")
    with pytest.raises(ValueError, match=r"unknown FoRDE-Tuned form 'other' \(paper \| site\)"):
        kernel.component_weights(lam32, "tuned", 0.5, "other")


def test_repulsion_gradient_matches_finite_differences():
    """d R / d g_i with the j-side and the bandwidths held fixed (stop-gradient)."""
    torch.manual_seed(1)
    g0 = torch.randn(3, 2, 4, dtype=torch.float64)
    g = g0.clone().requires_grad_(True)
    r, _ = kernel.repulsion(g)
    (auto,) = torch.autograd.grad(r, g)

    def frozen(first):
        return literal_log_sums(first, g0).sum() / 2

    numeric = torch.zeros_like(g0)
    step = 1e-6
    for idx in np.ndindex(*g0.shape):
        plus, minus = g0.clone(), g0.clone()
        plus[idx] += step
        minus[idx] -= step
        numeric[idx] = (frozen(plus) - frozen(minus)) / (2 * step)
    torch.testing.assert_close(auto, numeric, rtol=1e-5, atol=1e-8)


def test_double_backprop_matches_finite_differences_in_weights():
    """The parameter gradient of R (through the input gradients) by finite differences."""
    torch.manual_seed(2)
    model = EnsembleMLP(3, [2, 5, 4], zero_head=False).double()
    x = torch.randn(6, 2, dtype=torch.float64)
    y = torch.randint(0, 4, (6,))
    _, g0 = forward_with_input_grads(model, x, y)
    g0 = g0.detach()
    _, g = forward_with_input_grads(model, x, y)
    r, _ = kernel.repulsion(g)
    r.backward()
    weight = model.layers[0].weight
    for idx in [(0, 1, 0), (1, 3, 1), (2, 0, 0)]:
        values = []
        for sign in (1, -1):
            with torch.no_grad():
                weight[idx] += sign * 1e-6
            _, gp = forward_with_input_grads(model, x, y, create_graph=False)
            values.append(literal_log_sums(gp, g0).sum() / 6)
            with torch.no_grad():
                weight[idx] -= sign * 1e-6
        numeric = (values[0] - values[1]) / 2e-6
        torch.testing.assert_close(weight.grad[idx], numeric, rtol=1e-4, atol=1e-9)


def test_rbf_repulsion_matches_the_repulsive_ensembles_kernel_and_wgd_update():
    """weight-/function-RDE: k = exp(-d^2 / (2h)), h = np.median(d^2) / (2 ln(M + 1))
    over all M^2 pairs; grad_i of R = sum_j grad k_ij / sum_j k_ij (others fixed)."""
    torch.manual_seed(0)
    v = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    x = v.detach().numpy()
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    h = np.median(d2) / (2 * np.log(5))
    k = np.exp(-d2 / (2 * h + 1e-8))
    r = kernel.rbf_repulsion(v)
    assert abs(r.item() - np.log(k.sum(1)).sum()) < 1e-10
    (grad,) = torch.autograd.grad(r, v)
    # d k_ij / d v_i = -k_ij (v_i - v_j) / h' with h' = (2h + 1e-8) / 2
    expected = [
        sum(-k[i, j] * (x[i] - x[j]) * 2 / (2 * h + 1e-8) for j in range(4)) / k[i].sum()
        for i in range(4)
    ]
    np.testing.assert_allclose(grad.numpy(), np.array(expected), rtol=1e-8)


def test_rde_toy_steps_repel_members_in_their_space():
    from repro.forde.toys import _class_nll, rde_step

    x, y = torch.randn(20, 2), torch.randint(0, 5, (20,))
    spread = {}
    for method in ("weight_rde", "function_rde"):
        torch.manual_seed(0)
        model = EnsembleMLP(3, [2, 8, 5], zero_head=False)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        out = rde_step(model, optimizer, x, y, _class_nll, method)
        assert math.isfinite(out["repulsion"]) and out["repulsion"] > 0
        spread[method] = model(x).std(0).mean().item()
    torch.manual_seed(0)
    model = EnsembleMLP(3, [2, 8, 5], zero_head=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_step(model, optimizer, x, y, None, _class_nll)
    # the function-space repulsion pushes outputs apart more than no repulsion at all
    assert spread["function_rde"] > model(x).std(0).mean().item()


def test_paired_differences_come_from_the_per_seed_table():
    import pandas as pd

    from repro.forde.tables import paired_differences
    from repro.outputs import Inputs

    def table(name, values, seconds):
        rows = []
        for seed, (acc, gc) in enumerate(values):
            rows += [
                (name, seed, 3, "test", "accuracy", acc),
                (name, seed, 3, "test", "grad_cos", gc),
                (name, seed, 3, "time", "seconds_per_step", seconds),
                (name, seed, 0, "run", "diverged", 0.0),
            ]
        return pd.DataFrame(
            rows, columns=["experiment", "seed", "step", "split", "metric", "value"]
        )

    inputs = Inputs(
        "forde",
        "quick",
        {},
        {},
        per_seed={
            "de": table("de", [(0.9, 0.50), (0.8, 0.40), (0.7, 0.45)], 1.0),
            "forde_pca": table("forde_pca", [(0.9, 0.52), (0.9, 0.41)], 1.5),
        },
    )
    d = paired_differences(inputs, "forde_pca").set_index("seed")
    assert list(d.index) == [0, 1]
    np.testing.assert_allclose(d["d_grad_cos"], [0.02, 0.01], atol=1e-12)
    np.testing.assert_allclose(d["d_accuracy"], [0.0, 0.1], atol=1e-12)
    np.testing.assert_allclose(d["time_ratio"], [1.5, 1.5])


def test_zero_head_gives_finite_exactly_zero_repulsion():
    torch.manual_seed(3)
    model = EnsembleSmallCNN(3, 1, 10, 28)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    _, grads = forward_with_input_grads(model, x, y)
    assert torch.count_nonzero(grads) == 0
    r, med = kernel.repulsion(grads)
    r.backward()
    # all distances 0 -> kernel 1 -> log sum_j k = log(M B / B) = log M per member
    assert torch.isfinite(r) and med == 0
    torch.testing.assert_close(r, torch.tensor(3 * math.log(3) / 8))
    for p in model.parameters():
        assert p.grad is None or (torch.isfinite(p.grad).all() and torch.count_nonzero(p.grad) == 0)
    # once the head has moved, the repulsion has a non-zero gradient
    torch.nn.init.normal_(model.head.weight, std=0.1)
    model.zero_grad()
    _, grads = forward_with_input_grads(model, x, y)
    kernel.repulsion(grads)[0].backward()
    assert torch.count_nonzero(model.conv1.weight.grad) > 0


# ----------------------------------------------------------------------- metrics
def test_ece_and_nll_by_hand():
    # two members, three points, two classes; probabilities chosen by hand
    p1 = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]], dtype=torch.float64)
    p2 = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1])
    out = metrics.ensemble_metrics(torch.stack([p1.log(), p2.log()]), y, bins=15)
    mean = (p1 + p2) / 2  # [.8 .2], [.3 .7], [.6 .4]
    nll = -(math.log(0.8) + math.log(0.7) + math.log(0.4)) / 3
    assert out["nll"] == pytest.approx(nll, rel=1e-12)
    assert out["accuracy"] == pytest.approx(2 / 3)
    # bins of width 1/15: 0.8 -> (11/15, 12/15], 0.7 -> (10/15, 11/15], 0.6 -> (8/15, 9/15]
    ece = (abs(0.8 - 1) + abs(0.7 - 1) + abs(0.6 - 0)) / 3
    assert out["ece"] == pytest.approx(ece, rel=1e-12)
    h = lambda p: -(p * p.log()).sum(-1)  # noqa: E731
    assert out["entropy"] == pytest.approx(h(mean).mean().item())
    assert out["epistemic"] == pytest.approx((h(mean) - (h(p1) + h(p2)) / 2).mean().item())


def test_ece_bins_are_left_open_right_closed():
    # 10/15 sits on an edge: it belongs to (9/15, 10/15]; a confidence of 1.0 to the last bin
    conf = torch.tensor([10 / 15, 10 / 15, 1.0, 1.0], dtype=torch.float64)
    correct = torch.tensor([True, False, True, True])
    assert metrics.ece(conf, correct, 15) == pytest.approx(0.5 * abs(10 / 15 - 0.5))
    # (2/3 correct, 0.62 wrong) share the bin (9/15, 10/15]: |0.6433 - 0.5| = 0.1433
    conf = torch.tensor([float(np.linspace(0, 1, 16)[10]), 0.62], dtype=torch.float64)
    ece = metrics.ece(conf, torch.tensor([True, False]), 15)
    assert ece == pytest.approx(abs((conf[0] + 0.62) / 2 - 0.5).item())


def test_ece_agrees_with_torchmetrics_off_the_bin_edges():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    torch.manual_seed(4)
    probs = torch.softmax(torch.randn(500, 5) * 2, dim=1)
    y = torch.randint(0, 5, (500,))
    conf, pred = probs.max(1)
    ours = metrics.ece(conf, pred == y, 15)
    theirs = tm.multiclass_calibration_error(probs, y, num_classes=5, n_bins=15, norm="l1")
    assert ours == pytest.approx(float(theirs), abs=1e-6)


def test_gradient_cosine_distance():
    g = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[-1.0, 0.0]]])
    # pairs: (0,1) 1, (0,2) 2, (1,2) 1 -> mean 4/3
    assert metrics.gradient_cosine_distance(g) == pytest.approx(4 / 3)


# ----------------------------------------------------------------------- PCA basis
def test_second_moment_from_foundation_pca_matches_direct():
    rng = np.random.default_rng(0)
    n, c, h, w = 400, 2, 3, 2
    pixels = rng.uniform(0, 1, (n, c, h, w)) ** 2  # pixels / 255, some structure
    mean, std = (0.3, 0.6), (0.2, 0.4)
    found = pca_io.fit(pixels.reshape(n, -1))
    derived = kernel.second_moment_from_pca(found, n, mean, std, c)
    normalised = (pixels - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    direct = kernel.second_moment(normalised.reshape(n, -1))
    np.testing.assert_allclose(derived, direct, rtol=1e-10, atol=1e-12)
    values, basis = kernel.eig_desc(derived)
    np.testing.assert_allclose(basis.T @ basis, np.eye(c * h * w), atol=1e-10)
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(basis @ np.diag(values) @ basis.T, direct, atol=1e-10)


def test_second_moment_pieces_compute_in_float64_and_check_the_components():
    """float32 inputs (a float32 PCA file) are computed in float64: the result equals the
    formula evaluated here in float64 on the same (upcast) numbers."""
    rng = np.random.default_rng(2)
    x32 = rng.normal(size=(50, 6)).astype(np.float32)
    x = x32.astype(np.float64)
    second = kernel.second_moment(x32)
    assert second.dtype == np.float64
    np.testing.assert_allclose(second, x.T @ x / 49, rtol=1e-13)
    values, vectors = kernel.eig_desc(second.astype(np.float32))
    assert values.dtype == np.float64 and vectors.dtype == np.float64
    assert np.abs(vectors.T @ vectors - np.eye(6)).max() < 1e-12  # float64 eigh, not float32
    torch.set_default_device("meta")
    try:
        values, _ = kernel.eig_desc(second)
    finally:
        torch.set_default_device(None)
    assert np.all(np.isfinite(values))

    found = pca_io.fit(x)
    pca32 = pca_io.PCA(
        found.mean.astype(np.float32),
        found.components.astype(np.float32),
        found.explained_variance.astype(np.float32),
        found.total_variance,
    )
    mean, std = (0.1, -0.2), (0.5, 2.0)
    derived = kernel.second_moment_from_pca(pca32, 50, mean, std, 2)
    c = pca32.components.astype(np.float64)
    cov = c.T @ np.diag(pca32.explained_variance.astype(np.float64)) @ c
    m, sd = np.repeat(mean, 3), np.repeat(std, 3)
    delta = pca32.mean.astype(np.float64) - m
    expected = (cov + 50 / 49 * np.outer(delta, delta)) / np.outer(sd, sd)
    np.testing.assert_allclose(derived, expected, rtol=1e-12, atol=1e-14)


def test_second_moment_from_pca_needs_all_the_variance():
    rng = np.random.default_rng(3)
    found = pca_io.fit(rng.normal(size=(40, 6)))
    lam, comps = found.explained_variance, found.components
    # keep the two leading components, and make them hold 60 % of the variance
    part = pca_io.PCA(found.mean, comps[:2], lam[:2], float(lam[:2].sum() / 0.6))
    with pytest.raises(ValueError) as err:
        kernel.second_moment_from_pca(part, 40, (0.0,), (1.0,), 1)
    assert str(err.value) == (
        "the PCA file holds 2 of 6 components and 0.600000 of the variance; the FoRDE kernel "
        "needs all of it"
    )
    # fewer components that hold all of it (N <= D images): exact, accepted
    few = pca_io.PCA(found.mean, comps[:2], lam[:2], float(lam[:2].sum()))
    assert kernel.second_moment_from_pca(few, 40, (0.0,), (1.0,), 1).shape == (6, 6)
    # all D components: accepted whatever total_variance says
    full = pca_io.PCA(found.mean, comps, lam, float(lam.sum() * 1.5))
    assert kernel.second_moment_from_pca(full, 40, (0.0,), (1.0,), 1).shape == (6, 6)


def test_repulsion_reports_the_mean_over_j_and_b_of_the_median_over_i():
    torch.manual_seed(5)
    g = torch.randn(4, 3, 5, dtype=torch.float64)
    _, med = kernel.repulsion(g)
    s = (g / g.norm(dim=-1, keepdim=True)).numpy()
    d = ((s[:, None] - s[None, :]) ** 2).sum(-1)  # (i, j, b)
    assert float(med) == pytest.approx(np.median(d, axis=0).mean(), rel=1e-10)


@pytest.mark.parametrize(
    "mode, alpha, form, w0",  # w0: the weight of eigenvalue 0 (1 / (a/0 + 1 - a), 1 - a)
    [("pca", 1.0, "paper", 0.0), ("tuned", 0.0, "paper", 1.0), ("tuned", 0.3, "paper", 0.0),
     ("tuned", 0.5, "site", 0.5)],
)  # fmt: skip
def test_low_rank_kernel_of_fewer_images_than_pixels_matches_the_full_eigenbasis(
    mode, alpha, form, w0
):
    # N = 5 images of D = 24 pixels: the PCA holds the 4 components the centred images
    # span, the low-rank basis those + the mean (5); the full route (D x D second moment,
    # all D eigenpairs, zero eigenvalues weighted w(0)) is the reference; the literal loop
    # of spec 1.3 checks the full route itself
    rng = np.random.default_rng(3)
    n, c, h, w = 5, 2, 3, 4
    pixels = rng.uniform(0, 1, (n, c, h, w))
    mean, std = (0.4, 0.6), (0.3, 0.5)
    found = pca_io.fit(pixels.reshape(n, -1))
    assert len(found.components) == n - 1 < c * h * w
    full = kernel.second_moment_from_pca(found, n, mean, std, c)
    values, basis = kernel.eig_desc(full)
    reference_weights = kernel.component_weights(values, mode, alpha, form)
    low_values, low_basis = kernel.kernel_basis(found, n, mean, std, c)
    assert low_basis.shape == (c * h * w, n)
    np.testing.assert_allclose(low_values, values[:n], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(values[n:], 0.0, atol=1e-12)
    projection, isotropic = kernel.low_rank_projection(
        low_values, low_basis, c * h * w, mode, alpha, form, dtype=torch.float64
    )
    assert isotropic == pytest.approx(w0, abs=1e-20)
    g = torch.randn(
        3, 4, c * h * w, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    r, _ = kernel.repulsion(g, projection, isotropic=isotropic)
    basis_t = torch.as_tensor(basis)
    expected = literal_log_sums(g, g, weights=reference_weights, basis=basis_t).sum() / 4
    torch.testing.assert_close(r, expected, rtol=1e-8, atol=1e-10)


class _PixelProbe(torch.nn.Module):
    """Logit k of member m = (k + 1) * x[c=1, h=2, w=0] of member m's input copy."""

    members = 2

    def forward(self, x):
        b = len(x)
        pixel = x.view(b, self.members, 2, 3, 2)[:, :, 1, 2, 0]  # (B, M)
        return pixel.T[:, :, None] * torch.arange(1, 4, dtype=x.dtype)


def test_flattening_order_of_gradients_matches_pca():
    rng = np.random.default_rng(1)
    pixels = rng.uniform(0.4, 0.5, (300, 2, 3, 2))
    pixels[:, 1, 2, 0] = rng.uniform(0, 1, 300)  # the only pixel with a large variance
    found = pca_io.fit(pixels.reshape(300, -1))
    values, basis = kernel.eig_desc(
        kernel.second_moment_from_pca(found, 300, (0.45,) * 2, (1, 1), 2)
    )
    top = int(np.abs(basis[:, 0]).argmax())
    _, grads = forward_with_input_grads(
        _PixelProbe(), torch.zeros(4, 2, 3, 2, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    )
    assert grads.shape == (2, 4, 12)
    assert int(grads[0, 0].abs().argmax()) == top == np.ravel_multi_index((1, 2, 0), (2, 3, 2))
    # d logit_y / d pixel = y + 1 for every member and sample, 0 elsewhere
    expected = torch.zeros(2, 4, 12, dtype=torch.float64)
    expected[:, :, top] = torch.tensor([1.0, 2.0, 3.0, 1.0])
    torch.testing.assert_close(grads, expected, rtol=0, atol=0)


# ----------------------------------------------------------------------- ensemble, step
def test_stacked_members_are_independent_and_shared_input_is_replication():
    torch.manual_seed(5)
    model = EnsembleSmallCNN(3, 1, 10, 28)
    torch.nn.init.normal_(model.head.weight, std=0.1)
    x = torch.randn(4, 1, 28, 28)
    shared = model(x)
    replicated = model(x.repeat(1, 3, 1, 1))
    torch.testing.assert_close(shared, replicated, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        model.conv2.weight[:32] += 1.0  # member 0's second conv only
    after = model(x)
    assert not torch.allclose(after[0], shared[0])
    torch.testing.assert_close(after[1:], shared[1:])


def test_nesterov_step_matches_spec_formula():
    torch.manual_seed(6)
    model = EnsembleMLP(2, [2, 3, 2], zero_head=False)
    x, y = torch.randn(5, 2), torch.randint(0, 2, (5,))
    opt = make_optimizer(model, lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    velocity = [torch.zeros_like(p) for p in before]
    for _ in range(2):
        params = [p.detach().clone() for p in model.parameters()]
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 2), y.repeat(2)) * 2
        grads = torch.autograd.grad(loss, list(model.parameters()))
        expected = []
        for k, (p, g) in enumerate(zip(params, grads, strict=True)):
            g = g + 5e-4 * p
            velocity[k] = 0.9 * velocity[k] + g
            expected.append(p - 0.1 * (0.9 * velocity[k] + g))
        train_step(model, opt, x, y, None)
        for p, e in zip(model.parameters(), expected, strict=True):
            torch.testing.assert_close(p.detach(), e, rtol=1e-5, atol=1e-7)
    assert before  # silence unused


def test_forde_step_changes_members_differently_from_de():
    torch.manual_seed(7)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    models = []
    for rep in (None, Repulsion()):
        torch.manual_seed(8)
        model = EnsembleSmallCNN(3, 1, 10, 28)
        opt = make_optimizer(model, 0.05)
        for _ in range(3):
            out = train_step(model, opt, x, y, rep)
        models.append(model)
        assert math.isfinite(out["nll"]) and math.isfinite(out["repulsion"])
    assert not torch.allclose(models[0].conv1.weight, models[1].conv1.weight)


def test_lr_schedule_shape():
    assert lr_factor(0.0) == lr_factor(0.5) == 1.0
    assert lr_factor(0.7) == pytest.approx(1 - 0.99 * 0.5)
    assert lr_factor(0.9) == pytest.approx(0.01) and lr_factor(0.95) == 0.01


def test_synthetic_corruptions_are_deterministic_and_grow_with_severity():
    x = torch.rand(16, 1, 28, 28)
    for name in corruption.SYNTHETIC:
        a, b = corruption.corrupt(x, name, 3, seed=1), corruption.corrupt(x, name, 3, seed=1)
        torch.testing.assert_close(a, b)
        assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
        change = [(corruption.corrupt(x, name, s) - x).abs().mean() for s in (1, 5)]
        assert change[1] > change[0], name


def _manifest(root: Path, name: str) -> Path:
    """A manifest.json listing every file under `root` (as download_dataset writes it)."""
    from repro import data
    from repro.io import write_json

    files = {
        f.relative_to(root).as_posix(): data.md5sum(f)
        for f in sorted(root.rglob("*"))
        if f.is_file()
    }
    write_json(root / "manifest.json", {"name": name, "files": files})
    return root / "manifest.json"


def test_corrupted_sets_come_from_the_rule_given_manifests(tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    from repro.data import DataError
    from repro.forde.train import corrupted_sets

    c10 = tmp_path / "cifar10_c/CIFAR-10-C"
    c10.mkdir(parents=True)
    rows = np.arange(50000)
    np.save(c10 / "labels.npy", rows % 10)
    np.save(c10 / "fog.npy", np.repeat((rows // 10000).astype(np.uint8), 12).reshape(-1, 2, 2, 3))
    tin = tmp_path / "tinyimagenet_c/Tiny-ImageNet-C"
    for kind in ("fog", "blur"):
        for severity in range(1, 6):
            for wnid in ("n02", "n01"):
                (tin / kind / str(severity) / wnid).mkdir(parents=True)
                pixels = np.full((64, 64, 3), 10 * severity, dtype=np.uint8)
                Image.fromarray(pixels).save(tin / kind / str(severity) / wnid / "v.JPEG")
    notes = []
    run = SimpleNamespace(
        manifests={
            name: _manifest(tmp_path / name, name) for name in ("cifar10_c", "tinyimagenet_c")
        },
        note=notes.append,
    )
    p = {"corruptions": {"source": "cifar10_c", "types": ["fog"], "seed": 0}, "corrupt_subset": 2}
    cells = list(corrupted_sets(run, p, None, None))
    assert [(n, s) for n, s, _, _ in cells] == [("fog", s) for s in range(1, 6)]
    for _, severity, x, y in cells:
        assert x.shape == (2, 3, 2, 2) and torch.all(x == severity - 1) and y.tolist() == [0, 1]
    p = {
        "corruptions": {"source": "tinyimagenet_c", "types": [], "seed": 0},
        "corrupt_subset": None,
    }
    cells = list(corrupted_sets(run, p, None, None))
    assert [(n, s) for n, s, _, _ in cells] == [
        (n, s) for n in ("blur", "fog") for s in range(1, 6)
    ]
    assert all(x.shape == (2, 3, 64, 64) and y.tolist() == [0, 1] for _, _, x, y in cells)
    assert abs(float(cells[2][2].float().mean()) - 30) < 2 and "2 corruption types" in notes[0]
    (tin / "fog/1/n01/v.JPEG").write_bytes(b"tampered")  # the manifest is re-checked
    with pytest.raises(DataError, match="v.JPEG"):
        list(corrupted_sets(run, p, None, None))


# ----------------------------------------------------------------------- slow
@pytest.mark.slow
def test_quick_preset_forde_raises_gradient_diversity_paired_by_seed(quick_workflow):
    import pandas as pd

    from repro.aggregate import seed_values

    per_seed = Path(quick_workflow) / "results" / "forde" / "per_seed"
    de, forde = (
        seed_values(pd.read_csv(per_seed / f"{name}.csv"), "test", "grad_cos")
        for name in ("de", "forde_pca")
    )
    assert len(de) >= 3 and list(de.index) == list(forde.index)
    assert (forde > de).all(), (forde - de).tolist()
    assert not (Path(quick_workflow) / "results/figures/forde/fig11_12.png").exists()
