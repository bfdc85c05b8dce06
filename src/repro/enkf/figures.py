"""enkf figures: one function per figure id in `repro.enkf.FIGURES`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from repro.aggregate import population_std, series
from repro.enkf import LARGE_SIGMA
from repro.enkf.roles import MAIN, SGD
from repro.plotting import band, diverged_label
from repro.registry import matches

LAYERS = ("layer 1 (conv1)", "layer 2 (conv2)", "layer 3 (softmax)")
GRAD_LAYERS = ("layer 1 (conv1)", "layer 2 (conv2)", "layer 3 (fc1)")
OPTIMIZER = {"sgd": "SGD", "adam": "Adam"}
ACTIVATION = {"sigmoid": "Logistic Function", "relu": "ReLU", "tanh": "tanh"}


# --------------------------------------------------------------------------- helpers
def error_curve(inputs, name: str, split: str = "test"):
    """(steps, mean error, population std, runs) of one experiment's test checkpoints
    (population std, ddof = 0: numpy's default, as the paper's plots)."""
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
    return sorted(plain, key=lambda n: n != MAIN)[0] if plain else None


def _label(inputs, name: str, extra: str = "") -> str:
    """Legend text with the number of runs behind the curve (n of the last checkpoint)."""
    p = inputs.experiments[name]
    n = int(series(inputs.summary(name), "test", "error")["n"].min())
    return diverged_label(f"{extra}J = {p['J']}, n = {n}", inputs, name)


def _first_artifacts(inputs, name: str):
    return np.load(inputs.first_artifacts(name))


def _all_artifacts(inputs, name: str) -> list:
    """Every seed's artifacts, in seed order."""
    return [np.load(f) for f in inputs.artifact_files(name)]


def _iteration_axis(ax, inputs, name):
    p = inputs.experiments[name]
    ax.set(xlabel="EnKF iteration (checkpoint)", ylabel="test error (%)")
    ax.set_title(
        f"{p['train_batches'] or 937} batches x {p['repetitions']} repetitions", fontsize=9
    )


# --------------------------------------------------------------------------- Fig. 1
def fig1(inputs):
    steps, enkf, enkf_std, runs = error_curve(inputs, MAIN)
    pos = np.arange(len(steps) + 1)
    fig, ax = plt.subplots(figsize=(8, 4.6))

    def plot(values, std, label, **kw):
        y = np.r_[100.0, values[: len(pos) - 1]]
        e = np.r_[0.0, std[: len(pos) - 1]]
        return band(ax, pos[: len(y)], y, e, label=label, marker="o", ms=3.5, **kw)

    plot(enkf, enkf_std, f"EnKF (σ = 0.1, {_label(inputs, MAIN)})", color="C0")
    sgd = inputs.experiments[SGD]
    _, m, sd, n = error_curve(inputs, SGD, "test_updates")
    label = f"SGD σ = 1, test every {sgd['eval_every']} SGD steps ({n} runs)"
    plot(m, sd, diverged_label(label, inputs, SGD), color="C3")
    _, m, sd, n = error_curve(inputs, SGD, "test_epoch")
    label = f"SGD σ = 1, {sgd['epoch_points']} tests spread over one epoch ({n} runs)"
    plot(m, sd, diverged_label(label, inputs, SGD), color="C1", ls="--")
    large = next((n for n, p in inputs.experiments.items() if matches(p, LARGE_SIGMA)), None)
    if large is not None:
        sigma, J1 = inputs.experiments[large]["sigma"], inputs.experiments[large]["J"]
        _, m, sd, _ = error_curve(inputs, large)
        label = f"EnKF σ = {sigma:g} ({_label(inputs, large)})"
        plot(m, sd, diverged_label(label, inputs, large), color="C2", ls=":")
        ref = reference(inputs, J1)
        if ref and ref != MAIN:
            _, m, sd, _ = error_curve(inputs, ref)
            label = f"EnKF σ = 0.1 ({_label(inputs, ref)})"
            plot(m, sd, label, color="C0", ls=":", alpha=0.7)
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
    """One panel per layer and optimizer (a shared axis hid the collapsed conv2 trace under
    the softmax line). The softmax mean is 1/10 by construction (rows sum to 1), so the
    layer-3 panel shows the spread of the softmax outputs instead: std 0 = uniform
    predictions, 0.3 = one-hot. Every seed's mean trace; error bars (std over the batch's
    activations, every 10th iteration) for the first seed."""
    rows = _stats_rows(inputs)
    fig, axes = plt.subplots(3, len(rows), figsize=(5.5 * len(rows), 7.5), squeeze=False)
    for col, (name, label) in enumerate(rows):
        runs = _all_artifacts(inputs, name)
        seeds = sorted(inputs.experiments[name]["seeds"])
        for layer in range(3):
            ax = axes[layer, col]
            for k, arrays in enumerate(runs):
                stats = arrays["act_stats"][0]  # epoch 0: (it, layer, 2)
                it = np.arange(len(stats))
                mean, std = stats[:, layer, 0], stats[:, layer, 1]
                y = std if layer == 2 else mean
                (line,) = ax.plot(it, y, lw=0.9, color=f"C{k}", label=f"seed {seeds[k]}")
                if k == 0 and layer < 2:
                    ax.errorbar(it[::10], mean[::10], std[::10], fmt="none", alpha=0.4,
                                ecolor=line.get_color(), lw=0.8)  # fmt: skip
            if layer == 2:
                ax.set_ylabel("std of the softmax outputs")
                ax.set_title(f"{label}: {LAYERS[2]} (its mean is 1/10 by construction)",
                             fontsize=9)  # fmt: skip
                ax.axhline(0.3, color="0.5", ls=":", lw=0.8)
            else:
                ax.set_ylabel("activation mean ± std")
                ax.set_title(f"{label}: {LAYERS[layer]}", fontsize=9)
        std0 = inputs.experiments[name]["init_std"]
        axes[2, col].set_xlabel(f"mini-batch iteration (epoch 1), N(0, {std0:g}²) init")
        axes[0, col].legend(fontsize=7, title=f"n = {len(runs)}", title_fontsize=7)
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
        band(ax, s["step"], s["mean"], population_std(s), ls=ls, marker="o", ms=3,
             label=diverged_label(f"{OPTIMIZER[p['optimizer']]}, σ = {p['init_std']:g}",
                                  inputs, name) + f", n = {int(s['n'].min())}")  # fmt: skip
    p = next(iter(inputs.experiments.values()))
    n = p["train_subset"] or 60000
    ax.set(xlabel=f"epoch ({n} training images)", ylabel="test error (%), mean ± std",
           ylim=(0, 100))  # fmt: skip
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
    """Gaussian KDE with Scott's bandwidth, floored at two grid steps: data that are a
    spike (all values equal to within far less than the grid spacing, e.g. a saturated
    layer's mean) then show as a narrow peak of the right mass instead of falling between
    grid points and drawing flat at zero."""
    floor = 2 * (grid[1] - grid[0])
    h = max(values.std() * len(values) ** (-1 / 5), floor)
    z = (grid[:, None] - values[None, :]) / h
    return np.exp(-0.5 * z**2).sum(1) / (len(values) * h * np.sqrt(2 * np.pi))


def _is_spike(values: np.ndarray, grid: np.ndarray) -> bool:
    """Values concentrated below the KDE's bandwidth floor (two grid steps)."""
    return values.std() * len(values) ** (-1 / 5) < 2 * (grid[1] - grid[0])


def fig7(inputs):
    """KDE of the per-iteration activation means, one colour per saved epoch, one line
    style per seed. A spike (a layer stuck at one value) is drawn clipped at the top,
    marked there, and its position and spread listed in a box, so it neither vanishes nor
    flattens the other curves."""
    rows = _stats_rows(inputs)
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(len(rows), 3, figsize=(13, 3.6 * len(rows)), squeeze=False)
    for r, (name, label) in enumerate(rows):
        runs = _all_artifacts(inputs, name)
        seeds = sorted(inputs.experiments[name]["seeds"])
        epochs = runs[0]["stats_epochs"]
        for layer in range(3):
            ax = axes[r, layer]
            means = np.stack([a["act_stats"][:, :, layer, 0] for a in runs])  # (seed, E, it)
            lo, hi = means.min(), means.max()
            ax.set(xlabel="per-iteration mean activation", title=f"{label}: {LAYERS[layer]}")
            if hi - lo < 1e-6:  # softmax outputs average exactly 1/10 at every iteration
                ax.axvline(lo, color="C0", lw=1.5)
                text = f"every seed and epoch: constant {lo:.3g}\n(rows of a softmax sum to 1)"
                ax.text(0.03, 0.9, text, transform=ax.transAxes, fontsize=8, va="top")
                ax.set_yticks([])
                continue
            pad = 0.1 * (hi - lo)
            grid = np.linspace(lo - pad, hi + pad, 400)
            curves = []
            for k, seed in enumerate(seeds):
                for e, epoch in enumerate(epochs):
                    values = means[k, e]
                    density = _kde(values, grid)
                    curves.append((density, values, f"C{e}", styles[k % 4], epoch, seed))
            # a spike: values spread less than the floored bandwidth (two grid steps)
            spike = [_is_spike(c[1], grid) for c in curves]
            normal = [c[0].max() for c, sp in zip(curves, spike, strict=True) if not sp]
            top = 1.15 * max(normal) if normal and any(spike) else None
            top = top or 1.05 * max(c[0].max() for c in curves)
            spikes, where = [], []
            for density, values, color, ls, epoch, seed in curves:
                ax.plot(grid, np.minimum(density, top * 1.5), color=color, ls=ls, lw=1.1,
                        label=f"epoch {epoch}, seed {seed}")  # fmt: skip
                if density.max() > top:  # clipped: a marker at the top, its numbers listed
                    where.append(grid[density.argmax()])
                    ax.plot(where[-1], top, marker="v", ms=5, color=color, clip_on=False)
                    spikes.append(f"epoch {epoch}, seed {seed}: {values.mean():.4f} "
                                  f"(sd {values.std():.0e})")  # fmt: skip
            if spikes:  # one box on the side away from the spikes
                left = np.mean(where) > grid.mean()
                ax.text(0.02 if left else 0.98, 0.97, "spikes (clipped), mean (sd):\n" +
                        "\n".join(spikes), transform=ax.transAxes, fontsize=6, va="top",
                        ha="left" if left else "right",
                        bbox={"fc": "white", "alpha": 0.85, "lw": 0})  # fmt: skip
            ax.set(ylim=(0, top), ylabel="density")
            ax.xaxis.set_major_locator(MaxNLocator(5))
        handles, labels = axes[r, 0].get_legend_handles_labels()
        axes[r, 2].legend(handles, labels, fontsize=6.5, ncol=1 + (len(labels) > 8),
                          loc="lower right")  # fmt: skip
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- Figs. 8, 9
def fig8a(inputs):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in sorted(inputs.experiments, key=lambda n: inputs.experiments[n]["J"]):
        steps, mean, std, _ = error_curve(inputs, name)
        band(ax, steps, mean, std, marker="o", ms=3, label=_label(inputs, name, "EnKF, "))
    _iteration_axis(ax, inputs, MAIN)
    ax.legend()
    return fig


def fig8b(inputs):
    """The activation variants against the plain sigmoid run of the same J."""
    variants = [n for n, p in inputs.experiments.items() if p["activation"] != "sigmoid"]
    J = inputs.experiments[variants[0]]["J"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in [reference(inputs, J), *variants]:
        p = inputs.experiments[name]
        steps, mean, std, _ = error_curve(inputs, name)
        band(ax, steps, mean, std, marker="o", ms=3,
             label=f"{ACTIVATION[p['activation']]} ({_label(inputs, name)})")  # fmt: skip
    _iteration_axis(ax, inputs, variants[0])
    ax.set_ylabel("test error (%), mean ± std")
    ax.legend()
    return fig


def fig9(inputs):
    """Fixed vs adaptive (spec §1.4), every seed: the rule fires at different iterations
    in different runs, so the right panel draws each run's J and repetitions as steps over
    the iterations, not an average."""
    adaptive = next(n for n, p in inputs.experiments.items() if p["adaptive"])
    fixed = reference(inputs, inputs.experiments[adaptive]["J"])
    pa, pf = inputs.experiments[adaptive], inputs.experiments[fixed]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.2))
    for name, label, color in ((fixed, "fixed", "C0"), (adaptive, "adaptive", "C3")):
        steps, mean, std, n = error_curve(inputs, name)
        band(left, steps, mean, std, color=color, marker="o", ms=3,
             label=f"{label}: J = {inputs.experiments[name]['J']} at start (n = {n})")  # fmt: skip
    table = inputs.seeds(adaptive)
    errors = table[(table["split"] == "test") & (table["metric"] == "error")]
    for _seed, g in errors.sort_values("step").groupby("seed"):
        left.plot(g["step"], g["value"], color="C3", lw=0.6, alpha=0.6)
    left.set(xlabel="EnKF iteration (checkpoint)", ylabel="test error (%), mean ± std")
    left.legend(fontsize=8, title="thin: each adaptive run", title_fontsize=7)

    twin = right.twinx()
    last = int(table["step"].max())
    right.plot([0, last], [pf["J"]] * 2, "s--", color="C0", label=f"members, fixed ({fixed})")
    twin.plot([0, last], [pf["repetitions"]] * 2, "*--", color="C0", ms=9,
              label="repetitions, fixed")  # fmt: skip
    adapt = table[table["split"] == "adapt"]
    ens = table[(table["split"] == "ensemble") & (table["metric"] == "reps")]
    for k, seed in enumerate(sorted(table["seed"].unique())):
        rows = adapt[adapt["seed"] == seed]
        end = int(ens[ens["seed"] == seed]["step"].max())
        for metric, start, axis, marker in (("J", pa["J"], right, "s"),
                                            ("reps", pa["repetitions"], twin, "*")):  # fmt: skip
            r = rows[rows["metric"] == metric].sort_values("step")
            x = np.r_[0, r["step"].to_numpy(), end]
            y = np.r_[start, r["value"].to_numpy(), r["value"].iloc[-1] if len(r) else start]
            axis.step(x, y, where="post", color=f"C{3 + k}", lw=1,
                      label=f"{'members' if metric == 'J' else 'repetitions'}, adaptive, "
                      f"seed {seed} ({len(r)} changes)")  # fmt: skip
            axis.plot(x[:-1], y[:-1], marker, color=f"C{3 + k}", ms=6 if marker == "s" else 9)
    right.set(xlabel="EnKF iteration (markers: start and each change)",
              ylabel="ensemble members J")  # fmt: skip
    twin.set_ylabel("repetitions per batch")
    twin.set_ylim(-0.5, pa["repetitions"] + 1.5)
    twin.grid(False)
    handles = right.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    right.legend(handles, [h.get_label() for h in handles], fontsize=6.5, loc="lower left")
    fig.tight_layout()
    return fig
