"""The workflow as a user meets it: dry runs, errors before any job, the smoke preset."""

import re
import shutil

import pytest
import yaml

from repro import layout, registry
from repro.config import load, papers, resolve_experiments
from tests.conftest import CONFIG, SMOKE, snakemake


def _job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("\n\n")[0]
    counts = {}
    for line in table.splitlines()[3:]:
        name, count = line.split()
        if name != "total":
            counts[name] = int(count)
    return counts


def test_one_figure_target_lists_only_its_own_jobs(tmp_path):
    result = snakemake(tmp_path, "-n", "results/figures/optlab/O2.png")
    assert _job_counts(result.stdout) == {"train": 3, "aggregate": 3, "figure": 1}
    assert "curv_sgd" in result.stdout and "mlp_lr" not in result.stdout


def test_figure_from_data_pulls_its_download_and_nothing_else(tmp_path):
    result = snakemake(tmp_path, "-n", "results/figures/optlab/L1.png")
    assert _job_counts(result.stdout) == {
        "download_dataset": 1,
        "train": 1,
        "aggregate": 1,
        "figure": 1,
    }
    assert "dataset=mnist" in result.stdout and "fashion_mnist" not in result.stdout


def _made_figures(config, paper):
    return registry.made(registry.figures(paper), resolve_experiments(config, paper))


def test_all_figures_dry_run_covers_every_figure_the_preset_makes(tmp_path):
    result = snakemake(tmp_path, "-n", "all_figures")
    config = load(CONFIG)
    expected = sum(len(_made_figures(config, p)) for p in papers(config))
    assert _job_counts(result.stdout)["figure"] == expected


def test_needs_made_drops_outputs_whose_experiments_the_preset_lacks():
    experiments = {
        "de": {"kind": "ensemble", "method": "de"},
        "toy": {"kind": "toy", "method": "de"},
    }
    assert registry.Needs(kinds=("ensemble",)).made(experiments)
    assert not registry.Needs(kinds=("other",)).made(experiments)
    assert not registry.Needs(experiments=("absent",), optional=True).made(experiments)
    sweep = registry.Needs(kinds=("ensemble",), requires=(("method", "tuned"),))
    assert not sweep.made(experiments)
    assert sweep.made({**experiments, "t": {"kind": "ensemble", "method": "tuned"}})
    outputs = {"a": registry.Needs(kinds=("toy",)), "b": sweep}
    assert list(registry.made(outputs, experiments)) == ["a"]


def test_misspelt_config_key_stops_before_any_job(tmp_path):
    bad = yaml.safe_load(CONFIG.read_text())
    bad["optlab"]["defaults"]["mnist_mlp"]["epocs"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = snakemake(
        tmp_path, "all", "--cores", "1", configs=(tmp_path / "bad.yaml",), check=False
    )
    assert result.returncode != 0
    assert "optlab.defaults.mnist_mlp.epocs" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_corrupted_dataset_file_is_named(tmp_path, mirror):
    copy = tmp_path / "mirror"
    shutil.copytree(mirror / "MNIST", copy / "MNIST")
    victim = copy / "MNIST/raw/train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:1000])
    work = tmp_path / "work"
    result = snakemake(
        work, layout.DATA_MANIFEST.format(dataset="mnist"), "--cores", "1", mirror=copy, check=False
    )
    assert result.returncode != 0
    log = (work / "logs/download_dataset/mnist.log").read_text()
    for text in (log, result.stderr):
        assert str(victim) in text and "d53e105ee54ea40749a09fcbcd1e9432" in text
    assert not (work / layout.DATA_MANIFEST.format(dataset="mnist")).exists()


@pytest.mark.slow
def test_smoke_preset_builds_every_output(smoke_workflow):
    config = load(CONFIG, SMOKE)
    for paper in papers(config):
        for figure in _made_figures(config, paper):
            for ext in layout.FIGURE_EXTS:
                path = smoke_workflow / layout.FIGURE.format(paper=paper, figure=figure, ext=ext)
                assert path.stat().st_size > 5_000, path
        experiments = resolve_experiments(config, paper)
        for table in registry.made(registry.tables(paper), experiments):
            for ext in layout.TABLE_EXTS:
                assert (
                    smoke_workflow / layout.TABLE.format(paper=paper, table=table, ext=ext)
                ).exists()
    scorecard = (smoke_workflow / "results/tables/scorecard.md").read_text()
    assert "| smoke " in scorecard or "smoke" in scorecard


@pytest.mark.slow
def test_rebuilding_one_figure_reruns_only_that_figure(smoke_workflow):
    target = smoke_workflow / "results/figures/optlab/O2.png"
    target.unlink()
    result = snakemake(
        smoke_workflow,
        str(target.relative_to(smoke_workflow)),
        "--cores",
        "1",
        configs=(CONFIG, SMOKE),
    )
    assert _job_counts(result.stderr + result.stdout) == {"figure": 1}
    assert target.exists()


@pytest.mark.slow
def test_every_run_record_is_complete(smoke_workflow):
    records = list(smoke_workflow.glob("results/*/runs/*/seed*/run.json"))
    assert records
    for path in records:
        record = yaml.safe_load(path.read_text())
        assert record["status"] in ("ok", "diverged") and record["preset"] == "smoke"
        assert re.fullmatch(r"seed\d+", path.parent.name)
        assert not (path.parent / "checkpoint.pt").exists()


@pytest.mark.slow
def test_report_captions_every_figure_and_table(smoke_workflow):
    """`snakemake --report` embeds every figure and table with its caption: what it
    shows and which preset made it."""
    import json

    report = smoke_workflow / "report.html"
    snakemake(smoke_workflow, "--report", str(report), configs=(CONFIG, SMOKE))
    html = report.read_text()
    config = load(CONFIG, SMOKE)
    for paper in papers(config):
        experiments = resolve_experiments(config, paper)
        outputs = [
            (layout.FIGURE.format(paper=paper, figure=f, ext="png"), needs)
            for f, needs in registry.made(registry.figures(paper), experiments).items()
        ] + [
            (layout.TABLE.format(paper=paper, table=t, ext="csv"), needs)
            for t, needs in registry.made(registry.tables(paper), experiments).items()
        ]
        for path, needs in outputs:
            key = json.dumps(path)
            assert f"{key}: {{" in html, f"{path} is not in the report"
            entry = html[html.index(f"{key}: {{") :][:200_000]
            caption = entry[entry.index('"caption": ') : entry.index('"mime_type"')]
            assert "preset: smoke" in caption, f"{path}: caption lacks the preset"
            first_words = " ".join(needs.caption.split()[:3])
            assert first_words in caption.replace("\\n", " "), f"{path}: caption {caption[:200]}"
