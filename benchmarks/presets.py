"""Wall time of a preset from an empty results folder: the whole preset, or papers alone.

    python benchmarks/presets.py                      # quick `all_figures`, one run
    python benchmarks/presets.py --target all         # ... with tables and scorecards
    python benchmarks/presets.py --preset smoke optlab enkf   # each paper alone

Each run starts in a fresh temporary working directory (data copied from the mirror,
$REPRO_DATA_MIRROR or ../shared/datasets, by the download rule) with `--cores` as given
(default 2). Without paper names the preset's `--target` runs once, as a user would
type it, and the script prints its wall time, CPU seconds (the whole process tree's),
jobs, the load average before and after (wall time means something only on an idle
machine), the machine's speed before and after (`machine_speed`), and per paper the
summed wall time of its jobs. With paper names, each
paper's target runs alone, one after the other, with its slowest jobs.
`benchmarks/rules.py` breaks one run down by rule instead.
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from repro import command  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_speed() -> float:
    """This machine's speed now: milliseconds of one EnKF ensemble forward (J = 100,
    batch 64, one thread, best of 20), the quick preset's largest kernel. Printed
    beside each wall time, since the same machine type (a cloud instance and its
    neighbours) runs the same jobs 20 % faster or slower from one hour to the next;
    a float32 matrix product does not show it (it hardly touches memory)."""
    code = (
        "import time, torch\n"
        "from repro.enkf.model import N_PARAMS, ensemble_forward, pool_patches\n"
        "torch.set_num_threads(1)\n"
        "g = torch.Generator().manual_seed(0)\n"
        "U = 0.1 * torch.randn(100, N_PARAMS, generator=g)\n"
        "patches = pool_patches(torch.rand(64, 1, 28, 28, generator=g))\n"
        "best = float('inf')\n"
        "for _ in range(20):\n"
        "    t = time.perf_counter()\n"
        "    ensemble_forward(U, None, chunk=5, patches=patches)\n"
        "    best = min(best, time.perf_counter() - t)\n"
        "print(1e3 * best)\n"
    )
    env = command.environment(REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return float(out.stdout) if out.returncode == 0 else float("nan")


def job_seconds(workdir: str) -> dict[str, float]:
    """Wall seconds of every job, from Snakemake's benchmark files, by job name
    (`<rule>/<paper>/...`)."""
    root = Path(workdir, "results/benchmarks")
    seconds = {}
    for tsv in root.rglob("*.tsv"):
        with open(tsv) as fh:
            seconds[tsv.relative_to(root).with_suffix("").as_posix()] = float(
                next(csv.DictReader(fh, delimiter="\t"))["s"]
            )
    return seconds


def run(targets: list[str], configs: list[Path], cores: int, workdir: str) -> dict:
    env = command.environment(
        REPO, os.environ.get("REPRO_DATA_MIRROR", REPO.parent / "shared" / "datasets")
    )
    cmd = command.snakemake(REPO, workdir, "--cores", str(cores), *targets, configs=configs)
    speed_before = machine_speed()
    load_before, cpu_before = os.getloadavg(), children_cpu()
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu_before
    return {
        "wall": wall,
        "cpu": cpu,
        "load": (load_before[0], os.getloadavg()[0]),
        "speed": (speed_before, machine_speed()),
        "jobs": result.stderr.count("Finished jobid"),
        "ok": result.returncode == 0,
        "stderr": result.stderr,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("papers", nargs="*", help="time these papers alone (default: none)")
    parser.add_argument("--preset", choices=["smoke", "quick", "paper"], default="quick")
    parser.add_argument("--target", default="all_figures", help="without papers (or all)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--slowest", type=int, default=5, help="list this many slowest jobs")
    args = parser.parse_args()

    configs = [REPO / "config/config.yaml"]
    if args.preset != "quick":
        configs.append(REPO / f"config/{args.preset}.yaml")
    print(f"preset {args.preset}, --cores {args.cores}, {os.cpu_count()} CPUs")
    for paper in args.papers or [None]:
        targets = [paper] if paper else [args.target]
        with tempfile.TemporaryDirectory() as workdir:
            r = run(targets, configs, args.cores, workdir)
            name = paper or args.target
            if not r["ok"]:
                print(f"{name}: FAILED after {r['wall']:.0f} s\n{r['stderr'][-2000:]}")
                continue
            jobs = job_seconds(workdir)
        print(
            f"{name}: {r['wall']:.0f} s wall, {r['cpu']:.0f} CPU-s, {r['jobs']} jobs; "
            f"load average {r['load'][0]:.1f} before, {r['load'][1]:.1f} after (1 min); "
            f"EnKF forward {r['speed'][0]:.0f} ms before, {r['speed'][1]:.0f} after"
        )
        if paper is None:
            per_paper = collections.Counter()
            for job, s in jobs.items():
                parts = job.split("/")
                per_paper[parts[1] if len(parts) > 2 else parts[0]] += s
            print("    summed job wall time per paper (or rule, for jobs of no paper):")
            for key, s in per_paper.most_common():
                print(f"    {s:7.1f} s  {key}")
        else:
            for job, s in collections.Counter(jobs).most_common(args.slowest):
                print(f"    {s:6.1f} s  {job}")


if __name__ == "__main__":
    main()
