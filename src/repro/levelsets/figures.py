"""levelsets figures: one function per figure id in `repro.levelsets.FIGURES`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from repro.aggregate import n_diverged, n_runs, series
from repro.levelsets import FIG7_LAMBDA, not_run_note
from repro.levelsets.results import baseline_finals, metric_label, population_std, regression
from repro.plotting import band, diverged_mark

PANELS = (
    ("angle", "angle(∇R, ∇L) (°)"),
    ("R", "R = ||w||²"),
    ("test_loss", "test loss"),
    ("test_metric", None),  # label depends on the task
)


def _not_run(text: str, size=(5, 3)):
    fig, ax = plt.subplots(figsize=size)
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10, color="0.25")
    return fig


def _fig2(experiment: str):
    def draw(inputs):
        if experiment not in inputs.experiments:
            return _not_run(not_run_note(experiment))
        params, summary = inputs.experiments[experiment], inputs.summary(experiment)
        fig, axes = plt.subplots(len(PANELS), 1, figsize=(4.5, 6.5), sharex=True)
        scale = 1.0 if regression(params) else 100.0
        for ax, (metric, label) in zip(axes, PANELS, strict=True):
            s = series(summary, "walk", metric)
            factor = scale if metric == "test_metric" else 1.0
            band(ax, s["step"], s["mean"] * factor, population_std(s) * factor, lw=1)
            ax.set_ylabel(label or metric_label(params, percent=True), fontsize=8)
            ax.tick_params(labelsize=7)
            ax.ticklabel_format(axis="y", useOffset=False)
            if metric == "test_loss" and len(s):
                first, last = s["mean"].iloc[0], s["mean"].iloc[-1]
                ax.set_title(
                    f"mean {first:.4g} -> {last:.4g} ({last / first - 1:+.2%})", fontsize=7
                )
        axes[-1].set_xlabel("predictor step")
        runs, diverged = n_runs(summary), n_diverged(summary)
        complete = f"{runs - diverged} of {runs} runs" + (
            f" ({diverged}/{runs} diverged, excluded)" if diverged else ""
        )
        l0 = series(summary, "levelset", "L0")["mean"]  # empty if every phase 1 diverged
        l0 = f"{l0.iloc[0]:.3g}" if len(l0) else "none (phase 1 diverged)"
        axes[0].set_title(f"{experiment}: {complete}\nmean L0 = {l0}", fontsize=9)
        fig.align_ylabels(axes)
        fig.tight_layout()
        return fig

    draw.__name__ = f"fig2_{experiment}"
    return draw


fig2_MNIST_FF = _fig2("MNIST_FF")
fig2_MNIST_CONV = _fig2("MNIST_CONV")
fig2_CIFAR10_CONV = _fig2("CIFAR10_CONV")
fig2_IRIS_FF = _fig2("IRIS_FF")
fig2_MPG_FF = _fig2("MPG_FF")


def fig7(inputs):
    from repro.levelsets.pca_snapshots import snapshot_pca

    if "MNIST_FF" not in inputs.experiments:
        return _not_run(not_run_note("MNIST_FF"))
    wd_paths = inputs.artifacts.get("L2_MNIST_FF", [])
    result = snapshot_pca(
        inputs.artifacts["MNIST_FF"], inputs.experiments["MNIST_FF"], wd_paths, FIG7_LAMBDA
    )
    fig = plt.figure(figsize=(14, 9))
    ax = fig.add_subplot(2, 3, 1)
    ratios = result.pca.explained_variance_ratio
    labels = [f"PC{i + 1}" for i in range(len(ratios))]
    ax.barh(labels, np.cumsum(ratios) * 100, color="C0", alpha=0.25, label="cumulative")
    ax.barh(labels, ratios * 100, color="C0", label="per component")
    for i, (r, c) in enumerate(zip(ratios, np.cumsum(ratios), strict=True)):
        ax.text(c * 100 + 1, i, f"{r:.1%} / {c:.1%}", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="explained variance (%)", xlim=(0, 125), title="(a) explained variance")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8)
    panels = (
        (2, (0, 1, 2), False, "(b)"),
        (3, (3, 4, 5), False, "(b)"),
        (5, (0, 1, 2), True, "(c)"),
        (6, (3, 4, 5), True, "(c)"),
    )
    for position, dims, with_wd, tag in panels:
        ax = fig.add_subplot(2, 3, position, projection="3d")
        label = f"{tag} PC{dims[0] + 1}-PC{dims[2] + 1}"
        if max(dims) >= result.coords.shape[1]:
            ax.text2D(0.5, 0.5, "fewer than 6 components", ha="center", transform=ax.transAxes)
            ax.set_title(label)
            continue
        dims = list(dims)
        points = ax.scatter(
            *result.coords[:, dims].T, c=result.index, cmap="viridis", s=5, alpha=0.8
        )
        ax.scatter(*result.centroids[:, dims].T, marker="*", s=140, color="red")
        ax.scatter(*result.end[dims], marker="P", s=110, color="blue")
        if with_wd and result.wd_end is not None:
            ax.scatter(*result.wd_end[dims], marker="p", s=110, color="black")
            label += " + weight-decay end"
        ax.view_init(elev=30, azim=45)
        for axis, d in zip("xyz", dims, strict=True):
            getattr(ax, f"set_{axis}label")(f"PC{d + 1}", fontsize=8, labelpad=-1)
        ax.tick_params(labelsize=6, pad=0)
        ax.set_title(label, fontsize=9)
    bar = fig.colorbar(points, ax=fig.axes[1:], shrink=0.5, pad=0.02, location="right")
    bar.set_label("snapshot index within its run", fontsize=8)
    legend = fig.add_subplot(2, 3, 4)
    legend.axis("off")
    handles = [
        plt.Line2D([], [], marker="*", color="red", ls="", ms=12, label="run centroid"),
        plt.Line2D([], [], marker="P", color="blue", ls="", ms=10, label="mean of the walk ends"),
        plt.Line2D(
            [],
            [],
            marker="p",
            color="black",
            ls="",
            ms=10,
            label=f"mean weight-decay end, λ={FIG7_LAMBDA:g}"
            + ("" if result.wd_end is not None else " (not available)"),
        ),
    ]
    legend.legend(handles=handles, loc="center", fontsize=9)
    runs = len(result.centroids)
    fig.suptitle(
        f"MNIST_FF: {runs} complete runs x the last {result.per_run} snapshots (every "
        f"{inputs.experiments['MNIST_FF']['snapshot_every']} predictor steps), "
        f"{result.pca.mean.size} coordinates z-scored",
        fontsize=10,
    )
    return fig


def wd_lambda(inputs):
    names = inputs.of_kind("weight_decay")
    if not names:
        return _not_run("no weight-decay experiment configured")
    fig, axes = plt.subplots(2, len(names), figsize=(3.4 * len(names), 5), squeeze=False)
    for col, name in enumerate(names):
        params, finals = inputs.experiments[name], baseline_finals(inputs.summary(name))
        x = np.arange(len(finals))
        mark = diverged_mark(inputs.seeds(name))
        for row, metric in enumerate(("loss", "metric")):
            ax = axes[row, col]
            scale = 100.0 if metric == "metric" and not regression(params) else 1.0
            mean, std = finals[f"{metric}_mean"] * scale, finals[f"{metric}_std"] * scale
            ax.errorbar(x, mean, yerr=std, marker="o", ms=4, capsize=3)
            if (metric == "loss" or regression(params)) and len(finals):
                ax.axhline(finals["constant_loss"].iloc[0], color="k", ls="--", lw=1)
            ax.set_xticks(x, [f"{v:g}" for v in finals["lambda"]], rotation=45, fontsize=7)
            if metric == "loss":
                ax.set_yscale("log")
                ax.set_title(name.removeprefix("L2_") + mark, fontsize=9)
            ax.set_ylabel(
                "test loss" if metric == "loss" else metric_label(params, percent=True), fontsize=8
            )
        axes[1, col].set_xlabel("λ")
    fig.tight_layout()
    return fig
