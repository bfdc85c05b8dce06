"""forde figures: one function per figure id in `repro.forde.FIGURES`."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from repro.aggregate import series
from repro.plotting import diverged_label

METHOD_LABELS = {
    "de": "DE",
    "forde_pca": "FoRDE-PCA",
    "forde_identity": "FoRDE-Identity",
    "forde_tuned": "FoRDE-Tuned",
}
METHOD_COLORS = {"de": "C0", "forde_pca": "C3", "forde_identity": "C2", "forde_tuned": "C4"}


def _first_seed(inputs, name):
    return np.load(sorted(inputs.artifacts[name])[0])


def _toy_panels(inputs, draw, figsize_per=3.6):
    names = list(inputs.experiments)
    fig, axes = plt.subplots(
        1, len(names), figsize=(figsize_per * len(names), 3.4), squeeze=False, sharey=True
    )
    for ax, name in zip(axes[0], names, strict=True):
        mappable = draw(ax, _first_seed(inputs, name), inputs.summary(name))
        ax.set_title(inputs.experiments[name]["label"])
    return fig, axes[0], mappable


def fig2(inputs):
    def draw(ax, arrays, summary):
        grid, pred = arrays["grid"], arrays["predictions"]
        mean, std = pred.mean(0), pred.std(0)
        ax.fill_between(grid, mean - 2 * std, mean + 2 * std, color="C0", alpha=0.25, lw=0)
        ax.plot(grid, pred.T, color="C0", lw=0.5, alpha=0.5)
        ax.plot(grid, mean, color="k", lw=1.2)
        ax.scatter(arrays["x_train"], arrays["y_train"], s=8, color="C3", zorder=3)
        out = series(summary, "test", "std_outside")["mean"].iloc[-1]
        ax.text(0.02, 0.03, f"mean std outside data: {out:.2f}", transform=ax.transAxes, fontsize=8)
        ax.set(xlabel="x", ylim=(-1.5, 2.5), xlim=(grid[0], grid[-1]))

    fig, axes, _ = _toy_panels(inputs, draw)
    axes[0].set_ylabel("y")
    fig.tight_layout()
    return fig


def fig3(inputs):
    def draw(ax, arrays, summary):
        lim = float(arrays["extent"])
        image = ax.imshow(
            arrays["grid_entropy"],
            origin="lower",
            extent=(-lim, lim, -lim, lim),
            cmap="RdBu",
            vmin=0,
            vmax=math.log(5),
        )
        x, y = arrays["x_train"], arrays["y_train"]
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=6, edgecolors="k", lw=0.2)
        ring = series(summary, "entropy", "far_ring")["mean"].iloc[-1]
        ax.text(0.02, 0.03, f"entropy, radius 10-15: {ring:.3f}", transform=ax.transAxes,
                fontsize=8, color="k", bbox={"fc": "w", "alpha": 0.7, "lw": 0})  # fmt: skip
        ax.grid(False)
        ax.set(xlabel="$x_1$")
        return image

    fig, axes, image = _toy_panels(inputs, draw)
    axes[0].set_ylabel("$x_2$")
    fig.colorbar(image, ax=list(axes), label="predictive entropy (nats)", shrink=0.9)
    return fig


def fig7(inputs):
    panels = (("grad_cos", "gradient cosine distance ↑"), ("epistemic", "epistemic uncertainty ↑"))
    names = list(inputs.experiments)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        method = inputs.experiments[name]["method"]
        summary = inputs.summary(name)
        for ax, (metric, title) in zip(axes, panels, strict=True):
            s = series(summary, "corrupt", metric)
            ax.bar(
                s["step"] + (k - (len(names) - 1) / 2) * width,
                s["mean"],
                width,
                yerr=np.nan_to_num(s["std"]),
                capsize=3,
                color=METHOD_COLORS[method],
                label=diverged_label(METHOD_LABELS[method], inputs, name),
            )
            ax.set(title=title, xlabel="severity (0 = clean)")
    axes[1].legend(loc="upper left")
    fig.tight_layout()
    return fig


def _tuned_sweeps(inputs) -> dict[str, tuple[dict, list]]:
    """dataset -> ({alpha: FoRDE-Tuned experiment}, [DE experiments on that dataset])."""
    sweeps: dict[str, tuple[dict, list]] = {}
    for name, p in inputs.experiments.items():
        if p["kind"] == "ensemble" and p["method"] == "forde_tuned" and p["alpha"] is not None:
            sweeps.setdefault(p["dataset"], ({}, []))[0][p["alpha"]] = name
    for name, p in inputs.experiments.items():
        if p["kind"] == "ensemble" and p["method"] == "de" and p["dataset"] in sweeps:
            sweeps[p["dataset"]][1].append(name)
    return {d: (dict(sorted(t.items())), de) for d, (t, de) in sweeps.items() if len(t) > 1}


def fig11_12(inputs):
    sweeps = _tuned_sweeps(inputs)
    groups = (("clean", (0,)), ("severity 1-3", (1, 2, 3)), ("severity 4-5", (4, 5)))
    if not sweeps:
        fig, ax = plt.subplots(figsize=(8, 1.6))
        ax.text(0.5, 0.5, "no FoRDE-Tuned alpha sweep in this preset (paper preset only)",
                ha="center", va="center")  # fmt: skip
        ax.set_axis_off()
        return fig
    fig, axes = plt.subplots(len(sweeps), 3, figsize=(11, 3.4 * len(sweeps)), squeeze=False)

    def accuracy(name, severities):
        s = series(inputs.summary(name), "corrupt", "accuracy").set_index("step")
        rows = s.loc[list(severities)]
        return rows["mean"].mean() * 100, np.sqrt((rows["std"] ** 2).mean()) * 100

    for row, (dataset, (tuned, de)) in zip(axes, sweeps.items(), strict=True):
        alphas = list(tuned)
        for ax, (title, severities) in zip(row, groups, strict=True):
            values = np.array([accuracy(tuned[a], severities) for a in alphas])
            ax.errorbar(
                alphas,
                values[:, 0],
                yerr=np.nan_to_num(values[:, 1]),
                marker="o",
                color=METHOD_COLORS["forde_tuned"],
                label="FoRDE-Tuned",
                capsize=3,
            )
            for name in de[:1]:
                ax.axhline(accuracy(name, severities)[0], ls="--", color="k", label="DE")
            ax.set(title=f"{dataset}: {title}", xlabel=r"$\alpha$", ylabel="accuracy (%)")
        row[0].legend()
    fig.tight_layout()
    return fig
