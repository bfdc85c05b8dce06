"""eqprop figures: one function per figure id in `repro.eqprop.FIGURES`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from repro.aggregate import n_diverged, series
from repro.plotting import band
from repro.registry import dataset_label

KINKED = ("my_hard_sig", "hard_sigmoid", "ctrd_hard_sig")  # piecewise-linear σ (gdu.KINKS)
ESTIMATOR_STYLE = {  # label, colour
    "one_sided": ("EP one-sided", "C3"),
    "random_sign": ("EP random sign", "C1"),
    "symmetric": ("EP symmetric", "C0"),
    None: ("BPTT (truncated)", "k"),
}


def _dataset(params) -> str:
    return dataset_label(params["dataset"])


def _weights(summary) -> list[str]:
    """Weight tensors of a GDU summary (W1, W2, ...), in layer order."""
    names = {s for s in summary["split"].unique() if s.startswith("W")}
    return sorted(names, key=lambda s: int(s[1:]))


def _betas(summary) -> np.ndarray:
    return series(summary, "beta", "value")["mean"].to_numpy()


def _title(params) -> str:
    return f"{params['label']} ({_dataset(params)}, T1 {params['t1']}, T2 {params['t2']})"


def fig_gdu_curves(inputs):
    names = list(inputs.experiments)
    columns = max(len(_weights(inputs.summary(n))) for n in names)
    fig, axes = plt.subplots(
        len(names), columns, figsize=(3.4 * columns, 3.0 * len(names)), squeeze=False
    )
    for row, name in enumerate(names):
        params = inputs.experiments[name]
        arrays = np.load(inputs.first_artifacts(name))
        index = int(np.argmin(np.abs(arrays["betas"] - params["curve_beta"])))
        beta = arrays["betas"][index]
        for col in range(columns):
            ax = axes[row, col]
            weights = _weights(inputs.summary(name))
            if col >= len(weights):
                ax.axis("off")
                continue
            tensor = weights[col]
            curves = {k: np.cumsum(arrays[f"{tensor}_{k}"][index, 0]) for k in ("plus", "minus")}
            bptt = np.cumsum(arrays[f"{tensor}_bptt"][index, 0])
            t = np.arange(1, len(bptt) + 1)
            ax.plot(t, curves["plus"], ":", color="C3", lw=2, label=r"$\hat\nabla^{EP}(\beta, t)$")
            ax.plot(
                t, curves["minus"], ":", color="C2", lw=2, label=r"$\hat\nabla^{EP}(-\beta, t)$"
            )
            sym = 0.5 * (curves["plus"] + curves["minus"])
            ax.plot(t, sym, "--", color="C0", lw=2, label=r"$\hat\nabla^{EP}_{sym}(\beta, t)$")
            ax.plot(t, bptt, "-", color="k", lw=1.2, label=r"$\nabla^{BPTT}(t)$")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
            ax.set_title(f"{params['label']}\none synapse of {tensor}, β = {beta:g}", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if row == len(names) - 1:
                ax.set_xlabel("time step t in the second phase")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _at(summary, tensor: str, metric: str, index: int) -> tuple[float, float]:
    """(mean, std over seeds) of a GDU metric at the `index`-th β."""
    row = series(summary, tensor, metric).iloc[index]
    return row["mean"], np.nan_to_num(row["std"])


def fig_gdu_bars(inputs):
    names = list(inputs.experiments)
    fig, axes = plt.subplots(2, len(names), figsize=(4.8 * len(names), 6.2), squeeze=False)
    for col, name in enumerate(names):
        params, summary = inputs.experiments[name], inputs.summary(name)
        index = int(np.argmin(np.abs(_betas(summary) - params["curve_beta"])))
        beta = _betas(summary)[index]
        weights = _weights(summary)
        x = np.arange(len(weights))

        close = np.array([_at(summary, w, "closeness", index) for w in weights])
        ax = axes[0, col]
        ax.bar(x, close[:, 0], yerr=close[:, 1], color="C0", capsize=3)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xticks(x, weights)
        ax.set(
            ylabel="2|sym - BPTT| / (|EP₊ - BPTT| + |EP₋ - BPTT|)",
            title=f"{_title(params)}\nβ = {beta:g}, n = {len(params['seeds'])} seeds",
        )
        ax.title.set_size(9)
        ax.yaxis.label.set_size(8)
        ax = axes[1, col]
        width = 0.27
        for offset, (metric, label, color) in zip(
            (-width, 0, width),
            (
                ("rmse_plus", "one-sided +β", "C3"),
                ("rmse_minus", "one-sided -β", "C2"),
                ("rmse_sym", "symmetric", "C0"),
            ),
            strict=True,
        ):
            vals = np.array([_at(summary, w, metric, index) for w in weights])
            ax.bar(x + offset, vals[:, 0], width, yerr=vals[:, 1], color=color, label=label)
        ax.set_xticks(x, weights)
        ax.set(ylabel="RMSE ratio of the per-step series (code)", title=f"β = {beta:g}")
        ax.yaxis.label.set_size(8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_bias_vs_beta(inputs):
    """Per GDU experiment (column): the bias vs β, the share of neurons / max-pool windows
    leaving their linear piece during the nudged phases, and the free-phase residual."""
    names = list(inputs.experiments)
    fig, axes = plt.subplots(3, len(names), figsize=(4.8 * len(names), 10.2), squeeze=False)
    for col, name in enumerate(names):
        params, summary = inputs.experiments[name], inputs.summary(name)
        betas, weights = _betas(summary), _weights(summary)
        n = len(params["seeds"])
        ax = axes[0, col]
        for metric, label, color, marker in (
            ("rel_err_plus", "one-sided +β", "C3", "o"),
            ("rel_err_minus", "one-sided -β", "C2", "s"),
            ("rel_err_sym", "symmetric", "C0", "^"),
        ):
            rows = [series(summary, w, metric) for w in weights]
            mean = np.mean([r["mean"].to_numpy() for r in rows], axis=0)
            std = np.mean([r["std"].to_numpy() for r in rows], axis=0)
            ax.errorbar(
                betas,
                mean,
                yerr=np.nan_to_num(std),
                color=color,
                marker=marker,
                label=f"{label} (n={n})",
            )
        table = inputs.seeds(name)  # thin lines: each seed (a mean can hide one crossing)
        for metric, color in (("rel_err_plus", "C3"), ("rel_err_sym", "C0")):
            rows = table[table["split"].isin(weights) & (table["metric"] == metric)]
            per_seed = rows.groupby(["seed", "step"])["value"].mean().unstack("step")
            for values in per_seed.to_numpy():
                ax.plot(betas, values, color=color, lw=0.6, alpha=0.5)
        limits = ax.get_ylim()
        ref = betas[np.argmin(np.abs(betas - params["curve_beta"]))]
        level = np.mean([series(summary, w, "rel_err_plus")["mean"] for w in weights], axis=0)
        level = float(level[np.argmin(np.abs(betas - ref))])
        grid = np.array([betas.min(), betas.max()])
        for power, style in ((1, "-"), (2, "--")):
            ax.plot(
                grid,
                level * (grid / ref) ** power,
                style,
                color="0.6",
                lw=1,
                label="∝ β" if power == 1 else "∝ β²",
            )
        ax.set(xscale="log", yscale="log", xlabel="β", ylabel="relative error vs BPTT")
        ax.set_ylim(*limits)  # the guides never set the range
        ax.set_title(_title(params), fontsize=9)
        ax.legend(fontsize=7)

        ax = axes[1, col]
        if "regions" in set(summary["split"]):
            for metric, label, color, marker in (
                ("changed_plus", "+β phase", "C3", "o"),
                ("changed_minus", "-β phase", "C2", "s"),
            ):
                r = series(summary, "regions", metric)
                ax.errorbar(
                    betas,
                    100 * r["mean"],
                    yerr=100 * np.nan_to_num(r["std"]),
                    color=color,
                    marker=marker,
                    label=f"{label} (n={n})",
                )
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=7)
            if params["activation"] not in KINKED and "m" not in params["pools"]:
                ax.text(
                    0.5,
                    0.5,
                    f"smooth σ ({params['activation']}), no max-pool:\nno kinks, always 0",
                    transform=ax.transAxes,
                    ha="center",
                    fontsize=8,
                    color="0.4",
                )
        ax.set(xlabel="β", ylabel="neurons + pool windows off\ntheir linear piece (%)")
        ax.set_title("σ kinks / max-pool switches met while nudged", fontsize=9)

        ax = axes[2, col]
        for i, path in enumerate(inputs.artifact_files(name)):
            with np.load(path) as arrays:
                if "residual" not in arrays:
                    continue
                trace = arrays["residual"]
            ax.plot(
                np.arange(1, len(trace) + 1),
                np.maximum(trace, 1e-18),
                color="C0",
                lw=1,
                alpha=0.8,
                label=f"seeds (n={n})" if i == 0 else None,
            )
        ax.axvline(
            params["t1"] - params["t2"], color="0.5", ls=":", lw=1, label="BPTT window start"
        )
        ax.set(
            yscale="log",
            xlabel="free-phase step t",
            ylabel="max |s(t) - s(t-1)|",
            title="free-phase residual (0 = exact fixed point, floored at 1e-18)",
        )
        ax.title.set_size(9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _group(params) -> str:
    network = "MLP" if not params["channels"] else ("VF ConvNet" if params["vf"] else "ConvNet")
    if params.get("dropouts"):
        network += " + dropout"
    loss = "CE + softmax read-out" if params["loss"] == "ce" else "MSE"
    return f"{network}, {loss} ({_dataset(params)})"


def fig_train_curves(inputs):
    groups: dict[str, list[str]] = {}
    for name, params in inputs.experiments.items():
        groups.setdefault(_group(params), []).append(name)
    cols = min(2, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    for ax, (group, names) in zip(axes.flat, groups.items(), strict=False):
        epochs = max(inputs.experiments[n]["epochs"] for n in names)
        for i, name in enumerate(names):
            params, summary = inputs.experiments[name], inputs.summary(name)
            label, color = ESTIMATOR_STYLE[params["estimator"]]
            if params["algorithm"] == "ep" and params["vf"] and params["same_update"]:
                label, color = label + ", same update", "C4"
            if params["algorithm"] == "bptt":
                label, color = ESTIMATOR_STYLE[None]
            diverged = n_diverged(summary)
            label += f" (n={len(params['seeds'])}" + (
                f", {diverged} diverged)" if diverged else ")"
            )
            test = series(summary, "test", "error")
            train = series(summary, "train", "error")
            # one epoch: the curves are single points; set them side by side, with bars
            dodge = 0.08 * (i - (len(names) - 1) / 2) if epochs == 1 else 0.0
            band(
                ax,
                test["step"] + dodge,
                100 * test["mean"],
                100 * test["std"],
                label=label,
                color=color,
                marker="o",
                ms=3,
            )
            if epochs == 1:
                ax.errorbar(
                    test["step"] + dodge, 100 * test["mean"], 100 * test["std"], color=color
                )
            ax.plot(train["step"] + dodge, 100 * train["mean"], "--", color=color, lw=1)
        ax.axhline(90, color="0.5", lw=0.8, ls=":")
        ax.set(xlabel="epoch", ylabel="error (%)", ylim=(0, 100), xlim=(0.5, epochs + 0.5))
        ax.set_title(group)
        ax.title.set_size(9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.legend(fontsize=7, title="solid: test, dashed: train", title_fontsize=7)
    fig.tight_layout()
    return fig


def fig_vf_angle(inputs):
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for i, (name, params) in enumerate(inputs.experiments.items()):
        summary = inputs.summary(name)
        tensors = sorted(
            summary.loc[summary["split"] == "angle", "metric"].unique(), key=lambda s: int(s[1:])
        )
        update = "same update" if params["same_update"] else "different updates"
        for j, tensor in enumerate(tensors):
            s = series(summary, "angle", tensor)
            band(
                ax,
                s["step"],
                s["mean"],
                s["std"],
                label=f"{update}: ∠(B{tensor[1:]}, W{int(tensor[1:]) + 1}) "
                f"(n={len(params['seeds'])})",
                color=f"C{i}",
                ls=("-", "--", ":", "-.")[j % 4],
                marker="o",
                ms=3,
            )
    first = next(iter(inputs.experiments.values()))
    ax.set(
        xlabel="epoch",
        ylabel="angle (degrees)",
        title=f"VF ConvNet, symmetric EP ({_dataset(first)})",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    return fig
