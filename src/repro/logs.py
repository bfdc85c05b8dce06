"""Job logs: every rule's script writes its progress and any failure to its `log:` file.

Snakemake deletes a job's `log:` file before it starts the job, so a rerun of a killed
training job would lose the killed attempt's lines. `log_to(..., keep=...)` therefore
also appends to a second file that Snakemake does not own (the run folder's
`train.log`): when a job starts, the lines of the earlier, unfinished attempts are
copied back into the new log first; the kept file is removed once the job succeeds.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")


@contextlib.contextmanager
def log_to(path: str | Path, keep: str | Path | None = None):
    """Send the `repro` loggers to `path` for the duration; log a failure's traceback there
    too before re-raising it (so it shows both in the log and on the console). With
    `keep`, earlier attempts' lines (from `keep`) open the log and every line also goes
    to `keep` until the job succeeds."""
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
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
