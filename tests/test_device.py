"""Device audit: every training kind puts its tensors on the run's device.

Each kind runs at smoke size with `device=cpu` while torch's default device is the
`meta` device: a tensor created without an explicit device (a module built and then
moved, `torch.tensor(...)`, `torch.arange(n)`, a generator without a device) lands on
`meta` and fails loudly the moment it meets the run's tensors (or is read with
`.item()`), just as a CPU tensor meets CUDA tensors on a GPU. This runs on CPU-only
machines and catches what a GPU run would. Checkpoints are written on one device and
read with `map_location` (test_runs covers resuming).
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from repro import config, pca, runs
from tests.conftest import CONFIG, SMOKE


@contextlib.contextmanager
def default_device_meta():
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


def test_the_guard_catches_a_tensor_made_without_a_device():
    x = torch.ones(3, device="cpu")
    with default_device_meta(), pytest.raises((RuntimeError, NotImplementedError)):
        (x + torch.arange(3)).sum().item()
    with default_device_meta():
        assert (x + torch.arange(3, device=x.device)).sum().item() == 6.0


SMOKE_CONFIG = config.load(CONFIG, SMOKE)
# one experiment per (paper, kind), plus the variants that take other code paths
EXTRA = {
    ("enkf", "enkf_adaptive"),
    ("eqprop", "cnn_mse_bptt"),
    ("eqprop", "vfcnn_ce_same_update"),
    ("forde", "forde_pca"),
    ("levelsets", "IRIS_FF"),
    ("levelsets", "MPG_FF"),
    ("levelsets", "L2_IRIS_FF"),
}


def _cases():
    seen, cases = set(), []
    for paper in config.papers(SMOKE_CONFIG):
        for name, params in config.resolve_experiments(SMOKE_CONFIG, paper).items():
            if (paper, params["kind"]) not in seen or (paper, name) in EXTRA:
                seen.add((paper, params["kind"]))
                cases.append(pytest.param(paper, name, id=f"{paper}-{name}"))
    return cases


@pytest.mark.parametrize(("paper", "name"), _cases())
def test_training_kind_keeps_its_tensors_on_the_run_device(paper, name, manifests, tmp_path):
    params = config.resolve_experiments(SMOKE_CONFIG, paper)[name]
    params = config.hyperparameters(params)
    inputs = {}
    if params.get("dataset"):
        inputs[params["dataset"]] = str(manifests(params["dataset"]))
    pca_path = None
    if params.get("pca"):
        result, meta = pca.dataset_pca(inputs[params["dataset"]])
        pca_path = tmp_path / "pca.npz"
        pca.save(result, pca_path, **meta)
    with default_device_meta():
        record = runs.execute(
            paper, name, 0, params, tmp_path / "run", preset="smoke", device="cpu",
            manifests=inputs, pca=pca_path,
        )  # fmt: skip
    assert record["device"] == "cpu"
