"""Job logs: every rule's script writes its progress and any failure to its `log:` file."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path


@contextlib.contextmanager
def log_to(path: str | Path):
    """Send the `repro` loggers to `path` for the duration; log a failure's traceback there
    too before re-raising it (so it shows both in the log and on the console)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("repro")
    handler = logging.FileHandler(path, mode="a")  # a resumed job keeps the earlier lines
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger
    except BaseException:
        logger.exception("job failed")
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
