"""forde figures: one function per figure id in `repro.forde.FIGURES`."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from repro.aggregate import seed_values
from repro.plotting import diverged_label

METHOD_LABELS = {
    "de": "DE",
    "forde_pca": "FoRDE-PCA",
    "forde_identity": "FoRDE-Identity",
    "forde_tuned": "FoRDE-Tuned",
}
METHOD_COLORS = {"de": "C0", "forde_pca": "C3", "forde_identity": "C2", "forde_tuned": "C4"}


def _seed_arrays(inputs, name, key: str) -> list[tuple[int, object]]:
    """(seed, artifacts) of every seed of experiment `name` whose artifacts.npz holds
    `key`, by seed: a diverged toy run stops before storing its arrays."""
    out = []
    for seed, path in sorted(inputs.artifacts.get(name, {}).items()):
        arrays = np.load(path)
        if key in arrays:
            out.append((seed, arrays))
    return out


def _all_diverged(ax, inputs, name) -> None:
    n = len(inputs.artifacts.get(name, {}))
    ax.text(0.5, 0.5, f"every run diverged\n(n={n})", transform=ax.transAxes, ha="center")
    ax.set_title(inputs.experiments[name]["label"])


def _n(inputs, name) -> int:
    return len(inputs.artifacts.get(name, [])) or len(inputs.experiments[name]["seeds"])


def fig2(inputs):
    names = list(inputs.experiments)
    fig, axes = plt.subplots(
        1, len(names), figsize=(3.4 * len(names), 3.4), squeeze=False, sharey=True
    )
    for ax, name in zip(axes[0], names, strict=True):
        runs = _seed_arrays(inputs, name, "predictions")
        if not runs:
            _all_diverged(ax, inputs, name)
            continue
        seed, arrays = runs[0]  # the first seed whose run finished
        grid, pred = arrays["grid"], arrays["predictions"]
        mean, std = pred.mean(0), pred.std(0)
        ax.fill_between(grid, mean - 2 * std, mean + 2 * std, color="C0", alpha=0.25, lw=0)
        ax.plot(grid, pred.T, color="C0", lw=0.5, alpha=0.5)
        ax.plot(grid, mean, color="k", lw=1.2)
        ax.scatter(arrays["x_train"], arrays["y_train"], s=8, color="C3", zorder=3)
        out = seed_values(inputs.seeds(name), "test", "std_outside")
        ax.text(
            0.02,
            0.03,
            f"std outside data: {out.mean():.2f} (mean, n={len(out)})",
            transform=ax.transAxes,
            fontsize=8,
        )
        ax.set(xlabel="x", ylim=(-1.5, 2.5), xlim=(grid[0], grid[-1]))
        ax.set_title(f"{inputs.experiments[name]['label']} (seed {seed})")
    axes[0][0].set_ylabel("y")
    fig.tight_layout()
    return fig


def _ring(ax, lim):
    for radius in (10, 15):
        ax.add_patch(plt.Circle((0, 0), radius, fill=False, ls="--", lw=0.8, color="w"))
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")


def fig3(inputs):
    names = list(inputs.experiments)
    by_method = {inputs.experiments[n]["method"]: n for n in names}
    diff_pair = ("forde_identity", "de") if {"forde_identity", "de"} <= set(by_method) else None
    panels = len(names) + (diff_pair is not None)
    fig, axes = plt.subplots(1, panels, figsize=(3.3 * panels, 3.6), squeeze=False)
    axes = axes[0]
    means, image, lim = {}, None, None
    for ax, name in zip(axes, names, strict=False):
        arrays = [a for _, a in _seed_arrays(inputs, name, "grid_entropy")]
        if not arrays:
            _all_diverged(ax, inputs, name)
            continue
        means[name] = np.mean([a["grid_entropy"] for a in arrays], axis=0)
        lim = float(arrays[0]["extent"])
        image = ax.imshow(
            means[name],
            origin="lower",
            extent=(-lim, lim, -lim, lim),
            cmap="viridis",
            vmin=0,
            vmax=math.log(5),
        )
        x, y = arrays[0]["x_train"], arrays[0]["y_train"]
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=4, edgecolors="k", lw=0.2)
        _ring(ax, lim)
        ring = seed_values(inputs.seeds(name), "entropy", "far_ring")
        ax.text(
            0.02,
            0.03,
            f"ring entropy {ring.mean():.3f}\n(mean, n={len(ring)})",
            transform=ax.transAxes,
            fontsize=7,
            color="k",
            bbox={"fc": "w", "alpha": 0.8, "lw": 0},
        )
        ax.grid(False)
        ax.set_title(f"{inputs.experiments[name]['label']} (n={len(arrays)})")
        ax.set(xlabel="$x_1$")
    axes[0].set_ylabel("$x_2$")
    if image is not None:
        fig.colorbar(
            image,
            ax=list(axes[: len(names)]),
            label="predictive entropy (nats)",
            shrink=0.8,
            pad=0.01,
        )
    if diff_pair is not None and not {by_method[m] for m in diff_pair} <= set(means):
        axes[-1].text(0.5, 0.5, "FoRDE − DE: no finished run\nof one of the two", ha="center",
                      transform=axes[-1].transAxes)  # fmt: skip
        axes[-1].axis("off")
    elif diff_pair is not None:
        ax = axes[-1]
        delta = means[by_method[diff_pair[0]]] - means[by_method[diff_pair[1]]]
        bound = float(np.abs(delta).max()) or 1.0
        image = ax.imshow(
            delta,
            origin="lower",
            extent=(-lim, lim, -lim, lim),
            cmap="RdBu_r",
            vmin=-bound,
            vmax=bound,
        )
        for radius in (10, 15):
            ax.add_patch(plt.Circle((0, 0), radius, fill=False, ls="--", lw=0.8, color="k"))
        ax.set(
            xlim=(-lim, lim),
            ylim=(-lim, lim),
            aspect="equal",
            xlabel="$x_1$",
            title="FoRDE − DE\n(red: FoRDE higher)",
        )
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="Δ entropy (nats)", shrink=0.8, pad=0.01)
    return fig


def fig7(inputs):
    panels = (("grad_cos", "gradient cosine distance ↑"), ("epistemic", "epistemic uncertainty ↑"))
    names = list(inputs.experiments)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    width = 0.8 / len(names)
    values = {}
    for k, name in enumerate(names):
        method = inputs.experiments[name]["method"]
        table = inputs.seeds(name)
        for ax, (metric, title) in zip(axes[:2], panels, strict=True):
            rows = table[(table["split"] == "corrupt") & (table["metric"] == metric)]
            wide = rows.pivot(index="seed", columns="step", values="value")
            values[(name, metric)] = wide
            ax.bar(
                wide.columns + (k - (len(names) - 1) / 2) * width,
                wide.mean(),
                width,
                yerr=wide.std() if len(wide) > 1 else None,
                capsize=3,
                color=METHOD_COLORS[method],
                label=diverged_label(f"{METHOD_LABELS[method]} (n={len(wide)})", inputs, name),
            )
            ax.set(title=title, xlabel="severity (0 = clean)")
    base = next((n for n in names if inputs.experiments[n]["method"] == "de"), None)
    others = [n for n in names if n != base]
    for ax, (metric, title) in zip(axes[2:], panels, strict=True):
        for name in others if base else []:
            delta = (values[(name, metric)] - values[(base, metric)]).dropna()
            method = inputs.experiments[name]["method"]
            ax.bar(
                delta.columns,
                delta.mean(),
                0.6,
                color=METHOD_COLORS[method],
                alpha=0.5,
                label=f"mean Δ (n={len(delta)} paired seeds)",
            )
            for seed, row in delta.iterrows():
                ax.plot(
                    row.index,
                    row.to_numpy(),
                    "o",
                    ms=4,
                    color="k",
                    alpha=0.7,
                    label="one seed" if seed == delta.index[0] else None,
                )
        ax.axhline(0, color="k", lw=0.8)
        ax.set(title=f"Δ {title[:-2]}: FoRDE-PCA − DE", xlabel="severity (0 = clean)")
    handles = [h for ax in axes[[0, 2]] for h in ax.get_legend_handles_labels()[0]]
    labels = [lb for ax in axes[[0, 2]] for lb in ax.get_legend_handles_labels()[1]]
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
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
    if not sweeps:  # Needs.requires keeps the figure out of presets without a sweep
        raise ValueError("fig11_12 needs a FoRDE-Tuned alpha sweep (two or more alphas)")
    fig, axes = plt.subplots(len(sweeps), 3, figsize=(11, 3.4 * len(sweeps)), squeeze=False)

    def accuracy(name, severities):
        """(mean, std, n) over seeds of each seed's accuracy averaged over `severities`."""
        table = inputs.seeds(name)
        rows = table[(table["split"] == "corrupt") & (table["metric"] == "accuracy")]
        per_seed = rows[rows["step"].isin(severities)].groupby("seed")["value"].mean() * 100
        return per_seed.mean(), per_seed.std() if len(per_seed) > 1 else 0.0, len(per_seed)

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
                label=f"FoRDE-Tuned (n={int(values[:, 2].min())})",
                capsize=3,
            )
            for name in de[:1]:
                mean, _, n = accuracy(name, severities)
                ax.axhline(mean, ls="--", color="k", label=f"DE (n={n})")
            ax.set(title=f"{dataset}: {title}", xlabel=r"$\alpha$", ylabel="accuracy (%)")
        row[0].legend()
    fig.tight_layout()
    return fig
