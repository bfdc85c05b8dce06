"""One house style for every figure, and the figure writer (PNG + PDF, atomic).

Every figure carries a footer caption: what it reproduces, the preset, the seeds and
the datasets, so a PNG taken out of context still says how it was made.
"""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from repro.io import atomic_path  # noqa: E402
from repro.registry import caption_text  # noqa: E402

# seaborn's set_theme(context="paper", style="whitegrid", palette="colorblind",
# font_scale=1.1), written out: importing seaborn costs a figure job ~1.2 CPU-s, more
# than most figures take to draw (tests/test_plotting.py checks the two agree). Not
# copied: seaborn's default image colormap ("rocket"); every figure names its own.
_COLORBLIND = [
    "#0173B2", "#DE8F05", "#029E73", "#D55E00", "#CC78BC",
    "#CA9161", "#FBAFE4", "#949494", "#ECE133", "#56B4E9",
]  # fmt: skip
SEABORN_THEME = {
    "axes.axisbelow": True,
    "axes.edgecolor": ".8",
    "axes.facecolor": "white",
    "axes.grid": True,
    "axes.labelcolor": ".15",
    "axes.labelsize": 10.56,
    "axes.linewidth": 1.0,
    "axes.prop_cycle": matplotlib.cycler(color=_COLORBLIND),
    "axes.titlesize": 10.56,
    "figure.facecolor": "white",
    "font.family": ["sans-serif"],
    "font.sans-serif": [
        "Arial",
        "DejaVu Sans",
        "Liberation Sans",
        "Bitstream Vera Sans",
        "sans-serif",
    ],
    "font.size": 10.56,
    "grid.color": ".8",
    "grid.linestyle": "-",
    "legend.fontsize": 9.68,
    "legend.title_fontsize": 10.56,
    "lines.linewidth": 1.2,
    "lines.markersize": 4.8,
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "patch.linewidth": 0.8,
    "text.color": ".15",
    "xtick.bottom": False,
    "xtick.color": ".15",
    "xtick.direction": "out",
    "xtick.labelsize": 9.68,
    "xtick.major.size": 4.8,
    "xtick.major.width": 1.0,
    "xtick.minor.size": 3.2,
    "xtick.minor.width": 0.8,
    "xtick.top": False,
    "ytick.color": ".15",
    "ytick.direction": "out",
    "ytick.labelsize": 9.68,
    "ytick.left": False,
    "ytick.major.size": 4.8,
    "ytick.major.width": 1.0,
    "ytick.minor.size": 3.2,
    "ytick.minor.width": 0.8,
    "ytick.right": False,
}
HOUSE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "axes.titlesize": "medium",
    "legend.frameon": False,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}


def apply_style() -> None:
    plt.rcParams.update(SEABORN_THEME)
    plt.rcParams.update(HOUSE)


def footer_text(inputs) -> str:
    text = caption_text(inputs.caption, inputs.preset, inputs.experiments)
    diverged = diverged_footer(inputs) if getattr(inputs, "per_seed", None) else ""
    return f"{text} {diverged}." if diverged else text


def save(fig, png: str, pdf: str, inputs) -> None:
    """Add the footer caption and write the figure as PNG and PDF."""
    width_in, height_in = fig.get_size_inches()
    text = "\n".join(textwrap.wrap(footer_text(inputs), width=int(width_in * 15)))
    bottom = fig.get_tightbbox(fig.canvas.get_renderer()).y0 / height_in  # below every label
    fig.text(
        0.01,
        bottom - 0.02,
        text,
        ha="left",
        va="top",
        fontsize=7,
        color="0.3",
        transform=fig.transFigure,
    )
    for path, fmt in ((png, "png"), (pdf, "pdf")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight")
    plt.close(fig)


def diverged_mark(table) -> str:
    """ " (k/n diverged)" for a `per_seed` table with diverged runs, else ""."""
    from repro.aggregate import divergence

    k, n = divergence(table)
    return f" ({k}/{n} diverged)" if k else ""


def diverged_label(label: str, inputs, name: str) -> str:
    """A legend label for experiment `name` that says how many of its runs diverged,
    e.g. "SGD (1/3 diverged)"; read from the experiment's per-seed table."""
    return f"{label}{diverged_mark(inputs.seeds(name))}"


def diverged_footer(inputs, names=None) -> str:
    """One line naming every selected experiment with diverged runs ("" if none)."""
    parts = [
        f"{name}{diverged_mark(inputs.seeds(name))}"
        for name in (names if names is not None else inputs.experiments)
        if name in inputs.per_seed and diverged_mark(inputs.seeds(name))
    ]
    return "Diverged runs: " + ", ".join(parts) if parts else ""


def band(ax, x, mean, spread, label=None, color=None, **kwargs):
    """A mean line with a shaded band mean ± spread (spread may be NaN: line only)."""
    x, mean, spread = (np.asarray(v, dtype=float) for v in (x, mean, spread))
    (line,) = ax.plot(x, mean, label=label, color=color, **kwargs)
    if np.isfinite(spread).any():
        ax.fill_between(
            x, mean - spread, mean + spread, color=line.get_color(), alpha=0.2, linewidth=0
        )
    return line
