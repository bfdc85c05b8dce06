"""Inputs handed to figure, table and scorecard functions, and the entry points the
Snakemake rules call to make them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from repro import layout, registry
from repro.aggregate import read_summary


@dataclass
class Inputs:
    paper: str
    preset: str
    experiments: dict  # name -> resolved hyperparameters (selected experiments only)
    summaries: dict  # name -> summary DataFrame
    per_seed: dict = field(default_factory=dict)  # name -> per-seed DataFrame (aggregate.py)
    # name -> {seed: artifacts.npz of that run}, in seed order
    artifacts: dict = field(default_factory=dict)
    caption: str = ""

    def summary(self, name: str) -> pd.DataFrame:
        return self.summaries[name]

    def seeds(self, name: str) -> pd.DataFrame:
        """The per-seed table of experiment `name` (experiment, seed, step, split, metric,
        value); read it with `repro.aggregate.seed_values`."""
        return self.per_seed[name]

    def artifact_files(self, name: str) -> list[str]:
        """Every seed's artifacts.npz of experiment `name`, in seed order."""
        return [self.artifacts[name][seed] for seed in sorted(self.artifacts.get(name, {}))]

    def first_artifacts(self, name: str) -> str:
        """The artifacts.npz of the experiment's lowest seed."""
        return self.artifact_files(name)[0]

    def of_kind(self, kind: str) -> list[str]:
        return [n for n, p in self.experiments.items() if p["kind"] == kind]


def gather(
    paper: str,
    needs: registry.Needs,
    experiments: dict,
    preset: str,
    summaries: list[str],
    per_seed: list[str] = (),
    artifacts: list[str] = (),
) -> Inputs:
    """Pair the rule's input files with the selected experiments' hyperparameters."""
    by_name = {Path(p).stem: p for p in summaries}
    seeds_by_name = {Path(p).stem: p for p in per_seed}
    arts: dict[str, dict[int, str]] = {n: {} for n in experiments}
    for path in artifacts:  # keyed by experiment and seed through the layout's pattern
        where = layout.fields(layout.RUN_ARTIFACTS, path)
        arts[where["experiment"]][int(where["seed"])] = path
    arts = {n: dict(sorted(by_seed.items())) for n, by_seed in arts.items()}
    return Inputs(
        paper=paper,
        preset=preset,
        experiments=dict(experiments),
        summaries={n: read_summary(by_name[n]) for n in experiments},
        per_seed={n: pd.read_csv(seeds_by_name[n]) for n in experiments if n in seeds_by_name},
        artifacts=arts,
        caption=needs.caption,
    )


def make_figure(
    paper: str,
    figure: str,
    experiments: dict,
    preset: str,
    summaries,
    per_seed,
    artifacts,
    png: str,
    pdf: str,
) -> None:
    from repro import plotting

    needs = registry.figures(paper)[figure]
    inputs = gather(paper, needs, experiments, preset, summaries, per_seed, artifacts)
    fn = getattr(importlib.import_module(f"repro.{paper}.figures"), figure)
    plotting.apply_style()
    fig = fn(inputs)
    plotting.save(fig, png, pdf, inputs)


def make_table(
    paper: str, table: str, experiments: dict, preset: str, summaries, per_seed, artifacts, outputs
) -> None:
    from repro import tables

    needs = registry.tables(paper)[table]
    inputs = gather(paper, needs, experiments, preset, summaries, per_seed, artifacts)
    frame = getattr(importlib.import_module(f"repro.{paper}.tables"), table)(inputs)
    frame = tables.mark_diverged(frame, inputs)
    tables.save(frame, outputs, caption=tables.caption(inputs))


def make_scorecard(
    paper: str, experiments: dict, preset: str, summaries, per_seed, artifacts, csv: str
) -> None:
    from repro import tables

    needs = registry.scorecard(paper)
    inputs = gather(paper, needs, experiments, preset, summaries, per_seed, artifacts)
    rows = importlib.import_module(f"repro.{paper}.tables").scorecard(inputs)
    tables.save_scorecard_rows(tables.flag_diverged_rows(rows, inputs), csv)
