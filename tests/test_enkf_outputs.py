"""enkf figures, the Fig. 1 table and the scorecard on small synthetic per-seed tables
(shapes of the quick run's `results/enkf/per_seed/*.csv` and GD `artifacts.npz`),
including the edges: one seed, every seed diverged, a metric missing. Expected numbers
are written here or computed with NumPy from the values the test chose."""

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from repro import tables  # noqa: E402
from repro.enkf import figures, reported  # noqa: E402
from repro.enkf import tables as ktables  # noqa: E402
from tests import synthetic  # noqa: E402

ENKF = {
    "kind": "enkf",
    "dataset": "mnist",
    "J": 100,
    "sigma": 0.1,
    "repetitions": 8,
    "train_batches": 25,
    "checkpoint_every": 25,
    "test_subset": 2000,
    "activation": "sigmoid",
    "legacy_batch_shift": False,
    "adaptive": False,
}
GD = {
    "kind": "gd",
    "dataset": "mnist",
    "optimizer": "sgd",
    "init_std": 1.0,
    "epochs": 1,
    "train_subset": None,
    "test_subset": 2000,
    "eval_every": 25,
    "eval_points": 0,
    "epoch_points": 0,
    "snapshot_every": None,
}
ALL_FIVE = 100 * (1 - 180 / 2000)  # error when every test image is called a 5 (180 fives)


def enkf(name, errors: dict[int, list[float]], diverged=(), adapt=None, drop=(), **params):
    """errors: seed -> test error (%) per checkpoint (iterations 0, 25, 50, ...). The
    first checkpoint predicts one class (5) when its error is ALL_FIVE."""
    p = {**ENKF, **params, "seeds": sorted(errors)}
    rows = []
    for seed, errs in errors.items():
        for k, err in enumerate(errs):
            step = 25 * k
            collapsed = k == 0 and err == ALL_FIVE
            rows += [
                (seed, step, "test", "error", err),
                (seed, step, "test", "accuracy", 100 - err),
                (seed, step, "test", "classes", 1.0 if collapsed else 10.0),
                (seed, step, "test", "top_class", 5.0 if collapsed else 1.0),
                (seed, step, "test", "top_class_error", ALL_FIVE),
                (seed, step, "ensemble", "J", float(p["J"])),
                (seed, step, "ensemble", "reps", float(p["repetitions"])),
            ]
        for step, J, reps in (adapt or {}).get(seed, []):
            rows += [(seed, step, "adapt", "J", J), (seed, step, "adapt", "reps", reps)]
    rows = [r for r in rows if (r[2], r[3]) not in drop]
    return name, (p, synthetic.table(name, rows, errors, diverged))


def gd(name, errors: dict[int, list[float]], updates=None, epoch=None, diverged=(), **params):
    """errors: seed -> test error (%) per epoch (0 = initial network); updates / epoch:
    seed -> test error at the EnKF cadence / spread over the first epoch."""
    p = {**GD, **params, "seeds": sorted(errors)}
    p["epochs"] = len(next(iter(errors.values()))) - 1
    rows = []
    for seed, errs in errors.items():
        rows += [(seed, e, "test", "error", v) for e, v in enumerate(errs)]
        for split, table in (("test_updates", updates), ("test_epoch", epoch)):
            for k, v in enumerate((table or {}).get(seed, [])):
                rows.append((seed, 25 * k, split, "error", v))
    return name, (p, synthetic.table(name, rows, errors, diverged))


def _inputs(*experiments, artifacts=None, preset="test"):
    return synthetic.inputs("enkf", dict(experiments), artifacts, preset)


def falling(start, end, n=4):
    return list(np.linspace(start, end, n))


# ---------------------------------------------------------------------------- Fig. 1 table
def test_fig1_table_pairs_our_checkpoints_with_the_digitised_paper_values():
    e = enkf("enkf", {0: [ALL_FIVE, 60, 50], 1: [ALL_FIVE, 70, 56]})
    s = gd(
        "sgd",
        {0: [90, 80], 1: [90, 40]},
        updates={0: [90, 89], 1: [88, 85]},
        epoch={0: [90, 70, 60, 50], 1: [90, 90, 90, 90]},
        eval_points=2,
    )
    frame = ktables.fig1(_inputs(e, s))
    assert list(frame["enkf_iteration"]) == [0, 25, 50]
    assert list(frame["position"]) == [1, 2, 3]
    np.testing.assert_allclose(frame["enkf_error_mean"], [ALL_FIVE, 65, 53])
    np.testing.assert_allclose(frame["enkf_error_std"], [0, 5, 3])  # population std
    np.testing.assert_allclose(frame["paper_enkf_error_mean"], reported.ENKF_ERROR_MEAN[:3])
    np.testing.assert_allclose(frame["sgd_error_mean"][:2], [89, 87])
    assert math.isnan(frame["sgd_error_mean"][2])  # SGD has two checkpoints only
    np.testing.assert_allclose(frame["sgd_one_epoch_error_mean"], [90, 80, 75])
    np.testing.assert_allclose(frame["paper_sgd_error_std"], reported.SGD_ERROR_STD[:3])
    np.testing.assert_allclose(frame["paper_sgd_error_mean"], reported.SGD_ERROR_MEAN[:3])
    np.testing.assert_allclose(frame["paper_enkf_error_std"], reported.ENKF_ERROR_STD[:3])


# ---------------------------------------------------------------------------- scorecard
def _card(enkf_errors=None, sgd_final=(90, 89, 15, 88, 90), preset="test", diverged=None, **p):
    diverged = diverged or {}
    enkf_errors = enkf_errors or {s: [ALL_FIVE, 70 - s, 60 - s, 48 + s] for s in range(3)}
    exps = [
        enkf("enkf", enkf_errors, diverged=diverged.get("enkf", ()), **p),
        gd(
            "sgd",
            {s: [90, v] for s, v in enumerate(sgd_final)},
            updates={s: [90, v] for s, v in enumerate(sgd_final)},
            eval_points=8,
            diverged=diverged.get("sgd", ()),
        ),
    ]
    return _inputs(*exps, preset=preset)


def test_scorecard_enkf_rows_at_the_quick_scale():
    rows = ktables.scorecard(_card())
    epoch = synthetic.row(rows, "Fig. 1: EnKF test error after one epoch")
    assert epoch["verdict"] == tables.OTHER_SCALE  # not the paper preset
    assert epoch["ours"].startswith("49.00 ± 0.82 % (n = 3, seeds 0, 1, 2")  # 48, 49, 50
    quick = synthetic.row(rows, "Quick scale (spec §5): EnKF")
    assert quick["verdict"] == tables.WITHIN  # 49 vs 49 ± 5
    first = synthetic.row(rows, "Fig. 1: first checkpoint")
    assert first["verdict"] == tables.HOLDS  # one class, digit 5, error = share of non-5s
    falls = synthetic.row(rows, "Quick scale: EnKF error falls")
    assert falls["verdict"] == tables.HOLDS
    assert "largest rise 0.00 points" in falls["ours"]


def test_scorecard_enkf_rows_fail_when_their_rule_fails():
    # a rise of 2 points between checkpoints, and a spread of 10 points at the end
    errors = {0: [ALL_FIVE, 60, 62, 40], 1: [ALL_FIVE, 60, 62, 60], 2: [ALL_FIVE, 60, 62, 50]}
    rows = ktables.scorecard(_card(errors))
    assert synthetic.row(rows, "Quick scale: EnKF error falls")["verdict"] == tables.DIFFERS
    # the first checkpoint predicts two classes in one seed: no collapse
    errors = {0: [ALL_FIVE, 50], 1: [ALL_FIVE, 50], 2: [80.0, 50]}
    rows = ktables.scorecard(_card(errors))
    assert synthetic.row(rows, "Fig. 1: first checkpoint")["verdict"] == tables.DIFFERS
    # 40 % is outside 49 ± 5; and another J is "other scale" for the quick-scale row
    errors = {s: [ALL_FIVE, 45, 40] for s in range(3)}
    assert synthetic.row(ktables.scorecard(_card(errors)), "Quick scale (spec §5)")["verdict"] == (
        tables.DIFFERS
    )
    rows = ktables.scorecard(_card(errors, J=50))
    assert synthetic.row(rows, "Quick scale (spec §5)")["verdict"] == tables.OTHER_SCALE


def test_scorecard_in_the_paper_preset_scores_the_reported_numbers():
    errors = {s: [reported.FIRST_CHECKPOINT_ERROR, 6.0, 4.5 + 0.1 * s] for s in range(3)}
    rows = ktables.scorecard(_card(errors, preset="paper", test_subset=None, J=5000))
    epoch = synthetic.row(rows, "Fig. 1: EnKF test error after one epoch")
    assert epoch["verdict"] == tables.WITHIN  # 4.6 vs 4.10 ± 1
    first = synthetic.row(rows, "Fig. 1: first checkpoint")
    assert first["verdict"] == tables.WITHIN  # the full test set: 91.08 ± 0.005
    sgd = synthetic.row(rows, "Fig. 1: SGD (σ = 1) test error")
    assert sgd["verdict"] == tables.WITHIN  # 74.4 vs 81.85 ± 10
    rows = ktables.scorecard(_card(errors, (15, 15, 15, 90, 90), "paper", J=5000))
    assert synthetic.row(rows, "Fig. 1: SGD (σ = 1) test error")["verdict"] == tables.DIFFERS
    errors = {s: [reported.FIRST_CHECKPOINT_ERROR, 6.0, 6.0] for s in range(3)}
    rows = ktables.scorecard(_card(errors, preset="paper", test_subset=None, J=5000))
    assert synthetic.row(rows, "Fig. 1: EnKF test error after")["verdict"] == tables.DIFFERS


def test_scorecard_sgd_bimodality():
    rows = ktables.scorecard(_card())
    bimodal = synthetic.row(rows, "Quick scale: SGD from N(0,1) is bimodal")
    # 4 runs > 80 %, 1 < 30 %; mean 74.4 > 50; population std 29.7 > 20
    assert bimodal["verdict"] == tables.HOLDS
    assert "4 of 5 runs > 80 %, 1 < 30 %" in bimodal["ours"]
    rows = ktables.scorecard(_card(sgd_final=(90, 89, 50, 88, 90)))  # one run in between
    assert synthetic.row(rows, "Quick scale: SGD from N(0,1)")["verdict"] == tables.DIFFERS
    rows = ktables.scorecard(_card(sgd_final=(90, 89, 88, 88, 90)))  # none learns
    assert synthetic.row(rows, "Quick scale: SGD from N(0,1)")["verdict"] == tables.DIFFERS
    sgd_row = synthetic.row(ktables.scorecard(_card()), "Fig. 1: SGD (σ = 1) test error")
    pop = np.std([90, 89, 15, 88, 90])
    assert sgd_row["ours"] == f"74.40 ± {pop:.2f} % (n = 5, after SGD step 25)"


def test_scorecard_with_diverged_runs_never_holds():
    rows = ktables.scorecard(_card(diverged={"enkf": (0, 1, 2), "sgd": (2,)}))
    for start in (
        "Quick scale (spec §5)",
        "Fig. 1: first checkpoint",
        "Quick scale: EnKF error",
        "Quick scale: SGD from N(0,1)",
    ):
        assert synthetic.row(rows, start)["verdict"] == tables.DIVERGED, start


def test_scorecard_ensemble_size_and_adam_orderings():
    sizes = [
        enkf("enkf", {s: [ALL_FIVE, 60, 50] for s in range(2)}),
        enkf("enkf_size1", {s: [ALL_FIVE, 80, 70] for s in range(2)}, J=25),
        enkf("enkf_size2", {s: [ALL_FIVE, 70, 60] for s in range(2)}, J=50),
        enkf("enkf_relu", {s: [ALL_FIVE, 90, 90] for s in range(2)}, J=50, activation="relu"),
        gd("gd_adam_std1", {0: [90, 80, 70], 1: [90, 80, 72]}, optimizer="adam"),
        gd("gd_adam_std3", {0: [90, 85, 80]}, optimizer="adam", init_std=3.0),
    ]
    rows = ktables.scorecard(_inputs(*sizes))
    order = synthetic.row(rows, "Fig. 8a ordering")
    assert order["verdict"] == tables.HOLDS  # J 25, 50, 100: 70 > 60 > 50 (relu left out)
    assert (
        order["ours"] == "J = 25: 70.0 % (n = 2), J = 50: 60.0 % (n = 2), J = 100: 50.0 % (n = 2)"
    )
    adam = synthetic.row(rows, "Fig. 5 ordering")
    assert adam["verdict"] == tables.HOLDS
    assert "Adam σ = 1: 90.0 → 71.0 % after 2 epochs (n = 2)" in adam["ours"]
    sizes[1] = enkf("enkf_size1", {s: [ALL_FIVE, 50, 40] for s in range(2)}, J=25)
    sizes[5] = gd("gd_adam_std3", {0: [90, 40, 10]}, optimizer="adam", init_std=3.0)
    rows = ktables.scorecard(_inputs(*sizes))
    assert synthetic.row(rows, "Fig. 8a ordering")["verdict"] == tables.DIFFERS
    assert synthetic.row(rows, "Fig. 5 ordering")["verdict"] == tables.DIFFERS  # 10 % < 20 %


def test_scorecard_with_nothing_configured_and_with_one_seed():
    nothing = ktables.scorecard(_inputs())  # every claim listed, not run
    assert len(nothing) == 8 and {r["verdict"] for r in nothing} == {tables.NOT_RUN}
    rows = ktables.scorecard(_card({7: [ALL_FIVE, 60, 49]}, sgd_final=(15,)))
    assert synthetic.row(rows, "Quick scale (spec §5)")["verdict"] == tables.WITHIN
    assert "n = 1, seeds 7" in synthetic.row(rows, "Fig. 1: EnKF test error")["ours"]
    assert synthetic.row(rows, "Fig. 1: SGD (σ = 1)")["ours"].startswith("15.00 ± 0.00 % (n = 1")


# ---------------------------------------------------------------------------- figures
def _fig1_inputs(diverged=()):
    return _inputs(
        enkf("enkf", {s: [ALL_FIVE, 60 - s, 50 - s] for s in range(3)}, diverged=diverged),
        enkf("enkf_size2", {s: [ALL_FIVE, 70, 60] for s in range(3)}, J=50),
        enkf("enkf_sigma1", {s: [ALL_FIVE, 80, 75] for s in range(3)}, J=50, sigma=1.0),
        gd(
            "sgd",
            {s: [90, 88] for s in range(2)},
            updates={0: [90, 80, 70], 1: [90, 90, 90]},
            epoch={0: [90, 85], 1: [90, 87]},
            eval_points=3,
            epoch_points=2,
        ),
    )


def test_fig1_prepends_100_percent_and_draws_each_curve():
    fig = figures.fig1(_fig1_inputs())
    ax = fig.axes[0]
    lines = {line.get_label(): np.asarray(line.get_ydata(), float) for line in ax.get_lines()}
    enkf_line = lines["EnKF (σ = 0.1, J = 100, n = 3)"]
    np.testing.assert_allclose(enkf_line, [100, ALL_FIVE, 59, 49])
    sgd = lines["SGD σ = 1, test every 25 SGD steps (2 runs)"]
    np.testing.assert_allclose(sgd, [100, 90, 85, 80])
    np.testing.assert_allclose(
        lines["SGD σ = 1, 2 tests spread over one epoch (2 runs)"], [100, 90, 86]
    )
    np.testing.assert_allclose(lines["EnKF σ = 1 (J = 50, n = 3)"], [100, ALL_FIVE, 80, 75])
    np.testing.assert_allclose(lines["EnKF σ = 0.1 (J = 50, n = 3)"], [100, ALL_FIVE, 70, 60])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["start", "0", "25", "50"]
    plt.close(fig)
    fig = figures.fig1(_fig1_inputs(diverged=(1,)))
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "EnKF (σ = 0.1, J = 100, n = 3 (1/3 diverged))" in labels
    plt.close(fig)


def test_fig8_curves_are_means_per_checkpoint_sorted_by_J():
    inputs = _inputs(
        enkf("enkf", {s: [ALL_FIVE, 60, 50] for s in range(2)}),
        enkf("enkf_size1", {0: [ALL_FIVE, 80, 70], 1: [ALL_FIVE, 82, 72]}, J=25),
    )
    fig = figures.fig8a(inputs)
    lines = [line for line in fig.axes[0].get_lines()]
    assert [line.get_label() for line in lines] == ["EnKF, J = 25, n = 2", "EnKF, J = 100, n = 2"]
    np.testing.assert_allclose(np.asarray(lines[0].get_ydata(), float), [ALL_FIVE, 81, 71])
    plt.close(fig)
    variants = _inputs(
        enkf("enkf_size2", {s: [ALL_FIVE, 60, 50] for s in range(2)}, J=50),
        enkf("enkf_relu", {7: [ALL_FIVE, 90, 89]}, J=50, activation="relu"),
        enkf("enkf_tanh", {s: [ALL_FIVE, 70, 65] for s in range(2)}, J=50, activation="tanh"),
    )
    fig = figures.fig8b(variants)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == [
        "Logistic Function (J = 50, n = 2)",
        "ReLU (J = 50, n = 1)",
        "tanh (J = 50, n = 2)",
    ]
    plt.close(fig)


def test_fig9_draws_every_adaptive_run_as_steps():
    adapt = {0: [(50, 75, 7)], 1: [(25, 125, 8), (50, 150, 9)]}
    inputs = _inputs(
        enkf("enkf", {s: [ALL_FIVE, 60, 50] for s in range(2)}),
        enkf(
            "enkf_adaptive", {s: [ALL_FIVE, 58, 45] for s in range(2)}, adaptive=True, adapt=adapt
        ),
    )
    fig = figures.fig9(inputs)
    left, right, twin = fig.axes
    labels = [line.get_label() for line in right.get_lines()]
    assert "members, adaptive, seed 0 (1 changes)" in labels
    assert "members, adaptive, seed 1 (2 changes)" in labels
    seed1 = [
        line
        for line in right.get_lines()
        if line.get_label().startswith("members, adaptive, seed 1")
    ]
    np.testing.assert_allclose(seed1[0].get_xdata(), [0, 25, 50, 50])
    np.testing.assert_allclose(seed1[0].get_ydata(), [100, 125, 150, 150])
    reps = [
        line
        for line in twin.get_lines()
        if line.get_label().startswith("repetitions, adaptive, seed 0")
    ]
    np.testing.assert_allclose(reps[0].get_ydata(), [8, 7, 7])
    thin = [line for line in left.get_lines() if line.get_alpha() == 0.6]
    assert len(thin) == 2  # one per adaptive run
    plt.close(fig)


def test_fig5_bands_are_mean_test_error_per_epoch():
    inputs = _inputs(
        gd("gd_sgd_std1", {0: [90, 20, 10], 1: [90, 40, 30]}),
        gd("gd_adam_std3", {0: [89, 85, 80]}, optimizer="adam", init_std=3.0, diverged=(0,)),
    )
    fig = figures.fig5(inputs)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    np.testing.assert_allclose(
        np.asarray(lines["SGD, σ = 1, n = 2"].get_ydata(), float), [90, 30, 20]
    )
    assert "Adam, σ = 3 (1/1 diverged), n = 1" in lines
    assert lines["Adam, σ = 3 (1/1 diverged), n = 1"].get_linestyle() == "--"
    plt.close(fig)


def _gd_artifacts(tmp_path, seeds=(0, 1)):
    paths = {}
    for name in ("gd_sgd_std1", "gd_adam_std1"):
        paths[name] = []
        for seed in seeds:
            grad = np.zeros((2, 20, 3, 2))
            grad[..., 0] = np.arange(20)[None, :, None] * 1e-3 * (seed + 1)
            grad[..., 1] = 1e-4
            snaps = {
                f"grad_snapshot_{k}": np.linspace(-1, 1, 3 * 5 * k).reshape(3, 5 * k) * k
                for k in (1, 2, 3)
            }
            paths[name].append(
                synthetic.save_artifacts(
                    tmp_path, name, seed, grad_stats=grad, stats_epochs=np.array([0, 1]), **snaps
                )
            )
    return paths


def test_fig4_and_fig6_draw_the_first_seed_gradients(tmp_path):
    paths = _gd_artifacts(tmp_path)
    inputs = _inputs(
        gd("gd_sgd_std1", {0: [90, 20], 1: [90, 40]}, snapshot_every=50),
        gd("gd_adam_std1", {0: [90, 80], 1: [90, 70]}, optimizer="adam", snapshot_every=50),
        artifacts=paths,
    )
    fig = figures.fig4(inputs)
    assert len(fig.axes) == 6
    ax = fig.axes[2]  # SGD, layer 3: three snapshots of 15 values each
    assert [line.get_label() for line in ax.get_lines()] == [
        "iteration 0",
        "iteration 50",
        "iteration 100",
    ]
    assert "(15 values)" in ax.get_title()
    # a KDE scaled to counts per 1/30 of the range: its area is the count / 30 of the range
    line = ax.get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    area = np.sum((y[1:] + y[:-1]) / 2 * np.diff(x))
    assert area == pytest.approx(15 * (x[-1] - x[0]) / 30, rel=0.05)
    plt.close(fig)
    fig = figures.fig6(inputs)
    mean = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(mean.get_ydata(), np.tile(np.arange(20) * 1e-3, 2))  # seed 0
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1"]
    plt.close(fig)


def test_scorecard_and_figures_with_a_metric_missing_and_an_adaptive_run_that_never_changes():
    e = enkf("enkf", {s: [ALL_FIVE, 60, 50] for s in range(2)}, drop={("test", "top_class")})
    rows = ktables.scorecard(_inputs(e))
    first = synthetic.row(rows, "Fig. 1: first checkpoint")
    assert first["verdict"] == tables.NOT_RUN and "top_class" in first["detail"]
    assert synthetic.row(rows, "Quick scale (spec §5)")["verdict"] == tables.WITHIN  # 50 vs 49
    inputs = _inputs(
        enkf("enkf", {s: [ALL_FIVE, 60, 50] for s in range(2)}),
        enkf("enkf_adaptive", {3: [ALL_FIVE, 58, 45]}, adaptive=True),  # no "adapt" rows
    )
    fig = figures.fig9(inputs)
    right = fig.axes[1]
    line = [x for x in right.get_lines() if x.get_label().startswith("members, adaptive")][0]
    assert line.get_label() == "members, adaptive, seed 3 (0 changes)"
    np.testing.assert_allclose(line.get_ydata(), [100, 100])
    plt.close(fig)


# ------------------------------------------------------------- Figs. 1, 5, 8a, 8b, 9
def _legend(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]


def _line(fig, label_start: str):
    """The plotted line whose legend label starts with `label_start` (first axes)."""
    found = [ln for ln in fig.axes[0].lines if ln.get_label().startswith(label_start)]
    assert len(found) == 1, (label_start, [ln.get_label() for ln in fig.axes[0].lines])
    return found[0]


def _fig1_runs(sigma1=None):
    main = enkf("enkf", {0: [ALL_FIVE, 60, 50], 1: [ALL_FIVE, 70, 56], 2: [ALL_FIVE, 64, 53]})
    sgd = gd(
        "sgd",
        {0: [90, 80], 1: [90, 40], 2: [90, 88]},
        updates={0: [90, 89, 85], 1: [88, 85, 80], 2: [90, 90, 90]},
        epoch={0: [90, 70, 60], 1: [90, 90, 90], 2: [90, 80, 70]},
        eval_points=2,
        epoch_points=3,
    )
    return [main, sgd] + ([sigma1] if sigma1 else [])


def test_fig1_draws_the_mean_errors_with_a_100_percent_start_and_the_sigma_1_run():
    sigma1 = enkf("enkf_sigma1", {0: [ALL_FIVE, 80, 70], 1: [ALL_FIVE, 84, 74]}, sigma=1.0)
    fig = figures.fig1(_inputs(*_fig1_runs(sigma1)))
    main = _line(fig, "EnKF (σ = 0.1")
    assert np.allclose(main.get_ydata(), [100, ALL_FIVE, (60 + 70 + 64) / 3, (50 + 56 + 53) / 3])
    large = _line(fig, "EnKF σ = 1 ")
    assert np.allclose(large.get_ydata(), [100, ALL_FIVE, 82, 72])
    assert "n = 2" in large.get_label()
    plt.close(fig)


def test_fig1_labels_a_sigma_run_forced_elsewhere_and_marks_its_divergence():
    """A run forced to diverge by its sigma (tests/diverge.yaml) stays in the figure,
    labelled with its own sigma and its diverged runs (the CI failure of 2026-12-01)."""
    nan = float("nan")
    forced = enkf("enkf_sigma1", {0: [ALL_FIVE, nan, nan]}, sigma=1.0e6, diverged=(0,))
    fig = figures.fig1(_inputs(*_fig1_runs(forced)))
    label = _line(fig, "EnKF σ = 1e+06").get_label()
    assert "diverged" in label, label
    plt.close(fig)
    fig = figures.fig1(_inputs(*_fig1_runs()))  # no larger-sigma run at all
    assert not [t for t in _legend(fig) if t.startswith("EnKF σ = 1")]
    plt.close(fig)


def test_fig5_draws_each_optimizer_and_init_with_its_population_std():
    runs = [
        gd("gd_sgd_std1", {0: [90, 80, 70], 1: [90, 60, 50]}),
        gd("gd_adam_std3", {0: [91, 89, 88], 1: [91, 87, 86]}, optimizer="adam", init_std=3.0),
    ]
    fig = figures.fig5(_inputs(*runs))
    sgd = _line(fig, "SGD, σ = 1")
    assert np.allclose(sgd.get_ydata(), [90, 70, 60]) and "n = 2" in sgd.get_label()
    assert np.allclose(_line(fig, "Adam, σ = 3").get_ydata(), [91, 88, 87])
    plt.close(fig)


def test_fig8a_orders_the_ensemble_sizes_and_fig8b_pairs_variants_with_equal_J():
    runs = [
        enkf("enkf", {0: [90, 50, 45], 1: [90, 52, 47], 2: [90, 51, 46]}),
        enkf("enkf_size1", {0: [90, 70, 66], 1: [90, 72, 68], 2: [90, 71, 67]}, J=25),
        enkf("enkf_size2", {0: [90, 60, 55], 1: [90, 62, 57], 2: [90, 61, 56]}, J=50),
    ]
    fig = figures.fig8a(_inputs(*runs))
    assert [ln.get_label().split(",")[1].strip() for ln in fig.axes[0].lines] == [
        "J = 25",
        "J = 50",
        "J = 100",
    ]
    assert np.allclose(fig.axes[0].lines[1].get_ydata(), [90, 61, 56])
    plt.close(fig)
    relu = enkf("enkf_relu", {0: [90, 40, 30], 1: [90, 42, 34]}, J=50, activation="relu")
    fig = figures.fig8b(_inputs(*runs, relu))
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert labels[0].startswith("Logistic Function (J = 50") and labels[1].startswith("ReLU")
    assert np.allclose(fig.axes[0].lines[1].get_ydata(), [90, 41, 32])
    plt.close(fig)


def test_fig9_draws_every_adaptive_run_and_its_changes_of_J():
    fixed = enkf("enkf", {0: [90, 50, 45], 1: [90, 52, 47], 2: [90, 51, 46]})
    adapt = {0: [(25, 150, 4)], 1: [(25, 75, 8), (50, 50, 8)], 2: []}
    adaptive = enkf(
        "enkf_adaptive", {0: [90, 55, 40], 1: [90, 58, 44], 2: [90, 60, 50]},
        adaptive=True, adapt=adapt,
    )  # fmt: skip
    fig = figures.fig9(_inputs(fixed, adaptive))
    left, right = fig.axes[0], fig.axes[1]
    assert np.allclose(left.lines[1].get_ydata(), [90, (55 + 58 + 60) / 3, (40 + 44 + 50) / 3])
    thin = [ln for ln in left.lines if ln.get_linewidth() == 0.6]
    assert len(thin) == 3  # one line per adaptive run
    members = [ln.get_label() for ln in right.lines if "members, adaptive" in ln.get_label()]
    assert members == [
        "members, adaptive, seed 0 (1 changes)",
        "members, adaptive, seed 1 (2 changes)",
        "members, adaptive, seed 2 (0 changes)",
    ]
    plt.close(fig)
