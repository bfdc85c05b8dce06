"""Cost before submission: time a few steps of every training run, extrapolate to its end.

`measure` runs one experiment's training entry point (`repro.runs.execute`, the body of
the `train` rule) in a child process, in a temporary run folder, on this machine's
device. A hook on `Run.progress` (`repro.runs.PROGRESS_HOOKS`) notes the wall time of
every progress line (step, total). A *phase* is a run of progress lines with the same
total (levelsets: phase-1 epochs, then walk steps). Once `steps` intervals of a phase
are timed and the rest of that phase would take longer than `min_remaining_s`, the child
stops and the run is extrapolated:

    estimate = t_last + (total - step_last) * seconds_per_step,
    seconds_per_step = (t_last - t_first) / (step_last - step_first) over the phase,

with times counted from the child's launch (interpreter start, imports and data loading
included). A phase that would finish sooner runs to its end, so short runs (and short
first phases) are timed whole. A child still without a timed interval at `deadline_s`
is stopped: its estimate is a lower bound (`deadline_s`). Limits: phases after the one
the budget stopped in are not timed, nor the evaluation after the last step.

`table` turns the per-experiment measurements into `results/tables/cost.{csv,md}`: one
row per experiment and seed (one seed is timed, the others cost the same), and totals.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

BUDGET = {"steps": 2, "min_remaining_s": 20.0, "deadline_s": 600.0}
COMPLETE, EXTRAPOLATED, LOWER_BOUND = "complete", "extrapolated", "lower bound"


class BudgetReached(Exception):
    """Raised inside the training loop once its cost can be extrapolated."""


def _phase(events: list[dict]) -> list[dict]:
    """The trailing progress lines with the same total (the current phase)."""
    phase = []
    for event in reversed(events):
        if phase and event["total"] != phase[0]["total"]:
            break
        phase.insert(0, event)
    return phase


def rate(events: list[dict], clock: str = "t") -> float | None:
    """Seconds per step over the current phase, None before one interval is timed.
    `clock`: "t" wall seconds, "cpu" CPU seconds of the process."""
    phase = _phase(events)
    if len(phase) < 2 or not phase[-1]["total"]:
        return None
    steps = phase[-1]["step"] - phase[0]["step"]
    return (phase[-1][clock] - phase[0][clock]) / steps if steps > 0 else None


def extrapolate(events: list[dict], clock: str = "t") -> float | None:
    """Seconds the whole run takes from the events so far (None: cannot tell yet)."""
    per_step = rate(events, clock)
    if per_step is None:
        return None
    last = events[-1]
    return last[clock] + max(last["total"] - last["step"], 0) * per_step


class Timer:
    """The progress hook of a measured run: logs events, stops once extrapolable."""

    def __init__(self, launched: float, events_path: Path, budget: dict):
        self.launched, self.path, self.budget = launched, events_path, budget
        self.events: list[dict] = []

    def __call__(self, run, step, total) -> None:
        event = {
            "t": time.time() - self.launched,
            "cpu": time.process_time(),
            "step": int(step),
            "total": total,
        }
        self.events.append(event)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(event) + "\n")
        phase = _phase(self.events)
        per_step = rate(self.events)
        if per_step is None or len(phase) <= self.budget["steps"]:
            return
        if (total - step) * per_step > self.budget["min_remaining_s"]:
            raise BudgetReached


def _child(spec_path: str) -> None:
    """Entry point of the measuring process: run the experiment until the hook stops it."""
    from repro import runs

    spec = json.loads(Path(spec_path).read_text())
    importlib.import_module(f"repro.{spec['run']['paper']}.train")  # torch and the paper
    # What a job pays once however many seeds it trains (train_jobs: per_experiment).
    startup = {"t": time.time() - spec["launched"], "cpu": time.process_time()}
    timer = Timer(spec["launched"], Path(spec["events"]), spec["budget"])
    runs.PROGRESS_HOOKS.append(timer)
    status = COMPLETE
    with tempfile.TemporaryDirectory(prefix="repro-cost-") as run_dir:
        try:
            runs.execute(run_dir=run_dir, **spec["run"])
        except BudgetReached:
            status = EXTRAPOLATED
    result = {
        "status": status,
        "t": time.time() - spec["launched"],
        "cpu": time.process_time(),
        "device": str(runs.pick_device(spec["run"]["device"])),
        "gpu_peak_mb": None,
        "startup": startup,
    }
    if status == COMPLETE and spec.get("next_seed") is not None:
        # A short run timed whole: time the next seed in the same process too, as one job
        # per experiment runs it (warm caches, kernels already chosen: often far less).
        runs.PROGRESS_HOOKS.remove(timer)
        t, cpu = time.time(), time.process_time()
        with tempfile.TemporaryDirectory(prefix="repro-cost-") as run_dir:
            runs.execute(run_dir=run_dir, **{**spec["run"], "seed": spec["next_seed"]})
        result["next_seed"] = {"t": time.time() - t, "cpu": time.process_time() - cpu}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    Path(spec["result"]).write_text(json.dumps(result))


def measure(
    paper: str,
    experiment: str,
    seed: int,
    params: dict,
    *,
    preset: str = "unknown",
    device: str = "auto",
    manifests: dict | None = None,
    pca: str | None = None,
    threads: int = 1,
    budget: dict | None = None,
    next_seed: int | None = None,
    log=print,
) -> dict:
    """Time one experiment x seed as `train` would run it; see the module docstring.
    An `init_from` experiment is timed from its untrained network: the cost of its steps
    does not depend on the weights, and the trained run need not exist yet.
    `next_seed` (one job trains every seed): a run timed whole is followed by this seed
    in the same process, the cost of every further seed (`next_seed_s`); otherwise that
    cost is the estimate less the start-up."""
    budget = {**BUDGET, **(budget or {})}
    if params.get("init_from"):
        params = {**params, "init_from": None}
    src = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="repro-cost-spec-") as tmp:
        tmp = Path(tmp)
        launched = time.time()
        spec = {
            "launched": launched,
            "next_seed": next_seed,
            "events": str(tmp / "events.jsonl"),
            "result": str(tmp / "result.json"),
            "budget": budget,
            "run": {
                "paper": paper,
                "experiment": experiment,
                "seed": int(seed),
                "params": params,
                "preset": preset,
                "device": device,
                "manifests": dict(manifests or {}),
                "pca": pca,
                "threads": threads,
            },
        }
        (tmp / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys, repro.cost; repro.cost._child(sys.argv[1])"]
            + [str(tmp / "spec.json")],
            env=env,
        )
        deadline = launched + budget["deadline_s"]
        while True:
            pid, code, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > deadline:
                child.send_signal(signal.SIGKILL)
                pid, code, usage = os.wait4(child.pid, 0)
                code = None  # stopped at the deadline
                break
            time.sleep(0.2)
        child.returncode = 0  # reaped above
        wall = time.time() - launched
        events_path = tmp / "events.jsonl"
        events = (
            [json.loads(line) for line in events_path.read_text().splitlines()]
            if events_path.exists()
            else []
        )
        result_path = tmp / "result.json"
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
    if code is not None and code != 0:
        raise RuntimeError(f"{paper}/{experiment} seed {seed}: training failed (exit {code})")
    status = result.get("status", LOWER_BOUND)
    phase = _phase(events)
    total = phase[-1]["total"] if phase else None
    cpu = usage.ru_utime + usage.ru_stime
    if status == COMPLETE and "next_seed" in result:  # the first run ended at (t, cpu)
        estimate, cpu_estimate = result["t"], result["cpu"]
    elif status == COMPLETE:
        estimate, cpu_estimate = wall, cpu
    else:
        estimate, cpu_estimate = extrapolate(events), extrapolate(events, "cpu")
        if estimate is None:
            status, estimate, cpu_estimate = LOWER_BOUND, wall, cpu
        elif status == LOWER_BOUND:
            status = EXTRAPOLATED
            estimate, cpu_estimate = max(estimate, wall), max(cpu_estimate, cpu)
    startup = result.get("startup", {"t": 0.0, "cpu": 0.0})
    per_step = rate(events)
    if per_step is None and status == COMPLETE and total:
        per_step = wall / total
    record = {
        "paper": paper,
        "experiment": experiment,
        "timed_seed": int(seed),
        "kind": params.get("kind"),
        "device": result.get("device", device),
        "threads": threads,
        "status": status,
        "steps": total,
        "steps_timed": events[-1]["step"] if events else 0,
        "seconds_per_step": per_step,
        "timed_s": round(wall, 3),
        "timed_cpu_s": round(cpu, 3),
        "estimated_s": round(estimate, 3),
        "estimated_cpu_s": round(cpu_estimate, 3),
        "startup_s": round(startup["t"], 3),
        "startup_cpu_s": round(startup["cpu"], 3),
        "next_seed_s": round(result.get("next_seed", {}).get("t", estimate - startup["t"]), 3),
        "next_seed_cpu_s": round(
            result.get("next_seed", {}).get("cpu", cpu_estimate - startup["cpu"]), 3
        ),
        "peak_mem_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "gpu_peak_mb": result.get("gpu_peak_mb"),
        "load_1min": round(os.getloadavg()[0], 2),
        "events": events,
    }
    log(
        f"{paper}/{experiment}: {status}, {record['steps_timed']}/{total} steps in {wall:.1f} s, "
        f"estimate {estimate:.1f} s, peak {record['peak_mem_mb']} MB"
    )
    return record


def dataset_bytes(manifest: str | Path) -> int:
    """Bytes on disk of the files a dataset manifest lists."""
    root = Path(manifest).parent
    files = json.loads(Path(manifest).read_text())["files"]
    return sum((root / rel).stat().st_size for rel in files if (root / rel).exists())


def table(
    measurements: list[dict],
    experiments: dict,
    manifests: list[str],
    cores: int,
    shared_startup: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Per experiment x seed rows and the totals. `experiments`: (paper, name) -> the
    resolved experiment (seeds, resources). `shared_startup` (train_jobs:
    per_experiment): one job trains every seed, so the interpreter, torch and the
    paper's code are paid by the first seed only; the others cost `next_seed_s`."""
    rows = []
    for m in measurements:
        experiment = experiments[(m["paper"], m["experiment"])]
        resources = experiment["resources"]
        for k, seed in enumerate(experiment["seeds"]):
            wall, cpu = m["estimated_s"], m["estimated_cpu_s"]
            if shared_startup and k > 0:
                wall, cpu = m["next_seed_s"], m["next_seed_cpu_s"]
            rows.append(
                {
                    "paper": m["paper"],
                    "experiment": m["experiment"],
                    "seed": seed,
                    "timed_seed": m["timed_seed"],
                    "status": m["status"],
                    "steps": m["steps"],
                    "steps_timed": m["steps_timed"],
                    "seconds_per_step": m["seconds_per_step"],
                    "estimated_h": wall / 3600,
                    "estimated_cpu_h": cpu / 3600,
                    "peak_mem_mb": m["peak_mem_mb"],
                    "gpu_peak_mb": m["gpu_peak_mb"],
                    "threads": resources["threads"],
                    "gpu": resources["gpu"],
                    "requested_mem_mb": resources["mem_mb"],
                    "requested_runtime_min": resources["runtime"],
                    "fits_request": (
                        wall / 60 <= resources["runtime"]
                        and m["peak_mem_mb"] <= resources["mem_mb"]
                    ),
                }
            )
    frame = pd.DataFrame(rows)
    gpu = frame["gpu"] > 0
    hours = frame["estimated_h"]
    cpu_hours = float((hours * frame["threads"])[~gpu].sum())
    totals = {
        "runs": len(frame),
        "measured on": ", ".join(sorted({m["device"] for m in measurements})),
        "GPU-hours (runs asking for a GPU)": float((hours * frame["gpu"])[gpu].sum()),
        "CPU-hours (runs without a GPU; hours x threads)": cpu_hours,
        "CPU time, hours (load-independent)": float(frame["estimated_cpu_h"][~gpu].sum()),
        f"wall hours of the CPU runs on {cores} core(s)": cpu_hours / cores,
        "machine load (1-min load average, mean over the measurements)": float(
            sum(m["load_1min"] for m in measurements) / len(measurements)
        ),
        "lower bounds among the runs": int((frame["status"] == LOWER_BOUND).sum()),
        "runs over their requested runtime or memory": int((~frame["fits_request"]).sum()),
        "data on disk (GB)": sum(dataset_bytes(m) for m in manifests) / 1e9,
    }
    return frame, totals


def markdown(frame: pd.DataFrame, totals: dict, preset: str, shared_startup: bool = False) -> str:
    jobs = (
        "One job trains every seed of an experiment (`train_jobs: per_experiment`): the "
        "start-up (interpreter, torch, the paper's code) is charged to the first seed only "
        "(a short run is timed twice in one process: the second seed's time is the others')."
        if shared_startup
        else "One job per run (`train_jobs: per_seed`): every run pays its own start-up."
    )
    lines = [
        f"# Cost of the {preset} preset, estimated on this machine",
        "",
        "One row per training run. Each experiment is timed on one seed (`timed_seed`) for a "
        "few progress steps and extrapolated (`status`; see `repro.cost`). "
        "`lower bound`: no interval timed before the deadline. " + jobs,
        "",
        "| total | value |",
        "| --- | --- |",
        *(
            f"| {k} | {v:.3g} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in totals.items()
        ),
        "",
        frame.to_markdown(index=False, floatfmt=".4g"),
        "",
    ]
    return "\n".join(lines)
