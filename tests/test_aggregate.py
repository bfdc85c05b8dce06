"""Aggregation over seeds, checked against numbers computed by hand."""

import json
import math

import pandas as pd
import pytest

from repro.aggregate import final, n_diverged, n_runs, series, summarize


def _run(tmp_path, seed, values, status="ok", wall=10.0):
    folder = tmp_path / f"seed{seed}"
    folder.mkdir()
    rows = [(step, "val", "accuracy", v) for step, v in enumerate(values, start=1)]
    pd.DataFrame(rows, columns=["step", "split", "metric", "value"]).to_csv(
        folder / "metrics.csv", index=False
    )
    (folder / "run.json").write_text(json.dumps({"status": status, "wall_time_s": wall}))
    return folder / "metrics.csv", folder / "run.json"


def test_mean_std_ci_by_hand(tmp_path):
    runs = [
        _run(tmp_path, 0, [0.5, 0.6]),
        _run(tmp_path, 1, [0.7, 0.8]),
        _run(tmp_path, 2, [0.9, 1.0], status="diverged", wall=40.0),
    ]
    summary = summarize("exp", runs)
    step1 = series(summary, "val", "accuracy").iloc[0]
    assert step1["n"] == 3 and step1["mean"] == pytest.approx(0.7)
    assert step1["std"] == pytest.approx(0.2)  # sample std of 0.5, 0.7, 0.9
    assert step1["ci95"] == pytest.approx(4.302652729911275 * 0.2 / math.sqrt(3))
    assert final(summary, "val", "accuracy")["mean"] == pytest.approx(0.8)
    assert n_runs(summary) == 3 and n_diverged(summary) == 1
    assert final(summary, "run", "wall_time_s")["mean"] == pytest.approx(20.0)
    assert list(summary.columns) == [
        "experiment",
        "step",
        "split",
        "metric",
        "n",
        "mean",
        "std",
        "ci95",
    ]


def test_non_finite_values_are_left_out(tmp_path):
    runs = [_run(tmp_path, 0, [1.0, float("nan")]), _run(tmp_path, 1, [3.0, 5.0])]
    last = final(summarize("exp", runs), "val", "accuracy")
    assert last["n"] == 1 and last["mean"] == 5.0 and math.isnan(last["std"])


def test_single_run_has_no_spread(tmp_path):
    row = series(summarize("exp", [_run(tmp_path, 0, [0.25])]), "val", "accuracy").iloc[0]
    assert row["n"] == 1 and math.isnan(row["std"]) and math.isnan(row["ci95"])


def test_no_runs_is_an_error():
    with pytest.raises(ValueError, match="no runs"):
        summarize("exp", [])
