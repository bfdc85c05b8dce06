"""Job logs: every rule's script writes its progress and any failure to its `log:` file.

Snakemake deletes a job's `log:` file before it starts the job, so a rerun of a killed
training job would lose the killed attempt's lines. Each run's attempt
(`kept_attempts`, or `log_to(..., keep=...)`) therefore also appends to a second file
that Snakemake does not own (the run folder's `train.log`): when the run starts again,
the lines of its earlier, unfinished attempts are copied back into the new log first;
the kept file is removed once the run succeeds.

The last line of every job's log is its resource line (`job resources: cpu_s=...`):
CPU seconds (user + sys, the job's own process and the children it waited for) in
total and before the job's code started (`startup_cpu_s`: interpreter, Snakemake's
script preamble and the script's top-level imports), peak memory, and the packages
the job had loaded (`modules=`), so `benchmarks/rules.py` can break a run down by rule
and measure what each job type's imports cost on their own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import resource
import sys
from pathlib import Path

FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
RESOURCE_LINE = "job resources:"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def loaded_modules() -> list[str]:
    """Modules from outside the standard library loaded so far, at most two levels deep
    (`torch`, `scipy.special`, `matplotlib.pyplot`), plus every `repro` module:
    importing these in a fresh interpreter reproduces the job's import cost."""
    stdlib = sys.stdlib_module_names
    names = set()
    for name in list(sys.modules):
        top = name.partition(".")[0]
        if top in stdlib or top.startswith("_") or top == "__main__":
            continue
        parts = name.split(".")
        if top == "repro" or (len(parts) <= 2 and not parts[-1].startswith("_")):
            names.add(name)
    return sorted(names)


def resource_line(startup_cpu: float) -> str:
    total = cpu_seconds()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return (
        f"{RESOURCE_LINE} cpu_s={total:.3f} startup_cpu_s={startup_cpu:.3f} "
        f"maxrss_mb={peak_mb:.0f} modules={','.join(loaded_modules())}"
    )


RESOURCE_PATTERN = re.compile(
    RESOURCE_LINE + r" cpu_s=(?P<cpu>[\d.]+) startup_cpu_s=(?P<startup>[\d.]+) "
    r"maxrss_mb=(?P<rss>\d+) modules=(?P<modules>\S*)"
)


def resource_lines(text: str) -> list[re.Match]:
    """The resource lines of a job log (one per attempt: a resumed job has several)."""
    return [m for line in text.splitlines() if (m := RESOURCE_PATTERN.search(line))]


def log_failure(logger: logging.Logger, error: BaseException) -> None:
    """Log the traceback of `error` being raised, once however many blocks it leaves."""
    if not getattr(error, "_repro_logged", False):
        logger.exception("job failed")
        error._repro_logged = True


@contextlib.contextmanager
def log_to(path: str | Path, keep: str | Path | None = None):
    """Send the `repro` loggers to `path` for the duration; log a failure's traceback there
    too before re-raising it (so it shows both in the log and on the console). With
    `keep`, the block is one run's attempt (`kept_attempts`). The log ends with the job's
    resource line."""
    startup_cpu = cpu_seconds()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(FORMAT)
    logger = logging.getLogger("repro")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with kept_attempts(path, keep) if keep is not None else contextlib.nullcontext():
            yield logger
    except BaseException as error:
        log_failure(logger, error)
        raise
    finally:
        logger.info(resource_line(startup_cpu))
        logger.removeHandler(handler)
        handler.close()


def exit_without_teardown() -> None:
    """End a job that has written every output: flush and exit, skipping the
    interpreter's teardown, which after `import torch` costs ~0.3 CPU-s per process
    (freeing every module's objects; `benchmarks/rules.py` counts it as Snakemake's CPU,
    since it comes after the resource line). Call it only as a script's last line,
    once every file is closed: nothing after it runs, not even `atexit` handlers."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@contextlib.contextmanager
def kept_attempts(log_path: str | Path, keep: str | Path):
    """One run's attempt inside a job logging to `log_path`: the lines of the run's
    earlier, unfinished attempts (kept in `keep`, a file in the run folder that Snakemake
    does not own) are copied into the job log first, and every line also goes to `keep`
    until the block succeeds, when `keep` is removed. A job training several seeds opens
    one such block per seed."""
    keep = Path(keep)
    if keep.resolve() == Path(log_path).resolve():
        yield
        return
    keep.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("repro")
    earlier = keep.read_text() if keep.exists() else ""
    if earlier:
        for handler in logger.handlers:
            handler.flush()
        with open(log_path, "a") as fh:
            fh.write(earlier if earlier.endswith("\n") else earlier + "\n")
    handler = logging.FileHandler(keep, mode="a")
    handler.setFormatter(FORMAT)
    logger.addHandler(handler)
    logger.info("attempt starts (log of earlier attempts above, if any)")
    try:
        yield
        handler.flush()
        keep.unlink(missing_ok=True)
    except BaseException as error:
        log_failure(logger, error)  # into `keep` too: the next attempt shows why
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
