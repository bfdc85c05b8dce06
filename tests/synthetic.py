"""Synthetic per-seed tables and `Inputs` for the fast tests of figure, table and
scorecard functions: the same shapes the aggregate step writes
(`results/<paper>/per_seed/<experiment>.csv`: experiment, seed, step, split, metric,
value, plus split "run" rows `diverged` 0/1 and `wall_time_s` per seed; the summary made
from it by `repro.aggregate.summarize_per_seed`, as the workflow does), with values the
test chooses so that the expected numbers can be written in the test."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from repro.aggregate import PER_SEED_COLUMNS, summarize_per_seed
from repro.outputs import Inputs


def table(
    experiment: str, rows: Iterable[tuple], seeds: Iterable[int], diverged=()
) -> pd.DataFrame:
    """rows: (seed, step, split, metric, value); the split "run" rows are added per seed
    (`diverged` 1 for the seeds in `diverged`)."""
    seeds = list(seeds)
    run = [(s, 0, "run", "diverged", float(s in diverged)) for s in seeds]
    run += [(s, 0, "run", "wall_time_s", 1.0) for s in seeds]
    frame = pd.DataFrame(list(rows) + run, columns=PER_SEED_COLUMNS[1:])
    frame.insert(0, "experiment", experiment)
    return frame


def inputs(
    paper: str,
    experiments: dict[str, tuple[dict, pd.DataFrame]],
    artifacts: dict[str, list[str]] | None = None,
    preset: str = "test",
) -> Inputs:
    """experiments: name -> (resolved hyperparameters, per-seed table)."""
    return Inputs(
        paper=paper,
        preset=preset,
        experiments={n: params for n, (params, _) in experiments.items()},
        summaries={n: summarize_per_seed(t) for n, (_, t) in experiments.items()},
        per_seed={n: t for n, (_, t) in experiments.items()},
        artifacts={n: _by_seed((artifacts or {}).get(n, [])) for n in experiments},
        caption="synthetic",
    )


def _by_seed(paths) -> dict[int, str]:
    """Artifacts keyed by seed, as `repro.outputs.gather` keys them (from `seed<k>/`)."""
    return {int(Path(p).parent.name.removeprefix("seed")): str(p) for p in paths}


def save_artifacts(root: Path, experiment: str, seed: int, **arrays) -> str:
    """Write `<root>/<experiment>/seed<k>/artifacts.npz` as a run does; its path."""
    path = Path(root) / experiment / f"seed{seed}" / "artifacts.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
    return str(path)


def verdicts(rows: list[dict]) -> dict[str, str]:
    return {r["claim"]: r["verdict"] for r in rows}


def row(rows: list[dict], start: str) -> dict:
    """The one scorecard row whose claim starts with `start`."""
    found = [r for r in rows if r["claim"].startswith(start)]
    assert len(found) == 1, (start, [r["claim"] for r in rows])
    return found[0]
