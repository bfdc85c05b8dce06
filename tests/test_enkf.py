"""enkf: the Kalman update against a literal per-member implementation, the affine-span
identity, the batched ensemble forward against the plain module, the adaptive rule, and
(slow) the quick preset's conclusions (spec §5)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from repro.data import ImageData
from repro.enkf import adaptive, kalman, model
from repro.enkf import train as enkf_train
from repro.runs import Run

# --------------------------------------------------------------------------- helpers


def literal_iteration(U, G, Y, gamma):
    """Spec §1.2 written out member by member and sample by sample (no vectorisation)."""
    U = U.clone()
    J = U.shape[0]
    for b in range(G.shape[1]):
        g, y = G[:, b], Y[b]
        g_bar, u_bar = g.mean(0), U.mean(0)
        C_pp = sum(torch.outer(g[j] - g_bar, g[j] - g_bar) for j in range(J)) / J
        C_up = sum(torch.outer(U[j] - u_bar, g[j] - g_bar) for j in range(J)) / J
        S = C_pp + gamma * torch.eye(10, dtype=U.dtype)
        U = torch.stack([U[j] + C_up @ torch.linalg.solve(S, y - g[j]) for j in range(J)])
    return U


def problem(J=7, P=40, B=6, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    U = torch.randn(J, P, generator=gen, dtype=dtype)
    G = 2 * torch.randn(J, B, 10, generator=gen, dtype=dtype) + 1
    Y = F.one_hot(torch.randint(0, 10, (B,), generator=gen), 10).to(dtype)
    return U, G, Y


# --------------------------------------------------------------------------- Kalman update


@pytest.mark.parametrize("form", ["direct", "transform"])
def test_update_equals_literal_per_member_implementation(form):
    U, G, Y = problem()
    expected = literal_iteration(U, G, Y, 0.01)
    got = kalman.analysis(U.clone(), G, Y, 0.01, form)
    assert torch.allclose(got, expected, rtol=0, atol=1e-10 * expected.abs().max())
    assert (got - U).abs().max() > 1e-2  # the update did something


@pytest.mark.parametrize("form", ["direct", "transform"])
def test_update_float32_close_to_float64_literal(form):
    U, G, Y = problem(J=20, P=200, B=64)
    expected = literal_iteration(U, G, Y, 0.01)
    got = kalman.analysis(U.float(), G.float(), Y.float(), 0.01, form).double()
    assert (got - expected).abs().max() < 1e-4 * expected.abs().max()


def test_ensemble_stays_in_affine_span_of_initial_ensemble():
    U0, _, _ = problem(J=6, P=50)
    U = U0.clone()
    for seed in range(3):  # three iterations, different outputs and targets each time
        _, G, Y = problem(J=6, P=50, B=8, seed=seed + 1)
        U = kalman.analysis(U, G, Y, 0.01, "direct" if seed % 2 else "transform")
    # u_j - ū0 must be a combination of the initial deviations u0_k - ū0.
    basis = (U0 - U0.mean(0)).T  # (P, J)
    target = (U - U0.mean(0)).T
    coef = torch.linalg.lstsq(basis, target).solution
    residual = (basis @ coef - target).norm() / target.norm()
    assert residual < 1e-10
    assert (U - U0).abs().max() > 1e-2
    # ...whereas a generic point is not (the check can fail).
    other = torch.randn(50, 1, dtype=U.dtype)
    assert (basis @ torch.linalg.lstsq(basis, other).solution - other).norm() > 0.5


def test_choose_form_by_cost():
    assert kalman.choose_form(100, model.N_PARAMS, 64) == "transform"
    assert kalman.choose_form(1000, model.N_PARAMS, 64) == "transform"
    assert kalman.choose_form(5000, model.N_PARAMS, 64) == "direct"


def test_choose_form_at_the_cost_boundary():
    """direct: 2*10*B*J*P multiply-adds; transform: 2*10*B*J^2 + J^2*P (module docstring).
    P = 18 050, B = 64: transform while J (1280 + P) < 1280 P, i.e. J <= 1195."""
    assert kalman.choose_form(1195, 18050, 64) == "transform"
    assert kalman.choose_form(1196, 18050, 64) == "direct"
    # B = 1, P = 20, J = 10: both cost 4000 -> direct (transform only when cheaper)
    assert kalman.choose_form(10, 20, 1) == "direct"
    assert kalman.choose_form(9, 20, 1) == "transform"  # 3240 < 3600
    assert kalman.choose_form(11, 20, 1) == "direct"  # 4840 > 4400


def test_analysis_defaults_to_the_cheaper_form_for_its_own_sizes(monkeypatch):
    """Costs as (transform vs direct) multiply-adds. J = 7, P = 40, B = 6: transform
    (7 840 vs 33 600); J = 40, P = 7, B = 6: direct (203 200 vs 33 600). Either way the
    result is the literal update."""
    used = []
    for name in ("update_direct", "update_transform"):
        real = getattr(kalman, name)
        monkeypatch.setattr(
            kalman, name, lambda *a, real=real, name=name: used.append(name) or real(*a)
        )
    # J = 32, P = 40, B = 6: direct (163 840 vs 153 600); with B = 10 (the class count,
    # G's third axis) it would be transform (245 760 vs 256 000)
    for J, P, form in (
        (7, 40, "update_transform"),
        (40, 7, "update_direct"),
        (32, 40, "update_direct"),
    ):
        U, G, Y = problem(J=J, P=P, B=6)
        expected = literal_iteration(U, G, Y, 0.01)
        got = kalman.analysis(U.clone(), G, Y, 0.01)
        assert used[-1] == form
        assert torch.allclose(got, expected, rtol=0, atol=1e-10 * expected.abs().max())
    with pytest.raises(ValueError, match="unknown update form 'sequential'"):
        kalman.analysis(U.clone(), G, Y, 0.01, "sequential")


def test_both_forms_make_their_tensors_on_the_ensemble_device():
    U, G, Y = problem()
    torch.set_default_device("meta")
    try:
        outs = [kalman.analysis(U.clone(), G, Y, 0.01, form) for form in ("direct", "transform")]
    finally:
        torch.set_default_device(None)
    assert all(o.device.type == "cpu" for o in outs)
    torch.testing.assert_close(outs[0], outs[1])


# --------------------------------------------------------------------------- forward


def test_parameter_count_and_order():
    net = model.ConvNet()
    assert sum(p.numel() for p in net.parameters()) == model.N_PARAMS == 18050
    assert list(net.state_dict()) == list(model.SHAPES)
    assert all(p.bias is None for p in (net.conv1, net.conv2, net.fc1))


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("chunk", [None, 2])
def test_batched_forward_equals_plain_module(activation, chunk):
    torch.manual_seed(0)
    J, B = 5, 7
    U = 0.3 * torch.randn(J, model.N_PARAMS)
    x = torch.rand(B, 1, 28, 28)
    out = model.ensemble_forward(U, x, activation, chunk)
    assert out.shape == (J, B, 10)
    net = model.ConvNet(activation)
    for j in range(J):
        with torch.no_grad():
            expected = model.load_flat(net, U[j])(x)
        assert torch.allclose(out[j], expected, rtol=0, atol=1e-5 * expected.abs().max()), j


# --------------------------------------------------------------------------- adaptive rule


def test_adaptive_rule_on_scripted_accuracies():
    rule = adaptive.Rule()  # paper: eps 90, J in [1000, 9000] step 1000, tol 1, reps <= 8
    J, reps = 5000, 8
    script = [  # (accuracy, expected J, expected reps)
        (85.0, 5000, 8),  # first checkpoint: nothing to compare
        (89.0, None, None),  # below eps: rule not applied
        (91.0, 5000, 7),  # +2 points: J kept, reps - 1
        (91.5, 4000, 6),  # +0.5 <= 1: J - 1000, reps - 1
        (95.0, 4000, 5),
        (94.0, 4000, 6),  # -1 point (not > 1): J kept, reps + 1
        (92.0, 5000, 7),  # -2 points: J + 1000, reps + 1
        (92.0, 4000, 6),  # equal counts as improved
    ]
    prev = None
    for acc, want_J, want_reps in script:
        if prev is not None:
            change = adaptive.decide(rule, J, reps, prev, acc)
            if want_J is None:
                assert change is None
            else:
                assert change == (want_J, want_reps), acc
                J, reps = change
        prev = acc
    assert adaptive.decide(rule, 1000, 0, 95.0, 95.5) == (1000, 0)  # bounds hold
    assert adaptive.decide(rule, 9000, 8, 95.0, 93.0) == (9000, 8)


def test_resize_removes_random_members_and_adds_around_the_mean():
    torch.manual_seed(0)
    U = torch.randn(10, 30)
    small = adaptive.resize(U, 6, sigma=0.1)
    assert small.shape == (6, 30)
    assert all(any(torch.equal(row, u) for u in U) for row in small)
    big = adaptive.resize(U, 14, sigma=0.1)
    assert torch.equal(big[:10], U)
    assert (big[10:] - U.mean(0)).std() == pytest.approx(0.1, rel=0.2)


def _synthetic(n_train=256, n_test=100):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n_train + n_test, 1, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=n_train + n_test)
    return ImageData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], "synthetic", {})


def _run(tmp_path, kind, **params) -> Run:
    return Run("enkf", "test", 0, {"kind": kind, **params}, tmp_path, manifests={"m": None})


ENKF = dict(
    dataset="m", J=8, sigma=0.1, gamma=0.01, batch_size=16, repetitions=4, train_batches=8,
    checkpoint_every=2, test_subset=None, activation="sigmoid", legacy_batch_shift=False,
    update_form="auto", member_chunk=3, adaptive=True, adapt_eps=30.0, adapt_bounds=[4, 12],
    adapt_step=2, adapt_tolerance=1.0,
)  # fmt: skip


def test_enkf_loop_applies_the_rule_to_the_ensemble(tmp_path, monkeypatch):
    monkeypatch.setattr(enkf_train, "load_images", lambda _: _synthetic())
    accuracies = iter([20.0, 40.0, 40.5, 38.0, 45.0, 45.2, 46.0, 47.0, 48.0, 49.0])
    sizes = []

    def scripted(run, net, x, y, step):
        sizes.append(run.params["J"])  # placeholder, replaced below
        return next(accuracies), 1.0

    monkeypatch.setattr(enkf_train, "_test_mean", scripted)
    run = _run(tmp_path, "enkf", **ENKF)
    enkf_train.enkf(run)
    adapt = [r for r in run.rows if r[1] == "adapt"]
    by_step: dict = {}
    for step, _, metric, value in adapt:
        by_step.setdefault(step, {})[metric] = value
    # checkpoints at it 0, 2, 4, ...: 20 (first), 40 (+20: reps 3), 40.5 (+0.5: J 6, reps 2),
    # 38 (-2.5: J 8, reps 3), 45 (+7: reps 2), 45.2 (+0.2: J 6, reps 1) -> loop length
    # 8 batches x 1 rep = 8 iterations, reached after it 10.
    assert [(int(v["J"]), int(v["reps"])) for v in by_step.values()] == [
        (8, 3), (6, 2), (8, 3), (8, 2), (6, 1),
    ]  # fmt: skip
    assert sorted(by_step) == [2, 4, 6, 8, 10]
    assert run.artifacts["mean_weights"].shape == (model.N_PARAMS,)


def test_legacy_batch_shift_pairs_previous_images_with_new_labels():
    assert [enkf_train.shown_batch(k, r, False) for k, r in [(0, 0), (1, 0), (1, 1)]] == [0, 1, 1]
    assert [enkf_train.shown_batch(k, r, True) for k, r in [(0, 0), (1, 0), (1, 1)]] == [0, 0, 1]


def test_enkf_first_update_on_mnist_like_data_records_mean_network(tmp_path, monkeypatch):
    monkeypatch.setattr(enkf_train, "load_images", lambda _: _synthetic())
    run = _run(tmp_path, "enkf", **{**ENKF, "adaptive": False, "train_batches": 2})
    enkf_train.enkf(run)
    test = {(s, m): v for s, split, m, v in run.rows if split == "test"}
    assert sorted({s for s, _ in test}) == [0, 2, 4, 6]
    # the last checkpoint's error, recomputed here from the saved mean weights with the
    # network written out (conv5 - sigmoid - maxpool2 - conv5 - sigmoid - linear, no biases)
    flat = torch.from_numpy(run.artifacts["mean_weights"]).float()
    w1, w2, w3 = flat[:250].view(10, 1, 5, 5), flat[250:5250].view(20, 10, 5, 5), flat[5250:]
    data = _synthetic()
    x = torch.from_numpy(data.x_test).float() / 255.0
    h = torch.sigmoid(F.conv2d(F.max_pool2d(torch.sigmoid(F.conv2d(x, w1)), 2), w2))
    pred = (h.flatten(1) @ w3.view(10, 1280).T).argmax(1)
    y = torch.from_numpy(data.y_test)
    last = max(s for s, _ in test)
    assert test[(last, "error")] == pytest.approx(100 * float((pred != y).float().mean()))
    assert test[(last, "classes")] == len(pred.unique())
    top = int(torch.bincount(pred, minlength=10).argmax())
    assert test[(last, "top_class")] == top
    assert test[(last, "top_class_error")] == pytest.approx(100 * float((y != top).float().mean()))
    for step in (0, 2, 4, 6):
        assert test[(step, "error")] == pytest.approx(100 - test[(step, "accuracy")])


def test_gd_records_cadences_and_statistics(tmp_path, monkeypatch):
    monkeypatch.setattr(enkf_train, "load_images", lambda _: _synthetic())
    params = dict(
        dataset="m", optimizer="sgd", lr=0.1, momentum=0.9, init_std=1.0,
        activation="sigmoid", batch_size=32, epochs=2, train_subset=None, test_subset=None,
        eval_every=3, eval_points=3, epoch_points=4, stats_epochs=[0, 1], snapshot_every=4,
    )  # fmt: skip
    run = _run(tmp_path, "gd", **params)
    enkf_train.gd(run)
    steps = lambda split: sorted({s for s, sp, _, _ in run.rows if sp == split})  # noqa: E731
    assert steps("test_updates") == [0, 3, 6]
    assert steps("test_epoch") == [0, 2, 4, 6]
    assert steps("test") == [0, 1, 2]
    art = run.artifacts
    assert art["act_stats"].shape == (2, 8, 3, 2) and art["grad_stats"].shape == (2, 8, 3, 2)
    assert [art[f"grad_snapshot_{i}"].shape for i in (1, 2, 3)] == [(2, 25), (2, 250), (2, 1280)]
    # softmax activations average 1/10 exactly (the third statistic is the softmax, not logits)
    assert np.allclose(art["act_stats"][:, :, 2, 0], 0.1, atol=1e-6)
    # the gradient statistics and the snapshots see the same gradient at iteration 0:
    # the snapshot is grad.mean(0), whose mean is the mean of the whole gradient
    for layer in range(3):
        snapshot = art[f"grad_snapshot_{layer + 1}"]
        spread = float(
            art["grad_stats"][0, 0, layer, 1]
        )  # float32 sums: abs tolerance from the std
        assert art["grad_stats"][0, 0, layer, 0] == pytest.approx(
            snapshot[0].mean(), rel=1e-3, abs=1e-5 * spread
        )
    # sigmoid activations are means of values in (0, 1) with a positive spread
    assert np.all((art["act_stats"][:, :, :2, 0] > 0) & (art["act_stats"][:, :, :2, 0] < 1))
    # per-seed errors come from the per-seed table, no artifact side channel
    assert "test_error" not in art


def test_kde_of_a_spike_keeps_its_mass_on_a_coarse_grid():
    """Fig. 7: a saturated layer's per-iteration means are a spike (sd 1e-6) that a
    Scott-bandwidth KDE evaluated on a 400-point grid over [0, 0.6] missed (drawn flat
    at 0). With the bandwidth floored at two grid steps the curve integrates to 1 and
    peaks at the spike."""
    from repro.enkf.figures import _kde

    grid = np.linspace(0.0, 0.6, 400)
    spike = 0.1003 + 1e-6 * np.random.default_rng(0).standard_normal(300)
    density = _kde(spike, grid)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, rel=1e-3)
    assert grid[density.argmax()] == pytest.approx(0.1003, abs=grid[1] - grid[0])
    # spread data keep Scott's bandwidth h = 0.05 n^(-1/5): the KDE of a N(0.3, 0.05²)
    # sample is about N(0.3, 0.05² + h²), 7.84 at the mean
    wide = np.random.default_rng(1).normal(0.3, 0.05, 4000)
    h = 0.05 * 4000 ** (-1 / 5)
    peak = 1 / np.sqrt(2 * np.pi * (0.05**2 + h**2))
    assert _kde(wide, grid)[np.abs(grid - 0.3).argmin()] == pytest.approx(peak, rel=0.04)


# --------------------------------------------------------------------------- quick preset


@pytest.mark.slow
def test_quick_preset_conclusions(quick_workflow):
    """Spec §5 conclusions, read from the quick preset's scorecard and summaries."""
    with open(quick_workflow / "results" / "enkf" / "scorecard.csv") as fh:
        rows = {r["claim"]: r for r in csv.DictReader(fh)}

    def verdict(prefix):
        (row,) = [r for c, r in rows.items() if c.startswith(prefix)]
        return row["verdict"]

    assert verdict("Quick scale: EnKF error falls") == "qualitative claim holds"
    assert verdict("Fig. 8a ordering") == "qualitative claim holds"
    assert verdict("Fig. 5 ordering") == "qualitative claim holds"
    assert verdict("Quick scale: SGD from N(0,1)") == "qualitative claim holds"
    assert verdict("Fig. 1: first checkpoint") == "qualitative claim holds"
    # 200 iterations at J = 100 cannot reach the paper's one epoch at J = 5000
    assert verdict("Fig. 1: EnKF test error after one epoch") == "other scale"
    # spec's check 49 +- 5 %; measured 52.5 / 52.3 / 59.7 % (2026-12-01): scored honestly
    # either way, the test pins the scale of the result
    assert verdict("Quick scale (spec §5): EnKF") in ("within tolerance", "differs")
    (row,) = [r for c, r in rows.items() if c.startswith("Quick scale (spec §5): EnKF")]
    mean = float(row["ours"].split("%")[0].split()[0])
    assert 35 < mean < 65, row["ours"]


# --------------------------------------------------------------------------- figures
def _gd_stats_inputs(tmp_path, seeds=(0, 1, 2)):
    """Two GD statistics experiments with synthetic activation statistics: SGD's conv2
    sits at exactly 0.1003 in epoch 0 (a spike), its conv1 means spread; softmax 0.1."""
    from repro.aggregate import summarize_per_seed
    from repro.outputs import Inputs

    rng = np.random.default_rng(0)
    experiments, artifacts, summaries = {}, {}, {}
    for name, optimizer in (("gd_sgd_std1", "sgd"), ("gd_adam_std1", "adam")):
        experiments[name] = {"kind": "gd", "optimizer": optimizer, "init_std": 1.0,
                             "seeds": list(seeds), "snapshot_every": 50}  # fmt: skip
        artifacts[name] = {}
        for seed in seeds:
            act = np.zeros((2, 40, 3, 2))
            act[:, :, 0, 0] = rng.uniform(0.3, 0.6, (2, 40))
            act[:, :, 1, 0] = rng.uniform(0.2, 0.5, (2, 40))
            if optimizer == "sgd":
                act[0, :, 1, 0] = 0.1003 + 1e-7 * rng.standard_normal(40)
            act[:, :, 2, 0] = 0.1
            act[:, :, :, 1] = 0.05
            path = tmp_path / name / f"seed{seed}" / "artifacts.npz"
            path.parent.mkdir(parents=True)
            np.savez(path, act_stats=act, stats_epochs=np.array([0, 1]))
            artifacts[name][seed] = str(path)
        table = pd.DataFrame({"experiment": name, "seed": list(seeds), "step": 0,
                              "split": "run", "metric": "diverged", "value": 0.0})  # fmt: skip
        summaries[name] = summarize_per_seed(table)
    return Inputs("enkf", "quick", experiments, summaries, artifacts=artifacts)


def test_fig7_shows_a_spike_instead_of_a_flat_line(tmp_path):
    from repro.enkf import figures

    fig = figures.fig7(_gd_stats_inputs(tmp_path))
    sgd_conv2 = fig.axes[1]  # row SGD, layer 2
    top = sgd_conv2.get_ylim()[1]
    spikes = [line for line in sgd_conv2.lines if "epoch 0" in line.get_label()]
    assert len(spikes) == 3  # one per seed
    for line in spikes:  # drawn up to the clipped top at 0.1003, not flat at zero
        x, y = line.get_data()
        assert y.max() >= top and abs(x[y >= top].mean() - 0.1003) < 0.002
    listed = [line for t in sgd_conv2.texts for line in t.get_text().splitlines()]
    assert sum(line.startswith("epoch 0, seed") for line in listed) == 3  # with its numbers
    assert any("0.1003" in line for line in listed)
    others = [line for line in sgd_conv2.lines if "epoch 1" in line.get_label()]
    assert all(line.get_ydata().max() < top for line in others)  # not flattened away


def test_fig3_separates_layers_and_shows_the_softmax_spread(tmp_path):
    from repro.enkf import figures

    fig = figures.fig3(_gd_stats_inputs(tmp_path))
    assert len(fig.axes) == 6  # 3 layers x 2 optimizers, one panel each
    softmax = fig.axes[4]  # layout (3, 2): row 3, column 1
    assert "std" in softmax.get_ylabel()
    assert all(np.allclose(line.get_ydata(), 0.05) for line in softmax.lines[:3])
