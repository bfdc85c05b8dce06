"""Runs -> one tidy summary per experiment: mean, std and 95 % CI over seeds.

Columns: experiment, step, split, metric, n, mean, std, ci95. `std` is the sample
standard deviation (ddof = 1); `ci95` is the half-width of the Student-t 95 %
interval of the mean, so the interval is mean ± ci95 (both NaN when n = 1).
Non-finite values (a diverged run's last loss) are left out of n. Each run also
contributes split "run" rows: `diverged` (0/1) and `wall_time_s`, so figures can say
how many runs diverged without reading anything but the summary.

`per_seed` keeps what the summary averages away: every run's rows with its seed
(experiment, seed, step, split, metric, value, non-finite values kept), so figures,
tables and the scorecard make paired comparisons (same seed, two methods) and show
per-seed values from one table.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from repro.io import read_json

COLUMNS = ["experiment", "step", "split", "metric", "n", "mean", "std", "ci95"]
PER_SEED_COLUMNS = ["experiment", "seed", "step", "split", "metric", "value"]


# 97.5 % quantiles of Student's t with 1..30 degrees of freedom (scipy.special.stdtrit,
# 12 significant digits; tests/test_aggregate.py checks them): importing scipy would
# cost each aggregate job more CPU than its work. More than 30 runs: scipy.
_T975 = (
    12.7062047362, 4.30265272975, 3.18244630528, 2.7764451052, 2.57058183564,
    2.44691185114, 2.36462425159, 2.3060041352, 2.2621571628, 2.22813885199,
    2.20098516009, 2.17881282967, 2.16036865646, 2.14478668792, 2.13144954556,
    2.11990529922, 2.10981557783, 2.10092204024, 2.09302405441, 2.08596344727,
    2.07961384473, 2.0738730679, 2.06865761042, 2.06389856163, 2.05953855275,
    2.05552943864, 2.05183051648, 2.0484071418, 2.04522964213, 2.0422724563,
)  # fmt: skip


def _t_quantile(n: np.ndarray) -> np.ndarray:
    """97.5 % quantile of Student's t with n - 1 degrees of freedom (NaN for n < 2)."""
    n = np.asarray(n)
    out = np.full(n.shape, np.nan)
    table = (n > 1) & (n <= len(_T975) + 1)
    out[table] = np.asarray(_T975)[n[table].astype(int) - 2]
    if (n > len(_T975) + 1).any():
        from scipy.special import stdtrit

        big = n > len(_T975) + 1
        out[big] = stdtrit(n[big] - 1, 0.975)
    return out


def per_seed(experiment: str, runs: Iterable[tuple[str | Path, str | Path]]) -> pd.DataFrame:
    """`runs`: (metrics.csv, run.json) pairs, one per seed -> every row of every run, with
    its seed, plus split "run" rows per run: `diverged` (0/1) and `wall_time_s`."""
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
        frame = pd.concat([metrics, run_rows], ignore_index=True)
        frame.insert(0, "seed", int(record["seed"]))
        frames.append(frame)
    if not frames:
        raise ValueError(f"no runs to summarise for experiment {experiment!r}")
    data = pd.concat(frames, ignore_index=True)
    data.insert(0, "experiment", experiment)
    return data[PER_SEED_COLUMNS]


def summarize_per_seed(data: pd.DataFrame) -> pd.DataFrame:
    """A `per_seed` table -> the summary over seeds (non-finite values left out of n)."""
    data = data[np.isfinite(data["value"].to_numpy(dtype=float))]
    grouped = data.groupby(["step", "split", "metric"], sort=True)["value"]
    summary = grouped.agg(n="count", mean="mean", std="std").reset_index()
    n = summary["n"].to_numpy()
    summary["ci95"] = _t_quantile(n) * summary["std"].to_numpy() / np.sqrt(n)
    summary.insert(0, "experiment", data["experiment"].iloc[0] if len(data) else "")
    return summary[COLUMNS]


def summarize(experiment: str, runs: Iterable[tuple[str | Path, str | Path]]) -> pd.DataFrame:
    """`runs`: (metrics.csv, run.json) pairs, one per seed."""
    summary = summarize_per_seed(per_seed(experiment, runs))
    summary["experiment"] = experiment
    return summary


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


def seed_values(
    table: pd.DataFrame, split: str, metric: str, step: str | int = "last"
) -> pd.Series:
    """One value per seed (index: seed) of a `per_seed` table: the value at `step`, or at
    each run's last step of that (split, metric) when `step` is "last"."""
    rows = table[(table["split"] == split) & (table["metric"] == metric)]
    if rows.empty:
        raise KeyError(f"per-seed table has no rows for split={split!r}, metric={metric!r}")
    if step == "last":
        rows = rows.sort_values("step").groupby("seed").tail(1)
    else:
        rows = rows[rows["step"] == step]
    return rows.set_index("seed")["value"].sort_index()


def diverged_seeds(table: pd.DataFrame) -> list[int]:
    """Seeds whose run.json says `diverged`."""
    flags = seed_values(table, "run", "diverged")
    return [int(seed) for seed, flag in flags.items() if flag > 0]
