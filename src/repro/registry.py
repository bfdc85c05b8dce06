"""What each figure, table and scorecard of a paper is made from (torch-free).

A paper's top-level module declares `FIGURES`, `TABLES` and `SCORECARD` with `Needs`;
the Snakemake rules turn them into inputs (summaries of the selected experiments and,
when asked, the runs' artifacts), so a figure depends only on what it plots.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from repro import sources


def matches(params: dict, pattern: dict) -> bool:
    """Whether an experiment's resolved parameters fit `pattern` (key -> value, or key ->
    a test called with the value)."""
    return all(
        key in params and (value(params[key]) if callable(value) else params[key] == value)
        for key, value in pattern.items()
    )


@dataclass(frozen=True)
class Needs:
    kinds: tuple[str, ...] = ()  # every configured experiment of these kinds
    # and every experiment whose parameters fit one of these patterns (`matches`), e.g.
    # {"kind": "traversal", "architecture": "MNIST_FF"}: outputs select by kind and
    # parameters, so the library never names an experiment a preset happens to define
    match: tuple[dict, ...] = ()
    experiments: tuple[str, ...] = ()  # and these experiments by name (prefer `match`)
    artifacts: bool = False  # also every seed's artifacts.npz
    caption: str = ""  # what it shows and which paper figure/table it reproduces
    optional: bool = False  # named experiments may be absent from a preset (then skipped)
    # (key, value) pairs at least one selected experiment must have for the output to be
    # made, e.g. (("method", "forde_tuned"),) for a sweep figure that also plots DE
    requires: tuple[tuple[str, object], ...] = ()

    def select(self, experiments: dict) -> list[str]:
        """Names of the configured experiments this output uses, in config order."""
        missing = [name for name in self.experiments if name not in experiments]
        if missing and not self.optional:
            raise KeyError(f"experiment(s) {', '.join(missing)} not in the config")
        return [
            name
            for name, params in experiments.items()
            if params["kind"] in self.kinds
            or name in self.experiments
            or any(matches(params, pattern) for pattern in self.match)
        ]

    def made(self, experiments: dict, left_out=()) -> bool:
        """Whether a preset with these experiments makes the output: it selects at least
        one experiment and, if `requires` is set, one selected experiment matches it; an
        experiment it names must not be one the config's `only` key `left_out`. An
        output a preset does not make is no target of it (no placeholder files); its
        claims are listed as not run by the paper's scorecard. An output that asks for no
        experiment at all (a closed-form surface) is made by every preset."""
        if not self.optional and any(name in left_out for name in self.experiments):
            return False
        if not self.kinds and not self.experiments and not self.match:
            return True
        selected = [experiments[name] for name in self.select(experiments)]
        return any(
            all(params.get(key) == value for key, value in self.requires) for params in selected
        )


def made(outputs: dict[str, Needs], experiments: dict, left_out=()) -> dict[str, Needs]:
    """The outputs (figures or tables, id -> Needs) a preset with `experiments` makes
    (`left_out`: configured experiments the `only` key does not select)."""
    return {name: needs for name, needs in outputs.items() if needs.made(experiments, left_out)}


def dataset_label(name: str) -> str:
    """A dataset's name in captions and tables (its `label` in the dataset sources)."""
    return sources.label(name)


# What a caption adds after a preset's name when that preset's outputs are not results.
PRESET_NOTES = {"paper-tiny": "a TEST RUN: paper shapes, sizes cut to seconds, not results"}


def caption_text(caption: str, preset: str, experiments: dict) -> str:
    """A figure's or table's caption followed by how it was made: preset, seeds, data."""
    seeds = sorted({s for p in experiments.values() for s in p.get("seeds", [])})
    datasets = sorted(
        {dataset_label(p["dataset"]) for p in experiments.values() if p.get("dataset")}
    )
    name = f"{preset}, {PRESET_NOTES[preset]}" if preset in PRESET_NOTES else preset
    facts = [f"preset: {name}", f"seeds: {', '.join(map(str, seeds)) or '-'}"]
    if datasets:
        facts.append(f"data: {', '.join(datasets)}")
    return (caption + "  [" if caption else "[") + "; ".join(facts) + "]"


def paper_module(paper: str):
    """The paper's light top-level module (`repro.<paper>`), holding its registry."""
    return importlib.import_module(f"repro.{paper}")


def figures(paper: str) -> dict[str, Needs]:
    return paper_module(paper).FIGURES


def tables(paper: str) -> dict[str, Needs]:
    return paper_module(paper).TABLES


def scorecard(paper: str) -> Needs:
    return paper_module(paper).SCORECARD
