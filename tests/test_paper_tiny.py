"""The paper preset, tiny: every paper experiment, model and code path end to end.

`.test/config/paper-tiny.yaml`, given after `config/paper.yaml`, cuts sizes only; the
stand-ins of tests/standins.py replace the datasets the offline mirror lacks, reached
through `datasets_file` and `data_mirror` like real data. The fast test checks that the
overlay changes no structural choice of the paper preset; the slow one runs `all` when
REPRO_TEST_PAPER_TINY=1 (about 20 CPU-minutes; `.ci/run` sets it; docs/testing.md).
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from repro import config, layout, registry
from tests import standins
from tests.conftest import CONFIG, REPO, snakemake

PAPER = REPO / "config" / "paper.yaml"
TINY = REPO / ".test" / "config" / "paper-tiny.yaml"
# what makes a run a paper-preset run; the overlay may change sizes only
STRUCTURE = (
    "kind", "dataset", "method", "model", "members", "pca", "augment", "data_aug",
    "architecture", "J", "member_chunk", "activation", "adaptive", "update_form",
    "channels", "kernels", "strides", "paddings", "pools", "fc", "loss", "algorithm",
    "estimator", "vf", "same_update", "optimizer", "alpha", "lambdas", "betas", "lr",
    "init", "schedule_unit", "adapt_bounds", "adapt_step",
)  # fmt: skip


def test_the_tiny_overlay_keeps_every_paper_experiment_and_choice():
    paper, tiny = config.load(CONFIG, PAPER), config.load(CONFIG, PAPER, TINY)
    assert tiny["preset"] == "paper-tiny"
    for name in config.papers(paper):
        full, small = (
            config.resolve_experiments(paper, name),
            config.resolve_experiments(tiny, name),
        )
        assert list(small) == list(full), name
        for experiment, params in full.items():
            for key in STRUCTURE:
                assert small[experiment].get(key) == params.get(key), (experiment, key)
            source = (params.get("corruptions") or {}).get("source")
            assert (small[experiment].get("corruptions") or {}).get("source") == source
            assert small[experiment]["seeds"] == [params["seeds"][0]]  # one seed
            if params["kind"] == "gducheck":  # the nudge reaches every layer in T2 steps
                layers = len(params["channels"]) + len(params["fc"])
                assert small[experiment]["t2"] >= layers, (experiment, "t2")


IMAGE_SETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "tinyimagenet")
# the most a tiny run may do, key by key (a paper.yaml entry that sets `epochs` at the
# experiment level overrides the overlay's defaults: these catch a 120-epoch leftover)
LIMITS = {
    "epochs": 2, "phase1_epochs": 1, "train_batches": 2, "repetitions": 2, "steps": 100,
    "t1": 10, "t2": 5,
}  # fmt: skip
SUBSETS = {"train_subset": 512, "test_subset": 256, "n_images": 256, "val_size": 256}


def test_the_tiny_overlay_cuts_every_size():
    tiny = config.load(CONFIG, PAPER, TINY)
    for name in config.papers(tiny):
        for experiment, params in config.resolve_experiments(tiny, name).items():
            for key, limit in LIMITS.items():
                assert (params.get(key) or 0) <= limit, (experiment, key, params[key])
            if params.get("dataset") in IMAGE_SETS:  # None = the whole set
                for key, limit in SUBSETS.items():
                    if key in params:
                        assert params[key] is not None and params[key] <= limit, (experiment, key)


@pytest.fixture(scope="module")
def tiny_workflow(mirror, tmp_path_factory):
    if os.environ.get("REPRO_TEST_PAPER_TINY") != "1":
        pytest.skip("set REPRO_TEST_PAPER_TINY=1 to run the tiny paper-shaped workflow")
    root = tmp_path_factory.mktemp("paper_tiny")
    standin_mirror, datasets_file = standins.write_mirror(root / "standins", real_mirror=mirror)
    workdir = root / "run"
    snakemake(
        workdir, "all", "--cores", "2",
        "--config", f"datasets_file={datasets_file}", f"data_mirror={standin_mirror}",
        configs=(CONFIG, PAPER, TINY),
    )  # fmt: skip
    return workdir, datasets_file


@pytest.mark.slow
def test_the_tiny_paper_run_builds_every_output(tiny_workflow):
    workdir, datasets_file = tiny_workflow
    cfg = config.load(CONFIG, PAPER, TINY)
    for paper in config.papers(cfg):
        for figure in registry.figures(paper):
            for ext in layout.FIGURE_EXTS:
                assert (
                    workdir / layout.FIGURE.format(paper=paper, figure=figure, ext=ext)
                ).is_file()
        for table in registry.tables(paper):
            for ext in layout.TABLE_EXTS:
                assert (workdir / layout.TABLE.format(paper=paper, table=table, ext=ext)).is_file()
        rows = pd.read_csv(workdir / layout.PAPER_SCORECARD.format(paper=paper))
        assert len(rows) > 0 and set(rows["preset"]) == {"paper-tiny"}, paper
    merged = pd.read_csv(workdir / layout.SCORECARD.format(ext="csv"))
    assert set(merged["paper"]) == set(config.papers(cfg))


@pytest.mark.slow
def test_the_tiny_paper_runs_used_the_standins_through_the_registry(tiny_workflow):
    workdir, datasets_file = tiny_workflow
    declared = standins.yaml.safe_load(datasets_file.read_text())
    record = json.loads((workdir / "results/forde/runs/c10_de/seed0/run.json").read_text())
    assert record["status"] == "ok" and record["preset"] == "paper-tiny"
    assert record["hyperparameters"]["model"] == "resnet18"
    assert record["hyperparameters"]["members"] == 10
    assert record["datasets"]["cifar10"]["md5"] == declared["cifar10"]["files"]
    manifest = json.loads((workdir / "resources/data/cifar10_c/manifest.json").read_text())
    assert manifest["archive"] == {"CIFAR-10-C.tar": declared["cifar10_c"]["archive"]["md5"]}
    assert manifest["sources"]["CIFAR-10-C.tar"].startswith("mirror:")
    enkf = json.loads((workdir / "results/enkf/runs/enkf_size2/seed0/run.json").read_text())
    assert enkf["hyperparameters"]["J"] == 10000 and enkf["status"] == "ok"


@pytest.mark.slow
def test_no_tiny_paper_run_diverged(tiny_workflow):
    """A paper-scale setting that a divergence check misreads shows here, a few steps into
    every experiment (the weight-decay grid's lambda 1e6 once marked every baseline
    diverged at its first epoch)."""
    workdir, _ = tiny_workflow
    records = sorted((workdir / "results").glob("*/runs/*/seed*/run.json"))
    assert records
    diverged = {
        str(path.relative_to(workdir)): record.get("status_reason")
        for path in records
        if (record := json.loads(path.read_text()))["status"] != "ok"
    }
    assert not diverged, diverged
