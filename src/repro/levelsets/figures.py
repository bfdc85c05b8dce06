"""levelsets figures: one function per figure id in `repro.levelsets.FIGURES`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.aggregate import diverged_seeds
from repro.levelsets import ARCHITECTURES, FIG7_LAMBDA
from repro.levelsets.results import baseline_finals, metric_label, regression
from repro.plotting import diverged_mark

PANELS = (
    ("angle", "Δ angle(∇R, ∇L) (°)"),
    ("R", "Δ R = Δ||w||²"),
    ("test_loss", "Δ test loss"),
    ("test_metric", None),  # label depends on the task
)


def _only(inputs, kind: str) -> str | None:
    """The one selected experiment of `kind` (figures made per experiment)."""
    names = inputs.of_kind(kind)
    return names[0] if names else None


def _per_run(table, metric: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed -> (steps, values) of one walk metric, complete walks only (a walk stopped by
    the corrector cap is logged under split `walk_diverged`)."""
    rows = table[(table["split"] == "walk") & (table["metric"] == metric)]
    return {
        int(seed): (g["step"].to_numpy(), g["value"].to_numpy(dtype=float))
        for seed, g in rows.sort_values("step").groupby("seed")
    }


def fig2(inputs):
    """Fig. 2 of one traversal experiment. The between-run spread (different subsets and
    inits) dwarfs what changes along one walk, so each run is drawn as its change from
    its own step 0; the bottom panel is where the tolerance can fail: |L − L0| right after
    each predictor step (before any corrector), log scale, with the band."""
    name = _only(inputs, "traversal")  # the Needs select one architecture's walk
    params, table = inputs.experiments[name], inputs.seeds(name)
    scale = 1.0 if regression(params) else 100.0
    fig, axes = plt.subplots(len(PANELS) + 1, 1, figsize=(5, 8.5), sharex=True)
    complete = sorted(_per_run(table, "R"))
    for ax, (metric, label) in zip(axes, PANELS, strict=False):
        runs = _per_run(table, metric)
        factor = scale if metric == "test_metric" else 1.0
        changes = []
        for k, (seed, (steps, values)) in enumerate(sorted(runs.items())):
            change = (values - values[0]) * factor
            ax.plot(steps, change, lw=0.7, alpha=0.8, color=f"C{k % 10}", label=f"seed {seed}")
            changes.append(pd.Series(change, index=steps))
        if changes:
            mean = pd.concat(changes, axis=1).mean(axis=1)
            ax.plot(mean.index, mean.to_numpy(), color="k", lw=1.8,
                    label=f"mean (n = {len(changes)})")  # fmt: skip
            ax.set_title(f"mean change at the last step {mean.iloc[-1]:+.4g}", fontsize=7)
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_ylabel(label or "Δ " + metric_label(params, percent=True), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False, style="sci", scilimits=(-3, 4))
    ax = axes[-1]
    band_edge = float(np.sqrt(params["tolerance"]))
    for k, (_seed, (steps, gaps)) in enumerate(sorted(_per_run(table, "gap_after").items())):
        ax.plot(steps, np.maximum(np.abs(gaps), 1e-12), lw=0.7, color=f"C{k % 10}")
    ax.axhline(band_edge, color="C3", ls="--", lw=1,
               label=f"tolerance |L − L0| = {band_edge:g}")  # fmt: skip
    ax.set_yscale("log")
    if (table[(table["split"] == "walk") & (table["metric"] == "gap_after")]["value"] == 0).any():
        ax.text(0.01, 0.04, "a gap of exactly 0 (float32 loss) is drawn at 1e-12",
                transform=ax.transAxes, fontsize=6, color="0.35")  # fmt: skip
    ax.set_ylabel("|L − L0| after\npredictor step", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    ax.tick_params(labelsize=7)
    ax.set_xlabel("predictor step")
    # R falls from 0 (the claim): its upper right stays free; 3 columns past 6 runs
    axes[1].legend(fontsize=6.5, ncol=2 if len(complete) <= 6 else 3, loc="upper right")
    diverged = diverged_seeds(table)
    runs = sorted(table["seed"].unique())
    note = f" ({len(diverged)}/{len(runs)} diverged, excluded)" if diverged else ""
    l0 = table[(table["split"] == "levelset") & (table["metric"] == "L0")]["value"]
    l0_text = f"\nL0 = {l0.min():.2e} to {l0.max():.2e}" if len(l0) else ""
    fig.suptitle(f"{name}: {len(complete)} of {len(runs)} runs complete{note}{l0_text}",
                 fontsize=8.5)  # fmt: skip
    fig.align_ylabels(axes)
    fig.tight_layout()
    return fig


def __getattr__(name: str):
    """`fig2_<ARCH>` (one figure id per architecture, see repro.levelsets.FIGURES) is fig2
    (its `Needs` select that architecture's walk)."""
    if name.startswith("fig2_") and name.removeprefix("fig2_") in ARCHITECTURES:
        return fig2
    raise AttributeError(name)


def fig7(inputs):
    from repro.levelsets.pca_snapshots import snapshot_pca

    name, wd = _only(inputs, "traversal"), _only(inputs, "weight_decay")
    wd_paths = inputs.artifact_files(wd) if wd else []
    result = snapshot_pca(
        inputs.artifact_files(name), inputs.experiments[name], wd_paths, FIG7_LAMBDA
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
    points = None  # stays None when the walk gave fewer than 3 components
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
    if points is not None:
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
        f"{name}: {runs} complete runs x the last {result.per_run} snapshots (every "
        f"{inputs.experiments[name]['snapshot_every']} predictor steps), "
        f"{result.pca.mean.size} coordinates z-scored",
        fontsize=10,
    )
    return fig


def wd_lambda(inputs):
    names = inputs.of_kind("weight_decay")
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
