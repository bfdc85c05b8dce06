"""Job logs: every rule's script writes its progress and any failure to its `log:` file.

Snakemake deletes a job's `log:` file before it starts the job, so a rerun of a killed
training job would lose the killed attempt's lines. `log_to(..., keep=...)` therefore
also appends to a second file that Snakemake does not own (the run folder's
`train.log`): when a job starts, the lines of the earlier, unfinished attempts are
copied back into the new log first; the kept file is removed once the job succeeds.

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


@contextlib.contextmanager
def log_to(path: str | Path, keep: str | Path | None = None):
    """Send the `repro` loggers to `path` for the duration; log a failure's traceback there
    too before re-raising it (so it shows both in the log and on the console). With
    `keep`, earlier attempts' lines (from `keep`) open the log and every line also goes
    to `keep` until the job succeeds. The log ends with the job's resource line."""
    startup_cpu = cpu_seconds()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers = []
    if keep is not None:
        keep = Path(keep)
        keep.parent.mkdir(parents=True, exist_ok=True)
        if keep.exists() and keep.resolve() != path.resolve():
            earlier = keep.read_text()
            if earlier:
                with open(path, "a") as fh:
                    fh.write(earlier if earlier.endswith("\n") else earlier + "\n")
        handlers.append(logging.FileHandler(keep, mode="a"))
    if keep is None or keep.resolve() != path.resolve():
        handlers.append(logging.FileHandler(path, mode="a"))
    logger = logging.getLogger("repro")
    for handler in handlers:
        handler.setFormatter(FORMAT)
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    if keep is not None:
        logger.info("attempt starts (log of earlier attempts above, if any)")
    try:
        yield logger
    except BaseException:
        logger.exception("job failed")
        raise
    else:
        if keep is not None:
            for handler in handlers:
                handler.flush()
            keep.unlink(missing_ok=True)
    finally:
        logger.info(resource_line(startup_cpu))
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
