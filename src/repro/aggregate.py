"""Runs -> one tidy summary per experiment: mean, std and 95 % CI over seeds.

Columns: experiment, step, split, metric, n, mean, std, ci95. `std` is the sample
standard deviation (ddof = 1); `ci95` is the half-width of the Student-t 95 %
interval of the mean, so the interval is mean ± ci95 (both NaN when n = 1).
Non-finite values (a diverged run's last loss) are left out of n. Each run also
contributes split "run" rows: `diverged` (0/1) and `wall_time_s`, so figures can say
how many runs diverged without reading anything but the summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from repro.io import read_json

COLUMNS = ["experiment", "step", "split", "metric", "n", "mean", "std", "ci95"]


def _t_quantile(n: np.ndarray) -> np.ndarray:
    """97.5 % quantile of Student's t with n - 1 degrees of freedom (NaN for n < 2)."""
    from scipy.special import stdtrit  # far lighter to import than scipy.stats

    out = np.full(n.shape, np.nan)
    ok = n > 1
    out[ok] = stdtrit(n[ok] - 1, 0.975)
    return out


def summarize(experiment: str, runs: Iterable[tuple[str | Path, str | Path]]) -> pd.DataFrame:
    """`runs`: (metrics.csv, run.json) pairs, one per seed."""
    frames = []
    for metrics_path, record_path in runs:
        metrics = pd.read_csv(metrics_path)
        record = read_json(record_path)
        run_rows = pd.DataFrame(
            {
                "step": [0, 0],
                "split": ["run", "run"],
                "metric": ["diverged", "wall_time_s"],
                "value": [float(record["status"] == "diverged"), float(record["wall_time_s"])],
            }
        )
        frames.append(pd.concat([metrics, run_rows], ignore_index=True))
    if not frames:
        raise ValueError(f"no runs to summarise for experiment {experiment!r}")
    data = pd.concat(frames, ignore_index=True)
    data = data[np.isfinite(data["value"].to_numpy(dtype=float))]
    grouped = data.groupby(["step", "split", "metric"], sort=True)["value"]
    summary = grouped.agg(n="count", mean="mean", std="std").reset_index()
    n = summary["n"].to_numpy()
    summary["ci95"] = _t_quantile(n) * summary["std"].to_numpy() / np.sqrt(n)
    summary.insert(0, "experiment", experiment)
    return summary[COLUMNS]


def read_summary(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path)


def series(summary: pd.DataFrame, split: str, metric: str) -> pd.DataFrame:
    """Rows of one (split, metric), sorted by step: columns step, n, mean, std, ci95."""
    rows = summary[(summary["split"] == split) & (summary["metric"] == metric)]
    return rows.sort_values("step")[["step", "n", "mean", "std", "ci95"]].reset_index(drop=True)


def final(summary: pd.DataFrame, split: str, metric: str) -> pd.Series:
    """The last-step row of one (split, metric)."""
    rows = series(summary, split, metric)
    if rows.empty:
        raise KeyError(f"summary has no rows for split={split!r}, metric={metric!r}")
    return rows.iloc[-1]


def n_runs(summary: pd.DataFrame) -> int:
    return int(final(summary, "run", "diverged")["n"])


def n_diverged(summary: pd.DataFrame) -> int:
    row = final(summary, "run", "diverged")
    return int(round(row["mean"] * row["n"]))
