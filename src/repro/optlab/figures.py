"""optlab figures: one function per figure id in `repro.optlab.FIGURES`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from repro.aggregate import final, n_runs, series
from repro.plotting import band, diverged_label, diverged_mark

MOVING_AVERAGE = 50
OPTIMIZER_STYLE = {
    "sgd": ("SGD", "red"),
    "sgd_momentum": ("SGDMom", "blue"),
    "adam": ("Adam", "grey"),
}


def _lr_label(inputs, name: str) -> str:
    """ "lr 0.05 (n=3)", or "lr 1 (2/3 diverged)" when runs diverged."""
    mark = diverged_mark(inputs.seeds(name))
    n = n_runs(inputs.summary(name))
    return f"lr {inputs.experiments[name]['lr']:g}" + (mark or f" (n={n})")


def L1(inputs):
    (name,) = inputs.experiments
    table = inputs.seeds(name)
    batches = table[(table["split"] == "train_batch") & (table["metric"] == "loss")]
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for i, (seed, run) in enumerate(batches.sort_values("step").groupby("seed")):
        if i == 0:  # the lab's figure is one run: its raw mini-batch losses
            ax.plot(
                run["step"],
                run["value"],
                lw=0.5,
                alpha=0.5,
                color="0.5",
                label=f"mini-batch loss, seed {seed}",
            )
        if len(run) >= MOVING_AVERAGE:
            kernel = np.ones(MOVING_AVERAGE) / MOVING_AVERAGE
            ax.plot(
                run["step"].iloc[MOVING_AVERAGE - 1 :],
                np.convolve(run["value"], kernel, "valid"),
                lw=1.5,
                color=f"C{i}",
                label=f"moving average ({MOVING_AVERAGE} batches), seed {seed}",
            )
    ax.set(
        xlabel="mini-batch index (epoch 1)",
        ylabel="cross-entropy loss",
        title=f"SGD, {_lr_label(inputs, name)}, batch {inputs.experiments[name]['batch_size']}",
    )
    ax.legend(fontsize=8)
    return fig


def L2(inputs):
    panels = [
        ("train", "loss", "train loss"),
        ("val", "loss", "validation loss"),
        ("val", "accuracy", "validation accuracy"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for name in inputs.experiments:
        for ax, (split, metric, label) in zip(axes, panels, strict=True):
            s = series(inputs.summary(name), split, metric)
            band(
                ax, s["step"], s["mean"], s["ci95"], label=_lr_label(inputs, name), marker="o", ms=3
            )
            ax.set(xlabel="epoch", ylabel=label)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[2].legend()
    fig.tight_layout()
    return fig


def L3(inputs):
    names = list(inputs.experiments)
    rows = [final(inputs.summary(n), "test", "accuracy") for n in names]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    x = np.arange(len(names))
    means = np.array([r["mean"] for r in rows]) * 100
    errors = np.nan_to_num(np.array([r["ci95"] for r in rows]) * 100)
    ax.bar(x, means, yerr=errors, color="C0", capsize=4)
    for xi, m in zip(x, means, strict=True):  # inside the bar, below the target line
        inside = m > 20
        ax.text(
            xi,
            min(m, 90) - 2 if inside else m + 2,
            f"{m:.1f} %",
            ha="center",
            va="top" if inside else "bottom",
            color="white" if inside else "black",
            fontweight="bold",
            zorder=5,  # over the error bar
            bbox={"facecolor": "C0", "edgecolor": "none", "pad": 1} if inside else None,
        )
    ax.axhline(96, color="k", ls="--", lw=1, label="lab target ~96 % (20 epochs)")
    ax.set_xticks(x, [_lr_label(inputs, n) for n in names])
    epochs = {inputs.experiments[n]["epochs"] for n in names}
    ax.set(
        ylabel="test accuracy (%)",
        ylim=(0, 115),
        yticks=range(0, 101, 20),
        title=f"MNIST MLP after {'/'.join(map(str, sorted(epochs)))} epoch(s)",
    )
    ax.legend(loc="upper left", fontsize=8)  # above the target line
    return fig


def _kde(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE (Scott's bandwidth) by binning: fast for 10^5-10^6 values."""
    n, std = values.size, values.std()
    bandwidth = std * n ** (-1 / 5) if std > 0 else 1.0
    edges = np.linspace(grid[0], grid[-1], 2049)
    counts, _ = np.histogram(values, edges)
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    half = min(int(np.ceil(4 * bandwidth / width)), len(counts) // 2 - 1)
    kernel = np.exp(-0.5 * ((np.arange(-half, half + 1) * width) / bandwidth) ** 2)
    kernel /= kernel.sum() * width
    density = np.convolve(counts / n, kernel, "same")
    return np.interp(grid, centres, density)


def _histograms(ax, values: np.ndarray, stat: str, color: str) -> None:
    """The lab's `plot_dists` panel: 50 bins, a KDE only when the values vary (> 1e-8)."""
    values = values.ravel().astype(np.float64)
    spread = values.max() - values.min()
    if spread == 0:  # every value equal: one bar, in a window around it, and say so
        value, half = values[0], max(abs(values[0]), 1e-12)
        ax.bar([value], [values.size if stat == "count" else 1.0], width=half / 25, color=color)
        ax.set_xlim(value - half, value + half)
        ax.text(
            0.03,
            0.95,
            f"all {values.size} values\n= {value:.3g}",
            transform=ax.transAxes,
            va="top",
            fontsize=7,
        )
        return
    counts, edges = np.histogram(values, bins=50)
    heights = counts if stat == "count" else counts / (counts.sum() * np.diff(edges))
    ax.bar(edges[:-1], heights, width=np.diff(edges), align="edge", color=color, alpha=0.6)
    if spread > 1e-8:
        grid = np.linspace(edges[0], edges[-1], 200)
        scale = values.size * (edges[1] - edges[0]) if stat == "count" else 1.0
        ax.plot(grid, _kde(values, grid) * scale, color=color, lw=1.2)


def _init_figure(inputs):
    (name,) = inputs.experiments
    arrays = np.load(inputs.first_artifacts(name))
    layers = sorted(int(k.split("_")[1]) for k in arrays.files if k.startswith("gradient_"))
    summary = inputs.summary(name)
    fig, axes = plt.subplots(2, len(layers), figsize=(3 * len(layers), 5.4))
    for col, layer in enumerate(layers):
        grad, act = arrays[f"gradient_{layer}"], arrays[f"activation_{layer}"]
        rows = (
            ("gradient", grad, "count", "C0", "Grad magnitude"),
            ("activation", act, "density", "C1", "Activation vals"),
        )
        for row, (split, values, stat, color, xlabel) in enumerate(rows):
            ax = axes[row, col]
            _histograms(ax, values, stat, color)
            var = series(summary, split, "variance").set_index("step").loc[layer, "mean"]
            ax.set_title(
                f"Layer {layer} ({grad.shape[1]} → {grad.shape[0]})\nvar {var:.3g}", fontsize=9
            )
            ax.set_xlabel(xlabel)
            ax.set_ylabel("Count" if stat == "count" else "Density")
            ax.tick_params(labelsize=7)
    fig.suptitle(
        f"{inputs.experiments[name]['label']}: gradient (top) and activation "
        "(bottom) distributions",
        fontsize=11,
    )
    fig.tight_layout()
    _offset_into_label(fig)
    return fig


def _offset_into_label(fig) -> None:
    """Move each x axis' offset/multiplier text (e.g. 1e-5) into its label, where it
    cannot collide with the label (lab fig. I1: tiny gradients)."""
    fig.canvas.draw()
    for ax in fig.axes:
        offset = ax.xaxis.get_offset_text().get_text()
        if offset:
            ax.xaxis.get_offset_text().set_visible(False)
            ax.set_xlabel(f"{ax.get_xlabel()} ({offset})")


I1 = I2 = I3 = I4 = I5 = I6 = I7 = _init_figure


def I_variance(inputs):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    zeros = {ax: [] for ax in axes}  # (layer, colour) of variances that are exactly 0
    for i, (name, params) in enumerate(inputs.experiments.items()):
        summary = inputs.summary(name)
        label = f"{params['label']} (n={n_runs(summary)})"
        table = inputs.seeds(name)
        for ax, split in zip(axes, ("activation", "gradient"), strict=True):
            s = series(summary, split, "variance")
            mean = s["mean"].where(s["mean"] > 0)  # exactly 0 (constant init) has no log
            ax.plot(s["step"], mean, label=label, marker="o", color=f"C{i}")
            # on a log axis a mean ± CI band reaches below 0: shade the seeds' range instead
            rows = table[(table["split"] == split) & (table["metric"] == "variance")]
            spread = rows.groupby("step")["value"].agg(["min", "max"]).reindex(s["step"])
            ax.fill_between(
                s["step"],
                spread["min"].where(spread["min"] > 0),
                spread["max"].where(spread["max"] > 0),
                color=f"C{i}",
                alpha=0.2,
                linewidth=0,
            )
            zeros[ax] += [(layer, f"C{i}") for layer in s["step"][s["mean"] <= 0]]
    for ax, split in zip(axes, ("activation", "weight-gradient"), strict=True):
        ax.set(
            yscale="log",
            xlabel="Linear layer index",
            ylabel=f"{split} variance",
            xticks=[0, 2, 4, 6, 8],
        )
        if zeros[ax]:  # no log: a marker on the axis floor, and a note
            floor = ax.get_ylim()[0]
            for layer, colour in zeros[ax]:
                ax.plot(layer, floor, marker="v", ms=9, color=colour, clip_on=False, zorder=5)
            ax.set_xlabel(
                "Linear layer index\n▼ on the axis floor: variance exactly 0 "
                "(identical values in the layer)"
            )
            ax.set_ylim(bottom=floor)
    axes[0].set_title("lines: mean over seeds; shading: range over seeds", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=4, fontsize=8)
    fig.tight_layout()
    return fig


def curvature_loss(w1, w2):
    """`repro.optlab.train.curvature_loss` in NumPy, for drawing the surface without
    importing torch in a figure job (tests/test_optlab.py checks the two agree)."""
    return np.tanh(w1) ** 2 + 0.01 * np.abs(w1) + 1.0 / (1.0 + np.exp(-w2))


def _surface(x_range, y_range, n=100):
    x = np.arange(x_range[0], x_range[1], (x_range[1] - x_range[0]) / n)
    y = np.arange(y_range[0], y_range[1], (y_range[1] - y_range[0]) / n)
    xx, yy = np.meshgrid(x, y, indexing="xy")
    return xx, yy, curvature_loss(xx, yy)


def O1(inputs):
    x, y, z = _surface((-5, 5), (-5, 5))
    fig = plt.figure(figsize=(6, 5))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(x, y, z, cmap="viridis", edgecolor="none", antialiased=False)
    ax.set(xlabel=r"$w_1$", ylabel=r"$w_2$", zlabel="loss", title="Pathological curvature")
    return fig


def O2(inputs):
    paths = {}
    for name, params in inputs.experiments.items():
        s = inputs.summary(name)
        paths[params["optimizer"]] = np.stack(
            [series(s, "path", m)["mean"].to_numpy() for m in ("w1", "w2", "f")], axis=1
        )
    points = np.concatenate(list(paths.values()))
    w1_max = np.abs(points[:, 0]).max()
    x_range, y_range = (-w1_max, w1_max), (points[:, 1].min(), points[:, 1].max())
    _, _, z = _surface(x_range, y_range)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.imshow(z[::-1], cmap="viridis", extent=(*x_range, *y_range), aspect="auto")
    for order, (optimizer, path) in enumerate(paths.items(), start=1):
        label, color = OPTIMIZER_STYLE[optimizer]
        ax.plot(
            path[:, 0],
            path[:, 1],
            color=color,
            marker="o",
            ms=3,
            lw=1,
            zorder=order,
            label=f"{label} (end: w1={path[-1, 0]:.3g}, w2={path[-1, 1]:.3g})",
        )
    ax.set(xlabel=r"$w_1$", ylabel=r"$w_2$", title="Optimizer paths on the curvature")
    ax.grid(False)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    return fig


def O3(inputs):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for name, params in inputs.experiments.items():
        summary = inputs.summary(name)
        label, color = OPTIMIZER_STYLE[params["optimizer"]]
        test = final(summary, "test", "accuracy")
        n = int(test["n"])
        test_text = f"{test['mean'] * 100:.2f}" + (f" ± {test['std'] * 100:.2f}" if n > 1 else "")
        for ax, split in zip(axes, ("train", "val"), strict=True):
            s = series(summary, split, "accuracy")
            band(
                ax,
                s["step"],
                s["mean"] * 100,
                s["ci95"] * 100,
                color=color,
                marker="o",
                ms=3,
                label=diverged_label(
                    f"{label} (lr {params['lr']:g}, n={n}; test {test_text} %)", inputs, name
                ),
            )
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set(xlabel="epoch", ylabel="accuracy (%)", title="training (running, per epoch)")
    norm = {"uva": "standardised inputs (UvA)", "lab": "inputs in [-1, 1] (lab)"}
    kinds = {norm[p["normalisation"]] for p in inputs.experiments.values()}
    axes[1].set(xlabel="epoch", title=f"validation; {', '.join(sorted(kinds))}")
    axes[1].legend(fontsize=8)
    low, high = axes[0].get_ylim()  # an interval of n = 3 may pass 100 %: accuracy cannot
    axes[0].set_ylim(low, min(high, 100.5))
    fig.tight_layout()
    return fig
