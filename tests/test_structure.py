"""One place for each idea, checked where a second place must agree with it: a paper's
kinds (its schema's `$defs` against `train.KINDS`), the ids of its figures and tables
(the registry against the functions that draw them), and the experiments its outputs
ask for (against the kinds and the presets' configs)."""

from __future__ import annotations

import copy
import importlib

import pytest
import yaml

from repro import config, registry
from tests.conftest import CONFIG, REPO

PAPERS = config.known_papers()
PRESETS = {
    "quick": (CONFIG,),
    "smoke": (CONFIG, REPO / "config/smoke.yaml"),
    "paper": (CONFIG, REPO / "config/paper.yaml"),
}


def test_every_configured_paper_has_a_schema_and_every_schema_a_paper():
    assert PAPERS == sorted(config.papers(config.load(CONFIG)))


@pytest.mark.parametrize("paper", PAPERS)
def test_schema_kinds_are_the_training_kinds(paper):
    train = importlib.import_module(f"repro.{paper}.train")
    kinds = config.kinds(paper)
    assert kinds, paper
    assert sorted(train.KINDS) == sorted(kinds)
    assert all(callable(fn) for fn in train.KINDS.values())
    assert set(getattr(train, "LOSS_BOUNDS", {})) <= set(kinds)


def _with_experiment(paper: str, experiment: dict) -> dict:
    raw = yaml.safe_load(CONFIG.read_text())
    raw = copy.deepcopy(raw)
    raw[paper]["experiments"]["probe"] = experiment
    return raw


@pytest.mark.parametrize("paper", PAPERS)
def test_the_built_schema_rejects_an_undeclared_kind_and_a_key_of_another_kind(paper):
    with pytest.raises(config.ConfigError, match=rf"{paper}\.experiments\.probe\.kind"):
        config.validate(_with_experiment(paper, {"kind": "no_such_kind"}))
    first = config.kinds(paper)[0]
    with pytest.raises(config.ConfigError, match=rf"'{paper}\.experiments\.probe\.not_a_key'"):
        config.validate(_with_experiment(paper, {"kind": first, "not_a_key": 1}))
    raw = yaml.safe_load(CONFIG.read_text())
    raw[paper]["defaults"]["no_such_kind"] = {}
    with pytest.raises(config.ConfigError, match=rf"'{paper}\.defaults\.no_such_kind'"):
        config.validate(raw)


@pytest.mark.parametrize("paper", PAPERS)
def test_every_figure_and_table_id_has_its_function(paper):
    figures = importlib.import_module(f"repro.{paper}.figures")
    tables = importlib.import_module(f"repro.{paper}.tables")
    for figure in registry.figures(paper):
        assert callable(getattr(figures, figure, None)), f"repro.{paper}.figures.{figure}"
    for table in registry.tables(paper):
        assert callable(getattr(tables, table, None)), f"repro.{paper}.tables.{table}"
    assert callable(getattr(tables, "scorecard", None)), f"repro.{paper}.tables.scorecard"


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("paper", PAPERS)
def test_outputs_ask_for_declared_kinds_and_configured_experiments(paper, preset):
    experiments = config.resolve_experiments(config.load(*PRESETS[preset]), paper)
    kinds = set(config.kinds(paper))
    outputs = {
        **{f"figure {k}": v for k, v in registry.figures(paper).items()},
        **{f"table {k}": v for k, v in registry.tables(paper).items()},
        "scorecard": registry.scorecard(paper),
    }
    for name, needs in outputs.items():
        assert set(needs.kinds) <= kinds, f"{paper} {name}: kinds {needs.kinds}"
        needs.select(experiments)  # a named experiment missing from a preset: KeyError
        for key, _ in needs.requires:
            assert any(key in config.kind_schema(paper, k)["properties"] for k in kinds), key


def test_the_datasets_an_experiment_reads_come_from_its_kind_schema():
    """Shared code asks the schema which keys name datasets (no paper's key in it)."""
    from repro import sources

    declared = sources.sources()
    paper = config.resolve_experiments(config.load(*PRESETS["paper"]), "forde")
    quick = config.resolve_experiments(config.load(*PRESETS["quick"]), "forde")
    c10 = next(e for e in paper.values() if e.get("corruptions", {}).get("source") == "cifar10_c")
    assert config.datasets("forde", c10, declared) == [c10["dataset"], "cifar10_c"]
    synthetic = next(e for e in quick.values() if e["kind"] == "ensemble")
    assert synthetic["corruptions"]["source"] == "synthetic"
    assert config.datasets("forde", synthetic, declared) == [synthetic["dataset"]]
    toy = next(e for e in quick.values() if e["kind"].startswith("toy"))
    assert config.datasets("forde", toy, declared) == []
    assert config.datasets("forde", c10, set(declared) - {"cifar10_c"}) == [c10["dataset"]]


def test_artifacts_are_keyed_by_experiment_and_seed_through_the_layout(tmp_path):
    from repro import layout
    from repro.outputs import gather

    where = layout.fields(layout.RUN_ARTIFACTS, "/w/results/p/runs/mlp_lr0.05/seed12/artifacts.npz")
    assert where == {"paper": "p", "experiment": "mlp_lr0.05", "seed": "12"}
    with pytest.raises(ValueError, match="not laid out"):
        layout.fields(layout.RUN_ARTIFACTS, "results/p/runs/a/seedX/artifacts.npz")
    summary = tmp_path / "a.csv"
    summary.write_text("experiment,step,split,metric,n,mean,std,ci95\n")
    paths = [layout.RUN_ARTIFACTS.format(paper="p", experiment="a", seed=s) for s in (10, 2, 0)]
    inputs = gather("p", registry.Needs(), {"a": {"seeds": [10, 2, 0]}}, "q", [str(summary)],
                    artifacts=paths)  # fmt: skip
    assert inputs.artifacts == {"a": {0: paths[2], 2: paths[1], 10: paths[0]}}
    assert inputs.artifact_files("a") == [paths[2], paths[1], paths[0]]
    assert inputs.first_artifacts("a") == paths[2]
