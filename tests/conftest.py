"""Shared fixtures: the data mirror, verified datasets, and workflow runs in temp dirs.

The data mirror is $REPRO_DATA_MIRROR or, if unset, ../shared/datasets beside the
repository; tests that need a dataset the mirror lacks are skipped with the reason.
The quick preset is run once per session (`quick_workflow`) and shared by every slow
test that checks a paper's quick-scale conclusions; REPRO_TEST_QUICK_DIR names a
finished quick run (`snakemake all` on config/config.yaml) to check instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from repro import command, data

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "config.yaml"
SMOKE = REPO / "config" / "smoke.yaml"


def mirror_path() -> Path | None:
    value = os.environ.get(data.MIRROR_ENV) or REPO.parent / "shared" / "datasets"
    path = Path(value)
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_path()
    if path is None:
        pytest.skip(f"no data mirror: set ${data.MIRROR_ENV} or provide ../shared/datasets")
    return path


@pytest.fixture(scope="session")
def manifests(mirror, tmp_path_factory):
    """Verified copies of the mirror's datasets under one temp root; name -> manifest."""
    root = tmp_path_factory.mktemp("data")
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            dataset = data.get(name)  # archive-checksummed sets: the archive is in the mirror
            first = dataset.files[0].path if dataset.files else dataset.archive.path
            if not (mirror / first).exists():
                pytest.skip(f"dataset {name!r} is not in the data mirror ({mirror / first})")
            data.fetch(name, root / name, mirror=mirror, log=lambda *_: None)
            cache[name] = root / name / "manifest.json"
        return cache[name]

    return get


def pytest_collection_modifyitems(items):
    """The SLURM cluster test runs last: once its daemons are stopped, the installed
    `scontrol` makes every later Snakemake start wait ~9 s for a controller (the SLURM
    executor plugin asks it for its settings when Snakemake loads its plugins)."""
    items.sort(key=lambda item: item.path.name == "test_cluster.py")


def snakemake(
    workdir: Path,
    *args: str,
    configs=(CONFIG,),
    mirror: Path | None = None,
    check: bool = True,
    timeout: int = 3000,
) -> subprocess.CompletedProcess:
    """Run the repository's workflow in `workdir` (targets go in `args`)."""
    cmd = command.snakemake(REPO, workdir, *args, configs=configs)
    env = command.environment(REPO, mirror)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result


@pytest.fixture(scope="session")
def smoke_workflow(mirror, tmp_path_factory) -> Path:
    """The smoke preset's `all` (every figure, table and the scorecard), run once."""
    workdir = tmp_path_factory.mktemp("smoke")
    snakemake(workdir, "all", "--cores", "2", configs=(CONFIG, SMOKE), mirror=mirror)
    return workdir


@pytest.fixture(scope="session")
def quick_workflow(mirror, tmp_path_factory) -> Path:
    """The default (quick) preset's `all`, run once and shared by the slow tests (or the
    finished run in $REPRO_TEST_QUICK_DIR, brought up to date first)."""
    if os.environ.get("REPRO_TEST_QUICK_DIR"):
        workdir = Path(os.environ["REPRO_TEST_QUICK_DIR"])
        snakemake(workdir, "all", "--cores", "2", configs=(CONFIG,), mirror=mirror)
        return workdir
    workdir = tmp_path_factory.mktemp("quick")
    snakemake(workdir, "all", "--cores", "2", configs=(CONFIG,), mirror=mirror)
    return workdir
