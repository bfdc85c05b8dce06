"""optlab tables (one function per id in `repro.optlab.TABLES`) and scorecard rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.aggregate import diverged_seeds, final, n_diverged, series
from repro.optlab import reported
from repro.optlab.reported import (
    IDENTITY_EQUAL_VAR,
    IDENTITY_STD001,
    IDENTITY_STD01,
    RELU_KAIMING,
    TANH_XAVIER,
    init_setting,
)
from repro.tables import Scorecard, verdict_claim, verdict_numeric


def _final(summary, split: str, metric: str) -> pd.Series:
    """The last-step row of (split, metric), or NaNs with n = 0 when no run recorded it."""
    try:
        return final(summary, split, metric)
    except KeyError:
        return pd.Series({"step": np.nan, "n": 0, "mean": np.nan, "std": np.nan, "ci95": np.nan})


def _mean_std(row) -> tuple[float, float]:
    return float(row["mean"]), float(row["std"])


def L3(inputs) -> pd.DataFrame:
    rows = []
    for name, p in inputs.experiments.items():
        s = inputs.summary(name)
        test, val = _final(s, "test", "accuracy"), _final(s, "val", "accuracy")
        rows.append(
            {
                "experiment": name,
                "lr": p["lr"],
                "epochs": p["epochs"],
                "runs": int(test["n"]),
                "diverged": n_diverged(s),
                "test_accuracy_mean": test["mean"],
                "test_accuracy_std": test["std"],
                "final_val_accuracy_mean": val["mean"],
            }
        )
    return pd.DataFrame(rows)


def init_variances(inputs) -> pd.DataFrame:
    rows = []
    for name, p in inputs.experiments.items():
        s = inputs.summary(name)
        act = series(s, "activation", "variance").set_index("step")
        grad = series(s, "gradient", "variance").set_index("step")
        setting = init_setting(p)
        ref_act = dict(
            zip(reported.LAYERS, reported.ACTIVATION_VARIANCE.get(setting, ()), strict=False)
        )
        ref_grad = dict(
            zip(reported.LAYERS, reported.GRADIENT_VARIANCE.get(setting, ()), strict=False)
        )
        for layer in act.index:
            rows.append(
                {
                    "experiment": name,
                    "scheme": p["label"],
                    "layer": int(layer),
                    "activation_variance": act.loc[layer, "mean"],
                    "reported_activation_variance": ref_act.get(layer, np.nan),
                    "gradient_variance": grad.loc[layer, "mean"],
                    "reported_gradient_variance": ref_grad.get(layer, np.nan),
                    "runs": int(act.loc[layer, "n"]),
                }
            )
    return pd.DataFrame(rows)


def O3(inputs) -> pd.DataFrame:
    rows = []
    for name, p in inputs.experiments.items():
        s = inputs.summary(name)
        test = final(s, "test", "accuracy")
        rows.append(
            {
                "experiment": name,
                "optimizer": p["optimizer"],
                "lr": p["lr"],
                "epochs": p["epochs"],
                "train_images": p["train_subset"] or 50000,
                "best_epoch_mean": final(s, "test", "best_epoch")["mean"],
                "test_accuracy_mean": test["mean"],
                "test_accuracy_std": test["std"],
                "uva_test_accuracy": reported.UVA_TEST_ACCURACY[p["optimizer"]],
            }
        )
    return pd.DataFrame(rows)


def _by(inputs, kind: str, key: str) -> dict:
    """Experiments of `kind`, keyed by hyperparameter `key` (e.g. lr -> name)."""
    return {p[key]: n for n, p in inputs.experiments.items() if p["kind"] == kind}


def _diverged(inputs, *names) -> bool:
    return any(diverged_seeds(inputs.seeds(n)) for n in names)


def scorecard(inputs) -> list[dict]:
    card = Scorecard("optlab", inputs.preset)
    add = card.add

    # Part 1: MNIST MLP
    by_lr = _by(inputs, "mnist_mlp", "lr")
    if 0.005 in by_lr:
        name = by_lr[0.005]
        s, epochs = inputs.summary(name), inputs.experiments[name]["epochs"]
        test, n = _final(s, "test", "accuracy")["mean"], int(_final(s, "test", "accuracy")["n"])
        comparable = epochs >= reported.MNIST_EPOCHS
        add(
            f"MNIST MLP test accuracy, lr 0.005 ({reported.MNIST_EPOCHS} epochs in the lab)",
            "about 96 %",
            f"{test:.2%} after {epochs} epochs (mean of {n} seeds)",
            verdict_numeric(
                test, reported.MNIST_TEST_ACCURACY, 0.01, comparable, _diverged(inputs, name)
            ),
            "tolerance ±1 point"
            + ("" if comparable else f"; {epochs} epochs cannot reach the lab's 20: see next row"),
        )
        if not comparable:
            add(
                f"MNIST MLP at quick scale: lr 0.005 trains above 90 % within {epochs} epochs",
                "> 90 % within a few epochs (spec section 5)",
                f"{test:.2%} (mean of {n} seeds)",
                verdict_claim(test > 0.9, _diverged(inputs, name)),
            )
        val1 = float(series(s, "val", "accuracy").set_index("step")["mean"].get(1, np.nan))
        add(
            "Validation accuracy after one epoch at lr 0.005",
            "0.8734",
            f"{val1:.4f} (mean of {n} seeds)",
            verdict_numeric(
                val1,
                reported.MNIST_VAL_ACCURACY_EPOCH1_LR0005,
                0.02,
                diverged=_diverged(inputs, name),
            ),
            "tolerance ±0.02 (one run in the lab)",
        )
    if {1.0, 0.05, 0.005} <= set(by_lr):
        acc = {
            lr: final(inputs.summary(by_lr[lr]), "test", "accuracy")["mean"]
            for lr in (1.0, 0.05, 0.005)
        }
        holds = acc[1.0] < 0.9 and acc[0.05] > 0.9 and acc[0.005] > 0.9
        add(
            "lr 1 fails while lr 0.05 and 0.005 train above 90 % within a few epochs",
            "lr 1: erratic, 37-53 % (spec check, solved notebook)",
            ", ".join(f"lr {lr:g}: {a:.1%}" for lr, a in acc.items()) + " (seed means)",
            verdict_claim(holds, _diverged(inputs, by_lr[0.05], by_lr[0.005])),
            "a diverged lr-1 run is the claim, not a failure of it",
        )

    # Part 2: initialisation (experiments by their (activation, init, init_scale))
    by_setting = {
        init_setting(p): n for n, p in inputs.experiments.items() if p["kind"] == "init_diag"
    }
    for setting, ref in reported.ACTIVATION_VARIANCE.items():
        if setting in by_setting:
            name = by_setting[setting]
            ours = series(inputs.summary(name), "activation", "variance")["mean"].to_numpy()
            ratio = np.abs(np.log10(ours / np.asarray(ref)))
            add(
                f"Activation variance per layer, {inputs.experiments[name]['label']}",
                ", ".join(f"{v:.3g}" for v in ref),
                ", ".join(f"{v:.3g}" for v in ours),
                verdict_numeric(ratio.max(), 0.0, np.log10(2)),
                "each layer within a factor 2 of the notebook's one random draw; ours: mean "
                "over seeds",
            )
    if TANH_XAVIER in by_setting:
        ref = reported.GRADIENT_VARIANCE[TANH_XAVIER]
        ours = series(inputs.summary(by_setting[TANH_XAVIER]), "gradient", "variance")["mean"]
        ratio = np.abs(np.log10(ours.to_numpy() / np.asarray(ref)))
        add(
            "Weight-gradient variance per layer, Tanh + Xavier",
            ", ".join(f"{v:.3g}" for v in ref),
            ", ".join(f"{v:.3g}" for v in ours),
            verdict_numeric(ratio.max(), 0.0, np.log10(2)),
            "each layer within a factor 2; ours: mean over seeds",
        )
    variances = {
        setting: series(inputs.summary(n), "activation", "variance")["mean"].to_numpy()
        for setting, n in by_setting.items()
    }
    needed = (IDENTITY_STD001, IDENTITY_STD01, IDENTITY_EQUAL_VAR, TANH_XAVIER, RELU_KAIMING)
    if all(s in variances for s in needed):
        v = variances
        flat = lambda a: a.max() / a.min() < 2  # noqa: E731
        holds = (
            v[IDENTITY_STD001][-1] < v[IDENTITY_STD001][0] / 100
            and v[IDENTITY_STD01][-1] > v[IDENTITY_STD01][0] * 10
            and flat(v[IDENTITY_EQUAL_VAR])
            and flat(v[RELU_KAIMING])
            and v[TANH_XAVIER][3] < v[TANH_XAVIER][0] / 2
        )
        add(
            "Activation variance vanishes for std 0.01, explodes for std 0.1, stays flat for "
            "1/d_x and ReLU+Kaiming, shrinks with depth for Tanh+Xavier",
            "lab lesson (section 1.2)",
            "see init_variances table",
            verdict_claim(holds),
            "vanish: last/first < 1/100; explode: > 10x; flat: max/min < 2; shrink: layer 6 "
            "< half of layer 0",
        )

    # Part 3: curvature
    paths = {}
    for name, p in inputs.experiments.items():
        if p["kind"] == "curvature":
            s = inputs.summary(name)
            paths[p["optimizer"]] = [
                series(s, "path", m)["mean"].iloc[-1] for m in ("w1", "w2", "f")
            ]
    for optimizer, ref in reported.CURVATURE_FINAL.items():
        if optimizer in paths:
            ours = paths[optimizer]
            if optimizer == "sgd":
                # SGD's w1 is chaotic (its end point depends on the CPU's float kernels), and
                # f with it; w2 does not depend on w1, so it is the stable number to score.
                diff = abs(ours[1] - ref[1])
                how = "w2 only, tolerance 0.01: w1 (and f) of SGD is chaotic, CPU-dependent"
            else:
                diff = max(abs(a - b) for a, b in zip(ours, ref, strict=True))
                how = "tolerance 0.01 on each"
            add(
                f"Curvature: last recorded point of {optimizer} (w1, w2, f)",
                f"({ref[0]:g}, {ref[1]:g}, {ref[2]:g})",
                f"({ours[0]:.3g}, {ours[1]:.4g}, {ours[2]:.3g})",
                verdict_numeric(diff, 0.0, 0.01),
                f"spec's own float32 check, not a lab printout; {how}",
            )
    if {"sgd", "sgd_momentum", "adam"} <= set(paths):
        holds = (
            abs(paths["sgd"][0]) > 1
            and abs(paths["sgd_momentum"][0]) < 0.1
            and abs(paths["adam"][0]) < 0.1
            and paths["sgd_momentum"][1] < -5
            and paths["adam"][1] < -5
        )
        add(
            "SGD keeps oscillating in w1; momentum and Adam settle near w1 = 0 and run down w2",
            "lab lesson (section 5)",
            ", ".join(f"{k}: w1={v[0]:.3g}, w2={v[1]:.3g}" for k, v in paths.items()),
            verdict_claim(holds),
        )

    # UvA optimizer comparison (O3), on UvA's standardised inputs when normalisation: uva
    compare = {n: p for n, p in inputs.experiments.items() if p["kind"] == "optim_compare"}
    accuracy = {}
    for name, p in compare.items():
        test = final(inputs.summary(name), "test", "accuracy")
        accuracy[p["optimizer"]] = test["mean"]
        images = p["train_subset"] or reported.UVA_TRAIN_IMAGES
        comparable = (
            p["epochs"] >= reported.UVA_EPOCHS
            and images >= reported.UVA_TRAIN_IMAGES
            and p["normalisation"] == "uva"
        )
        ref = reported.UVA_TEST_ACCURACY[p["optimizer"]]
        inputs_used = {"uva": "UvA's standardised inputs", "lab": "the lab's [-1, 1] inputs"}
        add(
            f"FashionMNIST test accuracy with {p['optimizer']} (UvA, "
            f"{reported.UVA_EPOCHS} epochs on {reported.UVA_TRAIN_IMAGES} images)",
            f"{ref:.2%}",
            f"{test['mean']:.2%} ± {test['std']:.2%} after {p['epochs']} epochs on {images} "
            f"images (mean ± std of {int(test['n'])} seeds)",
            verdict_numeric(test["mean"], ref, 0.015, comparable, _diverged(inputs, name)),
            f"tolerance ±1.5 points; {inputs_used[p['normalisation']]}"
            + ("" if comparable else "; fewer epochs/images than UvA: see the quick-scale row"),
        )
    quick = [n for n, p in compare.items() if p["epochs"] < reported.UVA_EPOCHS]
    if quick and len(accuracy) == 3:
        epochs = {compare[n]["epochs"] for n in quick}
        add(
            "UvA comparison at quick scale: every optimizer trains the ReLU/Kaiming net "
            f"(test accuracy > {reported.O3_QUICK_FLOOR:.0%}) within {max(epochs)} epochs",
            f"> {reported.O3_QUICK_FLOOR:.0%} (our proposal: the spec gives no number at "
            "this scale; chance is 10 %)",
            ", ".join(f"{k}: {v:.1%}" for k, v in accuracy.items()) + " (seed means)",
            verdict_claim(
                min(accuracy.values()) > reported.O3_QUICK_FLOOR, _diverged(inputs, *compare)
            ),
        )
    return card.rows
