"""Wall time of a preset, per paper, from an empty results folder.

    python benchmarks/presets.py                 # quick preset, every configured paper
    python benchmarks/presets.py --preset smoke optlab

Each paper runs alone in a fresh temporary working directory (data copied from the
mirror, $REPRO_DATA_MIRROR or ../shared/datasets), with `--cores` as given (default 2),
and the script prints one line per paper: seconds, jobs, and the slowest rules.
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from repro import command  # noqa: E402
from repro.config import load, papers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("papers", nargs="*", help="paper keys (default: all configured)")
    parser.add_argument("--preset", choices=["smoke", "quick", "paper"], default="quick")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--slowest", type=int, default=5, help="list this many slowest jobs")
    args = parser.parse_args()

    configs = [REPO / "config/config.yaml"]
    if args.preset != "quick":
        configs.append(REPO / f"config/{args.preset}.yaml")
    env = command.environment(
        REPO, os.environ.get("REPRO_DATA_MIRROR", REPO.parent / "shared" / "datasets")
    )
    targets = args.papers or papers(load(*configs))
    print(f"preset {args.preset}, --cores {args.cores}, {os.cpu_count()} CPUs")
    for paper in targets:
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            result = subprocess.run(
                command.snakemake(
                    REPO, workdir, "--cores", str(args.cores), paper, configs=configs
                ),
                capture_output=True,
                text=True,
                env=env,
            )
            seconds = time.perf_counter() - start
            if result.returncode != 0:
                print(f"{paper}: FAILED after {seconds:.0f} s\n{result.stderr[-2000:]}")
                continue
            per_rule, per_job = collections.Counter(), collections.Counter()
            root = Path(workdir, "results/benchmarks")
            for tsv in root.rglob("*.tsv"):
                with open(tsv) as fh:
                    job_seconds = float(next(csv.DictReader(fh, delimiter="\t"))["s"])
                rel = tsv.relative_to(root)
                per_rule[rel.parts[0]] += job_seconds
                per_job[str(rel.with_suffix(""))] += job_seconds
            jobs = result.stderr.count("Finished jobid")
            slow = ", ".join(f"{rule} {s:.0f} s" for rule, s in per_rule.most_common(3))
            print(f"{paper}: {seconds:.0f} s wall, {jobs} jobs (summed job time: {slow})")
            for job, s in per_job.most_common(args.slowest):
                print(f"    {s:6.1f} s  {job}")


if __name__ == "__main__":
    main()
