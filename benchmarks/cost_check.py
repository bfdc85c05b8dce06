"""How well `snakemake cost` predicted the real training jobs of the same preset.

    python benchmarks/cost_check.py COST_WORKDIR RUN_WORKDIR [--paper optlab | --paper all]

COST_WORKDIR holds `results/cost/<paper>/<experiment>.json` (from `snakemake cost` or
`results/tables/cost_<paper>.md`); RUN_WORKDIR holds the real runs' Snakemake
benchmarks (`results/benchmarks/train/<paper>/<experiment>/seed<k>.tsv`, or `seeds.tsv`
for a job that trained every seed: `train_jobs: per_experiment`, whose start-up the
estimate then charges once). Prints, per experiment, the estimate beside the measured
time per run (the experiment's training
jobs' wall and CPU seconds over its runs), and the totals over every run (estimate x
runs vs the sum of measured jobs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


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
        # one job for every seed: the start-up is paid once (repro.cost.table)
        shared = (runs - 1) / runs if bench[0].name == "seeds.tsv" else 0.0
        rows.append(
            {
                "experiment": m["experiment"],
                "status": m["status"],
                "runs": runs,
                "estimate_s": m["estimated_s"] - shared * m.get("startup_s", 0.0),
                "measured_s": measured["s"].sum() / runs,
                "estimate_cpu_s": m["estimated_cpu_s"] - shared * m.get("startup_cpu_s", 0.0),
                "measured_cpu_s": measured["cpu_time"].sum() / runs,
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
