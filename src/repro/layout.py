"""Where every file of the pipeline lives: one place for all path patterns.

The Snakemake rules use these patterns with their `{wildcards}`; the library uses
the helpers to format them. Paths are relative to the workflow's working directory.
"""

from __future__ import annotations

import functools
import re

DATA_DIR = "resources/data/{dataset}"
DATA_MANIFEST = DATA_DIR + "/manifest.json"
PCA = "resources/pca/{dataset}.npz"

RUN_DIR = "results/{paper}/runs/{experiment}/seed{seed}"
RUN_METRICS = RUN_DIR + "/metrics.csv"
RUN_RECORD = RUN_DIR + "/run.json"
RUN_ARTIFACTS = RUN_DIR + "/artifacts.npz"
RUN_CHECKPOINT = RUN_DIR + "/checkpoint.pt"
RUN_LOCK = RUN_DIR + "/.lock"  # held by the live trainer (repro.runs.run_lock)
RUN_LOG = RUN_DIR + "/train.log"  # earlier attempts' log lines (repro.logs.log_to)

SUMMARY = "results/{paper}/summary/{experiment}.csv"
PER_SEED = "results/{paper}/per_seed/{experiment}.csv"
FIGURE = "results/figures/{paper}/{figure}.{ext}"
TABLE = "results/tables/{paper}/{table}.{ext}"
PAPER_SCORECARD = "results/{paper}/scorecard.csv"
SCORECARD = "results/tables/scorecard.{ext}"
COST_MEASURE = "results/cost/{paper}/{experiment}.json"
COST = "results/tables/cost.{ext}"
PAPER_COST = "results/tables/cost_{paper}.{ext}"

FIGURE_EXTS = ("png", "pdf")
TABLE_EXTS = ("csv", "md", "tex")
SCORECARD_EXTS = ("csv", "md")

LOG = "logs/{rule}/{name}.log"
TRAIN_LOG = "logs/train/{paper}/{experiment}/seed{seed}.log"  # rule train: one run
GROUP_TRAIN_LOG = "logs/train/{paper}/{experiment}/seeds.log"  # all seeds in one job


def train_rule(paper: str, experiment: str) -> str:
    """Name of the rule training every seed of one experiment (`train_jobs:
    per_experiment`; with per_seed, the rule `train` makes each run)."""
    return "train_" + re.sub(r"\W", "_", f"{paper}_{experiment}")


@functools.lru_cache(maxsize=32)
def _regex(pattern: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", pattern)  # literal, name, literal, name, ...
    value = {"seed": r"\d+"}  # any other wildcard: one path component
    rx = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{value.get(part, '[^/]+')})"
        for i, part in enumerate(parts)
    )
    return re.compile(rf"(?:^|/){rx}$")


def fields(pattern: str, path: str) -> dict[str, str]:
    """The wildcard values of `path`, a file laid out by `pattern` (e.g. RUN_ARTIFACTS ->
    paper, experiment, seed); a leading working-directory prefix is allowed. ValueError
    when `path` is not such a file."""
    match = _regex(pattern).search(str(path))
    if match is None:
        raise ValueError(f"{path} is not laid out as {pattern}")
    return match.groupdict()
