"""The entry points the figure, table and scorecard rules call (`repro.outputs`): from
the per-seed and summary CSV files the aggregate step writes to PNG/PDF, CSV/MD/TeX and
the paper's scorecard CSV, with the footer, the `diverged` column and the scorecard's
safety net. One synthetic optlab experiment with one of three seeds diverged."""

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from repro import aggregate, outputs, tables  # noqa: E402

ACCURACY = {0: 0.9, 1: 0.1, 2: 0.8}  # seed 1 diverged


def _files(tmp_path):
    """results/optlab/{per_seed,summary}/mlp_lr0.05.csv as the aggregate rule writes them."""
    name = "mlp_lr0.05"
    rows = []
    for seed, acc in ACCURACY.items():
        rows += [
            (name, seed, 1, "val", "accuracy", acc),
            (name, seed, 1, "test", "accuracy", acc),
            (name, seed, 1, "train", "loss", 0.5),
            (name, seed, 0, "run", "diverged", float(seed == 1)),
            (name, seed, 0, "run", "wall_time_s", 2.0),
        ]
        rows += [(name, seed, i, "train_batch", "loss", 1.0 / i) for i in range(1, 5)]
    per_seed = tmp_path / "per_seed" / f"{name}.csv"
    summary = tmp_path / "summary" / f"{name}.csv"
    per_seed.parent.mkdir()
    summary.parent.mkdir()
    aggregate.write_rows(per_seed, aggregate.PER_SEED_COLUMNS, rows)
    aggregate.write_rows(summary, aggregate.COLUMNS, aggregate.summary_rows(rows))
    params = {
        "kind": "mnist_mlp",
        "lr": 0.05,
        "epochs": 1,
        "batch_size": 64,
        "dataset": "mnist",
        "seeds": [0, 1, 2],
    }
    return {name: params}, [str(summary)], [str(per_seed)]


def test_gather_reads_the_rule_inputs(tmp_path):
    from repro.registry import Needs

    experiments, summaries, per_seed = _files(tmp_path)
    art = tmp_path / "results" / "optlab" / "runs" / "mlp_lr0.05" / "seed2" / "artifacts.npz"
    inputs = outputs.gather(
        "optlab", Needs(caption="cap"), experiments, "quick", summaries, per_seed, [str(art)]
    )
    assert inputs.caption == "cap" and inputs.preset == "quick"
    assert inputs.artifacts == {"mlp_lr0.05": {2: str(art)}}
    test = aggregate.final(inputs.summary("mlp_lr0.05"), "test", "accuracy")
    assert test["n"] == 3 and test["mean"] == pytest.approx(0.6)
    assert aggregate.diverged_seeds(inputs.seeds("mlp_lr0.05")) == [1]


def test_make_figure_writes_png_and_pdf_with_the_footer(tmp_path, monkeypatch):
    from repro import plotting

    experiments, summaries, per_seed = _files(tmp_path)
    footers = []
    monkeypatch.setattr(
        plotting,
        "footer_text",
        lambda inputs, f=plotting.footer_text: footers.append(f(inputs)) or footers[-1],
    )
    png, pdf = tmp_path / "L3.png", tmp_path / "L3.pdf"
    outputs.make_figure(
        "optlab", "L3", experiments, "quick", summaries, per_seed, [], str(png), str(pdf)
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    (footer,) = footers
    assert "[preset: quick; seeds: 0, 1, 2; data: MNIST]" in footer
    assert footer.endswith("Diverged runs: mlp_lr0.05 (1/3 diverged).")


def test_make_table_adds_the_diverged_column_and_the_caption(tmp_path):
    experiments, summaries, per_seed = _files(tmp_path)
    paths = [str(tmp_path / f"L3.{ext}") for ext in ("csv", "md", "tex")]
    outputs.make_table("optlab", "L3", experiments, "quick", summaries, per_seed, [], paths)
    frame = pd.read_csv(paths[0])
    assert frame.loc[0, "test_accuracy_mean"] == pytest.approx(0.6)
    assert frame.loc[0, "diverged"] == 1  # L3's own count (mark_diverged keeps it)
    markdown = (tmp_path / "L3.md").read_text()
    assert "preset: quick" in markdown and "Diverged runs: mlp_lr0.05 (1/3 diverged)" in markdown
    tex = (tmp_path / "L3.tex").read_text()
    assert "\\begin{tabular}" in tex and "(1/3 diverged)" in tex.split("tabular")[0]


def test_make_scorecard_flags_rows_resting_on_diverged_runs(tmp_path, monkeypatch):
    from repro.optlab import tables as otables

    experiments, summaries, per_seed = _files(tmp_path)
    # a paper's scorecard that forgot to pass diverged=: the safety net catches it
    monkeypatch.setattr(
        otables,
        "scorecard",
        lambda inputs: [
            {
                "paper": "optlab",
                "claim": "mlp_lr0.05 trains",
                "reported": "-",
                "ours": "0.6",
                "preset": inputs.preset,
                "verdict": tables.HOLDS,
                "detail": "",
            },
            {
                "paper": "optlab",
                "claim": "other claim",
                "reported": "-",
                "ours": "-",
                "preset": inputs.preset,
                "verdict": tables.HOLDS,
                "detail": "",
            },
        ],
    )
    csv = tmp_path / "scorecard.csv"
    outputs.make_scorecard("optlab", experiments, "quick", summaries, per_seed, [], str(csv))
    frame = pd.read_csv(csv, keep_default_na=False).set_index("claim")
    assert frame.loc["mlp_lr0.05 trains", "verdict"] == tables.DIVERGED
    assert "mlp_lr0.05: 1/3 runs diverged" in frame.loc["mlp_lr0.05 trains", "detail"]
    assert frame.loc["other claim", "verdict"] == tables.HOLDS
    assert list(pd.read_csv(csv).columns) == tables.SCORECARD_COLUMNS
