"""Aggregation over seeds, checked against numbers computed by hand."""

import json
import math

import pandas as pd
import pytest

from repro.aggregate import (
    diverged_seeds,
    final,
    n_diverged,
    n_runs,
    per_seed,
    population_std,
    seed_values,
    series,
    summarize,
)


def _run(tmp_path, seed, values, status="ok", wall=10.0):
    folder = tmp_path / f"seed{seed}"
    folder.mkdir()
    rows = [(step, "val", "accuracy", v) for step, v in enumerate(values, start=1)]
    pd.DataFrame(rows, columns=["step", "split", "metric", "value"]).to_csv(
        folder / "metrics.csv", index=False
    )
    record = {"seed": seed, "status": status, "wall_time_s": wall}
    (folder / "run.json").write_text(json.dumps(record))
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


def test_per_seed_table_keeps_each_run(tmp_path):
    runs = [
        _run(tmp_path, 3, [0.5, 0.6]),
        _run(tmp_path, 7, [0.7, float("nan")], status="diverged"),
    ]
    table = per_seed("exp", runs)
    assert list(table.columns) == ["experiment", "seed", "step", "split", "metric", "value"]
    last = seed_values(table, "val", "accuracy")
    assert last.index.tolist() == [3, 7]
    assert last[3] == 0.6 and math.isnan(last[7])  # non-finite kept: the run blew up
    assert seed_values(table, "val", "accuracy", step=1).tolist() == [0.5, 0.7]
    assert diverged_seeds(table) == [7]
    with pytest.raises(KeyError, match="split='test'"):
        seed_values(table, "test", "accuracy")


def test_n_diverged_rounds_instead_of_truncating(tmp_path):
    """15 of 22 runs diverged: the mean 0.6818... times 22 is 14.999..., not 14."""
    runs = [_run(tmp_path, s, [0.5], status="diverged" if s < 15 else "ok") for s in range(22)]
    summary = summarize("exp", runs)
    assert n_runs(summary) == 22 and n_diverged(summary) == 15
    assert diverged_seeds(per_seed("exp", runs)) == list(range(15))


def test_t_quantiles_match_student_t():
    """The written-out t table (and the scipy fallback past it) against textbook values
    and scipy.stats."""
    from scipy import stats

    from repro.aggregate import t975

    assert math.isnan(t975(0)) and math.isnan(t975(1))
    for n in range(2, 45):
        assert t975(n) == pytest.approx(stats.t.ppf(0.975, n - 1), rel=1e-10), n
    # printed tables: df 1 -> 12.706, df 2 -> 4.303, df 10 -> 2.228, df 30 -> 2.042
    for n, printed in ((2, 12.706), (3, 4.303), (11, 2.228), (31, 2.042)):
        assert t975(n) == pytest.approx(printed, abs=5e-4)


def test_aggregate_files_are_what_pandas_wrote(tmp_path):
    """The aggregate job writes its CSVs without pandas: the same table, read back, as
    pandas computes from the same runs (groupby mean/std, scipy t), NaN and inf kept."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    from repro.aggregate import write

    runs = [
        _run(tmp_path, 0, [0.5, 0.1, float("inf"), 1 / 3]),
        _run(tmp_path, 4, [0.7, float("nan"), 2.0, 2 / 3], status="diverged", wall=3.25),
        _run(tmp_path, 9, [0.9, 0.3, 3.0, 1e-7]),
    ]
    write("exp", runs, tmp_path / "per_seed.csv", tmp_path / "summary.csv")
    table = pd.read_csv(tmp_path / "per_seed.csv")
    assert len(table) == 3 * (4 + 2) and table["seed"].unique().tolist() == [0, 4, 9]
    assert np.isinf(table["value"]).sum() == 1 and table["value"].isna().sum() == 1
    finite = table[np.isfinite(table["value"])]
    grouped = finite.groupby(["step", "split", "metric"], sort=True)["value"]
    expected = grouped.agg(n="count", mean="mean", std="std").reset_index()
    ours = pd.read_csv(tmp_path / "summary.csv")
    assert ours[["step", "split", "metric", "n"]].equals(expected[["step", "split", "metric", "n"]])
    np.testing.assert_allclose(ours["mean"], expected["mean"], rtol=1e-14)
    np.testing.assert_allclose(ours["std"], expected["std"], rtol=1e-12)
    t = stats.t.ppf(0.975, expected["n"] - 1)
    np.testing.assert_allclose(
        ours["ci95"], t * expected["std"] / np.sqrt(expected["n"]), rtol=1e-10
    )


def test_population_std_from_the_summary_sample_std():
    # values 1, 2, 3, 4: sample variance 5/3, population variance 5/4
    rows = pd.DataFrame({"n": [4, 1, 0], "std": [(5 / 3) ** 0.5, float("nan"), float("nan")]})
    assert population_std(rows) == pytest.approx([1.25**0.5, 0.0, 0.0])
    assert population_std(rows.iloc[0]) == pytest.approx(1.25**0.5)


def test_written_files_name_the_experiment_and_write_nan_as_an_empty_field(tmp_path):
    """The CSV bytes themselves: LF line ends, NaN as an empty field (as pandas' to_csv),
    every row named after its experiment, the run rows at step 0."""
    from repro.aggregate import write

    runs = [_run(tmp_path, 0, [0.5, float("nan")]), _run(tmp_path, 1, [0.25, 0.75])]
    write("exp_a", runs, tmp_path / "per_seed.csv", tmp_path / "summary.csv")
    raw = (tmp_path / "per_seed.csv").read_bytes()
    assert b"\r" not in raw and raw.count(b"\n") == 1 + 2 * (2 + 2)
    lines = raw.decode().splitlines()
    assert lines[0] == "experiment,seed,step,split,metric,value"
    assert "exp_a,0,2,val,accuracy," in lines  # NaN: an empty field, not "nan"
    assert "exp_a,0,0,run,diverged,0.0" in lines and "exp_a,1,0,run,wall_time_s,10.0" in lines
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert summary[0] == "experiment,step,split,metric,n,mean,std,ci95"
    assert all(line.startswith("exp_a,") for line in summary[1:])
    assert "exp_a,2,val,accuracy,1,0.75,," in summary  # one finite value: no std, no CI
    assert set(per_seed("exp_b", runs)["experiment"]) == {"exp_b"}
    assert set(summarize("exp_c", runs)["experiment"]) == {"exp_c"}


def test_summarize_per_seed_divergence_and_read_summary(tmp_path):
    """`summarize_per_seed` (what figure tests and the outputs use) on a table written out
    here: two seeds, values 1 and 3 at step 2, NaN left out of n."""
    from repro.aggregate import (
        COLUMNS,
        divergence,
        read_summary,
        summarize_per_seed,
        summary_rows,
    )

    rows = [
        ("e", 0, 2, "test", "loss", 1.0),
        ("e", 1, 2, "test", "loss", 3.0),
        ("e", 2, 2, "test", "loss", float("nan")),
        ("e", 0, 0, "run", "diverged", 0.0),
        ("e", 1, 0, "run", "diverged", 1.0),
        ("e", 2, 0, "run", "diverged", 1.0),
    ]
    table = pd.DataFrame(rows, columns=["experiment", "seed", "step", "split", "metric", "value"])
    table["extra"] = "ignored"  # columns beyond the per-seed ones are not read
    summary = summarize_per_seed(table)
    assert list(summary.columns) == COLUMNS and len(summary) == 2
    loss = series(summary, "test", "loss").iloc[0]
    assert loss["n"] == 2 and loss["mean"] == 2.0 and loss["std"] == pytest.approx(math.sqrt(2))
    assert loss["ci95"] == pytest.approx(12.7062047362 * math.sqrt(2) / math.sqrt(2))
    assert summary_rows([]) == []
    assert divergence(table) == (2, 3)
    path = tmp_path / "s.csv"
    summary.to_csv(path, index=False)
    assert read_summary(path).equals(pd.read_csv(path))


def test_series_and_final_shape_and_errors():
    summary = pd.DataFrame(
        [
            ("e", 3, "val", "acc", 1, 0.3, math.nan, math.nan),
            ("e", 1, "val", "acc", 1, 0.1, math.nan, math.nan),
            ("e", 2, "train", "acc", 1, 0.2, math.nan, math.nan),
        ],
        columns=["experiment", "step", "split", "metric", "n", "mean", "std", "ci95"],
    )
    s = series(summary, "val", "acc")
    assert list(s.columns) == ["step", "n", "mean", "std", "ci95"]
    assert s["step"].tolist() == [1, 3] and s.index.tolist() == [0, 1]  # sorted, renumbered
    assert final(summary, "val", "acc")["mean"] == 0.3
    with pytest.raises(KeyError, match="split='test', metric='acc'"):
        final(summary, "test", "acc")


def test_summary_of_a_single_row():
    from repro.aggregate import summary_rows

    (row,) = summary_rows([("only", 4, 1, "val", "acc", 0.5)])
    assert row[:6] == ("only", 1, "val", "acc", 1, 0.5)
    assert math.isnan(row[6]) and math.isnan(row[7])  # one value: no std, no interval
