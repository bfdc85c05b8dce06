"""Fig. 7: PCA of the MNIST_FF walk's weight snapshots (`PCA_MNIST_FF.ipynb`).

The last steps // snapshot_every snapshots of each complete run are stacked, every
coordinate is z-scored over all points (ddof = 0, like scikit-learn's StandardScaler;
zero std -> 1), and `repro.pca.fit` keeps 6 components. The mean of the runs' final
weights and of the weight-decay runs' final weights at one lambda are projected too
(averaging independently initialised networks is meaningless geometrically, spec
pitfall 15, but it is what the figure shows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro import pca as foundation_pca

COMPONENTS = 6


@dataclass
class SnapshotPCA:
    pca: foundation_pca.PCA
    coords: np.ndarray  # (runs * per_run, K)
    index: np.ndarray  # snapshot index within its run, for colouring
    centroids: np.ndarray  # (runs, K)
    end: np.ndarray  # (K,) projection of the mean final walk point
    wd_end: np.ndarray | None  # (K,) projection of the mean weight-decay endpoint
    per_run: int


def snapshot_pca(walk_paths, params: dict, wd_paths=(), wd_lambda: float = 1e-3) -> SnapshotPCA:
    per_run = params["steps"] // params["snapshot_every"]
    blocks, finals = [], []
    for path in sorted(walk_paths):
        with np.load(path) as z:
            if "complete" in z.files and not bool(z["complete"]):
                continue  # a run stopped by the corrector cap
            blocks.append(z["snapshots"][-per_run:])
            finals.append(z["final_weights"])
    if not blocks:
        raise ValueError("no complete MNIST_FF walk to analyse")
    x = np.concatenate(blocks).astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0

    def scale(v):
        return (np.asarray(v, dtype=np.float64) - mean) / std

    pca = foundation_pca.fit(scale(x), n_components=min(COMPONENTS, len(x) - 1))
    coords = pca.transform(scale(x))
    sizes = [len(b) for b in blocks]
    index = np.concatenate([np.arange(n) for n in sizes])
    centroids = np.stack([c.mean(axis=0) for c in np.split(coords, np.cumsum(sizes)[:-1])])
    end = pca.transform(scale(np.mean(finals, axis=0))[None])[0]
    key = f"final_weights@{float(wd_lambda)!r}"
    wd = []
    for path in sorted(wd_paths):
        with np.load(path) as z:
            if key in z.files:
                wd.append(z[key])
    wd_end = pca.transform(scale(np.mean(wd, axis=0))[None])[0] if wd else None
    return SnapshotPCA(pca, coords, index, centroids, end, wd_end, per_run)
