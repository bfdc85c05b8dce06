# Config validation and every input/resource function the rules use.
# Only light imports here: this runs at parse time, for every `snakemake -n`.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The library of this checkout (src/repro), also when it is not pip-installed. Snakemake
# gives every `script:` job its own import path, so this one line is also how the rule
# scripts import repro inside the `--sdm conda` envs (envs/: third-party packages only;
# docs/architecture.md, "Software environments").
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from repro import codehash, layout, registry, sources
from repro.config import (
    datasets,
    hyperparameters,
    papers,
    resolve_experiments,
    validate,
)

validate(config)

PAPERS = papers(config)
sources.activate(config["datasets_file"])  # job processes see it too (captions' labels)
DATASETS = sources.sources()
EXPERIMENTS = {paper: resolve_experiments(config, paper) for paper in PAPERS}
# Configured experiments the `only` key leaves out: outputs naming one are not made.
LEFT_OUT = {
    paper: set(resolve_experiments(config, paper, only=False)) - set(EXPERIMENTS[paper])
    for paper in PAPERS
}


wildcard_constraints:
    paper="|".join(PAPERS) or "none",
    experiment=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    seed=r"\d+",
    figure=r"[A-Za-z0-9_]+",
    table=r"[A-Za-z0-9_]+",
    dataset=r"[a-z0-9_]+",


def experiment_of(wildcards):
    return EXPERIMENTS[wildcards.paper][wildcards.experiment]


def experiment_datasets(paper, experiment):
    """Every declared dataset the experiment reads (repro.config.datasets)."""
    return datasets(paper, experiment, DATASETS)


# ---------------------------------------------------------------- train
def run_inputs(paper, name, seeds):
    """The manifest of every dataset experiment `name` reads, keyed by dataset name (its
    `dataset` and any other key its kind's schema declares a dataset, e.g. a corrupted
    test set: repro.config.datasets), its PCA (key `pca`) when it sets `pca: true`, and
    with `init_from: <experiment>`, that experiment's artifacts of each of `seeds` (key
    `init`: the trained network a check starts from; none without seeds).
    Datasets are fetched by the download rule (a localrule), never in the train job."""
    experiment = EXPERIMENTS[paper][name]
    names = experiment_datasets(paper, experiment)
    inputs = {d: layout.DATA_MANIFEST.format(dataset=d) for d in names}
    if experiment.get("init_from") and seeds:
        inputs["init"] = [
            layout.RUN_ARTIFACTS.format(
                paper=paper, experiment=experiment["init_from"], seed=seed
            )
            for seed in seeds
        ]
    if experiment.get("pca") and names:
        inputs["pca"] = layout.PCA.format(dataset=experiment["dataset"])
    return inputs


def train_inputs(wildcards):
    """`run_inputs` of one run (rule train)."""
    return run_inputs(wildcards.paper, wildcards.experiment, [int(wildcards.seed)])


def measure_inputs(wildcards):
    """`run_inputs` of cost_measure: no trained network, so that costing a check never
    waits for the training run it starts from (repro.cost times it untrained)."""
    return run_inputs(wildcards.paper, wildcards.experiment, seeds=[])


def seed_of(wildcards):
    return [int(wildcards.seed)]


def pca_mem_mb(wildcards):
    """compute_pca memory: the dataset's declared `mem_mb` (src/repro/datasets.yaml)."""
    return DATASETS[wildcards.dataset].mem_mb


def train_hyperparameters(wildcards):
    return hyperparameters(experiment_of(wildcards))


def train_resource(name, grows_with_attempt=False, paper=None, experiment=None):
    """A resource of the experiment's `resources` block (the wildcards', or the given
    experiment's); memory and time grow on retries. `runtime` is per run: a job training
    every seed of an experiment (`train_jobs: per_experiment`) asks for it once per seed.
    """

    def get(wildcards, attempt=1):
        if experiment is None:
            value = experiment_of(wildcards)["resources"][name]
        else:
            spec = EXPERIMENTS[paper][experiment]
            value = spec["resources"][name]
            value *= len(spec["seeds"]) if name == "runtime" else 1
        return value * attempt if grows_with_attempt else value

    return get


def experiment_partition(paper, experiment):
    gpus = EXPERIMENTS[paper][experiment]["resources"]["gpu"]
    return config["cluster"]["gpu_partition" if gpus else "cpu_partition"]


def train_partition(wildcards):
    return experiment_partition(wildcards.paper, wildcards.experiment)


def grouped_experiments():
    """(paper, experiment) pairs trained one job per experiment: every experiment when
    `train_jobs: per_experiment`, none otherwise (one job per experiment x seed)."""
    if config["train_jobs"] != "per_experiment":
        return []
    return [(paper, name) for paper in PAPERS for name in EXPERIMENTS[paper]]


def code_digest(role, paper=None):
    """params `code`: digest of the library code a `role` job of the paper runs
    (repro.codehash), so editing it reruns exactly the jobs that use it."""

    def get(wildcards):
        return codehash.digest(paper or wildcards.paper, role)

    return get


# ---------------------------------------------------------------- runs -> summaries
def run_files(paper, experiment, pattern):
    seeds = EXPERIMENTS[paper][experiment]["seeds"]
    return expand(pattern, paper=paper, experiment=experiment, seed=seeds)


def aggregate_inputs(wildcards):
    return {
        "metrics": run_files(wildcards.paper, wildcards.experiment, layout.RUN_METRICS),
        "records": run_files(wildcards.paper, wildcards.experiment, layout.RUN_RECORD),
    }


# ---------------------------------------------------------------- figures, tables
def output_inputs(paper, needs):
    """Summaries, per-seed tables (and, if asked, run artifacts) of the experiments
    `needs` selects."""
    names = needs.select(EXPERIMENTS[paper])
    inputs = {
        "summaries": expand(layout.SUMMARY, paper=paper, experiment=names),
        "per_seed": expand(layout.PER_SEED, paper=paper, experiment=names),
    }
    if needs.artifacts:
        inputs["artifacts"] = [
            f for name in names for f in run_files(paper, name, layout.RUN_ARTIFACTS)
        ]
    return inputs


def selected_experiments(paper, needs):
    return {name: EXPERIMENTS[paper][name] for name in needs.select(EXPERIMENTS[paper])}


def figure_inputs(wildcards):
    return output_inputs(
        wildcards.paper, registry.figures(wildcards.paper)[wildcards.figure]
    )


def figure_experiments(wildcards):
    needs = registry.figures(wildcards.paper)[wildcards.figure]
    return selected_experiments(wildcards.paper, needs)


def figure_caption(wildcards):
    needs = registry.figures(wildcards.paper)[wildcards.figure]
    experiments = selected_experiments(wildcards.paper, needs)
    return registry.caption_text(needs.caption, config["preset"], experiments)


def table_caption(wildcards):
    needs = registry.tables(wildcards.paper)[wildcards.table]
    experiments = selected_experiments(wildcards.paper, needs)
    return registry.caption_text(needs.caption, config["preset"], experiments)


def table_inputs(wildcards):
    return output_inputs(
        wildcards.paper, registry.tables(wildcards.paper)[wildcards.table]
    )


def table_experiments(wildcards):
    needs = registry.tables(wildcards.paper)[wildcards.table]
    return selected_experiments(wildcards.paper, needs)


def scorecard_inputs(wildcards):
    return output_inputs(wildcards.paper, registry.scorecard(wildcards.paper))


def scorecard_experiments(wildcards):
    return selected_experiments(wildcards.paper, registry.scorecard(wildcards.paper))


# ---------------------------------------------------------------- targets
# Only the outputs whose experiments this preset runs (`Needs.made`): no placeholders.
def figure_files(paper):
    return expand(
        layout.FIGURE,
        paper=paper,
        figure=list(
            registry.made(registry.figures(paper), EXPERIMENTS[paper], LEFT_OUT[paper])
        ),
        ext=layout.FIGURE_EXTS,
    )


def table_files(paper):
    return expand(
        layout.TABLE,
        paper=paper,
        table=list(
            registry.made(registry.tables(paper), EXPERIMENTS[paper], LEFT_OUT[paper])
        ),
        ext=layout.TABLE_EXTS,
    )


def paper_targets(paper):
    return [
        *figure_files(paper),
        *table_files(paper),
        layout.PAPER_SCORECARD.format(paper=paper),
    ]


def all_figures():
    return [f for paper in PAPERS for f in figure_files(paper)]


def all_tables():
    scorecard = expand(layout.SCORECARD, ext=layout.SCORECARD_EXTS)
    return [f for paper in PAPERS for f in table_files(paper)] + scorecard


# ---------------------------------------------------------------- cost (cost.smk)
def cost_papers(wildcards):
    """Every configured paper, or the one `cost_<paper>` names."""
    return [wildcards.paper] if hasattr(wildcards, "paper") else PAPERS


def total_cores(wildcards):
    """`--cores` of this run, read when the job runs (`--report` and `-n` may give none)."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def cost_inputs(wildcards):
    papers = cost_papers(wildcards)
    names = {
        name
        for p in papers
        for e in EXPERIMENTS[p].values()
        for name in experiment_datasets(p, e)
    }
    return {
        "measurements": [
            layout.COST_MEASURE.format(paper=p, experiment=name)
            for p in papers
            for name in EXPERIMENTS[p]
        ],
        "manifests": [layout.DATA_MANIFEST.format(dataset=d) for d in sorted(names)],
    }
