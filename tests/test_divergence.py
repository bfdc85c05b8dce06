"""Diverged runs: each paper's outputs still build and say so.

Fast tests force a divergence in-process (an absurd learning rate at smoke scale) and
call the paper's figure/table/scorecard functions directly; the slow test runs the
smoke preset of every paper with one forced divergence per paper (tests/diverge.yaml).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from repro import aggregate, config, registry, runs, tables
from repro.outputs import Inputs
from tests.conftest import CONFIG, SMOKE, snakemake

DIVERGE = Path(__file__).with_name("diverge.yaml")


def _experiments(paper: str, overlay: dict | None = None) -> dict:
    experiments = config.resolve_experiments(config.load(CONFIG, SMOKE), paper)
    for name, changes in (overlay or {}).items():
        experiments[name] = {**experiments[name], **changes}
    return experiments


def _train(tmp_path, paper, experiments, names, manifests) -> dict:
    """Run `names` (every seed) in-process; name -> per-seed table."""
    from repro import pca

    out = {}
    for name in names:
        params = config.hyperparameters(experiments[name])
        dataset = params.get("dataset")
        pairs, pca_path = [], None
        if params.get("pca"):
            pca_path = tmp_path / f"pca_{dataset}.npz"
            if not pca_path.exists():
                result, meta = pca.dataset_pca(manifests(dataset))
                pca.save(result, pca_path, **meta)
        for seed in experiments[name]["seeds"]:
            run_dir = tmp_path / paper / name / f"seed{seed}"
            runs.execute(
                paper,
                name,
                seed,
                params,
                run_dir,
                preset="smoke",
                device="cpu",
                manifests={dataset: manifests(dataset)} if dataset else {},
                pca=pca_path,
            )
            pairs.append((run_dir / "metrics.csv", run_dir / "run.json"))
        out[name] = aggregate.per_seed(name, pairs)
    return out


def _inputs(paper, experiments, per_seed, needs=None, run_dir=None) -> Inputs:
    names = list(per_seed)
    artifacts = {}
    if run_dir is not None:
        artifacts = {
            n: {
                int(p.parent.name.removeprefix("seed")): str(p)
                for p in (run_dir / paper / n).glob("seed*/artifacts.npz")
            }
            for n in names
        }
    return Inputs(
        paper=paper,
        preset="smoke",
        experiments={n: experiments[n] for n in names},
        summaries={n: aggregate.summarize_per_seed(per_seed[n]) for n in names},
        per_seed=per_seed,
        artifacts=artifacts,
        caption=needs.caption if needs else "",
    )


def _fake_runs(tmp_path, name, rows_by_seed: dict, diverged_seeds=()) -> pd.DataFrame:
    """A per-seed table from hand-written metrics (rows: (step, split, metric, value))."""
    pairs = []
    for seed, rows in rows_by_seed.items():
        folder = tmp_path / name / f"seed{seed}"
        folder.mkdir(parents=True)
        pd.DataFrame(rows, columns=["step", "split", "metric", "value"]).to_csv(
            folder / "metrics.csv", index=False
        )
        status = "diverged" if seed in diverged_seeds else "ok"
        record = {"seed": seed, "status": status, "wall_time_s": 1.0}
        (folder / "run.json").write_text(json.dumps(record))
        pairs.append((folder / "metrics.csv", folder / "run.json"))
    return aggregate.per_seed(name, pairs)


# ------------------------------------------------------------------------------ shared
def test_legend_label_and_table_column_count_diverged_seeds(tmp_path):
    from repro.plotting import diverged_label

    rows = [(1, "train", "loss", 0.5)]
    table = _fake_runs(tmp_path, "x", {0: rows, 1: rows, 2: rows}, diverged_seeds=(1,))
    inputs = Inputs("p", "smoke", {"x": {"kind": "k", "seeds": [0, 1, 2]}}, {}, {"x": table})
    assert diverged_label("SGD", inputs, "x") == "SGD (1/3 diverged)"
    frame = tables.mark_diverged(pd.DataFrame({"experiment": ["x"], "v": [1]}), inputs)
    assert frame["diverged"].tolist() == ["1/3"]
    assert "Diverged runs: x (1/3 diverged)" in tables.caption(inputs)
    rows = [{"claim": "x trains", "detail": "", "verdict": tables.HOLDS}]
    assert tables.flag_diverged_rows(rows, inputs)[0]["verdict"] == tables.DIVERGED
    assert tables.verdict_claim(True, diverged=tables.diverged(inputs, "x")) == tables.DIVERGED


# ------------------------------------------------------------------------------ optlab
def test_optlab_L3_counts_one_diverged_run_of_three(tmp_path):
    from repro.optlab import tables as optlab_tables

    def rows(acc):
        return [(1, "val", "accuracy", acc), (1, "test", "accuracy", acc)]

    # mean 1/3 * n 3 = 0.999...: int() said 0 runs diverged
    table = _fake_runs(
        tmp_path, "mlp_lr1", {0: rows(0.9), 1: rows(0.1), 2: rows(0.9)}, diverged_seeds=(1,)
    )
    experiments = _experiments("optlab")
    frame = optlab_tables.L3(_inputs("optlab", experiments, {"mlp_lr1": table}))
    assert frame.loc[0, "diverged"] == 1


def test_optlab_diverged_mlp_builds_L2_L3_and_scores_diverged(tmp_path, manifests):
    from repro.optlab import figures
    from repro.optlab import tables as optlab_tables

    experiments = _experiments("optlab", {"mlp_lr1": {"lr": 1000.0}})
    names = ["mlp_lr1", "mlp_lr0.05", "mlp_lr0.005"]
    per_seed = _train(tmp_path, "optlab", experiments, names, manifests)
    assert aggregate.divergence(per_seed["mlp_lr1"]) == (1, 1)
    inputs = _inputs("optlab", experiments, per_seed)
    for figure in ("L2", "L3"):
        fig = getattr(figures, figure)(inputs)
        labels = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
        labels += [t for ax in fig.axes for t in ax.get_legend_handles_labels()[1]]
        assert any("lr 1000 (1/1 diverged)" in label for label in labels), (figure, labels)
        plt.close(fig)
    assert optlab_tables.L3(inputs).set_index("experiment").loc["mlp_lr1", "diverged"] == 1
    rows = {r["claim"]: r["verdict"] for r in optlab_tables.scorecard(inputs)}
    fails = [c for c in rows if c.startswith("lr 1 fails")]
    assert not fails or rows[fails[0]] != tables.HOLDS


# --------------------------------------------------------------------------- levelsets
def test_levelsets_diverged_traversal_and_weight_decay_build(tmp_path, manifests):
    from repro.levelsets import FIGURES, TABLES, figures
    from repro.levelsets import tables as ls_tables

    overlay = {"MPG_FF": {"lr": 1000.0}, "L2_MPG_FF": {"lr": 1000.0}}
    experiments = _experiments("levelsets", overlay)
    per_seed = _train(tmp_path, "levelsets", experiments, list(overlay), manifests)
    for name in overlay:
        record = json.loads((tmp_path / "levelsets" / name / "seed0/run.json").read_text())
        assert record["status"] == "diverged" and record["diverged_at_step"] == 1, record
    inputs = _inputs("levelsets", experiments, per_seed, run_dir=tmp_path)
    fig = figures.fig2_MPG_FF(inputs)  # was: IndexError (no L0 after phase 1 diverged)
    assert "diverged" in fig.get_suptitle()
    plt.close(fig)
    fig = figures.wd_lambda(inputs)  # was: KeyError 'lambda'
    assert "(1/1 diverged)" in fig.axes[0].get_title()
    plt.close(fig)
    assert "fig2_MPG_FF" in FIGURES and {"table1", "table1_summary"} <= set(TABLES)
    table1 = ls_tables.table1(inputs)
    mpg = table1[table1["experiment"] == "MPG_FF"]
    assert set(mpg["diverged"]) == {"1/1"}
    summary = ls_tables.table1_summary(inputs).set_index("experiment")
    assert "1/1" in summary.loc["MPG_FF", "diverged"]
    rows = ls_tables.scorecard(inputs)
    mpg_rows = [r for r in rows if r["claim"].startswith("MPG_FF")]
    assert mpg_rows and all(r["verdict"] == tables.DIVERGED for r in mpg_rows), mpg_rows


def test_levelsets_blown_up_traversal_is_not_a_held_claim(tmp_path, manifests):
    """The issue's case: MPG_FF ended with a huge finite loss, `status: ok`, and the
    scorecard said "qualitative claim holds"."""
    from repro.levelsets import tables as ls_tables

    experiments = _experiments("levelsets", {"MPG_FF": {"lr": 1000.0}})
    per_seed = _train(tmp_path, "levelsets", experiments, ["MPG_FF"], manifests)
    rows = ls_tables.scorecard(_inputs("levelsets", experiments, per_seed))
    assert not [r for r in rows if r["verdict"] in (tables.HOLDS, tables.WITHIN)]


# -------------------------------------------------------------------------------- enkf
def test_enkf_diverged_gd_run_is_marked_in_fig5(tmp_path, manifests):
    from repro.enkf import figures

    experiments = _experiments("enkf", {"gd_sgd_std3": {"lr": 1000.0}})
    names = ["gd_sgd_std1", "gd_sgd_std3"]
    per_seed = _train(tmp_path, "enkf", experiments, names, manifests)
    record = json.loads((tmp_path / "enkf/gd_sgd_std3/seed0/run.json").read_text())
    assert record["status"] == "diverged", record["status_reason"]
    fig = figures.fig5(_inputs("enkf", experiments, per_seed))
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("σ = 3 (1/1 diverged)" in label for label in labels), labels
    assert not any("σ = 1 (" in label for label in labels), labels
    plt.close(fig)


# ------------------------------------------------------------------------------- forde
def _build_outputs(paper, experiments, per_seed, run_dir) -> tuple[list[str], list[dict]]:
    """Every figure and table of `paper` made only from the trained experiments, and the
    scorecard over them (in-process, like the rules)."""
    import importlib

    trained = {n: experiments[n] for n in per_seed}
    built = []
    for kind, outputs in (("figures", registry.figures(paper)), ("tables", registry.tables(paper))):
        module = importlib.import_module(f"repro.{paper}.{kind}")
        for output, needs in registry.made(outputs, trained).items():
            names = needs.select(trained)
            inputs = _inputs(paper, experiments, {n: per_seed[n] for n in names}, needs, run_dir)
            result = getattr(module, output)(inputs)
            if kind == "figures":
                plt.close(result)
            else:
                marked = tables.mark_diverged(result, inputs)
                assert len(marked) and "diverged" in marked.columns, output
            built.append(output)
    inputs = _inputs(paper, experiments, per_seed, registry.scorecard(paper), run_dir)
    module = importlib.import_module(f"repro.{paper}.tables")
    return built, tables.flag_diverged_rows(module.scorecard(inputs), inputs)


def test_forde_diverged_deep_ensemble_builds_and_scores_diverged(tmp_path, manifests):
    experiments = _experiments("forde", {"de": {"lr": 1.0e4}})
    names = ["de", "forde_pca", "forde_identity"]
    per_seed = _train(tmp_path, "forde", experiments, names, manifests)
    assert aggregate.divergence(per_seed["de"]) == (1, 1)
    built, rows = _build_outputs("forde", experiments, per_seed, tmp_path)
    assert {"fig7", "table1"} <= set(built), built
    de_rows = [r for r in rows if "DE" in r["claim"].split() or "de" in r["claim"].split()]
    assert any(r["verdict"] == tables.DIVERGED for r in rows), rows
    assert not [r for r in de_rows if r["verdict"] in (tables.HOLDS, tables.WITHIN)], de_rows


# --------------------------------------------------------------- every paper, workflow
PAPERS_FORCED = {
    "optlab": ["mlp_lr1", "opt_sgd"],
    "levelsets": ["MPG_FF", "L2_MPG_FF"],
    "enkf": ["enkf_sigma1", "gd_sgd_std3", "sgd"],
    "forde": ["de"],
    # eqprop's hard-sigmoid networks keep a bounded loss: no lr makes them diverge, so
    # only "every output still builds" is checked for it here (see the in-process test)
    "eqprop": [],
}


@pytest.fixture(scope="session")
def diverged_workflow(mirror, tmp_path_factory) -> Path:
    """The smoke preset's `all` with one forced divergence per paper (diverge.yaml)."""
    workdir = tmp_path_factory.mktemp("diverged")
    snakemake(workdir, "all", "--cores", "2", configs=(CONFIG, SMOKE, DIVERGE), mirror=mirror)
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize("paper", list(PAPERS_FORCED))
def test_forced_divergence_builds_every_output_and_says_so(diverged_workflow, paper):
    work = diverged_workflow
    for name in PAPERS_FORCED[paper]:
        record = json.loads((work / f"results/{paper}/runs/{name}/seed0/run.json").read_text())
        assert record["status"] == "diverged" and record["status_reason"], (name, record)
        assert record["diverged_at_step"] is not None
    experiments = config.resolve_experiments(config.load(CONFIG, SMOKE, DIVERGE), paper)
    for figure in registry.made(registry.figures(paper), experiments):
        assert (work / f"results/figures/{paper}/{figure}.png").stat().st_size > 0
    for table in registry.made(registry.tables(paper), experiments):
        assert (work / f"results/tables/{paper}/{table}.csv").exists()
    card = pd.read_csv(work / f"results/{paper}/scorecard.csv")
    assert not PAPERS_FORCED[paper] or (card["verdict"] == tables.DIVERGED).any(), card
    for name in PAPERS_FORCED[paper]:
        text = card["claim"] + " " + card["detail"].fillna("")
        named = card[[tables.names_experiment(t, name) for t in text]]
        assert not named["verdict"].isin([tables.HOLDS, tables.WITHIN]).any(), named
