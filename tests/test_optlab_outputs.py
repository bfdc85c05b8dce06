"""optlab figures, tables and scorecard on small synthetic per-seed tables (summaries
made by `repro.aggregate` as the workflow makes them), including the edges: one seed,
every seed diverged, a metric missing. Expected values are computed here with NumPy."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from repro import tables  # noqa: E402
from repro.aggregate import PER_SEED_COLUMNS, summarize_per_seed  # noqa: E402
from repro.optlab import figures, reported  # noqa: E402
from repro.optlab import tables as otables  # noqa: E402
from repro.outputs import Inputs  # noqa: E402


def _table(experiment: str, rows: list[tuple], diverged: dict[int, bool]) -> pd.DataFrame:
    """rows: (seed, step, split, metric, value); plus the split "run" rows per seed."""
    run = [(s, 0, "run", "diverged", float(d)) for s, d in diverged.items()]
    run += [(s, 0, "run", "wall_time_s", 1.0) for s in diverged]
    frame = pd.DataFrame(rows + run, columns=PER_SEED_COLUMNS[1:])
    frame.insert(0, "experiment", experiment)
    return frame


def _mnist(name, lr, test_acc: dict[int, float], diverged=(), epochs=2, skip=()):
    """An MNIST MLP experiment: per seed, train/val per epoch, first-epoch batches, test."""
    rows = []
    for seed, acc in test_acc.items():
        bad = seed in diverged
        for epoch in range(1, epochs + 1):
            loss = math.nan if bad else 1.0 / epoch + 0.01 * seed
            rows += [
                (seed, epoch, "train", "loss", loss),
                (seed, epoch, "val", "loss", loss),
                (seed, epoch, "val", "accuracy", 0.1 if bad else acc - 0.01 * (epochs - epoch)),
            ]
        rows += [(seed, i, "train_batch", "loss", 2.0 / i) for i in range(1, 61)]
        rows.append((seed, epochs, "test", "accuracy", acc))
        rows.append((seed, epochs, "test", "loss", 0.3))
    rows = [r for r in rows if (r[2], r[3]) not in skip]
    params = {"kind": "mnist_mlp", "lr": lr, "epochs": epochs, "batch_size": 64}
    return name, params, _table(name, rows, {s: s in diverged for s in test_acc})


def _inputs(*experiments, preset="test"):
    return Inputs(
        paper="optlab",
        preset=preset,
        experiments={name: params for name, params, _ in experiments},
        summaries={name: summarize_per_seed(table) for name, _, table in experiments},
        per_seed={name: table for name, _, table in experiments},
        caption="synthetic",
    )


# ---------------------------------------------------------------------------- L3 table
def test_l3_table_counts_diverged_runs_exactly():
    """15 of 22 seeds diverged: int(mean * n) gave 14 (0.6818... * 22 = 14.999...)."""
    acc = {s: 0.5 + 0.01 * s for s in range(22)}
    exp = _mnist("mlp_lr1", 1.0, acc, diverged=set(range(15)))
    row = otables.L3(_inputs(exp)).iloc[0]
    values = np.array(list(acc.values()))
    assert row["runs"] == 22 and row["diverged"] == 15
    assert row["test_accuracy_mean"] == pytest.approx(values.mean())
    assert row["test_accuracy_std"] == pytest.approx(values.std(ddof=1))
    # diverged seeds logged 0.1 at the last epoch, the others acc
    assert row["final_val_accuracy_mean"] == pytest.approx((0.1 * 15 + values[15:].sum()) / 22)


def test_l3_table_with_one_seed_and_with_every_seed_diverged():
    one = _mnist("mlp_lr0.005", 0.005, {3: 0.95})
    all_bad = _mnist("mlp_lr1", 1.0, {0: 0.1, 1: 0.11, 2: 0.09}, diverged={0, 1, 2})
    frame = otables.L3(_inputs(one, all_bad)).set_index("experiment")
    assert frame.loc["mlp_lr0.005", "runs"] == 1 and frame.loc["mlp_lr0.005", "diverged"] == 0
    assert frame.loc["mlp_lr0.005", "test_accuracy_mean"] == pytest.approx(0.95)
    assert math.isnan(frame.loc["mlp_lr0.005", "test_accuracy_std"])
    assert frame.loc["mlp_lr1", "diverged"] == 3
    assert math.isnan(frame.loc["mlp_lr1", "final_val_accuracy_mean"]) or (
        frame.loc["mlp_lr1", "final_val_accuracy_mean"] == pytest.approx(0.1)
    )


def test_l3_table_with_a_missing_metric_reports_nan():
    exp = _mnist("mlp_lr0.05", 0.05, {0: 0.97, 1: 0.96}, skip={("val", "accuracy")})
    row = otables.L3(_inputs(exp)).iloc[0]
    assert math.isnan(row["final_val_accuracy_mean"])
    assert row["test_accuracy_mean"] == pytest.approx(0.965)


# ---------------------------------------------------------------------------- figures
def _labels(fig):
    return [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()] + [
        line.get_label() for ax in fig.axes for line in ax.get_lines()
    ]


def test_l_figures_render_with_n_and_diverged_counts():
    exps = [
        _mnist("mlp_lr1", 1.0, {0: 0.4, 1: 0.5, 2: 0.45}, diverged={0, 2}),
        _mnist("mlp_lr0.005", 0.005, {0: 0.95, 1: 0.96, 2: 0.955}),
    ]
    inputs = _inputs(*exps)
    fig = figures.L3(inputs)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["lr 1 (2/3 diverged)", "lr 0.005 (n=3)"]
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([45.0, 95.5])
    plt.close(fig)
    fig = figures.L2(inputs)
    assert len(fig.axes) == 3
    plt.close(fig)
    one = _inputs(exps[1])
    fig = figures.L1(_inputs(exps[1]))
    smooth = [line for line in fig.axes[0].get_lines() if "moving" in line.get_label()][0]
    # 60 batches, window 50 -> 11 points; the first is mean(2 / i, i = 1..50)
    assert len(smooth.get_xdata()) == 11
    assert smooth.get_ydata()[0] == pytest.approx(np.mean(2.0 / np.arange(1, 51)))
    plt.close(fig)
    assert one.experiments


def test_l_figures_with_one_seed_and_every_seed_diverged():
    one = _mnist("mlp_lr0.005", 0.005, {7: 0.95})
    bad = _mnist("mlp_lr1", 1.0, {0: 0.1, 1: 0.1}, diverged={0, 1})
    for make in (figures.L2, figures.L3):
        fig = make(_inputs(one, bad))
        plt.close(fig)
    fig = figures.L3(_inputs(one, bad))
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["lr 0.005 (n=1)", "lr 1 (2/2 diverged)"]
    plt.close(fig)


def _curvature(optimizer, path):
    rows = [
        (0, t, "path", m, v)
        for t, point in enumerate(path)
        for m, v in zip(("w1", "w2", "f"), point, strict=True)
    ]
    name = f"curv_{optimizer}"
    return name, {"kind": "curvature", "optimizer": optimizer}, _table(name, rows, {0: False})


def test_o2_legend_gives_each_path_end():
    exps = [
        _curvature("sgd", [(5, 5, 1.0), (-3, 4, 1.0), (2.5, 3, 1.0)]),
        _curvature("adam", [(5, 5, 1.0), (0.01, -6, 0.1)]),
    ]
    fig = figures.O2(_inputs(*exps))
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["SGD (end: w1=2.5, w2=3)", "Adam (end: w1=0.01, w2=-6)"]
    plt.close(fig)


def _init_diag(name, label, act, grad, seeds=(0, 1), setting=("tanh", "xavier", None)):
    rows = []
    for seed in seeds:
        for layer, a, g in zip(reported.LAYERS, act, grad, strict=True):
            rows += [
                (seed, layer, "activation", "variance", a),
                (seed, layer, "gradient", "variance", g),
            ]
    params = {"kind": "init_diag", "label": label}
    params.update(zip(("activation", "init", "init_scale"), setting, strict=True))
    return name, params, _table(name, rows, {s: False for s in seeds})


def test_init_variances_table_pairs_ours_with_the_notebook():
    name = "init_tanh_xavier"
    ref_act = reported.ACTIVATION_VARIANCE["tanh", "xavier", None]
    act = [v * 1.5 for v in ref_act]
    grad = list(reported.GRADIENT_VARIANCE["tanh", "xavier", None])
    frame = otables.init_variances(_inputs(_init_diag(name, "Tanh + Xavier", act, grad)))
    assert list(frame["layer"]) == list(reported.LAYERS)
    assert frame["activation_variance"].to_numpy() == pytest.approx(act)
    first = frame.set_index("layer").loc[reported.LAYERS[0]]
    assert first["reported_activation_variance"] == ref_act[0]
    assert (frame["runs"] == 2).all()
    fig = figures.I_variance(_inputs(_init_diag(name, "Tanh + Xavier", act, grad, seeds=(0,))))
    plt.close(fig)


# ---------------------------------------------------------------------------- scorecard
def _verdicts(rows):
    return {r["claim"]: r["verdict"] for r in rows}


def test_scorecard_mnist_rows():
    good = _mnist("mlp_lr0.005", 0.005, {0: 0.965, 1: 0.962, 2: 0.96}, epochs=20)
    rows = otables.scorecard(_inputs(good))
    v = _verdicts(rows)
    claim = "MNIST MLP test accuracy, lr 0.005 (20 epochs in the lab)"
    assert abs(0.9623 - reported.MNIST_TEST_ACCURACY) <= 0.01  # the synthetic mean is within
    assert v[claim] == tables.WITHIN
    assert {r["preset"] for r in rows} == {"test"} and {r["paper"] for r in rows} == {"optlab"}
    low = _mnist("mlp_lr0.005", 0.005, {0: 0.90, 1: 0.91, 2: 0.92}, epochs=20)
    assert _verdicts(otables.scorecard(_inputs(low)))[claim] == tables.DIFFERS
    # fewer epochs than the lab's 20 cannot reach its number: "other scale", not "differs"
    short = _mnist("mlp_lr0.005", 0.005, {0: 0.90, 1: 0.91, 2: 0.92}, epochs=2)
    assert _verdicts(otables.scorecard(_inputs(short)))[claim] == tables.OTHER_SCALE


def test_scorecard_learning_rate_claim():
    exps = [
        _mnist("mlp_lr1", 1.0, {0: 0.4, 1: 0.5, 2: 0.45}, diverged={0}),
        _mnist("mlp_lr0.05", 0.05, {0: 0.97, 1: 0.96, 2: 0.97}),
        _mnist("mlp_lr0.005", 0.005, {0: 0.95, 1: 0.96, 2: 0.955}),
    ]
    claim = "lr 1 fails while lr 0.05 and 0.005 train above 90 % within a few epochs"
    assert _verdicts(otables.scorecard(_inputs(*exps)))[claim] == tables.HOLDS
    exps[1] = _mnist("mlp_lr0.05", 0.05, {0: 0.97, 1: 0.96, 2: 0.97}, diverged={2})
    # a run of a learning rate that should train diverged: never "holds"
    assert _verdicts(otables.scorecard(_inputs(*exps)))[claim] == tables.DIVERGED


def test_scorecard_every_seed_diverged_is_not_within():
    bad = _mnist("mlp_lr0.005", 0.005, {0: 0.96, 1: 0.96}, diverged={0, 1})
    v = _verdicts(otables.scorecard(_inputs(bad)))
    assert v["MNIST MLP test accuracy, lr 0.005 (20 epochs in the lab)"] == tables.DIVERGED


def test_scorecard_curvature_rows():
    exps = [
        _curvature("sgd", [(5, 5, 1.0), (-4.0, reported.CURVATURE_FINAL["sgd"][1], 1.0)]),
        _curvature("sgd_momentum", [(5, 5, 1.0), tuple(reported.CURVATURE_FINAL["sgd_momentum"])]),
        _curvature("adam", [(5, 5, 1.0), (0.5, -9, 0.5)]),
    ]
    v = _verdicts(otables.scorecard(_inputs(*exps)))
    assert v["Curvature: last recorded point of sgd (w1, w2, f)"] == tables.WITHIN  # w2 only
    assert v["Curvature: last recorded point of sgd_momentum (w1, w2, f)"] == tables.WITHIN
    assert v["Curvature: last recorded point of adam (w1, w2, f)"] == tables.DIFFERS
    lesson = "SGD keeps oscillating in w1; momentum and Adam settle near w1 = 0 and run down w2"
    assert v[lesson] == tables.DIFFERS  # Adam's |w1| = 0.5 is not < 0.1
