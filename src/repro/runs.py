"""One training run = one paper x experiment x seed, written to its own folder.

A run folder holds `metrics.csv` (long format: step, split, metric, value),
`artifacts.npz` (arrays a figure needs, possibly none) and `run.json` (what made the
run and how it ended), all written atomically at the end, `run.json` last. While the
run is going, `checkpoint.pt` lets a killed job resume where it stopped; it is removed
once the outputs are written.

A paper's training entry points are functions `fn(run: Run) -> None` listed in
`repro.<paper>.train.KINDS`; `execute` is what the Snakemake rule calls.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib
import json
import logging
import math
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from repro import __version__, layout
from repro.io import atomic_path, write_json

STATUS_OK, STATUS_DIVERGED = "ok", "diverged"
# Called as hook(run, step, total) after every progress line and tick (`repro.cost` times runs so).
PROGRESS_HOOKS: list = []

# Divergence (one definition for every paper, `Run.check_finite`): a loss that is
# non-finite, above the bound its kind declares (`LOSS_BOUNDS[kind]` beside `KINDS` in
# `repro.<paper>.train`), or more than GROWTH_LIMIT times the run's first checked loss.
GROWTH_LIMIT = 1e3


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


# glibc's malloc: blocks above MALLOC_MMAP_BYTES get their own mapping (32 MiB is also the
# top of glibc's self-adjusting threshold); free heap memory is kept up to MALLOC_TRIM_BYTES.
MALLOC_MMAP_BYTES, MALLOC_TRIM_BYTES = 32 << 20, 1 << 30


def keep_heap_memory() -> bool:
    """Make glibc's malloc keep freed heap memory for reuse instead of handing it back to
    the kernel; False where malloc is not glibc's (or refuses).

    glibc returns the free top of its heap to the kernel whenever it exceeds a threshold
    (at most 64 MiB): a training step that frees and allocates its tensors again then has
    the kernel zero the same pages again and again (levelsets' L2_MNIST_CONV job: 7.5 of
    52 CPU-s in the kernel, 0.9 after this, peak RSS 836 -> 853 MB). Blocks above
    MALLOC_MMAP_BYTES still get their own mapping each time, so per-step tensors should
    stay below it (`repro.training.EVAL_BATCH`).
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    # both: setting either stops glibc adapting the other (a trim threshold alone leaves
    # the mmap threshold at 128 KiB: 7x the kernel time of an enkf job)
    return bool(
        mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_BYTES)
        and mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_BYTES)
    )


def pick_device(preference: str = "auto"):
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config 'device: cuda' but no CUDA device is visible")
    if preference == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def _rng_state() -> dict:
    import torch

    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def git_commit(cwd: str | Path = ".") -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        return commit + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict:
    """Installed versions, read from package metadata: importing pandas and scipy only to
    ask would cost every train job ~0.4 CPU-s."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "repro": __version__}
    for name in ("torch", "numpy", "pandas", "scipy"):
        module = sys.modules.get(name)
        try:
            versions[name] = module.__version__ if module else version(name)
        except (PackageNotFoundError, AttributeError):
            continue
    return versions


def write_metrics(path: str | Path, rows) -> None:
    """(step, split, metric, value) rows as CSV, byte for byte what pandas' `to_csv`
    writes (NaN as an empty field), without importing pandas in a train job."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["step", "split", "metric", "value"])
        for step, split, metric, value in rows:
            writer.writerow([int(step), split, metric, "" if math.isnan(value) else repr(value)])


MAX_LISTED_FILES = 32  # above this, run.json gives a dataset's file count and digest


def dataset_record(manifest) -> dict:
    """What run.json says about one input dataset: every file's md5 for small datasets;
    for large ones (Tiny-ImageNet-C: ~750k files) the count and an md5 over the
    manifest's sorted (path, md5) list, which changes whenever any file does."""
    with open(manifest) as fh:
        files = json.load(fh)["files"]
    if len(files) <= MAX_LISTED_FILES:
        return {"manifest": str(manifest), "md5": files}
    listing = json.dumps(sorted(files.items())).encode()
    return {
        "manifest": str(manifest),
        "n_files": len(files),
        "files_digest": hashlib.md5(listing).hexdigest(),
    }


@dataclass
class Run:
    """What a training function sees: its hyperparameters, data, device, and recorders."""

    paper: str
    experiment: str
    seed: int
    params: dict
    run_dir: Path
    preset: str = "unknown"
    device: Any = "cpu"
    threads: int = 1
    manifests: dict = field(default_factory=dict)  # dataset name -> manifest path
    pca: str | None = None  # resources/pca/<dataset>.npz when the experiment sets `pca: true`
    init: str | None = None  # artifacts.npz of the run an `init_from` experiment starts from
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("repro.run"))
    rows: list = field(default_factory=list)
    artifacts: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    status: str = STATUS_OK
    status_reason: str = ""
    diverged_at_step: int | None = None
    loss_bound: float | None = None  # the kind's LOSS_BOUNDS entry (None: no bound)
    growth_limit: float = GROWTH_LIMIT
    first_loss: float | None = None  # first value given to check_finite (checkpointed)
    code_digest: str | None = None  # digest of the training code (repro.codehash)
    resumed_from: int | None = None
    _start: float = field(default_factory=time.perf_counter)

    # ----------------------------------------------------------------- recording
    def record(self, step: int, split: str, **metrics: float) -> None:
        """Append metrics for one step and split (e.g. record(3, "val", loss=.2, accuracy=.9))."""
        for metric, value in metrics.items():
            self.rows.append((int(step), split, metric, float(value)))

    def progress(self, step: int, total: int | None = None, **values: float) -> None:
        """One log line a user following the job can read: step, metrics, elapsed time."""
        parts = [
            f"{self.experiment} seed{self.seed}",
            f"step {step}" + (f"/{total}" if total else ""),
        ]
        parts += [f"{k} {v:.4g}" for k, v in values.items()]
        parts.append(f"elapsed {self.elapsed():.1f}s")
        self.log.info(" | ".join(parts))
        self.tick(step, total)

    def tick(self, step: int, total: int | None = None) -> None:
        """A step finished, nothing to log: lets a cost measurement (PROGRESS_HOOKS) time
        loops whose progress lines are far apart (enkf logs every 500 iterations)."""
        for hook in PROGRESS_HOOKS:
            hook(self, step, total)

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def note(self, text: str) -> None:
        """A fact a reader of run.json must know (a substitution, an assumption)."""
        self.notes.append(text)
        self.log.info("note: %s", text)

    def mark_diverged(self, reason: str, step: int | None = None) -> None:
        """Record that the run diverged (it still writes its outputs; figures still build)."""
        self.status, self.status_reason = STATUS_DIVERGED, reason
        self.diverged_at_step = None if step is None else int(step)
        self.log.warning("diverged: %s", reason)

    @property
    def diverged(self) -> bool:
        return self.status == STATUS_DIVERGED

    def check_finite(self, step: int, value: float) -> bool:
        """The divergence check every training loop calls with its loss: mark the run
        diverged (and return False: stop) if `value` is non-finite, above the kind's
        `loss_bound`, or more than `growth_limit` times the first value checked."""
        value = float(value)
        if not math.isfinite(value):
            reason = f"non-finite loss {value} at step {step}"
        elif self.loss_bound is not None and value > self.loss_bound:
            reason = (
                f"loss {value:.4g} at step {step} is above the bound {self.loss_bound:g} "
                f"declared for kind '{self.params.get('kind')}'"
            )
        elif self.first_loss is None:
            self.first_loss = value
            return True
        elif self.first_loss > 0 and value > self.growth_limit * self.first_loss:
            reason = (
                f"loss {value:.4g} at step {step} is more than {self.growth_limit:g} times "
                f"the first loss {self.first_loss:.4g}"
            )
        else:
            return True
        self.mark_diverged(reason, step)
        return False

    # ----------------------------------------------------------------- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / Path(layout.RUN_CHECKPOINT).name

    @property
    def fingerprint(self) -> str:
        blob = json.dumps([self.paper, self.experiment, self.seed, self.params], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def save_checkpoint(self, step: int, **state: Any) -> None:
        """Save `state` (state_dicts, counters) with the metrics and RNG states so far."""
        import torch

        payload = {
            "fingerprint": self.fingerprint,
            "step": step,
            "state": state,
            "rows": list(self.rows),
            "artifacts": dict(self.artifacts),
            "rng": _rng_state(),
            "elapsed": self.elapsed(),
            "first_loss": self.first_loss,
        }
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(payload, tmp)
        self.log.info("checkpoint saved at step %d", step)

    def resume(self) -> tuple[int, dict | None]:
        """(step, state) of the last checkpoint of this very run, or (0, None).

        Restores the recorded metrics and the RNG states, so the continued run ends
        with the same numbers as an uninterrupted one.
        """
        import torch

        if not self.checkpoint_path.exists():
            return 0, None
        payload = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        if payload.get("fingerprint") != self.fingerprint:
            self.log.warning(
                "ignoring checkpoint of a different configuration: %s", self.checkpoint_path
            )
            return 0, None
        self.rows, self.artifacts = list(payload["rows"]), dict(payload["artifacts"])
        _set_rng_state(payload["rng"])
        self._start -= payload["elapsed"]
        self.first_loss = payload.get("first_loss")
        self.resumed_from = payload["step"]
        self.log.info("resumed from checkpoint at step %d", payload["step"])
        return payload["step"], payload["state"]

    # ----------------------------------------------------------------- outputs
    def finish(self, extra: dict | None = None) -> dict:
        """Write artifacts.npz, metrics.csv and run.json (last); drop the checkpoint."""
        with atomic_path(self.run_dir / Path(layout.RUN_ARTIFACTS).name) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in self.artifacts.items()})
        write_metrics(self.run_dir / Path(layout.RUN_METRICS).name, self.rows)
        record = self.describe(extra)
        write_json(self.run_dir / Path(layout.RUN_RECORD).name, record)
        self.checkpoint_path.unlink(missing_ok=True)
        return record

    def describe(self, extra: dict | None = None) -> dict:
        device = str(self.device)
        if device.startswith("cuda"):
            import torch

            device += f" ({torch.cuda.get_device_name(self.device)})"
        datasets = {name: dataset_record(m) for name, m in self.manifests.items()}
        return {
            "paper": self.paper,
            "experiment": self.experiment,
            "seed": self.seed,
            "preset": self.preset,
            "status": self.status,
            "status_reason": self.status_reason,
            "diverged_at_step": self.diverged_at_step,
            "hyperparameters": self.params,
            "datasets": datasets,
            "pca": str(self.pca) if self.pca else None,
            "init": str(self.init) if self.init else None,
            "notes": self.notes,
            "device": device,
            "threads": self.threads,
            "versions": package_versions(),
            "git_commit": git_commit(),
            "code_digest": self.code_digest,
            "host": platform.node(),
            "resumed_from_step": self.resumed_from,
            "wall_time_s": round(self.elapsed(), 3),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **(extra or {}),
        }


class RunLocked(RuntimeError):
    """Another live process is training into the same run folder."""


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Hold an exclusive lock on `<run_dir>/.lock` for the duration (released by the OS
    when the process dies, so a killed trainer never leaves a stale lock)."""
    import fcntl

    path = Path(run_dir) / Path(layout.RUN_LOCK).name
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            raise RunLocked(
                f"run folder '{run_dir}' is being trained by another process ({holder}). "
                "Stop that trainer first (Ctrl-C in its terminal, or kill its whole process "
                "group: kill -- -<pgid>), then run again."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {platform.node()}\n")
        fh.flush()
        yield
    finally:
        fh.close()


def execute(
    paper: str,
    experiment: str,
    seed: int,
    params: dict,
    run_dir: str | Path,
    *,
    preset: str = "unknown",
    device: str = "auto",
    manifests: dict | None = None,
    pca: str | None = None,
    init: str | None = None,
    threads: int = 1,
    code_digest: str | None = None,
) -> dict:
    """Run one experiment (resolved hyperparameters `params`) for one seed into `run_dir`.

    This is the body of the Snakemake `train` rule.
    """
    import torch

    logger = logging.getLogger("repro.run")
    torch.set_num_threads(threads)
    # Subnormal floats (below 1.2e-38) are flushed to zero on the CPU: the saturated
    # sigmoids of an SGD seed stuck at its N(0, 1) init (enkf) otherwise make every
    # backward ~5x slower (docs/architecture.md); no result rests on values that small.
    torch.set_flush_denormal(True)
    kept = keep_heap_memory()
    seed_everything(seed)
    run = Run(
        paper=paper,
        experiment=experiment,
        seed=int(seed),
        params=params,
        run_dir=Path(run_dir),
        preset=preset,
        device=pick_device(device),
        threads=threads,
        manifests=dict(manifests or {}),
        pca=pca,
        init=init,
        log=logger,
        code_digest=code_digest,
    )
    run.run_dir.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(f"repro.{paper}.train")
    kinds = module.KINDS
    run.loss_bound = getattr(module, "LOSS_BOUNDS", {}).get(params["kind"])
    logger.info(
        "start %s/%s seed %d (%s) on %s, %d thread(s)%s",
        paper,
        experiment,
        seed,
        params["kind"],
        run.device,
        threads,
        ", freed heap memory kept for reuse" if kept else "",
    )
    with run_lock(run.run_dir):
        kinds[params["kind"]](run)
        record = run.finish()
    logger.info("done: status %s, %.1f s", record["status"], record["wall_time_s"])
    return record
