"""forde figures, tables and scorecard on small synthetic per-seed tables (shapes of the
quick run's `results/forde/per_seed/*.csv` and toy `artifacts.npz`), including the
edges: one seed, every seed diverged (a diverged ensemble run stops before its test
rows, as `forde.train` does), a metric missing. Expected numbers are written here or
computed with NumPy from the values the test chose."""

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from repro import tables  # noqa: E402
from repro.forde import figures, reported  # noqa: E402
from repro.forde import tables as ftables  # noqa: E402
from tests import synthetic  # noqa: E402

ENSEMBLE = {
    "kind": "ensemble",
    "dataset": "mnist",
    "model": "small_cnn",
    "members": 4,
    "epochs": 3,
    "alpha": None,
}


def ens(name, method, per_seed: dict[int, dict], dataset="mnist", diverged=(), drop=(), **params):
    """per_seed: seed -> {accuracy, nll, ece, grad_cos, epistemic, c_accuracy, c_nll,
    c_ece, seconds}. Per severity s = 1..5 of split "corrupt": accuracy - 0.02 s,
    grad_cos + 0.01 s, epistemic + 0.1 s (severity 0 = the clean values). A diverged seed
    has its train rows only (the run stops before evaluating)."""
    p = {**ENSEMBLE, "method": method, "dataset": dataset, "seeds": sorted(per_seed), **params}
    rows = []
    for seed, v in per_seed.items():
        rows += [(seed, e, "train", "nll", 1.0 / e) for e in range(1, p["epochs"] + 1)]
        if seed in diverged:
            continue
        last = p["epochs"]
        rows += [(seed, last, "test", m, v[m]) for m in ("accuracy", "nll", "ece", "grad_cos")]
        rows.append((seed, last, "test", "epistemic", v["epistemic"]))
        rows.append((seed, last, "time", "seconds_per_step", v["seconds"]))
        for s in range(6):
            rows += [
                (seed, s, "corrupt", "accuracy", v["accuracy"] - 0.02 * s),
                (seed, s, "corrupt", "grad_cos", v["grad_cos"] + 0.01 * s),
                (seed, s, "corrupt", "epistemic", v["epistemic"] + 0.1 * s),
            ]
        rows += [
            (seed, last, "corrupt_mean", m[2:], v[m]) for m in ("c_accuracy", "c_nll", "c_ece")
        ]
    rows = [r for r in rows if (r[2], r[3]) not in drop]
    return name, (p, synthetic.table(name, rows, per_seed, diverged))


def metrics(acc, nll=0.15, ece=0.02, gc=0.5, epi=0.01, ca=None, cnll=0.7, cece=0.2, sec=1.0):
    return {
        "accuracy": acc,
        "nll": nll,
        "ece": ece,
        "grad_cos": gc,
        "epistemic": epi,
        "c_accuracy": acc - 0.08 if ca is None else ca,
        "c_nll": cnll,
        "c_ece": cece,
        "seconds": sec,
    }


def _inputs(*experiments, artifacts=None):
    return synthetic.inputs("forde", dict(experiments), artifacts)


LOW, HIGH = reported.QUICK_GRAD_GAP  # spec section 5's range of the gradient-distance gap
GAPS = tuple(LOW + (HIGH - LOW) * q for q in (0.25, 0.5, 0.75))  # inside it
DE_GC = (0.50, 0.40, 0.45)


def _quick(
    de_gc=DE_GC,
    gaps=GAPS,
    pca_acc=(0.95, 0.951, 0.949),
    pca_cnll=(0.69, 0.68, 0.70),
    sec=1.5,
    diverged=(),
):
    """DE and FoRDE-PCA on MNIST; FoRDE-PCA's gradient cosine distance = DE's + gap."""
    de = ens("de", "de", {s: metrics(0.95, gc=g, cnll=0.7) for s, g in enumerate(de_gc)})
    per_seed = zip(de_gc, gaps, pca_acc, pca_cnll, strict=True)
    pca = ens(
        "forde_pca",
        "forde_pca",
        {s: metrics(a, gc=g + d, cnll=c, sec=sec) for s, (g, d, a, c) in enumerate(per_seed)},
        diverged=diverged,
        pca=True,
    )
    return de, pca


# ---------------------------------------------------------------------------- tables
def test_results_table_on_the_paper_dataset_gives_mean_std_and_paper_values():
    de = ens(
        "c100_de",
        "de",
        {0: metrics(0.80, nll=0.70), 1: metrics(0.82, nll=0.74)},
        dataset="cifar100",
    )
    tuned = ens("c100_tuned", "forde_tuned", {0: metrics(0.81)}, dataset="cifar100", alpha=0.4)
    sub = ens("de", "de", {0: metrics(0.95)})  # the MNIST run is not in the CIFAR-100 table
    frame = ftables.table1(_inputs(de, tuned, sub))
    assert list(frame["method"]) == ["DE", "FoRDE-Tuned (α=0.4)"]
    row = frame.iloc[0]
    assert row["data"] == "CIFAR-100" and row["seeds"] == 2 and row["members"] == 4
    assert row["NLL ↓"] == f"0.720 ± {np.std([0.70, 0.74], ddof=1):.3f}"  # 0.720 ± 0.028
    assert row["accuracy (%) ↑"] == f"81.0 ± {100 * np.std([0.80, 0.82], ddof=1):.1f}"
    assert row["cA / cNLL / cECE"] == "73.0 / 0.700 / 0.200"
    paper = "paper (CIFAR-100): NLL / acc / ECE / cA / cNLL / cECE"
    assert row[paper] == "0.7 / 81.8 / 0.041 / 54.3 / 1.99 / 0.05"
    assert frame.iloc[1]["NLL ↓"] == "0.150"  # one seed: no ± part


def test_results_table_falls_back_to_the_substitute_and_handles_missing_metrics():
    de = ens("de", "de", {0: metrics(0.95), 1: metrics(0.97)}, drop={("corrupt_mean", "accuracy")})
    bad = ens("forde_pca", "forde_pca", {0: metrics(0.9), 1: metrics(0.9)}, diverged={0, 1})
    frame = ftables.table2(_inputs(de, bad)).set_index("method")
    assert set(frame["data"]) == {"mnist (substitute for CIFAR-10)"}
    assert frame.loc["DE", "accuracy (%) ↑"].startswith("96.0 ± ")
    assert frame.loc["DE", "cA / cNLL / cECE"] == "-"  # corrupted accuracy not recorded
    assert frame.loc["FoRDE-PCA", "seeds"] == 0  # every seed diverged: no test rows
    assert frame.loc["FoRDE-PCA", "accuracy (%) ↑"] == "-"
    assert ftables.table4(_inputs(de)).iloc[0]["data"] == "mnist (substitute for TinyImageNet)"


def test_pairs_table_gives_per_seed_differences_and_time_ratio():
    frame = ftables.pairs(_inputs(*_quick()))
    assert list(frame["method"]) == ["FoRDE-PCA"] * 3 and list(frame["seed"]) == [0, 1, 2]
    np.testing.assert_allclose(frame["Δ grad. cos. dist. (clean)"], GAPS, atol=1e-12)
    # corrupted: mean over severities 1-5 of (g + 0.01 s): the same difference
    np.testing.assert_allclose(frame["Δ grad. cos. dist. (corrupted)"], GAPS, atol=1e-12)
    np.testing.assert_allclose(frame["Δ accuracy"], [0.0, 0.001, -0.001], atol=1e-12)
    np.testing.assert_allclose(frame["Δ cNLL"], [-0.01, -0.02, 0.0], atol=1e-12)
    np.testing.assert_allclose(frame["time/step ÷ DE"], [1.5, 1.5, 1.5])


def test_pairs_table_with_every_forde_seed_diverged_is_empty():
    frame = ftables.pairs(_inputs(*_quick(diverged={0, 1, 2})))
    assert frame.empty
    marked = tables.mark_diverged(frame, _inputs(*_quick(diverged={0, 1, 2})))
    assert list(marked["experiment"]) == ["forde_pca"] and list(marked["diverged"]) == ["3/3"]


# ---------------------------------------------------------------------------- scorecard
def test_scorecard_paper_rows_on_cifar100():
    seeds = {
        0: metrics(0.816, nll=0.69, ece=0.041, ca=0.55, cnll=2.0, cece=0.05, sec=1.0),
        1: metrics(0.818, nll=0.71, ece=0.043, ca=0.54, cnll=2.0, cece=0.05, sec=1.0),
    }
    pca = {
        0: metrics(0.80, nll=0.71, ece=0.039, ca=0.56, cnll=1.9, cece=0.05, sec=3.0),
        1: metrics(0.80, nll=0.71, ece=0.039, ca=0.56, cnll=1.9, cece=0.05, sec=3.4),
    }
    rows = ftables.scorecard(
        _inputs(
            ens("c100_de", "de", seeds, dataset="cifar100"),
            ens("c100_pca", "forde_pca", pca, dataset="cifar100", pca=True),
        )
    )
    v = synthetic.verdicts(rows)
    assert v["CIFAR-100 DE NLL"] == tables.WITHIN  # 0.70 vs 0.70 ± 0.02
    assert v["CIFAR-100 DE accuracy (%)"] == tables.WITHIN  # 81.7 vs 81.8 ± 0.5
    assert v["CIFAR-100 FoRDE-PCA accuracy (%)"] == tables.DIFFERS  # 80.0 vs 81.4 ± 0.5
    assert synthetic.row(rows, "CIFAR-100 DE accuracy (%)")["ours"] == "81.7"
    assert v["CIFAR-100 FoRDE-Identity NLL"] == tables.NOT_RUN
    assert v["CIFAR-10 DE NLL"] == tables.NOT_RUN  # no CIFAR-10 and no substitute runs
    assert v["CIFAR-100 LIT: NLL / acc / ECE / cA / cNLL / cECE"] == tables.NOT_RUN
    gain = synthetic.row(rows, "FoRDE-PCA cA on CIFAR-100-C")
    assert gain["ours"] == "+1.50" and gain["verdict"] == tables.WITHIN  # 56 - 54.5 vs 1.3 ± 1
    cost = synthetic.row(rows, "FoRDE costs ≈3× a DE")
    assert cost["ours"] == "3.20×" and cost["verdict"] == tables.WITHIN  # (3.0 + 3.4) / 2
    sweep = synthetic.row(rows, "Figs. 11-12: FoRDE-Tuned's best α on CIFAR-100")
    assert sweep["verdict"] == tables.NOT_RUN


def test_scorecard_quick_rows_on_the_substitute():
    rows = ftables.scorecard(_inputs(*_quick()))
    assert synthetic.row(rows, "CIFAR-100 DE NLL")["verdict"] == tables.OTHER_SCALE
    raise_row = synthetic.row(rows, "quick: FoRDE-PCA raises the members'")
    assert raise_row["verdict"] == tables.HOLDS
    assert raise_row["ours"] == " ".join(f"{g:+.3f}" for g in GAPS)
    assert synthetic.row(rows, "quick: size of FoRDE-PCA's")["verdict"] == tables.HOLDS
    acc = synthetic.row(rows, "quick: FoRDE-PCA clean accuracy within noise")
    assert acc["verdict"] == tables.HOLDS and acc["ours"] == "+0.00 points (mean Δ)"
    assert synthetic.row(rows, "quick: FoRDE-PCA corrupted NLL")["verdict"] == tables.HOLDS
    cost = synthetic.row(rows, "quick: FoRDE-PCA costs more")
    assert cost["verdict"] == tables.HOLDS and cost["ours"] == "1.50×"
    gain = synthetic.row(rows, "FoRDE-PCA cA on CIFAR-100-C")
    assert gain["verdict"] == tables.OTHER_SCALE and "+0.00 vs DE" in gain["ours"]
    assert synthetic.row(rows, "FoRDE costs ≈3× a DE")["verdict"] == tables.OTHER_SCALE


def test_scorecard_quick_rows_fail_when_their_rule_fails():
    rows = ftables.scorecard(_inputs(*_quick(gaps=(GAPS[0], -0.01, GAPS[2]), sec=0.9)))
    assert synthetic.row(rows, "quick: FoRDE-PCA raises the members'")["verdict"] == tables.DIFFERS
    assert synthetic.row(rows, "quick: size of FoRDE-PCA's")["verdict"] == tables.DIFFERS
    assert synthetic.row(rows, "quick: FoRDE-PCA costs more")["verdict"] == tables.DIFFERS
    # every seed positive but one gap well above the spec's range
    rows = ftables.scorecard(_inputs(*_quick(gaps=(GAPS[0], HIGH + 0.01, GAPS[2]))))
    assert synthetic.row(rows, "quick: FoRDE-PCA raises the members'")["verdict"] == tables.HOLDS
    assert synthetic.row(rows, "quick: size of FoRDE-PCA's")["verdict"] == tables.DIFFERS
    # 2 points less accurate in every seed: outside max(0.1 point, 2 s.e. = 0)
    rows = ftables.scorecard(_inputs(*_quick(pca_acc=(0.93, 0.93, 0.93))))
    within = synthetic.row(rows, "quick: FoRDE-PCA clean accuracy within noise")
    assert within["verdict"] == tables.DIFFERS and within["ours"] == "-2.00 points (mean Δ)"
    rows = ftables.scorecard(_inputs(*_quick(pca_cnll=(0.71, 0.72, 0.70))))
    assert synthetic.row(rows, "quick: FoRDE-PCA corrupted NLL")["verdict"] == tables.DIFFERS


def test_scorecard_with_every_forde_seed_diverged():
    rows = ftables.scorecard(_inputs(*_quick(diverged={0, 1, 2})))
    assert synthetic.row(rows, "CIFAR-100 FoRDE-PCA NLL")["verdict"] == tables.DIVERGED
    assert synthetic.row(rows, "quick: FoRDE-PCA raises")["verdict"] == tables.NOT_RUN
    assert not [r for r in rows if r["verdict"] in (tables.HOLDS, tables.WITHIN)]


def test_scorecard_with_one_seed_and_one_diverged_seed():
    rows = ftables.scorecard(
        _inputs(*_quick(de_gc=(0.5,), gaps=(0.01,), pca_acc=(0.95,), pca_cnll=(0.69,)))
    )
    assert synthetic.row(rows, "quick: FoRDE-PCA raises")["ours"] == "+0.010"
    assert synthetic.row(rows, "quick: FoRDE-PCA clean accuracy")["verdict"] == tables.HOLDS
    rows = ftables.scorecard(_inputs(*_quick(diverged={1})))
    assert synthetic.row(rows, "quick: FoRDE-PCA raises")["verdict"] == tables.DIVERGED
    assert synthetic.row(rows, "quick: FoRDE-PCA raises")["detail"] == "2/2 seeds positive"


def test_scorecard_alpha_sweep_picks_the_best_corrupted_accuracy():
    sweep = [
        ens(
            f"c10_tuned_{a}",
            "forde_tuned",
            {0: metrics(0.96, ca=ca), 1: metrics(0.96, ca=ca)},
            dataset="cifar10",
            alpha=a,
        )
        for a, ca in ((0.1, 0.78), (0.2, 0.80), (0.4, 0.79))
    ]
    rows = ftables.scorecard(_inputs(*sweep))
    row = synthetic.row(rows, "Figs. 11-12: FoRDE-Tuned's best α on CIFAR-10 (")
    assert row["verdict"] == tables.HOLDS and row["ours"] == "α = 0.2 (cA 80.0)"
    assert row["detail"] == "cA per α: 0.1: 78.0, 0.2: 80.0, 0.4: 79.0"
    sweep[1] = ens(
        "c10_tuned_0.2", "forde_tuned", {0: metrics(0.96, ca=0.7)}, dataset="cifar10", alpha=0.2
    )
    row = synthetic.row(
        ftables.scorecard(_inputs(*sweep)), "Figs. 11-12: FoRDE-Tuned's best α on CIFAR-10 ("
    )
    assert row["verdict"] == tables.DIFFERS and row["ours"].startswith("α = 0.4")


TOY = {"dataset": None, "members": 16, "steps": 1000}


def toy(name, kind, method, values: dict[int, float], diverged=()):
    split, metric = (
        ("entropy", "far_ring") if kind == "toy_classification" else ("test", "std_outside")
    )
    rows = [(s, 1000, split, metric, v) for s, v in values.items() if s not in diverged]
    rows += [(s, 1000, "train", "nll", 0.1) for s in values]
    p = {**TOY, "kind": kind, "method": method, "label": method.upper(), "seeds": sorted(values)}
    return name, (p, synthetic.table(name, rows, values, diverged))


def test_scorecard_toy_rows_are_paired_by_seed():
    exps = [
        toy("toy2d_de", "toy_classification", "de", {0: 0.2, 1: 0.3, 2: 0.25}),
        toy("toy2d_forde", "toy_classification", "forde_identity", {0: 0.5, 1: 0.4, 2: 0.6}),
        toy("toy2d_wrde", "toy_classification", "weight_rde", {0: 0.6, 1: 0.3, 2: 0.2}),
        toy("toy1d_de", "toy_regression", "de", {0: 0.1, 1: 0.1}),
        toy("toy1d_forde", "toy_regression", "forde_identity", {0: 0.3, 1: 0.2}),
    ]
    rows = ftables.scorecard(_inputs(*exps))
    de = synthetic.row(
        rows, "Fig. 3: predictive entropy far from the data (radius 10-15): FoRDE above DE"
    )
    assert de["verdict"] == tables.HOLDS and de["ours"] == "0.250 (DE) vs 0.500 (FoRDE)"
    assert de["detail"] == "n = 3 seeds; FoRDE - DE per seed +0.300 +0.100 +0.350"
    wrde = synthetic.row(
        rows, "Fig. 3: predictive entropy far from the data (radius 10-15): FoRDE above weight-RDE"
    )
    assert wrde["verdict"] == tables.DIFFERS  # seed 0: 0.5 < 0.6
    assert synthetic.row(rows, "Fig. 2: predictive std outside the data: FoRDE above DE")[
        "verdict"
    ] == (tables.HOLDS)
    # a diverged toy seed (no test rows) is left out of the pairs and makes the row "diverged"
    exps[1] = toy(
        "toy2d_forde",
        "toy_classification",
        "forde_identity",
        {0: 0.5, 1: 0.4, 2: 0.6},
        diverged={2},
    )
    de = synthetic.row(
        ftables.scorecard(_inputs(*exps)),
        "Fig. 3: predictive entropy far from the data (radius 10-15): FoRDE above DE",
    )
    assert de["verdict"] == tables.DIVERGED and "n = 2 seeds" in de["detail"]


def test_scorecard_toy_rows_with_every_seed_diverged():
    exps = [
        toy("toy1d_de", "toy_regression", "de", {0: 0.1, 1: 0.1}),
        toy("toy1d_forde", "toy_regression", "forde_identity", {0: 0.3, 1: 0.2}, diverged={0, 1}),
    ]
    row = synthetic.row(ftables.scorecard(_inputs(*exps)), "Fig. 2: predictive std outside")
    assert row["verdict"] == tables.DIVERGED


# ---------------------------------------------------------------------------- figures
def test_fig7_bars_are_means_per_severity_and_paired_differences():
    fig = figures.fig7(_inputs(*_quick()))
    grad, _, delta, _ = fig.axes[:4]
    de_bars = [p for p in grad.patches if p.get_facecolor()[:3] == matplotlib.colors.to_rgb("C0")]
    heights = [p.get_height() for p in grad.patches]
    assert len(heights) == 12  # 2 methods x 6 severities
    # DE: mean(0.50, 0.40, 0.45) + 0.01 s; FoRDE-PCA: that + the mean gap
    np.testing.assert_allclose(heights[:6], 0.45 + 0.01 * np.arange(6))
    np.testing.assert_allclose(heights[6:], 0.45 + np.mean(GAPS) + 0.01 * np.arange(6))
    assert len(de_bars) == 6
    np.testing.assert_allclose([p.get_height() for p in delta.patches], np.full(6, np.mean(GAPS)))
    dots = [line for line in delta.get_lines() if line.get_marker() == "o"]
    assert len(dots) == 3  # one per paired seed
    np.testing.assert_allclose(dots[1].get_ydata(), np.full(6, GAPS[1]), atol=1e-12)
    labels = fig.legends[0].get_texts()
    assert "DE (n=3)" in [t.get_text() for t in labels]
    assert "mean Δ (n=3 paired seeds)" in [t.get_text() for t in labels]
    plt.close(fig)


def test_fig7_with_one_seed_and_a_diverged_seed():
    de, pca = _quick(de_gc=(0.5,), gaps=(0.02,), pca_acc=(0.95,), pca_cnll=(0.7,))
    plt.close(figures.fig7(_inputs(de, pca)))
    fig = figures.fig7(_inputs(*_quick(diverged={2})))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "FoRDE-PCA (n=2) (1/3 diverged)" in labels and "mean Δ (n=2 paired seeds)" in labels
    plt.close(fig)


def _toy_artifacts(tmp_path, seeds=(0, 1, 2)):
    grid = np.linspace(-10, 10, 50)
    paths = {"toy1d_de": [], "toy1d_forde": [], "toy2d_de": [], "toy2d_forde": []}
    for seed in seeds:
        for name, spread in (("toy1d_de", 0.1), ("toy1d_forde", 0.5)):
            pred = np.sin(grid)[None, :] + spread * np.linspace(-1, 1, 4)[:, None] * (seed + 1)
            paths[name].append(
                synthetic.save_artifacts(
                    tmp_path,
                    name,
                    seed,
                    grid=grid,
                    predictions=pred,
                    x_train=np.array([-1.0, 1.0]),
                    y_train=np.array([0.5, 0.5]),
                )
            )
        for name, level in (("toy2d_de", 0.2), ("toy2d_forde", 0.6)):
            ent = np.full((12, 12), level + 0.1 * seed)
            paths[name].append(
                synthetic.save_artifacts(
                    tmp_path,
                    name,
                    seed,
                    grid_entropy=ent,
                    x_train=np.zeros((5, 2)),
                    y_train=np.arange(5),
                    extent=15.0,
                )
            )
    return paths


def test_fig2_draws_the_first_seed_and_the_mean_std_outside(tmp_path):
    paths = _toy_artifacts(tmp_path, seeds=(3, 4))
    exps = [
        toy("toy1d_de", "toy_regression", "de", {3: 0.1, 4: 0.2}),
        toy("toy1d_forde", "toy_regression", "forde_identity", {3: 0.5, 4: 0.6}),
    ]
    fig = figures.fig2(_inputs(*exps, artifacts=paths))
    ax = fig.axes[1]
    assert ax.get_title() == "FORDE_IDENTITY (seed 3)"
    assert [t.get_text() for t in ax.texts] == ["std outside data: 0.55 (mean, n=2)"]
    grid = np.linspace(-10, 10, 50)
    mean = [line for line in ax.get_lines() if line.get_linewidth() == 1.2][0]
    np.testing.assert_allclose(mean.get_ydata(), np.sin(grid), atol=1e-12)  # seed 3's members
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    spread = np.std(0.5 * np.linspace(-1, 1, 4) * 4)  # seed 3: (seed + 1) = 4
    assert band.max() == pytest.approx(1 + 2 * spread, abs=0.01)
    plt.close(fig)


def test_fig3_images_are_the_seed_mean_and_the_forde_minus_de_difference(tmp_path):
    paths = _toy_artifacts(tmp_path)
    exps = [
        toy("toy2d_de", "toy_classification", "de", {0: 0.2, 1: 0.3, 2: 0.25}),
        toy("toy2d_forde", "toy_classification", "forde_identity", {0: 0.5, 1: 0.4, 2: 0.6}),
    ]
    fig = figures.fig3(_inputs(*exps, artifacts=paths))
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    np.testing.assert_allclose(images[0], 0.3)  # mean of 0.2, 0.3, 0.4
    np.testing.assert_allclose(images[1], 0.7)
    np.testing.assert_allclose(images[2], 0.4)  # FoRDE - DE
    assert "ring entropy 0.500\n(mean, n=3)" in [t.get_text() for t in fig.axes[1].texts]
    plt.close(fig)


def test_fig11_12_plots_accuracy_per_alpha_against_de():
    sweep = [
        ens(
            f"c10_tuned_{a}",
            "forde_tuned",
            {0: metrics(acc), 1: metrics(acc + 0.02)},
            dataset="cifar10",
            alpha=a,
        )
        for a, acc in ((0.1, 0.90), (0.2, 0.94), (0.4, 0.92))
    ]
    de = ens("c10_de", "de", {0: metrics(0.93), 1: metrics(0.93)}, dataset="cifar10")
    fig = figures.fig11_12(_inputs(*sweep, de))
    clean, mid, severe = fig.axes
    tuned = clean.containers[0].lines[0]

    def y(line):
        return np.asarray(line.get_ydata(), float)

    np.testing.assert_allclose(np.asarray(tuned.get_xdata(), float), [0.1, 0.2, 0.4])
    np.testing.assert_allclose(y(tuned), [91.0, 95.0, 93.0])
    # severities 1-3: accuracy - 0.02 s averaged over s = 1, 2, 3 -> -4 points
    np.testing.assert_allclose(y(mid.containers[0].lines[0]), [87.0, 91.0, 89.0])
    np.testing.assert_allclose(y(severe.containers[0].lines[0]), [82.0, 86.0, 84.0])
    de_line = [line for line in clean.get_lines() if line.get_label() == "DE (n=2)"][0]
    assert de_line.get_ydata()[0] == pytest.approx(93.0)
    plt.close(fig)
    with pytest.raises(ValueError, match="alpha sweep"):
        figures.fig11_12(_inputs(de))


def test_every_forde_output_survives_missing_toy_runs_and_one_seed():
    """Only image runs with one seed each: tables and scorecard run end to end."""
    one = _quick(de_gc=(0.5,), gaps=(0.02,), pca_acc=(0.95,), pca_cnll=(0.7,))
    inputs = _inputs(*one)
    for make in (ftables.table1, ftables.table2, ftables.pairs):
        frame = make(inputs)
        assert len(frame) >= 1
    rows = ftables.scorecard(inputs)
    assert len(rows) == len({r["claim"] for r in rows})  # every claim once
    assert not math.isnan(float(synthetic.row(rows, "CIFAR-10 DE accuracy (%)")["ours"].split()[0]))


def test_toy_figures_skip_diverged_seeds_and_survive_every_seed_diverged(tmp_path):
    """A diverged toy run stops before its test rows and writes an empty artifacts.npz."""
    paths = _toy_artifacts(tmp_path, seeds=(1, 2))
    for name in paths:
        paths[name].insert(0, synthetic.save_artifacts(tmp_path, name, 0))  # seed 0 diverged
    exps = [
        toy("toy1d_de", "toy_regression", "de", {0: 0.1, 1: 0.1, 2: 0.3}, diverged={0}),
        toy("toy1d_forde", "toy_regression", "forde_identity", {0: 0.2, 1: 0.3, 2: 0.5}),
    ]
    fig = figures.fig2(_inputs(*exps, artifacts=paths))
    assert fig.axes[0].get_title() == "DE (seed 1)"  # the first seed with a finished run
    assert [t.get_text() for t in fig.axes[0].texts] == ["std outside data: 0.20 (mean, n=2)"]
    plt.close(fig)
    exps = [
        toy("toy2d_de", "toy_classification", "de", {0: 0.2, 1: 0.3, 2: 0.25}, diverged={0}),
        toy("toy2d_forde", "toy_classification", "forde_identity", {0: 0.5, 1: 0.4, 2: 0.6}),
    ]
    fig = figures.fig3(_inputs(*exps, artifacts=paths))
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    np.testing.assert_allclose(images[0], 0.35)  # seeds 1 and 2: 0.3, 0.4
    assert fig.axes[0].get_title() == "DE (n=2)"
    plt.close(fig)
    # every seed of one method diverged: its panel says so, the others are drawn
    for name in paths:
        paths[name] = [synthetic.save_artifacts(tmp_path, name, s) for s in (0, 1)]
    exps = [
        toy("toy1d_de", "toy_regression", "de", {0: 0.1, 1: 0.1}, diverged={0, 1}),
        toy("toy1d_forde", "toy_regression", "forde_identity", {0: 0.2, 1: 0.3}, diverged={0, 1}),
    ]
    fig = figures.fig2(_inputs(*exps, artifacts=paths))
    assert all("diverged" in " ".join(t.get_text() for t in ax.texts) for ax in fig.axes)
    plt.close(fig)
    exps = [
        toy("toy2d_de", "toy_classification", "de", {0: 0.2, 1: 0.3}, diverged={0, 1}),
        toy(
            "toy2d_forde", "toy_classification", "forde_identity", {0: 0.5, 1: 0.4}, diverged={0, 1}
        ),
    ]
    fig = figures.fig3(_inputs(*exps, artifacts=paths))
    assert "diverged" in " ".join(t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)
