"""Reading levelsets summaries: walk start/end, baseline finals by exact lambda key."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.aggregate import population_std, series


def regression(params: dict) -> bool:
    return params["dataset"] == "auto_mpg"


def metric_label(params: dict, percent: bool = False) -> str:
    if regression(params):
        return "test MSE"
    return "test accuracy (%)" if percent else "test accuracy"


def walk_point(summary: pd.DataFrame, metric: str, which: int) -> dict:
    """Mean, population std and n of a walk metric at its first (0) or last (-1) logged step."""
    rows = series(summary, "walk", metric)
    if rows.empty:
        return {"mean": np.nan, "std": np.nan, "n": 0, "step": np.nan}
    row = rows.iloc[which]
    return {
        "mean": float(row["mean"]),
        "std": population_std(row),  # ddof = 0, as the paper's notebooks (NumPy's std)
        "n": int(row["n"]),
        "step": int(row["step"]),
    }


def run_value(summary: pd.DataFrame, metric: str, split: str = "levelset") -> float:
    """Mean over runs of a per-run value recorded at step 0 of `split` (NaN if absent)."""
    rows = series(summary, split, metric)
    return float(rows["mean"].iloc[0]) if len(rows) else np.nan


def baseline_finals(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per lambda (sorted): final-epoch test loss/metric, mean and population std
    over runs. Lambda is parsed from the exact split key `test@<repr(lambda)>`."""
    test = summary[summary["split"].str.startswith("test@")]
    rows = []
    for split, group in test.groupby("split"):
        last = group[group["step"] == group["step"].max()]
        row = {"lambda": float(split.removeprefix("test@")), "epoch": int(last["step"].iloc[0])}
        row["n"] = 0
        for metric in ("loss", "metric"):
            m = last[last["metric"] == metric]  # empty when every run's value is non-finite
            row[f"{metric}_mean"] = float(m["mean"].iloc[0]) if len(m) else np.nan
            row[f"{metric}_std"] = population_std(m.iloc[0]) if len(m) else np.nan
            row["n"] = max(row["n"], int(m["n"].iloc[0]) if len(m) else 0)
        rows.append(row)
    columns = ["lambda", "epoch", "n", "loss_mean", "loss_std", "metric_mean", "metric_std"]
    # a run that diverged before its first test epoch has no test rows at all
    frame = pd.DataFrame(rows, columns=columns).sort_values("lambda").reset_index(drop=True)
    frame["constant_loss"] = run_value(summary, "constant_loss", "reference")
    return frame
