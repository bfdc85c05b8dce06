"""`snakemake --profile profiles/slurm` on a real (single-node) SLURM cluster.

The cluster is started by tests/cluster/slurm.sh (Debian packages; needs root and apt)
when REPRO_TEST_CLUSTER=1 (it installs system packages and starts daemons).
The smoke preset runs through the SLURM executor, with optlab's Part-1 training asking
for a GPU (tests/cluster/gpu-smoke.yaml); SLURM's accounting records then say where
each training job ran and what it asked for, and the figures must match a local run.
"""

import filecmp
import os
import shutil
import subprocess
import time
from datetime import datetime

import pytest

from repro import layout
from repro.config import load, papers, resolve_experiments
from tests.conftest import CONFIG, REPO, SMOKE, snakemake

SCRIPT = REPO / "tests/cluster/slurm.sh"
GPU_OVERLAY = REPO / "tests/cluster/gpu-smoke.yaml"

pytestmark = pytest.mark.slow


def _why_not() -> str | None:
    if os.environ.get("REPRO_TEST_CLUSTER") != "1":
        return "set REPRO_TEST_CLUSTER=1 to start a local SLURM cluster and run this test"
    if os.geteuid() != 0:
        return "the test cluster needs root (it installs and starts SLURM daemons)"
    if shutil.which("apt-get") is None:
        return "the test cluster needs apt-get (Debian packages slurmd, slurmctld, munge)"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return 'snakemake-executor-plugin-slurm is not installed (pip install -e ".[cluster]")'
    return None


# Session scope: the daemons stay up until the test session ends. With SLURM installed
# but its controller down, every later `snakemake` start would wait 10 s (the SLURM
# executor plugin asks `scontrol show config` when it is imported, timeout 10 s).
@pytest.fixture(scope="session")
def cluster():
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    started = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.fail(f"could not start the test cluster:\n{started.stdout}\n{started.stderr}")
    yield
    subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True)


def _accounting(since: str) -> dict[str, dict]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", since, "-o", "JobID,Partition,ReqTRES,Comment,State"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = {}
    for line in out.splitlines():
        job_id, partition, tres, comment, state = line.split("|")
        if comment:
            jobs[comment] = {"id": job_id, "partition": partition, "tres": tres, "state": state}
    return jobs


def test_smoke_preset_on_slurm(cluster, smoke_workflow, mirror, tmp_path):
    since = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1)
    configs = (CONFIG, SMOKE, GPU_OVERLAY)
    snakemake(
        tmp_path,
        "all_figures",
        "--profile",
        str(REPO / "profiles/slurm"),
        "--slurm-init-seconds-before-status-checks",
        "5",
        configs=configs,
        mirror=mirror,
    )

    jobs = _accounting(since)
    config = load(*configs)
    per_experiment = config["train_jobs"] == "per_experiment"
    # every run `all_figures` made (not every experiment: some feed only tables) came from
    # one SLURM job (one per run, or per experiment with `train_jobs: per_experiment`),
    # on the partition and with the GPU its experiment asks for
    made = set()
    for paper in papers(config):
        for name, experiment in resolve_experiments(config, paper).items():
            for seed in experiment["seeds"]:
                if not (tmp_path / f"results/{paper}/runs/{name}/seed{seed}/run.json").exists():
                    continue
                comment = (
                    f"rule_{layout.train_rule(paper, name)}"
                    if per_experiment
                    else f"rule_train_wildcards_{paper}_{name}_{seed}"
                )
                job = jobs[comment]
                made.add(comment)
                assert job["state"] == "COMPLETED", job
                if experiment["resources"]["gpu"]:
                    assert job["partition"] == "gpu" and "gres/gpu=1" in job["tres"], job
                else:
                    assert job["partition"] == "cpu" and "gres/gpu" not in job["tres"], job
    assert made == {c for c in jobs if c.startswith("rule_train_")}
    assert any("gres/gpu" in j["tres"] for j in jobs.values())
    assert not any(c.startswith(("rule_figure", "rule_aggregate")) for c in jobs)  # local rules

    figures = sorted(
        p.relative_to(smoke_workflow) for p in smoke_workflow.glob("results/figures/*/*.png")
    )
    assert figures
    for figure in figures:
        assert filecmp.cmp(smoke_workflow / figure, tmp_path / figure, shallow=False), figure
