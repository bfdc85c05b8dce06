"""How well `snakemake cost` predicted the real training jobs of the same preset.

    python benchmarks/cost_check.py COST_WORKDIR RUN_WORKDIR [--paper optlab | --paper all]

COST_WORKDIR holds `results/cost/<paper>/<experiment>.json` (from `snakemake cost` or
`results/tables/cost_<paper>.md`); RUN_WORKDIR holds the real runs' Snakemake
benchmarks (`results/benchmarks/train/<paper>/<experiment>/seed<k>.tsv`, or `seeds.tsv`
for a job that trained every seed: `train_jobs: per_experiment`, whose later seeds the
estimate charges `next_seed_s`). Prints, per experiment, the estimate beside the measured
time per run (the experiment's training
jobs' wall and CPU seconds over its runs), and the totals over every run (estimate x
runs vs the sum of measured jobs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from repro.logs import resource_lines  # noqa: E402


def job_cpu(log_dir: Path) -> float | None:
    """CPU seconds of an experiment's training jobs from their logs' resource lines
    (every attempt's). Snakemake's benchmark `cpu_time` only counts what its sampler saw
    (every 0.5 s for 15 s, then every 30 s), so it misses the end of a long job."""
    logs = sorted(log_dir.glob("*.log")) if log_dir.exists() else []
    lines = [m for log in logs for m in resource_lines(log.read_text())]
    return sum(float(m["cpu"]) for m in lines) if lines else None


def compare(cost_dir: Path, run_dir: Path, paper: str) -> pd.DataFrame:
    rows = []
    for path in sorted((cost_dir / "results/cost" / paper).glob("*.json")):
        m = json.loads(path.read_text())
        bench = sorted(
            (run_dir / "results/benchmarks/train" / paper / m["experiment"]).glob("*.tsv")
        )
        runs = len(
            list((run_dir / "results" / paper / "runs" / m["experiment"]).glob("*/run.json"))
        )
        if not bench or not runs:
            continue
        measured = pd.concat([pd.read_csv(b, sep="\t") for b in bench])
        cpu = job_cpu(run_dir / "logs/train" / paper / m["experiment"])
        # one job for every seed: the later seeds cost `next_seed_s` (repro.cost.table)
        shared = bench[0].name == "seeds.tsv"
        wall = (m["estimated_s"] + (runs - 1) * m["next_seed_s"]) / runs if shared else None
        cpu_s = (
            (m["estimated_cpu_s"] + (runs - 1) * m["next_seed_cpu_s"]) / runs if shared else None
        )
        rows.append(
            {
                "experiment": m["experiment"],
                "status": m["status"],
                "runs": runs,
                "estimate_s": wall or m["estimated_s"],
                "measured_s": measured["s"].sum() / runs,
                "estimate_cpu_s": cpu_s or m["estimated_cpu_s"],
                "measured_cpu_s": (measured["cpu_time"].sum() if cpu is None else cpu) / runs,
                "load_at_estimate": m["load_1min"],
            }
        )
    frame = pd.DataFrame(rows)
    frame["ratio_wall"] = frame["estimate_s"] / frame["measured_s"]
    frame["ratio_cpu"] = frame["estimate_cpu_s"] / frame["measured_cpu_s"]
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cost_dir", type=Path)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--paper", default="optlab", help="a paper, or 'all'")
    args = parser.parse_args()
    papers = (
        sorted(p.name for p in (args.cost_dir / "results/cost").iterdir())
        if args.paper == "all"
        else [args.paper]
    )
    frame = pd.concat(
        [compare(args.cost_dir, args.run_dir, p).assign(paper=p) for p in papers],
        ignore_index=True,
    )
    print(frame.to_markdown(index=False, floatfmt=".3g"))
    for clock, est, real in (
        ("wall", "estimate_s", "measured_s"),
        ("CPU", "estimate_cpu_s", "measured_cpu_s"),
    ):
        total_est = (frame[est] * frame["runs"]).sum()
        total_real = (frame[real] * frame["runs"]).sum()
        print(
            f"total {clock} seconds over {frame['runs'].sum()} runs: estimate {total_est:.0f}, "
            f"measured {total_real:.0f}, ratio {total_est / total_real:.2f}"
        )


if __name__ == "__main__":
    main()
