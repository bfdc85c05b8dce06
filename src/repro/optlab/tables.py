"""optlab tables (one function per id in `repro.optlab.TABLES`) and scorecard rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.aggregate import final, n_diverged, n_runs, series
from repro.optlab import reported
from repro.tables import score, verdict_claim, verdict_numeric


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
        ref_act = dict(
            zip(reported.LAYERS, reported.ACTIVATION_VARIANCE.get(name, ()), strict=False)
        )
        ref_grad = dict(
            zip(reported.LAYERS, reported.GRADIENT_VARIANCE.get(name, ()), strict=False)
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
        test = _final(s, "test", "accuracy")
        rows.append(
            {
                "experiment": name,
                "optimizer": p["optimizer"],
                "lr": p["lr"],
                "epochs": p["epochs"],
                "train_images": p["train_subset"] or 50000,
                "best_epoch_mean": _final(s, "test", "best_epoch")["mean"],
                "test_accuracy_mean": test["mean"],
                "test_accuracy_std": test["std"],
                "uva_test_accuracy": reported.UVA_TEST_ACCURACY[p["optimizer"]],
            }
        )
    return pd.DataFrame(rows)


def _by(inputs, kind: str, key: str) -> dict:
    """Experiments of `kind`, keyed by hyperparameter `key` (e.g. lr -> name)."""
    return {p[key]: n for n, p in inputs.experiments.items() if p["kind"] == kind}


def scorecard(inputs) -> list[dict]:
    preset = inputs.preset
    rows = []

    def add(claim, rep, ours, verdict, detail=""):
        rows.append(score("optlab", claim, rep, ours, preset, verdict, detail))

    # Part 1: MNIST MLP
    by_lr = _by(inputs, "mnist_mlp", "lr")
    if 0.005 in by_lr:
        s = inputs.summary(by_lr[0.005])
        epochs = inputs.experiments[by_lr[0.005]]["epochs"]
        test = _final(s, "test", "accuracy")["mean"]
        diverged = n_diverged(s)
        runs = f"; {diverged} of {n_runs(s)} runs diverged" if diverged else ""
        add(
            "MNIST MLP test accuracy, lr 0.005 (20 epochs in the lab)",
            "about 96 %",
            f"{test:.2%} after {epochs} epochs",
            verdict_numeric(test, reported.MNIST_TEST_ACCURACY, 0.01, diverged=diverged > 0),
            "tolerance ±1 point; fewer epochs than the lab lower it" + runs,
        )
        val = series(s, "val", "accuracy").set_index("step")["mean"]
        val1 = float(val.get(1, np.nan))
        add(
            "Validation accuracy after one epoch at lr 0.005",
            "0.8734",
            f"{val1:.4f}",
            verdict_numeric(
                val1, reported.MNIST_VAL_ACCURACY_EPOCH1_LR0005, 0.02, diverged=diverged > 0
            ),
            "tolerance ±0.02 (one run in the lab)" + runs,
        )
    if {1.0, 0.05, 0.005} <= set(by_lr):
        acc = {
            lr: _final(inputs.summary(by_lr[lr]), "test", "accuracy")["mean"]
            for lr in (1.0, 0.05, 0.005)
        }
        # lr 1 diverging is part of "fails"; a diverged run at lr 0.05 or 0.005 is not
        trained = [n_diverged(inputs.summary(by_lr[lr])) for lr in (0.05, 0.005)]
        holds = not acc[1.0] >= 0.9 and acc[0.05] > 0.9 and acc[0.005] > 0.9
        add(
            "lr 1 fails while lr 0.05 and 0.005 train above 90 % within a few epochs",
            "lr 1: erratic, 37-53 % (spec check, solved notebook)",
            ", ".join(f"lr {lr:g}: {a:.1%}" for lr, a in acc.items()),
            verdict_claim(holds, diverged=sum(trained) > 0),
        )

    # Part 2: initialisation
    for name, ref in reported.ACTIVATION_VARIANCE.items():
        if name in inputs.experiments:
            ours = series(inputs.summary(name), "activation", "variance")["mean"].to_numpy()
            ratio = np.abs(np.log10(ours / np.asarray(ref)))
            add(
                f"Activation variance per layer, {inputs.experiments[name]['label']}",
                ", ".join(f"{v:.3g}" for v in ref),
                ", ".join(f"{v:.3g}" for v in ours),
                "within tolerance" if np.all(ratio <= np.log10(2)) else "differs",
                "each layer within a factor 2 (the notebook shows one random draw)",
            )
    if "init_tanh_xavier" in inputs.experiments:
        ref = reported.GRADIENT_VARIANCE["init_tanh_xavier"]
        ours = series(inputs.summary("init_tanh_xavier"), "gradient", "variance")["mean"]
        ratio = np.abs(np.log10(ours.to_numpy() / np.asarray(ref)))
        add(
            "Weight-gradient variance per layer, Tanh + Xavier",
            ", ".join(f"{v:.3g}" for v in ref),
            ", ".join(f"{v:.3g}" for v in ours),
            "within tolerance" if np.all(ratio <= np.log10(2)) else "differs",
            "each layer within a factor 2",
        )
    variances = {
        n: series(inputs.summary(n), "activation", "variance")["mean"].to_numpy()
        for n, p in inputs.experiments.items()
        if p["kind"] == "init_diag"
    }
    needed = (
        "init_identity_std0.01",
        "init_identity_std0.1",
        "init_identity_equal_var",
        "init_tanh_xavier",
        "init_relu_kaiming",
    )
    if all(n in variances for n in needed):
        v = variances
        flat = lambda a: a.max() / a.min() < 2  # noqa: E731
        holds = (
            v["init_identity_std0.01"][-1] < v["init_identity_std0.01"][0] / 100
            and v["init_identity_std0.1"][-1] > v["init_identity_std0.1"][0] * 10
            and flat(v["init_identity_equal_var"])
            and flat(v["init_relu_kaiming"])
            and v["init_tanh_xavier"][3] < v["init_tanh_xavier"][0] / 2
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

    # UvA optimizer comparison
    for name, p in inputs.experiments.items():
        if p["kind"] == "optim_compare":
            summary = inputs.summary(name)
            test = _final(summary, "test", "accuracy")["mean"]
            ref = reported.UVA_TEST_ACCURACY[p["optimizer"]]
            add(
                f"FashionMNIST test accuracy with {p['optimizer']} (UvA, 40 epochs)",
                f"{ref:.2%}",
                f"{test:.2%} after {p['epochs']} epochs on {p['train_subset'] or 50000} images",
                verdict_numeric(test, ref, 0.015, diverged=n_diverged(summary) > 0),
                "tolerance ±1.5 points; the lab's [-1, 1] inputs, not UvA's standardisation",
            )
    return rows
