"""The "adding a paper" contract of docs/architecture.md, exercised: a throwaway sixth
paper (one minimal kind, one figure, one table, one scorecard row) is added to a
temporary copy of the repository by writing only the files listed in `CONTRACT`, and
the workflow plans it (fast) and builds it (slow) like the five real ones.

If adding a paper ever needs another file, this test fails until that file is added
here, and docs/architecture.md's list is updated with it."""

from __future__ import annotations

import csv
import subprocess
import textwrap

import pytest

from repro import command, layout
from tests.conftest import REPO

PAPER = "sixth"

# The files a new paper writes (relative to the repository), and nothing else; the
# config block is appended to config/config.yaml.
CONTRACT = {
    f"src/repro/{PAPER}/__init__.py": '''
        """sixth: a throwaway paper (tests/test_new_paper.py): geometric growth."""

        from repro.registry import Needs

        FIGURES = {
            "curve": Needs(kinds=("growth",), caption="Value per step, mean over seeds."),
        }
        TABLES = {
            "final": Needs(kinds=("growth",), caption="Final value per experiment."),
        }
        SCORECARD = Needs(kinds=("growth",))
    ''',
    f"src/repro/{PAPER}/train.py": '''
        """Training entry points of the sixth paper: one kind, no dataset, no torch."""

        import numpy as np


        def growth(run):
            p = run.params
            value = 1.0 + 0.01 * np.random.default_rng(run.seed).standard_normal()
            for step in range(1, p["steps"] + 1):
                value *= p["rate"]
                run.record(step, "train", value=value)
                run.progress(step, p["steps"], value=value)
                if not run.check_finite(step, value):
                    return


        KINDS = {"growth": growth}
        LOSS_BOUNDS = {"growth": 1e6}
    ''',
    f"src/repro/{PAPER}/figures.py": """
        import matplotlib.pyplot as plt

        from repro.aggregate import series


        def curve(inputs):
            fig, ax = plt.subplots(figsize=(4, 3))
            for name in inputs.experiments:
                s = series(inputs.summary(name), "train", "value")
                ax.plot(s["step"], s["mean"], label=f"{name} (n={int(s['n'].max())})")
            ax.set(xlabel="step", ylabel="value")
            ax.legend()
            return fig
    """,
    f"src/repro/{PAPER}/tables.py": """
        import pandas as pd

        from repro.aggregate import final as last
        from repro.tables import Scorecard, verdict_numeric


        def final(inputs):
            rows = []
            for name, p in inputs.experiments.items():
                row = last(inputs.summary(name), "train", "value")
                rows.append({"experiment": name, "rate": p["rate"], "steps": p["steps"],
                             "value": row["mean"], "n": int(row["n"])})
            return pd.DataFrame(rows)


        def scorecard(inputs):
            card = Scorecard("sixth", inputs.preset)
            for name, p in inputs.experiments.items():
                ours = last(inputs.summary(name), "train", "value")["mean"]
                reported = p["rate"] ** p["steps"]
                card.add(f"{name}: value after {p['steps']} steps", f"{reported:.4g}",
                         f"{ours:.4g}", verdict_numeric(ours, reported, 0.05 * reported))
            return card.rows
    """,
    f"src/repro/schemas/{PAPER}.schema.yaml": """
        $schema: "https://json-schema.org/draft/2020-12/schema"
        title: sixth (a throwaway paper, tests/test_new_paper.py)
        $defs:
          growth:
            description: value *= rate at every step.
            type: object
            additionalProperties: false
            properties:
              kind: {const: growth}
              dataset: {$ref: "config.schema.yaml#/$defs/no_dataset"}
              seeds: {$ref: "config.schema.yaml#/$defs/seeds"}
              resources: {$ref: "config.schema.yaml#/$defs/resources"}
              rate: {$ref: "config.schema.yaml#/$defs/positive_number"}
              steps: {$ref: "config.schema.yaml#/$defs/positive_int"}
    """,
    f"workflow/rules/{PAPER}.smk": f"""
        # {PAPER}: a throwaway paper (tests/test_new_paper.py).


        rule {PAPER}:
            input:
                paper_targets("{PAPER}"),
            localrule: True
    """,
}
CONFIG_BLOCK = f"""

{PAPER}:
  seeds: [0, 1, 2]
  defaults:
    growth:
      dataset: null
      rate: 1.1
      steps: 5
      resources: {{threads: 1, mem_mb: 500, runtime: 5, gpu: 0}}
  experiments:
    slow: {{kind: growth}}
    fast: {{kind: growth, rate: 1.5}}
"""


def _copy_with_new_paper(dest):
    import shutil

    dest.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "scripts", "src", "config", "envs", "profiles"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, dest / name)
    for rel, text in CONTRACT.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    with open(dest / "config" / "config.yaml", "a") as fh:
        fh.write(CONFIG_BLOCK)
    return dest


def _snakemake(repo, work, *args):
    result = subprocess.run(
        command.snakemake(repo, work, *args, configs=[repo / "config" / "config.yaml"]),
        capture_output=True,
        text=True,
        env=command.environment(repo),
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return _copy_with_new_paper(tmp_path_factory.mktemp("sixth") / "repo")


def test_the_contract_lists_no_file_the_repository_already_has():
    assert not [rel for rel in CONTRACT if (REPO / rel).exists()]


def _job_counts(out: str) -> dict[str, int]:
    """Snakemake's dry-run job table: rule -> count."""
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and not parts[0].endswith(":"):
            counts[parts[0]] = int(parts[1])
    return counts


def test_a_new_paper_is_planned_like_the_others(repo, tmp_path):
    jobs = _job_counts(_snakemake(repo, tmp_path, "-n", PAPER).stdout)
    # 2 experiments (3 seeds each, one job per experiment in the quick preset), 2
    # summaries, the figure, the table, the scorecard rows
    assert jobs == {
        layout.train_rule(PAPER, "slow"): 1,
        layout.train_rule(PAPER, "fast"): 1,
        "aggregate": 2,
        "figure": 1,
        "table": 1,
        "paper_scorecard": 1,
        PAPER: 1,
        "total": 8,
    }
    everything = _snakemake(repo, tmp_path, "-n", "all").stdout  # the default target too
    assert f"results/figures/{PAPER}/curve.png" in everything
    assert f"results/{PAPER}/scorecard.csv" in everything


@pytest.mark.slow
def test_a_new_paper_builds_through_the_workflow(repo, tmp_path):
    _snakemake(repo, tmp_path, "--cores", "2", PAPER)
    assert (tmp_path / f"results/figures/{PAPER}/curve.png").stat().st_size > 0
    with open(tmp_path / f"results/tables/{PAPER}/final.csv") as fh:
        table = {row["experiment"]: row for row in csv.DictReader(fh)}
    assert float(table["fast"]["value"]) == pytest.approx(1.5**5, rel=0.05)
    assert table["fast"]["n"] == "3"
    with open(tmp_path / f"results/{PAPER}/scorecard.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["verdict"] for r in rows] == ["within tolerance"] * 2
