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

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from repro.io import atomic_path, read_json

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["experiment", "step", "split", "metric", "n", "mean", "std", "ci95"]
PER_SEED_COLUMNS = ["experiment", "seed", "step", "split", "metric", "value"]

# 97.5 % quantiles of Student's t with 1..30 degrees of freedom (scipy.special.stdtrit,
# 12 significant digits; tests/test_aggregate.py checks them). The aggregate job reads
# and writes CSV with the standard library alone: importing pandas and scipy would cost
# it ~0.45 CPU-s, ten times its work. More than 31 runs: scipy.
_T975 = (
    12.7062047362, 4.30265272975, 3.18244630528, 2.7764451052, 2.57058183564,
    2.44691185114, 2.36462425159, 2.3060041352, 2.2621571628, 2.22813885199,
    2.20098516009, 2.17881282967, 2.16036865646, 2.14478668792, 2.13144954556,
    2.11990529922, 2.10981557783, 2.10092204024, 2.09302405441, 2.08596344727,
    2.07961384473, 2.0738730679, 2.06865761042, 2.06389856163, 2.05953855275,
    2.05552943864, 2.05183051648, 2.0484071418, 2.04522964213, 2.0422724563,
)  # fmt: skip


def t975(n: int) -> float:
    """97.5 % quantile of Student's t with n - 1 degrees of freedom (NaN for n < 2)."""
    if n < 2:
        return math.nan
    if n - 1 <= len(_T975):
        return _T975[n - 2]
    from scipy.special import stdtrit

    return float(stdtrit(n - 1, 0.975))


def per_seed_rows(experiment: str, runs: Iterable[tuple[str | Path, str | Path]]) -> list[tuple]:
    """`runs`: (metrics.csv, run.json) pairs, one per seed -> (experiment, seed, step,
    split, metric, value) rows: every row of every run, plus split "run" rows per run
    (`diverged` 0/1, `wall_time_s`). Non-finite values are kept (an empty field: NaN)."""
    rows = []
    for metrics_path, record_path in runs:
        record = read_json(record_path)
        seed = int(record["seed"])
        with open(metrics_path, newline="") as fh:
            for row in csv.DictReader(fh):
                value = float(row["value"]) if row["value"] else math.nan
                rows.append(
                    (experiment, seed, int(row["step"]), row["split"], row["metric"], value)
                )
        rows.append((experiment, seed, 0, "run", "diverged", float(record["status"] == "diverged")))
        rows.append((experiment, seed, 0, "run", "wall_time_s", float(record["wall_time_s"])))
    if not rows:
        raise ValueError(f"no runs to summarise for experiment {experiment!r}")
    return rows


def summary_rows(rows: Iterable[tuple]) -> list[tuple]:
    """Per-seed rows -> (experiment, step, split, metric, n, mean, std, ci95) rows sorted
    by (step, split, metric); non-finite values left out of n (a group with none: no row).
    std: sample std (NaN for n = 1); ci95: Student-t half-width of the mean's interval."""
    rows = list(rows)
    experiment = rows[0][0] if rows else ""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for _, _, step, split, metric, value in rows:
        if math.isfinite(value):
            groups[(step, split, metric)].append(value)
    out = []
    for (step, split, metric), values in sorted(groups.items()):
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
        out.append((experiment, step, split, metric, n, mean, std, t975(n) * std / math.sqrt(n)))
    return out


def _field(value) -> str | int:
    """A CSV field as pandas' `to_csv` writes it (floats by repr, NaN as empty)."""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def write_rows(path: str | Path, columns: list[str], rows: Iterable[tuple]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_field(v) for v in row] for row in rows)


def write(experiment: str, runs, per_seed_path: str | Path, summary_path: str | Path) -> None:
    """What the aggregate rule does: the per-seed table and its summary, as CSV."""
    rows = per_seed_rows(experiment, runs)
    write_rows(per_seed_path, PER_SEED_COLUMNS, rows)
    write_rows(summary_path, COLUMNS, summary_rows(rows))


def per_seed(experiment: str, runs: Iterable[tuple[str | Path, str | Path]]) -> pd.DataFrame:
    """`per_seed_rows` as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(per_seed_rows(experiment, runs), columns=PER_SEED_COLUMNS)


def summarize_per_seed(data: pd.DataFrame) -> pd.DataFrame:
    """A `per_seed` DataFrame -> the summary over seeds (non-finite values left out of n)."""
    import pandas as pd

    rows = data[PER_SEED_COLUMNS].itertuples(index=False, name=None)
    return pd.DataFrame(summary_rows(rows), columns=COLUMNS)


def summarize(experiment: str, runs: Iterable[tuple[str | Path, str | Path]]) -> pd.DataFrame:
    """`runs`: (metrics.csv, run.json) pairs, one per seed -> the summary DataFrame."""
    import pandas as pd

    return pd.DataFrame(summary_rows(per_seed_rows(experiment, runs)), columns=COLUMNS)


def read_summary(path: str | Path) -> pd.DataFrame:
    import pandas as pd

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


def population_std(rows):
    """The summary's sample std (ddof = 1) turned into NumPy's default population std
    (ddof = 0), the spread some papers plot: std * sqrt((n - 1) / n); 0 for one run (or
    none). `rows`: summary rows (a DataFrame: an array back) or one row (a float back)."""
    import numpy as np

    n = np.asarray(rows["n"], dtype=float)
    std = np.asarray(rows["std"], dtype=float)
    factor = np.sqrt(np.where(n > 1, (n - 1) / np.maximum(n, 1), 0.0))
    out = np.nan_to_num(std * factor)
    return float(out) if out.ndim == 0 else out


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


def divergence(table: pd.DataFrame) -> tuple[int, int]:
    """(runs that diverged, runs) of a `per_seed` table."""
    flags = seed_values(table, "run", "diverged")
    return int((flags > 0).sum()), len(flags)


def diverged_seeds(table: pd.DataFrame) -> list[int]:
    """Seeds whose run.json says `diverged`."""
    flags = seed_values(table, "run", "diverged")
    return [int(seed) for seed, flag in flags.items() if flag > 0]
