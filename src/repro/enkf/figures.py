"""enkf figures: one function per figure id in `repro.enkf.FIGURES`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from repro.aggregate import series
from repro.plotting import band, diverged_label

LAYERS = ("layer 1 (conv1)", "layer 2 (conv2)", "layer 3 (softmax)")
GRAD_LAYERS = ("layer 1 (conv1)", "layer 2 (conv2)", "layer 3 (fc1)")
OPTIMIZER = {"sgd": "SGD", "adam": "Adam"}
ACTIVATION = {"sigmoid": "Logistic Function", "relu": "ReLU", "tanh": "tanh"}


# --------------------------------------------------------------------------- helpers
def population_std(s) -> np.ndarray:
    """Summary (sample, ddof=1) std -> numpy's default population std (ddof=0), as the
    paper's plot; 0 for a single run."""
    n = s["n"].to_numpy(dtype=float)
    std = s["std"].to_numpy(dtype=float) * np.sqrt(np.maximum(n - 1, 0) / n)
    return np.nan_to_num(std)


def error_curve(inputs, name: str, split: str = "test"):
    """(steps, mean error, population std, runs) of one experiment's test checkpoints."""
    s = series(inputs.summary(name), split, "error")
    runs = int(s["n"].max()) if len(s) else 0  # no finite value: every run diverged
    return s["step"].to_numpy(), s["mean"].to_numpy(), population_std(s), runs


def reference(inputs, J: int) -> str | None:
    """The plain run (sigmoid, sigma 0.1, fixed J) with ensemble size J; 'enkf' first."""
    plain = [
        n
        for n, p in inputs.experiments.items()
        if p["kind"] == "enkf"
        and p["J"] == J
        and p["activation"] == "sigmoid"
        and p["sigma"] == 0.1
        and not p["adaptive"]
        and not p["legacy_batch_shift"]
    ]
    return sorted(plain, key=lambda n: n != "enkf")[0] if plain else None


def _label(inputs, name: str, extra: str = "") -> str:
    p = inputs.experiments[name]
    runs = len(p["seeds"])
    label = f"{extra}J = {p['J']}" + (f", {runs} runs" if runs > 1 else "")
    return diverged_label(label, inputs, name)


def _first_artifacts(inputs, name: str):
    return np.load(inputs.artifacts[name][0])


def _iteration_axis(ax, inputs, name):
    p = inputs.experiments[name]
    ax.set(xlabel="EnKF iteration (checkpoint)", ylabel="test error (%)")
    ax.set_title(
        f"{p['train_batches'] or 937} batches x {p['repetitions']} repetitions", fontsize=9
    )


# --------------------------------------------------------------------------- Fig. 1
def fig1(inputs):
    steps, enkf, enkf_std, runs = error_curve(inputs, "enkf")
    pos = np.arange(len(steps) + 1)
    fig, ax = plt.subplots(figsize=(8, 4.6))

    def plot(values, std, label, **kw):
        y = np.r_[100.0, values[: len(pos) - 1]]
        e = np.r_[0.0, std[: len(pos) - 1]]
        return band(ax, pos[: len(y)], y, e, label=label, marker="o", ms=3.5, **kw)

    plot(enkf, enkf_std, f"EnKF (σ = 0.1, {_label(inputs, 'enkf')})", color="C0")
    sgd = inputs.experiments["sgd"]
    _, m, sd, n = error_curve(inputs, "sgd", "test_updates")
    label = f"SGD σ = 1, test every {sgd['eval_every']} SGD steps ({n} runs)"
    plot(m, sd, diverged_label(label, inputs, "sgd"), color="C3")
    _, m, sd, n = error_curve(inputs, "sgd", "test_epoch")
    label = f"SGD σ = 1, {sgd['epoch_points']} tests spread over one epoch ({n} runs)"
    plot(m, sd, diverged_label(label, inputs, "sgd"), color="C1", ls="--")
    J1 = inputs.experiments["enkf_sigma1"]["J"]
    _, m, sd, _ = error_curve(inputs, "enkf_sigma1")
    plot(m, sd, f"EnKF σ = 1 ({_label(inputs, 'enkf_sigma1')})", color="C2", ls=":")
    ref = reference(inputs, J1)
    if ref and ref != "enkf":
        _, m, sd, _ = error_curve(inputs, ref)
        plot(m, sd, f"EnKF σ = 0.1 ({_label(inputs, ref)})", color="C0", ls=":", alpha=0.7)
    ax.set_xticks(pos, ["start"] + [str(s) for s in steps], rotation=45 if len(pos) > 10 else 0)
    ax.set(xlabel="checkpoint: EnKF iteration (SGD: see legend)", ylabel="test error (%)")
    ax.set_ylim(0, 102)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    if len(pos) > 6:  # the paper's zoomed inset on EnKF between positions 5 and 6
        inset = ax.inset_axes([1.04, 0.5, 0.22, 0.45])
        y, e = np.r_[100.0, enkf], np.r_[0.0, enkf_std]
        band(inset, pos, y, e, color="C0", marker="o", ms=3)
        lo, hi = (y[5:7] - e[5:7]).min(), (y[5:7] + e[5:7]).max()
        pad = max(0.1, 0.25 * (hi - lo))
        inset.set(xlim=(4.8, 6.2), ylim=(lo - pad, hi + pad), xticks=[5, 6])
        inset.set_xticklabels([str(steps[4]), str(steps[5])], fontsize=7)
        inset.set_title("EnKF, zoom", fontsize=8)
        inset.tick_params(labelsize=7)
        ax.indicate_inset_zoom(inset, edgecolor="0.5")
    return fig


# --------------------------------------------------------------------------- GD stats
def _stats_rows(inputs):
    return [(n, OPTIMIZER[inputs.experiments[n]["optimizer"]]) for n in inputs.experiments]


def fig3(inputs):
    rows = _stats_rows(inputs)
    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 3.8), squeeze=False)
    for ax, (name, label) in zip(axes[0], rows, strict=True):
        stats = _first_artifacts(inputs, name)["act_stats"][0]  # epoch 0: (it, layer, 2)
        it = np.arange(len(stats))
        for layer in range(3):
            mean, std = stats[:, layer, 0], stats[:, layer, 1]
            (line,) = ax.plot(it, mean, lw=1, label=LAYERS[layer])
            ax.errorbar(it[::10], mean[::10], std[::10], fmt="none", ecolor=line.get_color(),
                        alpha=0.5, lw=0.8)  # fmt: skip
        std0 = inputs.experiments[name]["init_std"]
        ax.set(xlabel="mini-batch iteration (epoch 1)", ylabel="activation value",
               title=f"{label}, N(0, {std0:g}²) init")  # fmt: skip
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _density(ax, values: np.ndarray, grid: np.ndarray, color, label=None):
    """KDE scaled to counts per 1/30 of the panel's range (the paper's distplot counts)."""
    scale = len(values) * (grid[-1] - grid[0]) / 30
    ax.plot(grid, _kde(values, grid) * scale, color=color, lw=1.2, label=label)


def fig4(inputs):
    rows = _stats_rows(inputs)
    fig, axes = plt.subplots(len(rows), 3, figsize=(12, 3.2 * len(rows)), squeeze=False)
    for r, (name, label) in enumerate(rows):
        arrays = _first_artifacts(inputs, name)
        every = inputs.experiments[name]["snapshot_every"]
        for layer in range(3):
            snaps = arrays[f"grad_snapshot_{layer + 1}"]
            colors = plt.cm.viridis(np.linspace(0, 1, len(snaps)))
            lo, hi = snaps.min(), snaps.max()
            pad = 0.05 * (hi - lo) + 1e-12
            grid = np.linspace(lo - pad, hi + pad, 400)
            ax = axes[r, layer]
            for k, (values, color) in enumerate(zip(snaps, colors, strict=True)):
                _density(ax, values, grid, color, f"iteration {k * every}")
            ax.set(xlabel="Backpropagated Gradients", ylabel="Counts (KDE)",
                   title=f"{label}: {GRAD_LAYERS[layer]} ({snaps.shape[1]} values)")  # fmt: skip
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
        axes[r, 2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig5(inputs):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, p in inputs.experiments.items():
        s = series(inputs.summary(name), "test", "error")
        ls = "-" if p["optimizer"] == "sgd" else "--"
        ax.plot(s["step"], s["mean"], ls=ls, marker="o", ms=3,
                label=diverged_label(f"{OPTIMIZER[p['optimizer']]}, σ = {p['init_std']:g}",
                                     inputs, name))  # fmt: skip
    p = next(iter(inputs.experiments.values()))
    n = p["train_subset"] or 60000
    ax.set(xlabel=f"epoch ({n} training images)", ylabel="test error (%)", ylim=(0, 100))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return fig


def fig6(inputs):
    rows = _stats_rows(inputs)
    fig, axes = plt.subplots(len(rows), 3, figsize=(13, 3.2 * len(rows)), squeeze=False)
    for r, (name, label) in enumerate(rows):
        arrays = _first_artifacts(inputs, name)
        stats, epochs = arrays["grad_stats"], arrays["stats_epochs"]  # (E, it, layer, 2)
        per = stats.shape[1]
        x = np.arange(stats.shape[0] * per)
        for layer in range(3):
            ax = axes[r, layer]
            mean = stats[:, :, layer, 0].ravel()
            std = stats[:, :, layer, 1].ravel()
            ax.plot(x, mean, lw=0.8, color="C0")
            ax.errorbar(x[::10], mean[::10], std[::10], fmt="none", ecolor="C0", alpha=0.4)
            ax.set_xticks(np.arange(len(epochs)) * per, [str(e) for e in epochs])
            ax.set(xlabel="epoch (saved epochs concatenated)", ylabel="gradient",
                   title=f"{label}: {GRAD_LAYERS[layer]}")  # fmt: skip
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    fig.tight_layout()
    return fig


def _kde(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE with Scott's bandwidth (plain sums: a few thousand values)."""
    std = values.std()
    h = std * len(values) ** (-1 / 5) if std > 0 else 1e-3
    z = (grid[:, None] - values[None, :]) / h
    return np.exp(-0.5 * z**2).sum(1) / (len(values) * h * np.sqrt(2 * np.pi))


def fig7(inputs):
    rows = _stats_rows(inputs)
    fig, axes = plt.subplots(len(rows), 3, figsize=(12, 3.2 * len(rows)), squeeze=False)
    for r, (name, label) in enumerate(rows):
        arrays = _first_artifacts(inputs, name)
        stats, epochs = arrays["act_stats"], arrays["stats_epochs"]
        for layer in range(3):
            ax = axes[r, layer]
            means = stats[:, :, layer, 0]
            lo, hi = means.min(), means.max()
            if hi - lo < 1e-6:  # softmax outputs average exactly 1/10 at every iteration
                ax.axvline(lo, color="C0", lw=1.5, label="every epoch")
                ax.text(0.03, 0.9, f"constant {lo:.3g}\n(rows of a softmax sum to 1)",
                        transform=ax.transAxes, fontsize=8, va="top")  # fmt: skip
                ax.set(xlabel="per-iteration mean activation", yticks=[],
                       title=f"{label}: {LAYERS[layer]}")  # fmt: skip
                continue
            pad = 0.1 * (hi - lo) + 1e-3
            grid = np.linspace(lo - pad, hi + pad, 300)
            for e, values in zip(epochs, means, strict=True):
                ax.plot(grid, _kde(values, grid), lw=1.2, label=f"epoch {e}")
            ax.set(xlabel="per-iteration mean activation", ylabel="density",
                   title=f"{label}: {LAYERS[layer]}")  # fmt: skip
        axes[r, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- Figs. 8, 9
def fig8a(inputs):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in sorted(inputs.experiments, key=lambda n: inputs.experiments[n]["J"]):
        steps, mean, std, _ = error_curve(inputs, name)
        band(ax, steps, mean, std, marker="o", ms=3, label=_label(inputs, name, "EnKF, "))
    _iteration_axis(ax, inputs, "enkf")
    ax.legend()
    return fig


def fig8b(inputs):
    variants = [n for n in ("enkf_relu", "enkf_tanh") if n in inputs.experiments]
    J = inputs.experiments[variants[0]]["J"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in [reference(inputs, J), *variants]:
        p = inputs.experiments[name]
        steps, mean, std, _ = error_curve(inputs, name)
        band(ax, steps, mean, std, marker="o", ms=3,
             label=f"{ACTIVATION[p['activation']]} ({_label(inputs, name)})")  # fmt: skip
    _iteration_axis(ax, inputs, variants[0])
    ax.legend()
    return fig


def fig9(inputs):
    fixed, adaptive = inputs.experiments["enkf"], inputs.experiments["enkf_adaptive"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, label, color in (("enkf", "fixed", "C0"), ("enkf_adaptive", "adaptive", "C3")):
        steps, mean, std, _ = error_curve(inputs, name)
        band(left, steps, mean, std, color=color, marker="o", ms=3, label=label)
    left.set(xlabel="EnKF iteration (checkpoint)", ylabel="test error (%)")
    left.legend()

    changes = inputs.summary("enkf_adaptive")
    J = series(changes, "adapt", "J")
    reps = series(changes, "adapt", "reps")
    labels = ["0"] + [str(s) for s in J["step"]]
    x = np.arange(len(labels))
    ys_J = np.r_[adaptive["J"], J["mean"]]
    ys_r = np.r_[adaptive["repetitions"], reps["mean"]]
    twin = right.twinx()
    right.plot(x, np.full(len(x), fixed["J"]), "s--", color="C0", label="members, fixed")
    right.plot(x, ys_J, "s-", color="C3", label="members, adaptive")
    twin.plot(x, np.full(len(x), fixed["repetitions"]), "*--", color="C0", ms=9,
              label="repetitions, fixed")  # fmt: skip
    twin.plot(x, ys_r, "*-", color="C3", ms=9, label="repetitions, adaptive")
    right.set_xticks(x, labels, rotation=45 if len(x) > 10 else 0)
    right.set(xlabel="iteration of each application of the rule", ylabel="ensemble members J")
    twin.set_ylabel("repetitions per batch")
    twin.set_ylim(-0.5, max(ys_r.max(), fixed["repetitions"]) + 1)
    twin.grid(False)
    handles = right.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    right.legend(handles, [h.get_label() for h in handles], fontsize=7.5, loc="lower left")
    fig.tight_layout()
    return fig
