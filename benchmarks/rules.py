"""One workflow run broken down by rule: jobs, wall, CPU seconds of work vs of start-up.

    python benchmarks/rules.py --run                      # quick `all_figures`, fresh temp dir
    python benchmarks/rules.py --run --preset smoke all   # another preset / target
    python benchmarks/rules.py /tmp/finished-run          # a run that already finished
    python benchmarks/rules.py /tmp/run-a --versus /tmp/run-b   # the jobs both ran, A vs B

Per rule it prints the number of jobs, their summed wall time (Snakemake's benchmark
files, `results/benchmarks/<rule>/...`), their CPU seconds (user + sys, from the
`job resources:` line every job writes at the end of its log, `repro.logs`) and how
much of that is start-up: the CPU a fresh interpreter spends importing exactly the
packages every job of its type (rule x paper) had loaded (measured here, best of
`--repeats`), times the number of jobs. `work = cpu - start-up`. With `--run`, it also
runs the workflow (data copied from the mirror by the download rule), and prints the
run's wall time, the load average before and after, and Snakemake's own CPU (the
whole process tree's CPU minus the jobs'): scheduling, DAG and metadata bookkeeping.

CPU seconds, unlike wall time, barely depend on what else the machine is doing, so
they compare runs made at different loads; wall time does not.
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
from repro.logs import resource_lines  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_workflow(workdir: Path, preset: str, targets: list[str], cores: int) -> dict:
    configs = [REPO / "config/config.yaml"]
    if preset != "quick":
        configs.append(REPO / f"config/{preset}.yaml")
    env = command.environment(
        REPO, os.environ.get("REPRO_DATA_MIRROR", REPO.parent / "shared" / "datasets")
    )
    cmd = command.snakemake(REPO, workdir, "--cores", str(cores), *targets, configs=configs)
    load_before = os.getloadavg()
    cpu_before, start = children_cpu(), time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu_before
    if result.returncode != 0:
        sys.exit(f"snakemake failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return {"wall": wall, "cpu": cpu, "load": (load_before, os.getloadavg())}


def rule_of(path: Path, root: Path) -> str:
    """logs/<rule>/... or logs/<rule>.log (and the same under results/benchmarks)."""
    first = path.relative_to(root).parts[0]
    return first.removesuffix(".log").removesuffix(".tsv")


def read_jobs(workdir: Path) -> dict[str, list[dict]]:
    """rule -> one dict per job: log name, cpu, startup (before the script's body),
    rss, modules, wall (from the benchmark file, if any)."""
    walls = {}
    bench = workdir / "results/benchmarks"
    for tsv in bench.rglob("*.tsv") if bench.exists() else ():
        with open(tsv) as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        walls[tsv.relative_to(bench).with_suffix("").as_posix()] = float(row["s"])
    jobs = collections.defaultdict(list)
    logs = workdir / "logs"
    for log in sorted(logs.rglob("*.log")):
        key = log.relative_to(logs).with_suffix("").as_posix()
        matches = resource_lines(log.read_text())
        job = {"name": key, "wall": walls.get(key), "cpu": None}
        if matches:  # a resumed job has one line per attempt: the last one holds the total
            m = matches[-1]
            job.update(
                cpu=sum(float(x["cpu"]) for x in matches),
                startup=float(m["startup"]),
                rss=int(m["rss"]),
                modules=tuple(m["modules"].split(",")) if m["modules"] else (),
            )
        jobs[rule_of(log, logs)].append(job)
    return jobs


def import_cpu(modules: tuple[str, ...], repeats: int) -> float:
    """CPU seconds of a fresh interpreter importing `modules` (best of `repeats`)."""
    code = (
        "import importlib\n"
        f"for m in {list(modules)!r}:\n"
        "    try:\n        importlib.import_module(m)\n"
        "    except Exception:\n        pass\n"
    )
    env = command.environment(REPO)
    best = float("inf")
    for _ in range(repeats):
        before = children_cpu()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        best = min(best, children_cpu() - before)
    return best


def report(jobs: dict[str, list[dict]], repeats: int, slowest: int) -> float:
    probes: dict[tuple, float] = {}
    rows, total_cpu = [], 0.0
    for rule, items in jobs.items():
        measured = [j for j in items if j["cpu"] is not None]
        # a job type = rule x paper; its start-up = importing what all its jobs imported
        types = collections.defaultdict(list)
        for j in measured:
            types[j["name"].split("/")[:2][-1]].append(j)
        for group in types.values():
            common = set.intersection(*(set(j["modules"]) for j in group))
            key = tuple(sorted(common))
            if key not in probes:
                probes[key] = import_cpu(key, repeats)
            for j in group:
                j["import"] = probes[key]
        cpu = sum(j["cpu"] for j in measured)
        start = sum(min(j["import"], j["cpu"]) for j in measured)
        wall = sum(j["wall"] or 0.0 for j in items)
        total_cpu += cpu
        rows.append((rule, len(items), len(items) - len(measured), wall, cpu, start))
    rows.sort(key=lambda r: -r[4])
    print(
        f"{'rule':18s} {'jobs':>5s} {'wall s':>8s} {'CPU s':>8s} {'start-up':>9s} "
        f"{'work':>8s} {'start/job':>9s} {'work/job':>8s}"
    )
    for rule, n, missing, wall, cpu, start in rows:
        k = max(n - missing, 1)
        note = f"  ({missing} without a resource line)" if missing else ""
        print(
            f"{rule:18s} {n:5d} {wall:8.1f} {cpu:8.1f} {start:9.1f} {cpu - start:8.1f} "
            f"{start / k:9.2f} {(cpu - start) / k:8.2f}{note}"
        )
    cpu = sum(r[4] for r in rows)
    start = sum(r[5] for r in rows)
    print(
        f"{'jobs total':18s} {sum(r[1] for r in rows):5d} {sum(r[3] for r in rows):8.1f} "
        f"{cpu:8.1f} {start:9.1f} {cpu - start:8.1f}"
    )
    everything = [j for items in jobs.values() for j in items if j["cpu"] is not None]
    print(f"\nslowest {slowest} jobs by CPU (start-up = imports in a fresh interpreter):")
    for j in sorted(everything, key=lambda j: -j["cpu"])[:slowest]:
        print(f"  {j['cpu']:7.1f} CPU-s  start-up {j['import']:5.2f}  {j['name']}")
    return total_cpu


def versus(a: Path, b: Path) -> None:
    """CPU seconds of the jobs both runs finished, per rule: a like-for-like comparison
    of two versions of the code (even of partial runs)."""
    jobs_a, jobs_b = read_jobs(a), read_jobs(b)
    print(f"jobs finished in both: CPU-s in {a} vs {b}")
    print(f"{'rule':18s} {'jobs':>5s} {'A CPU s':>9s} {'B CPU s':>9s} {'A/job':>7s} {'B/job':>7s}")
    total_a = total_b = 0.0
    for rule in sorted(set(jobs_a) & set(jobs_b)):
        cpu_b = {j["name"]: j["cpu"] for j in jobs_b[rule] if j["cpu"] is not None}
        pairs = [
            (j["cpu"], cpu_b[j["name"]]) for j in jobs_a[rule] if j["cpu"] and j["name"] in cpu_b
        ]
        if not pairs:
            continue
        sa, sb = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        total_a, total_b = total_a + sa, total_b + sb
        n = len(pairs)
        print(f"{rule:18s} {n:5d} {sa:9.1f} {sb:9.1f} {sa / n:7.2f} {sb / n:7.2f}")
    print(f"{'total':18s} {'':5s} {total_a:9.1f} {total_b:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", nargs="?", type=Path, help="a finished run (without --run)")
    parser.add_argument("targets", nargs="*", default=[], help="with --run (default all_figures)")
    parser.add_argument("--run", action="store_true", help="run the workflow first")
    parser.add_argument("--preset", choices=["smoke", "quick", "paper"], default="quick")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="import probes per package set")
    parser.add_argument("--slowest", type=int, default=8)
    parser.add_argument("--versus", type=Path, help="compare with another finished run")
    args = parser.parse_args()
    if args.versus:
        return versus(args.workdir, args.versus)
    if args.run:
        targets = ([str(args.workdir)] if args.workdir else []) + args.targets
        targets = targets or ["all_figures"]
        workdir = Path(tempfile.mkdtemp(prefix="rules-bench-"))
        print(f"preset {args.preset}, {' '.join(targets)}, --cores {args.cores}, in {workdir}")
        run = run_workflow(workdir, args.preset, targets, args.cores)
    elif args.workdir is None:
        parser.error("give a finished run's folder, or --run")
    else:
        workdir, run = args.workdir, None
    jobs_cpu = report(read_jobs(workdir), args.repeats, args.slowest)
    if run:
        (b1, b5, _), (a1, a5, _) = run["load"]
        print(
            f"\nrun: {run['wall']:.0f} s wall, {run['cpu']:.0f} CPU-s in all "
            f"(jobs {jobs_cpu:.0f}, Snakemake itself {run['cpu'] - jobs_cpu:.0f}); "
            f"load average {b1:.1f}/{b5:.1f} before, {a1:.1f}/{a5:.1f} after (1/5 min), "
            f"{os.cpu_count()} CPUs"
        )


if __name__ == "__main__":
    main()
