"""Image datasets decoded once, then memory-mapped by every job that reads them.

The download rule decodes a dataset's verified raw files (MNIST's gzipped IDX files,
CIFAR's pickles, TinyImageNet's JPEGs) into four `.npy` arrays under
`resources/data/<name>/decoded/` and lists them, with their md5s, under `decoded` in
the manifest. `load` re-verifies those md5s and memory-maps the arrays (copy-on-write:
writable, shared with the page cache until written), so a train job neither
decompresses nor unpickles anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro.data import DataError, md5sum, verify
from repro.io import atomic_path

FOLDER = "decoded"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def write(root: str | Path, arrays) -> dict[str, str]:
    """Save (x_train, y_train, x_test, y_test) under `root`/decoded/; path -> md5."""
    listed = {}
    for name, array in zip(ARRAYS, arrays, strict=True):
        rel = f"{FOLDER}/{name}.npy"
        with atomic_path(Path(root) / rel) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(array))
            listed[rel] = md5sum(tmp)
    return listed


def load(root: str | Path, listed: dict[str, str]) -> tuple[np.ndarray, ...]:
    """The arrays `write` listed, each verified against its md5, memory-mapped."""
    root = Path(root)
    for rel, md5 in listed.items():
        if not (root / rel).exists():
            raise DataError(
                f"decoded dataset file '{root / rel}' listed in its manifest is missing; "
                "delete the manifest and run the download rule again"
            )
        verify(root / rel, md5, "decoded dataset file")
    return tuple(np.load(root / f"{FOLDER}/{name}.npy", mmap_mode="c") for name in ARRAYS)
