"""eqprop figures, table and scorecard on small synthetic per-seed tables (shapes of the
quick run's `results/eqprop/per_seed/*.csv` and GDU `artifacts.npz`), including the
edges: one seed, every seed diverged, a metric missing. Expected numbers are written
here or computed with NumPy from the values the test chose."""

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from repro import tables  # noqa: E402
from repro.eqprop import figures  # noqa: E402
from repro.eqprop import tables as etables  # noqa: E402
from tests import synthetic  # noqa: E402

CNN = {
    "kind": "train",
    "dataset": "mnist",
    "train_subset": 4000,
    "test_subset": 1000,
    "data_aug": False,
    "channels": [16, 32],
    "kernels": [5, 5],
    "strides": [1, 1],
    "paddings": [0, 0],
    "pools": "mm",
    "fc": [10],
    "activation": "my_hard_sig",
    "loss": "ce",
    "vf": False,
    "same_update": False,
    "dropouts": None,
    "algorithm": "ep",
    "estimator": "symmetric",
    "beta": 1.0,
    "t1": 20,
    "t2": 10,
    "epochs": 2,
    "batch_size": 64,
    "eval_batch_size": 200,
    "label": "CNN 1-16-32-10",
}


def train(name, errors: dict[int, list[float]], diverged=(), angles=None, drop=(), **params):
    """A train experiment; errors: seed -> test error per epoch (fractions). Train error =
    test error + 0.01; best_error = running minimum; angle B1 per epoch if given."""
    p = {**CNN, **params}
    epochs = len(next(iter(errors.values())))
    p["epochs"], p["seeds"] = epochs, sorted(errors)
    rows = []
    for seed, per_epoch in errors.items():
        best = math.inf
        for epoch, err in enumerate(per_epoch, start=1):
            best = min(best, err)
            rows += [
                (seed, epoch, "train", "error", err + 0.01),
                (seed, epoch, "train", "loss", 0.5),
                (seed, epoch, "test", "error", err),
                (seed, epoch, "test", "best_error", best),
                (seed, epoch, "lr", "layer1", 0.05),
            ]
            if angles is not None:
                rows.append((seed, epoch, "angle", "B1", angles[seed][epoch]))
        if angles is not None:
            rows.append((seed, 0, "angle", "B1", angles[seed][0]))
        rows.append((seed, epochs, "best", "test_error", best))
    rows = [r for r in rows if (r[2], r[3]) not in drop]
    return name, (p, synthetic.table(name, rows, errors, diverged))


def _inputs(*experiments, artifacts=None, preset="test"):
    return synthetic.inputs("eqprop", dict(experiments), artifacts, preset)


# ---------------------------------------------------------------------------- table
def test_table_gives_final_and_best_errors_in_percent():
    exp = train("cnn_ce_symmetric", {0: [0.20, 0.10], 1: [0.08, 0.12], 2: [0.30, 0.14]})
    bptt = train("cnn_ce_bptt", {0: [0.2, 0.09], 1: [0.2, 0.11]}, algorithm="bptt", estimator=None)
    frame = etables.table_cifar10(_inputs(exp, bptt)).set_index("experiment")
    row = frame.loc["cnn_ce_symmetric"]
    final, best = np.array([0.10, 0.12, 0.14]), np.array([0.10, 0.08, 0.14])
    assert row["runs"] == 3 and row["diverged"] == 0
    assert row["test_error_final_mean"] == pytest.approx(100 * final.mean())
    assert row["test_error_final_std"] == pytest.approx(100 * final.std(ddof=1))
    assert row["test_error_best_mean"] == pytest.approx(100 * best.mean())
    assert row["train_error_final_mean"] == pytest.approx(100 * (final + 0.01).mean())
    assert row["network"] == "CNN 16-32-10" and row["loss"] == "CE (softmax read-out)"
    assert row["method"] == "EP symmetric" and row["beta"] == 1.0 and row["dataset"] == "MNIST"
    other = frame.loc["cnn_ce_bptt"]
    assert other["method"] == "BPTT (truncated)" and math.isnan(other["beta"])
    assert other["test_error_final_mean"] == pytest.approx(10.0)


def test_table_with_one_seed_every_seed_diverged_and_a_missing_metric():
    one = train("mlp_symmetric", {4: [0.3, 0.05]}, channels=[], fc=[512, 10], loss="mse")
    bad = train(
        "cnn_mse_one_sided",
        {0: [0.9, 0.91], 1: [0.9, 0.9]},
        diverged={0, 1},
        loss="mse",
        estimator="one_sided",
    )
    vf = train(
        "vfcnn_ce_same_update",
        {0: [0.2, 0.1], 1: [0.2, 0.1]},
        vf=True,
        same_update=True,
        drop={("test", "best_error")},
    )
    frame = etables.table_cifar10(_inputs(one, bad, vf)).set_index("experiment")
    assert frame.loc["mlp_symmetric", "runs"] == 1
    assert frame.loc["mlp_symmetric", "network"] == "MLP 512-10"
    assert frame.loc["mlp_symmetric", "test_error_final_mean"] == pytest.approx(5.0)
    assert math.isnan(frame.loc["mlp_symmetric", "test_error_final_std"])
    assert frame.loc["cnn_mse_one_sided", "diverged"] == 2
    assert frame.loc["cnn_mse_one_sided", "method"] == "EP one-sided"
    assert frame.loc["vfcnn_ce_same_update", "method"] == "EP symmetric, same update"
    assert frame.loc["vfcnn_ce_same_update", "network"] == "VFCNN 16-32-10"
    assert math.isnan(frame.loc["vfcnn_ce_same_update", "test_error_best_mean"])
    assert frame.loc["vfcnn_ce_same_update", "test_error_final_mean"] == pytest.approx(10.0)


# ---------------------------------------------------------------------------- scorecard
def _quick_card(
    sym=(0.08, 0.09, 0.07),
    one=(0.91, 0.90, 0.92),
    rand=(0.09, 0.1, 0.08),
    bptt=(0.07, 0.08, 0.08),
    diverged=None,
    dataset="mnist",
):
    diverged = diverged or {}

    def exp(name, values, **params):
        errs = {s: [0.5, v] for s, v in enumerate(values)}
        return train(name, errs, diverged=diverged.get(name, ()), dataset=dataset, **params)

    return _inputs(
        exp("cnn_ce_symmetric", sym),
        exp("cnn_ce_bptt", bptt, algorithm="bptt", estimator=None),
        exp("cnn_mse_one_sided", one, loss="mse", estimator="one_sided"),
        exp("cnn_mse_symmetric", sym, loss="mse"),
        exp("cnn_mse_random_sign", rand, loss="mse", estimator="random_sign"),
        exp("cnn_mse_bptt", bptt, loss="mse", algorithm="bptt", estimator=None),
    )


def test_scorecard_quick_rows_follow_their_rules():
    rows = etables.scorecard(_quick_card())
    assert {r["paper"] for r in rows} == {"eqprop"} and {r["preset"] for r in rows} == {"test"}
    assert synthetic.row(rows, "CIFAR-10 test error, symmetric EP")["verdict"] == tables.OTHER_SCALE
    assert synthetic.row(rows, "CIFAR-10 test error, one-sided")["verdict"] == tables.OTHER_SCALE
    expect = synthetic.row(rows, "Quick-scale expectation beside the 11.7")
    assert expect["verdict"] == tables.HOLDS
    assert "8.0 %, 9.0 %, 7.0 %" in expect["ours"]
    assert synthetic.row(rows, "One-sided EP does not scale")["verdict"] == tables.HOLDS
    ce = synthetic.row(rows, "Symmetric EP approaches BPTT on the ConvNet (cross-entropy)")
    assert ce["verdict"] == tables.HOLDS
    assert "+1.0, +1.0, -1.0 points" in ce["ours"]  # sym - bptt per seed
    assert synthetic.row(rows, "Random-sign (or symmetric)")["verdict"] == tables.HOLDS


def test_scorecard_quick_rows_fail_when_their_rule_fails():
    # one seed of symmetric CE at 20 %: "< 15 % in every seed" fails
    rows = etables.scorecard(_quick_card(sym=(0.08, 0.2, 0.07)))
    assert synthetic.row(rows, "Quick-scale expectation")["verdict"] == tables.DIFFERS
    assert synthetic.row(rows, "One-sided EP does not scale")["verdict"] == tables.DIFFERS
    # BPTT 4 points better on average (paired): "at most 3 points above" fails
    rows = etables.scorecard(_quick_card(bptt=(0.04, 0.05, 0.03)))
    ce = synthetic.row(rows, "Symmetric EP approaches BPTT on the ConvNet (cross-entropy)")
    assert ce["verdict"] == tables.DIFFERS
    # one-sided trains in most seeds: it is not "near chance"
    rows = etables.scorecard(_quick_card(one=(0.2, 0.9, 0.3)))
    assert synthetic.row(rows, "One-sided EP does not scale")["verdict"] == tables.DIFFERS
    # random sign fails in one seed
    rows = etables.scorecard(_quick_card(rand=(0.09, 0.9, 0.08)))
    assert synthetic.row(rows, "Random-sign (or symmetric)")["verdict"] == tables.DIFFERS


def test_scorecard_on_cifar10_scores_the_reported_numbers():
    card = _quick_card(sym=(0.12, 0.11, 0.125), one=(0.85, 0.87, 0.86), dataset="cifar10")
    rows = etables.scorecard(card)
    sym = synthetic.row(rows, "CIFAR-10 test error, symmetric EP")
    assert sym["verdict"] == tables.WITHIN  # 11.83 % vs 11.7 % +- 1 point
    assert sym["reported"] == "11.7%"
    assert synthetic.row(rows, "CIFAR-10 test error, one-sided")["verdict"] == tables.WITHIN
    assert not [r for r in rows if r["claim"].startswith("Quick-scale expectation")]
    far = etables.scorecard(_quick_card(sym=(0.15, 0.14, 0.145), dataset="cifar10"))
    assert synthetic.row(far, "CIFAR-10 test error, symmetric EP")["verdict"] == tables.DIFFERS


def test_scorecard_with_every_seed_diverged_never_holds():
    card = _quick_card(diverged={"cnn_ce_symmetric": (0, 1, 2), "cnn_mse_symmetric": (1,)})
    rows = etables.scorecard(card)
    assert synthetic.row(rows, "Quick-scale expectation")["verdict"] == tables.DIVERGED
    ce = synthetic.row(rows, "Symmetric EP approaches BPTT on the ConvNet (cross-entropy)")
    assert ce["verdict"] == tables.DIVERGED
    assert synthetic.row(rows, "One-sided EP does not scale")["verdict"] == tables.DIVERGED
    assert synthetic.row(rows, "Symmetric EP approaches BPTT on the ConvNet (MSE)")["verdict"] == (
        tables.DIVERGED
    )


def test_scorecard_with_one_seed_and_missing_experiments():
    rows = etables.scorecard(_inputs(train("cnn_ce_symmetric", {5: [0.3, 0.06]})))
    expect = synthetic.row(rows, "Quick-scale expectation")
    assert (
        expect["verdict"] == tables.HOLDS
        and "n=1" in synthetic.row(rows, "CIFAR-10 test error, symmetric EP")["ours"]
    )
    assert synthetic.row(rows, "CIFAR-10 test error, one-sided")["verdict"] == tables.NOT_RUN
    approaches = [r for r in rows if "approaches BPTT" in r["claim"]]  # no BPTT run
    assert len(approaches) == 3 and {r["verdict"] for r in approaches} == {tables.NOT_RUN}
    nothing = etables.scorecard(_inputs())  # nothing configured: every claim listed, not run
    assert len(nothing) >= 8 and {r["verdict"] for r in nothing} == {tables.NOT_RUN}


# ---------------------------------------------------------------------------- GDU
GDU = {
    "kind": "gducheck",
    "dataset": "mnist",
    "curve_elements": 3,
    "dtype": "float64",
    "t2": 10,
    "n_images": 20,
}
MLP_GDU = {
    **GDU,
    "channels": [],
    "pools": "",
    "fc": [512, 10],
    "activation": "tanh",
    "t1": 30,
    "label": "MLP 784-512-10 tanh",
}
CNN_GDU = {
    **GDU,
    "channels": [16, 32],
    "pools": "mm",
    "fc": [10],
    "activation": "my_hard_sig",
    "t1": 40,
    "label": "CNN 1-16-32-10 my_hard_sig",
}


def gdu(name, params, betas, rel, changed=None, seeds=(0, 1, 2), tensors=("W1", "W2", "b1")):
    """rel: metric -> function(beta, seed, tensor) of the relative errors; closeness and
    RMSE ratios derived from them; changed: function(beta, seed) -> share of neurons off
    their linear piece (None: no "regions" rows)."""
    rows = []
    for seed in seeds:
        rows.append((seed, 0, "free_phase", "residual", 1e-9))
        for i, beta in enumerate(betas):
            rows.append((seed, i, "beta", "value", beta))
            if changed is not None:
                rows.append((seed, i, "regions", "changed_plus", changed(beta, seed)))
                rows.append((seed, i, "regions", "changed_minus", 0.0))
            for t, tensor in enumerate(tensors):
                values = {m: f(beta, seed, t) for m, f in rel.items()}
                values["closeness"] = (
                    2 * values["rel_err_sym"] / (values["rel_err_plus"] + values["rel_err_minus"])
                )
                for m in ("plus", "minus", "sym"):
                    values[f"rmse_{m}"] = 10 * values[f"rel_err_{m}"]
                rows += [(seed, i, tensor, m, v) for m, v in values.items()]
    p = {**params, "betas": list(betas), "curve_beta": betas[len(betas) // 2], "seeds": list(seeds)}
    return name, (p, synthetic.table(name, rows, seeds))


def _bias(one_slope_power=1.0, sym_power=2.0, sym_scale=1.0):
    return {
        "rel_err_plus": lambda b, s, t: 1.2 * b**one_slope_power,
        "rel_err_minus": lambda b, s, t: 1.1 * b**one_slope_power,
        "rel_err_sym": lambda b, s, t: sym_scale * 1.2 * b**sym_power,
    }


BETAS = [0.005, 0.01, 0.05, 0.1, 0.5]


def test_scorecard_gdu_mlp_bias_slopes():
    rows = etables.scorecard(_inputs(gdu("gdu_mlp", MLP_GDU, BETAS, _bias())))
    row = synthetic.row(rows, "EP's gradient bias")
    assert row["verdict"] == tables.HOLDS
    # one-sided x10 (slope 1), symmetric x100 (slope 2), ratio 1.2*0.1 / (1.2*0.01) = 10
    assert "one-sided x10.0" in row["ours"] and "symmetric x100" in row["ours"]
    assert "at 0.1: 10.0" in row["ours"] and "n=3" in row["ours"]
    # a symmetric estimate that is only O(β) fails the slope-2 part
    rows = etables.scorecard(_inputs(gdu("gdu_mlp", MLP_GDU, BETAS, _bias(sym_power=1.0))))
    assert synthetic.row(rows, "EP's gradient bias")["verdict"] == tables.DIFFERS
    # without both β = 0.01 and 0.1 the row is not made
    rows = etables.scorecard(_inputs(gdu("gdu_mlp", MLP_GDU, [0.02, 0.2], _bias())))
    assert not [r for r in rows if r["claim"].startswith("EP's gradient bias")]


def test_scorecard_gdu_cnn_counts_seeds_on_their_linear_piece():
    def changed(beta, seed):  # seed 2 leaves its piece from β 0.01; all seeds from 0.1
        return 0.0 if beta < 0.01 or (beta < 0.1 and seed != 2) else 0.05

    betas = [0.0001, 0.001, 0.01, 0.1]
    exp = gdu("gdu_cnn", CNN_GDU, betas, _bias(sym_scale=0.1), changed)
    exp[1][0]["curve_beta"] = 0.01
    row = synthetic.row(etables.scorecard(_inputs(exp)), "GDU on the ConvNet")
    assert row["verdict"] == tables.HOLDS  # ratio 1.2 b / (0.12 b^2) = 10/b >= 5 everywhere
    assert "at β 0.01: 2 of 3 seeds stay on their piece" in row["ours"]
    assert "every seed leaves its piece from β 0.1" in row["ours"]
    # one seed on its piece with the symmetric estimate only 2x closer: the claim fails
    weak = _bias(sym_scale=0.1)
    weak["rel_err_sym"] = lambda b, s, t: 0.6 * b if s == 1 else 0.12 * b**2
    exp2 = gdu("gdu_cnn", CNN_GDU, betas, weak, changed)
    exp2[1][0]["curve_beta"] = 0.01
    row = synthetic.row(etables.scorecard(_inputs(exp2)), "GDU on the ConvNet")
    assert row["verdict"] == tables.DIFFERS and "2 of 3 seeds" in row["ours"]
    # no seed stays on its piece at the curve β: the identity cannot be checked
    exp[1][0]["curve_beta"] = 0.1
    row = synthetic.row(etables.scorecard(_inputs(exp)), "GDU on the ConvNet")
    assert row["verdict"] == tables.DIFFERS and "0 of 3 seeds" in row["ours"]


# ---------------------------------------------------------------------------- figures
def _ep_arrays(betas, tensors=("W1", "W2", "b1"), elements=3, t2=10, seed=0):
    """GDU artifacts: per tensor (β, element, step) series; EP(+β) = BPTT + β, EP(-β) =
    BPTT - β, so the symmetric mean is BPTT exactly."""
    rng = np.random.default_rng(seed)
    arrays = {"betas": np.array(betas), "residual": np.geomspace(1, 1e-12, 30)}
    for tensor in tensors:
        bptt = rng.normal(size=(len(betas), elements, t2))
        b = np.array(betas)[:, None, None]
        arrays |= {f"{tensor}_bptt": bptt, f"{tensor}_plus": bptt + b, f"{tensor}_minus": bptt - b}
    return arrays


def _gdu_inputs(tmp_path, seeds=(0, 1, 2), changed=True):
    mlp = gdu("gdu_mlp", MLP_GDU, BETAS, _bias(), seeds=seeds)
    kinks = (lambda b, s: float(b > 0.05)) if changed else None
    cnn = gdu("gdu_cnn", CNN_GDU, BETAS, _bias(), kinks, seeds=seeds)
    artifacts = {
        name: [
            synthetic.save_artifacts(tmp_path, name, s, **_ep_arrays(BETAS, seed=s)) for s in seeds
        ]
        for name in ("gdu_mlp", "gdu_cnn")
    }
    return _inputs(mlp, cnn, artifacts=artifacts), artifacts


def test_fig_gdu_curves_plots_the_cumulative_estimates(tmp_path):
    inputs, artifacts = _gdu_inputs(tmp_path)
    fig = figures.fig_gdu_curves(inputs)
    assert len(fig.axes) == 2 * 2  # two experiments x two weight tensors (W1, W2)
    ax = fig.axes[1]  # gdu_mlp, W2
    arrays = np.load(artifacts["gdu_mlp"][0])
    i = BETAS.index(0.05)  # curve β = the middle one
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    bptt = np.cumsum(arrays["W2_bptt"][i, 0])
    np.testing.assert_allclose(lines[r"$\nabla^{BPTT}(t)$"], bptt)
    np.testing.assert_allclose(
        lines[r"$\hat\nabla^{EP}(\beta, t)$"], bptt + 0.05 * np.arange(1, 11)
    )
    np.testing.assert_allclose(lines[r"$\hat\nabla^{EP}_{sym}(\beta, t)$"], bptt)
    assert "β = 0.05" in ax.get_title() and "W2" in ax.get_title()
    plt.close(fig)


def test_fig_gdu_bars_heights_are_the_closeness_at_the_curve_beta(tmp_path):
    inputs, _ = _gdu_inputs(tmp_path)
    fig = figures.fig_gdu_bars(inputs)
    top = fig.axes[0]  # gdu_mlp, closeness per weight tensor
    # closeness = 2 * 1.2 b^2 / (2.3 b) at b = 0.05, the same for every tensor and seed
    expected = 2 * 1.2 * 0.05**2 / (2.3 * 0.05)
    heights = [p.get_height() for p in top.patches]
    assert heights == pytest.approx([expected, expected])  # W1, W2 (biases are not W*)
    assert [t.get_text() for t in top.get_xticklabels()] == ["W1", "W2"]
    assert "n = 3 seeds" in top.get_title()
    rmse = [p.get_height() for p in fig.axes[2].patches]  # +β, -β, symmetric; 2 tensors each
    assert rmse == pytest.approx([12 * 0.05] * 2 + [11 * 0.05] * 2 + [12 * 0.05**2] * 2)
    plt.close(fig)


def test_fig_bias_vs_beta_means_over_tensors_and_marks_kinks(tmp_path):
    inputs, _ = _gdu_inputs(tmp_path)
    fig = figures.fig_bias_vs_beta(inputs)
    # axes: row-major (3 rows: bias, regions, residual) x (gdu_mlp, gdu_cnn)
    curves = {c.get_label(): c.lines[0] for c in fig.axes[0].containers}
    plus = curves["one-sided +β (n=3)"]
    np.testing.assert_allclose(plus.get_xdata(), BETAS)
    np.testing.assert_allclose(plus.get_ydata(), 1.2 * np.array(BETAS))
    sym = curves["symmetric (n=3)"]
    np.testing.assert_allclose(sym.get_ydata(), 1.2 * np.array(BETAS) ** 2)
    guides = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()}
    # the slope guides go through the one-sided value at the curve β (0.05): 1.2 * 0.05
    np.testing.assert_allclose(guides["∝ β"], 1.2 * 0.05 * np.array([0.1, 10]))
    np.testing.assert_allclose(guides["∝ β²"], 1.2 * 0.05 * np.array([0.01, 100]))
    changed = {c.get_label(): c.lines[0].get_ydata() for c in fig.axes[3].containers}
    np.testing.assert_allclose(np.asarray(changed["+β phase (n=3)"], float), [0, 0, 0, 100, 100])
    residual = [line for line in fig.axes[4].get_lines() if line.get_label() != "BPTT window start"]
    assert len(residual) == 3  # one line per seed
    np.testing.assert_allclose(residual[0].get_ydata(), np.geomspace(1, 1e-12, 30))
    plt.close(fig)


def test_fig_bias_vs_beta_without_regions_rows_and_with_one_seed(tmp_path):
    inputs, _ = _gdu_inputs(tmp_path, seeds=(4,), changed=False)
    fig = figures.fig_bias_vs_beta(inputs)
    assert not fig.axes[3].containers  # gdu_cnn without "regions" rows: the panel is empty
    plt.close(fig)
    plt.close(figures.fig_gdu_bars(inputs))
    plt.close(figures.fig_gdu_curves(inputs))


def test_fig_train_curves_groups_by_network_and_loss_with_n_and_diverged():
    exps = _quick_card(diverged={"cnn_mse_one_sided": (1,)})
    fig = figures.fig_train_curves(exps)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["ConvNet, CE + softmax read-out (MNIST)", "ConvNet, MSE (MNIST)"]
    mse = fig.axes[1]
    labels = [line.get_label() for line in mse.get_lines() if not line.get_label().startswith("_")]
    assert "EP one-sided (n=3, 1 diverged)" in labels and "EP random sign (n=3)" in labels
    assert "BPTT (truncated) (n=3)" in labels
    test = next(line for line in mse.get_lines() if line.get_label() == "EP random sign (n=3)")
    np.testing.assert_allclose(test.get_ydata(), [50.0, 100 * np.mean([0.09, 0.1, 0.08])])
    plt.close(fig)


def test_fig_vf_angle_plots_the_mean_angle_per_epoch():
    angles = {0: [90, 60, 40], 1: [90, 50, 30]}
    exps = [
        train("vfcnn_ce_symmetric", {0: [0.3, 0.1], 1: [0.3, 0.1]}, angles=angles, vf=True),
        train(
            "vfcnn_ce_same_update",
            {0: [0.3, 0.1]},
            angles={0: [90, 89, 88]},
            vf=True,
            same_update=True,
        ),
    ]
    fig = figures.fig_vf_angle(_inputs(*exps))
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    diff = lines["different updates: ∠(B1, W2) (n=2)"]
    np.testing.assert_allclose(diff.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(diff.get_ydata(), [90, 55, 35])
    np.testing.assert_allclose(lines["same update: ∠(B1, W2) (n=1)"].get_ydata(), [90, 89, 88])
    plt.close(fig)


def _mlp(estimator, errors):
    return train(
        f"mlp_{estimator}", errors, channels=[], fc=[512, 10], loss="mse", estimator=estimator
    )


def test_scorecard_mlp_row_asks_every_estimator_to_train_alike():
    ok = {"one_sided": (0.165, 0.17), "random_sign": (0.168, 0.16), "symmetric": (0.169, 0.18)}
    runs = [_mlp(e, {s: [0.5, v] for s, v in enumerate(errors)}) for e, errors in ok.items()]
    row = synthetic.row(etables.scorecard(_inputs(*runs)), "MNIST MLP")
    assert row["verdict"] == tables.HOLDS and "one sided 16.5 %, 17.0 %" in row["ours"]
    far = dict(ok, one_sided=(0.165, 0.25))  # one seed above 20 %
    runs = [_mlp(e, {s: [0.5, v] for s, v in enumerate(errors)}) for e, errors in far.items()]
    assert synthetic.row(etables.scorecard(_inputs(*runs)), "MNIST MLP")["verdict"] == (
        tables.DIFFERS
    )
    apart = dict(ok, symmetric=(0.195, 0.199))  # 3 points from the one-sided mean
    runs = [_mlp(e, {s: [0.5, v] for s, v in enumerate(errors)}) for e, errors in apart.items()]
    assert synthetic.row(etables.scorecard(_inputs(*runs)), "MNIST MLP")["verdict"] == (
        tables.DIFFERS
    )


def test_scorecard_never_scores_a_convnet_claim_on_the_mlps():
    """With only the MLPs (config/paper-cpu.yaml), every ConvNet claim is listed, not run."""
    runs = [
        _mlp(e, {0: [0.5, 0.9 if e == "one_sided" else 0.1]})
        for e in ("one_sided", "random_sign", "symmetric")
    ]
    rows = etables.scorecard(_inputs(*runs, preset="paper"))
    convnet = [
        r
        for r in rows
        if ("ConvNet" in r["claim"] or "CIFAR-10" in r["claim"]) and "MLP" not in r["claim"]
    ]
    assert len(convnet) >= 6 and {r["verdict"] for r in convnet} == {tables.NOT_RUN}
    assert synthetic.row(rows, "MNIST MLP")["verdict"] != tables.NOT_RUN
