"""levelsets Table 1, the weight-decay figure and Fig. 7 on small synthetic per-seed
tables and snapshot artifacts (shapes of the quick run's `results/levelsets/per_seed/`
and `runs/MNIST_FF/seed<k>/artifacts.npz`), including the edges: one seed, a diverged
weight-decay run with no test rows, an incomplete walk, too few snapshots for six
components. Fig. 2 and the scorecard: tests/test_levelsets.py; runs that diverge for
real: tests/test_divergence.py. Expected numbers are computed here with NumPy."""

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from repro.levelsets import FIG7_LAMBDA, figures  # noqa: E402
from repro.levelsets import tables as ltables  # noqa: E402
from tests import synthetic  # noqa: E402

LAMBDAS = (0.0, 1e-4, 1e-3)
TRAVERSAL = {
    "kind": "traversal",
    "architecture": "MNIST_FF",
    "dataset": "mnist",
    "tolerance": 1e-10,
    "steps": 40,
    "snapshot_every": 10,
}
WD = {
    "kind": "weight_decay",
    "architecture": "MNIST_FF",
    "dataset": "mnist",
    "lambdas": list(LAMBDAS),
}


def weight_decay(name, losses: dict[int, list[float]], diverged=(), **params):
    """losses: seed -> final test loss per lambda (epoch 3; epoch 1 = 10x, ignored);
    metric = 1 - loss / 10."""
    p = {**WD, **params, "seeds": sorted(losses)}
    rows = []
    for seed, values in losses.items():
        rows.append((seed, 0, "reference", "constant_loss", 2.3))
        if seed in diverged:
            continue
        for lam, loss in zip(LAMBDAS, values, strict=True):
            split = f"test@{lam!r}"
            rows += [(seed, 1, split, "loss", 10 * loss), (seed, 3, split, "loss", loss)]
            rows += [(seed, 1, split, "metric", 0.0), (seed, 3, split, "metric", 1 - loss / 10)]
    return name, (p, synthetic.table(name, rows, losses, diverged))


def traversal(name, test_loss: dict[int, list[float]], diverged=(), **params):
    """test_loss: seed -> test loss at walk steps 0, 5, 10, ..."""
    p = {**TRAVERSAL, **params, "seeds": sorted(test_loss)}
    rows = []
    for seed, values in test_loss.items():
        split = "walk_diverged" if seed in diverged else "walk"
        for k, v in enumerate(values):
            rows += [(seed, 5 * k, split, "test_loss", v), (seed, 5 * k, split, "test_metric", 0.9)]
        rows.append((seed, 0, "levelset", "L0", 1e-3))
    return name, (p, synthetic.table(name, rows, test_loss, diverged))


def _inputs(*experiments, artifacts=None):
    return synthetic.inputs("levelsets", dict(experiments), artifacts)


# ---------------------------------------------------------------------------- Table 1
def test_table1_gives_walk_end_and_weight_decay_finals_with_population_std():
    walk = traversal("MNIST_FF", {0: [0.5, 0.4], 1: [0.6, 0.3], 2: [0.5, 0.5]}, diverged={2})
    wd = weight_decay("L2_MNIST_FF", {0: [0.2, 0.3, 0.4], 1: [0.4, 0.5, 0.6]})
    frame = ltables.table1(_inputs(walk, wd))
    mnist = frame[frame["experiment"] == "MNIST_FF"].set_index("method", append=True)
    level = frame[(frame["experiment"] == "MNIST_FF") & (frame["method"] == "level set")].iloc[0]
    # the walk of seed 2 hit the corrector cap: excluded; seeds 0, 1 end at 0.4, 0.3
    assert level["n_runs"] == 2 and level["test_loss_mean"] == pytest.approx(0.35)
    assert level["test_loss_std"] == pytest.approx(0.05)  # ddof = 0
    assert level["diverged"] == "1/3" and "1 diverged run(s) excluded" in level["note"]
    decay = frame[(frame["experiment"] == "MNIST_FF") & (frame["method"] == "weight decay")]
    assert decay["lambda"].tolist() == list(LAMBDAS)
    np.testing.assert_allclose(decay["test_loss_mean"], [0.3, 0.4, 0.5])
    np.testing.assert_allclose(decay["test_loss_std"], [0.1, 0.1, 0.1])
    np.testing.assert_allclose(decay["test_metric_mean"], [0.97, 0.96, 0.95])
    assert set(decay["note"]) == {"epoch 3"} and len(mnist) == 4
    others = frame[frame["experiment"] != "MNIST_FF"]
    assert set(others["method"]) == {"not run"} and len(others) == 4  # the other networks


def test_table1_with_one_seed_and_a_weight_decay_run_diverged_before_testing():
    walk = traversal("MNIST_FF", {5: [0.5, 0.45]})
    wd = weight_decay("L2_MNIST_FF", {0: [0.2, 0.3, 0.4]}, diverged={0})
    frame = ltables.table1(_inputs(walk, wd))
    level = frame[frame["method"] == "level set"].iloc[0]
    assert level["n_runs"] == 1 and level["test_loss_std"] == 0.0
    decay = frame[frame["method"] == "weight decay"]
    assert len(decay) == 1 and decay.iloc[0]["note"].startswith("no test evaluation")
    assert decay.iloc[0]["diverged"] == "1/1"


# ---------------------------------------------------------------------------- wd_lambda
def test_wd_lambda_plots_final_means_against_lambda():
    exps = [
        weight_decay("L2_MNIST_FF", {0: [0.2, 0.3, 0.4], 1: [0.4, 0.5, 0.6]}),
        weight_decay("L2_MPG_FF", {0: [5.0, 4.0, 3.0]}, architecture="MPG_FF", dataset="auto_mpg"),
    ]
    fig = figures.wd_lambda(_inputs(*exps))
    loss, mpg_loss, metric, mpg_metric = fig.axes  # (2, 2) row-major: loss row, metric row
    y = np.asarray(loss.containers[0].lines[0].get_ydata(), float)
    np.testing.assert_allclose(y, [0.3, 0.4, 0.5])
    ym = np.asarray(metric.containers[0].lines[0].get_ydata(), float)
    np.testing.assert_allclose(ym, [97.0, 96.0, 95.0])  # accuracy in percent
    ymse = np.asarray(mpg_metric.containers[0].lines[0].get_ydata(), float)
    np.testing.assert_allclose(ymse, [0.5, 0.6, 0.7])  # MSE (1 - loss / 10) not scaled
    assert [t.get_text() for t in loss.get_xticklabels()] == ["0", "0.0001", "0.001"]
    dashed = [line for line in loss.get_lines() if line.get_linestyle() == "--"]
    assert dashed[0].get_ydata()[0] == pytest.approx(2.3)  # the constant predictor
    assert loss.get_title() == "MNIST_FF" and loss.get_yscale() == "log"
    plt.close(fig)


# ---------------------------------------------------------------------------- Fig. 7
D = 8  # coordinates of the toy "network"


def _walk_artifacts(tmp_path, seeds=(0, 1, 2), incomplete=(), snapshots=5):
    rng = np.random.default_rng(0)
    paths, points, finals = [], [], []
    for seed in seeds:
        snaps = rng.normal(size=(snapshots, D)) * np.arange(1, D + 1) + seed
        final = snaps[-1] + 0.01
        paths.append(
            synthetic.save_artifacts(
                tmp_path,
                "MNIST_FF",
                seed,
                snapshots=snaps,
                final_weights=final,
                complete=np.array(seed not in incomplete),
            )
        )
        if seed not in incomplete:
            points.append(snaps[-4:])  # steps // snapshot_every = 4 last snapshots
            finals.append(final)
    wd = [
        synthetic.save_artifacts(
            tmp_path, "L2_MNIST_FF", s, **{f"final_weights@{FIG7_LAMBDA!r}": np.full(D, 0.5 + s)}
        )
        for s in (0, 1)
    ]
    if not points:
        return paths, wd, None, None
    return paths, wd, np.concatenate(points), np.mean(finals, axis=0)


def _reference_pca(x):
    """z-score (ddof 0, zero std -> 1), SVD of the centred data: ratios and components."""
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1
    z = (x - mean) / std
    _, s, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    return (s**2 / (s**2).sum()), vt, mean, std


def test_fig7_explained_variance_and_projected_ends_match_a_reference_pca(tmp_path):
    paths, wd, x, end = _walk_artifacts(tmp_path, incomplete=(1,))
    walk = traversal("MNIST_FF", {0: [0.5], 1: [0.5], 2: [0.5]})
    decay = weight_decay("L2_MNIST_FF", {0: [0.2, 0.3, 0.4], 1: [0.2, 0.3, 0.4]})
    fig = figures.fig7(_inputs(walk, decay, artifacts={"MNIST_FF": paths, "L2_MNIST_FF": wd}))
    ratios, vt, mean, std = _reference_pca(x)
    bars = fig.axes[0].patches
    per_component = [p.get_width() for p in bars[6:]]  # drawn after the cumulative bars
    np.testing.assert_allclose(per_component, 100 * ratios[:6], rtol=1e-9)
    np.testing.assert_allclose([p.get_width() for p in bars[:6]], 100 * np.cumsum(ratios[:6]))
    assert "2 complete runs x the last 4 snapshots" in fig._suptitle.get_text()
    # the blue P: the mean final weights of the complete runs, projected (sign-free check)
    pc1 = fig.axes[1]  # PC1-3
    blue = [c for c in pc1.collections if c.get_sizes()[0] == 110][0]
    z_end = (end - mean) / std
    x_mean = ((x - mean) / std).mean(0)
    expected = (z_end - x_mean) @ vt[:3].T
    got = np.array(blue._offsets3d).ravel()
    np.testing.assert_allclose(np.abs(got), np.abs(expected), rtol=1e-6, atol=1e-9)
    # the black pentagon (weight-decay end at λ = 1e-3) appears in the "(c)" panels only
    c_panels = [ax for ax in fig.axes if ax.get_title().startswith("(c)")]
    assert all(ax.get_title().endswith("+ weight-decay end") for ax in c_panels)
    plt.close(fig)


def test_fig7_with_too_few_snapshots_for_six_components_and_no_weight_decay_run(tmp_path):
    paths, _, x, _ = _walk_artifacts(tmp_path, seeds=(0,), snapshots=4)
    walk = traversal("MNIST_FF", {0: [0.5]})
    fig = figures.fig7(_inputs(walk, artifacts={"MNIST_FF": paths}))
    assert len(fig.axes[0].patches) == 2 * 3  # 4 points: 3 components
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "fewer than 6 components" in texts
    legend = [
        t.get_text() for ax in fig.axes for leg in [ax.get_legend()] if leg for t in leg.get_texts()
    ]
    assert any("(not available)" in t for t in legend)
    plt.close(fig)
    paths, _, _, _ = _walk_artifacts(tmp_path / "none", seeds=(0,), incomplete=(0,))
    with pytest.raises(ValueError, match="no complete MNIST_FF walk"):
        figures.fig7(_inputs(walk, artifacts={"MNIST_FF": paths}))
    assert not math.isnan(x.sum()) and x.shape == (4, D)
