"""Runs: same seed -> same numbers; a killed run resumes to the same metrics; run.json."""

import json
import math
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from repro import config, runs
from tests.conftest import CONFIG, REPO, SMOKE

RUNNER = """
import json, os, signal, sys
from repro import runs
params, out, manifest = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
kill_after = int(sys.argv[4])
if kill_after:
    save = runs.Run.save_checkpoint
    def save_then_die(self, step, **state):
        save(self, step, **state)
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    runs.Run.save_checkpoint = save_then_die
runs.execute("optlab", "mlp", 0, params, out, preset="test", device="cpu",
             manifests={params["dataset"]: manifest}, threads=1)
"""


def _params(name, **overrides):
    experiment = config.resolve_experiments(config.load(CONFIG, SMOKE), "optlab")[name]
    return {**config.hyperparameters(experiment), **overrides}


def _run(params, out, manifest, kill_after=0):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            json.dumps(params),
            str(out),
            str(manifest),
            str(kill_after),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_killed_run_resumes_to_identical_metrics(tmp_path, manifests):
    # dropout + shuffling: the resumed run must restore the RNG state exactly
    params = _params("mlp_lr0.05", epochs=4)
    mnist = manifests("mnist")
    killed = _run(params, tmp_path / "resumed", mnist, kill_after=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (tmp_path / "resumed/checkpoint.pt").exists()
    assert not (tmp_path / "resumed/metrics.csv").exists()  # nothing that looks complete

    resumed = _run(params, tmp_path / "resumed", mnist)
    assert resumed.returncode == 0, resumed.stderr
    straight = _run(params, tmp_path / "straight", mnist)
    assert straight.returncode == 0, straight.stderr

    a = pd.read_csv(tmp_path / "resumed/metrics.csv")
    b = pd.read_csv(tmp_path / "straight/metrics.csv")
    pd.testing.assert_frame_equal(a, b)
    assert json.loads((tmp_path / "resumed/run.json").read_text())["resumed_from_step"] == 2
    assert not (tmp_path / "resumed/checkpoint.pt").exists()


SEEDS_IN_ONE_PROCESS = """
import json, sys
from repro import runs
params, out, manifest = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
for seed in json.loads(sys.argv[4]):
    runs.execute("optlab", "mlp", seed, params, f"{out}/seed{seed}", preset="test",
                 device="cpu", manifests={params["dataset"]: manifest}, threads=1)
"""


def test_a_seed_trained_after_another_in_one_process_is_the_seed_trained_alone(tmp_path, manifests):
    """`train_jobs: per_experiment` trains an experiment's seeds one after the other in
    one process: nothing of one run (RNG streams, caches) may leak into the next."""
    params = _params("mlp_lr0.05", epochs=2)  # dropout + shuffling draw from every RNG
    mnist = manifests("mnist")
    for out, seeds in (("together", [0, 1]), ("alone", [1])):
        done = subprocess.run(
            [sys.executable, "-c", SEEDS_IN_ONE_PROCESS, json.dumps(params),
             str(tmp_path / out), str(mnist), json.dumps(seeds)],
            cwd=REPO, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    together = (tmp_path / "together/seed1/metrics.csv").read_text()
    assert together == (tmp_path / "alone/seed1/metrics.csv").read_text()
    assert together != (tmp_path / "together/seed0/metrics.csv").read_text()


def test_checkpoint_of_other_hyperparameters_is_ignored(tmp_path, manifests):
    mnist = manifests("mnist")
    params = _params("mlp_lr0.05", epochs=2)
    assert _run(params, tmp_path / "r", mnist, kill_after=1).returncode == -signal.SIGKILL
    changed = _run({**params, "lr": 0.01}, tmp_path / "r", mnist)
    assert changed.returncode == 0, changed.stderr
    assert json.loads((tmp_path / "r/run.json").read_text())["resumed_from_step"] is None


def _execute(name, seed, out, manifests, **overrides):
    params = _params(name, **overrides)
    dataset = params["dataset"]
    return runs.execute(
        "optlab",
        name,
        seed,
        params,
        out,
        preset="test",
        device="cpu",
        manifests={dataset: manifests(dataset)} if dataset else {},
    )


def test_same_seed_is_bit_identical_other_seed_differs(tmp_path, manifests):
    for name in ("a", "b"):
        _execute("init_identity_xavier", 0, tmp_path / name, manifests)
    _execute("init_identity_xavier", 1, tmp_path / "c", manifests)
    a, b, c = (np.load(tmp_path / n / "artifacts.npz") for n in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert not np.array_equal(a["gradient_0"], c["gradient_0"])
    assert (tmp_path / "a/metrics.csv").read_text() == (tmp_path / "b/metrics.csv").read_text()


def test_run_record_says_what_made_the_run(tmp_path, manifests):
    record = _execute("mlp_lr0.05", 3, tmp_path / "r", manifests)
    on_disk = json.loads((tmp_path / "r/run.json").read_text())
    assert on_disk == json.loads(json.dumps(record))
    assert on_disk["paper"] == "optlab" and on_disk["seed"] == 3 and on_disk["status"] == "ok"
    assert on_disk["hyperparameters"]["lr"] == 0.05 and on_disk["preset"] == "test"
    md5s = on_disk["datasets"]["mnist"]["md5"]
    assert md5s["MNIST/raw/train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert {"torch", "numpy", "python"} <= set(on_disk["versions"])
    assert on_disk["device"] == "cpu" and on_disk["wall_time_s"] > 0
    assert on_disk["git_commit"]


def test_divergence_is_recorded_not_raised(tmp_path, manifests):
    # the curvature with an absurd Adam step overflows: the run ends as "diverged"
    record = _execute("curv_sgd", 0, tmp_path / "d", manifests, lr=1e39, start=[5.0, 1e38])
    metrics = pd.read_csv(tmp_path / "d/metrics.csv")
    assert record["status"] == "diverged" and "non-finite" in record["status_reason"]
    assert not math.isfinite(metrics["value"].iloc[-1])


def test_check_finite():
    run = runs.Run("p", "e", 0, {}, run_dir=None)
    assert run.check_finite(1, 0.5) and run.status == "ok"
    assert not run.check_finite(2, float("inf")) and run.status == "diverged"


def test_large_datasets_are_summarised_in_the_run_record(tmp_path):
    """run.json lists each file's md5 for small datasets; for archive datasets with
    hundreds of thousands of files it keeps a count and a digest that any change moves."""
    files = {f"Tiny/{i}.JPEG": f"{i:032x}" for i in range(runs.MAX_LISTED_FILES + 1)}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"name": "big", "files": files}))
    record = runs.dataset_record(manifest)
    assert record["n_files"] == len(files) and "md5" not in record
    files["Tiny/0.JPEG"] = "f" * 32
    manifest.write_text(json.dumps({"name": "big", "files": files}))
    assert runs.dataset_record(manifest)["files_digest"] != record["files_digest"]
    small = {k: files[k] for k in list(files)[:3]}
    manifest.write_text(json.dumps({"name": "small", "files": small}))
    assert runs.dataset_record(manifest)["md5"] == small


def test_divergence_rules_bound_growth_and_nonfinite():
    run = runs.Run("p", "e", 0, {"kind": "k"}, run_dir=None, loss_bound=50.0)
    assert run.check_finite(1, 2.0) and run.check_finite(2, 40.0) and not run.diverged
    assert not run.check_finite(3, 60.0) and run.diverged and run.diverged_at_step == 3
    assert "bound 50" in run.status_reason and "'k'" in run.status_reason
    # no bound: growth by more than three orders of magnitude over the first loss
    run = runs.Run("p", "e", 0, {"kind": "k"}, run_dir=None)
    assert run.check_finite(0, 2.5) and run.check_finite(1, 2000.0)
    assert not run.check_finite(2, 2600.0) and run.diverged_at_step == 2
    assert "first loss 2.5" in run.status_reason
    run = runs.Run("p", "e", 0, {"kind": "k"}, run_dir=None)
    assert not run.check_finite(0, float("nan")) and "non-finite" in run.status_reason


def test_blow_up_without_overflow_is_diverged_with_reason_and_step(tmp_path, manifests):
    # an absurd SGD step: the MLP's loss explodes but stays finite (was `status: ok`)
    record = _execute("mlp_lr0.05", 0, tmp_path / "d", manifests, lr=50.0, epochs=2)
    on_disk = json.loads((tmp_path / "d/run.json").read_text())
    assert on_disk["status"] == "diverged", on_disk["status_reason"]
    assert on_disk["diverged_at_step"] == 1 and "bound 100" in on_disk["status_reason"]
    assert record["status_reason"] == on_disk["status_reason"]


def test_every_paper_declares_loss_bounds_for_kinds_it_checks():
    import importlib

    for paper in config.known_papers():
        module = importlib.import_module(f"repro.{paper}.train")
        bounds = getattr(module, "LOSS_BOUNDS", None)
        assert bounds and set(bounds) <= set(module.KINDS), paper


def test_first_loss_survives_a_resume(tmp_path, manifests):
    params = _params("mlp_lr0.05", epochs=3)
    killed = _run(params, tmp_path / "r", manifests("mnist"), kill_after=1)
    assert killed.returncode == -signal.SIGKILL
    import torch

    payload = torch.load(tmp_path / "r/checkpoint.pt", weights_only=False)
    assert payload["first_loss"] > 0


def test_second_trainer_on_a_run_folder_is_refused(tmp_path):
    import pytest

    with runs.run_lock(tmp_path):
        holder = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from repro import runs\nwith runs.run_lock(sys.argv[1]): pass",
                str(tmp_path),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert holder.returncode != 0
        assert "being trained by another process (pid" in holder.stderr
        assert "process group" in holder.stderr
    with runs.run_lock(tmp_path):  # released on exit
        pass
    with pytest.raises(runs.RunLocked):
        with runs.run_lock(tmp_path):
            with runs.run_lock(tmp_path):
                pass


def test_resumed_job_log_keeps_the_killed_attempts_lines(tmp_path):
    from repro.logs import log_to

    log, keep = tmp_path / "logs/job.log", tmp_path / "run/train.log"
    script = (
        "import os, signal, sys\n"
        "from repro.logs import log_to\n"
        "with log_to(sys.argv[1], keep=sys.argv[2]) as log:\n"
        "    log.info('first attempt line')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(log), str(keep)], cwd=REPO)
    assert killed.returncode == -signal.SIGKILL
    log.unlink()  # what Snakemake does to a job's log before running it again
    with log_to(log, keep=keep) as logger:
        logger.info("second attempt line")
    text = log.read_text()
    assert text.index("first attempt line") < text.index("second attempt line")
    assert not keep.exists()  # finished: nothing left to carry over


def test_a_job_ended_without_teardown_keeps_its_log_and_printed_lines(tmp_path):
    log = tmp_path / "job.log"
    script = (
        "import sys\n"
        "from repro.logs import exit_without_teardown, log_to\n"
        "with log_to(sys.argv[1]) as log:\n"
        "    log.info('the last line of work')\n"
        "print('buffered output', end='')\n"  # not flushed by a newline: a pipe buffers it
        "exit_without_teardown()\n"
        "raise SystemExit(3)\n"  # never reached
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(log)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout == "buffered output"
    lines = log.read_text().splitlines()
    assert "the last line of work" in lines[0] and "job resources:" in lines[-1]


def test_metrics_csv_is_what_pandas_writes(tmp_path):
    """Train jobs write metrics.csv without pandas; the file is the one pandas wrote."""
    import math

    import pandas as pd

    from repro.runs import write_metrics

    values = [0.1, 1 / 3, 1e-05, 123456789.0, 2.5e-300, -0.0, math.nan, math.inf, -math.inf, 7.0]
    rows = [(k, "val" if k % 2 else "train", f"m{k}", v) for k, v in enumerate(values)]
    write_metrics(tmp_path / "ours.csv", rows)
    frame = pd.DataFrame(rows, columns=["step", "split", "metric", "value"])
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    assert (tmp_path / "ours.csv").read_text() == (tmp_path / "pandas.csv").read_text()
    back = pd.read_csv(tmp_path / "ours.csv")
    assert back["value"].isna().tolist() == [math.isnan(v) for v in values]


def test_package_versions_without_importing_them():
    import subprocess
    import sys

    code = "import sys; from repro.runs import package_versions as v; d = v(); "
    code += "print(sorted(d), 'pandas' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("]")[1].split() == ["False", "False"]
    assert "'numpy', 'pandas', 'python', 'repro', 'scipy', 'torch'" in out.stdout


FLUSH = """
import sys, torch
from repro import runs
from repro.optlab import train
def probe(run):  # what the training code computes with a subnormal float
    print("in run", (torch.tensor([1e-39]) * 1.0).item())
    sys.exit(0)
train.KINDS["mnist_mlp"] = probe
print("before", (torch.tensor([1e-39]) * 1.0).item())
runs.execute("optlab", "mlp", 0, {"kind": "mnist_mlp"}, sys.argv[1], device="cpu")
"""


def test_runs_flush_subnormal_floats_to_zero(tmp_path):
    """A saturated sigmoid net's subnormal gradients made a stuck SGD seed ~5x slower."""
    done = subprocess.run(
        [sys.executable, "-c", FLUSH, str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[0] == "before" and float(words[1]) > 0  # a fresh process keeps them
    assert words[2:] == ["in", "run", "0.0"], done.stdout


KEEP = """
import ctypes, sys, torch
from repro import runs
from repro.optlab import train
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
def probe(run=None):  # bytes in own mappings while a 16 MiB tensor lives, heap free after
    x = torch.ones(16 << 20, dtype=torch.uint8)
    mapped = libc.mallinfo2().hblkhd
    del x
    print(mapped, libc.mallinfo2().fordblks)
    sys.exit(0)
train.KINDS["mnist_mlp"] = probe
if sys.argv[2] == "plain":
    probe()
runs.execute("optlab", "mlp", 0, {"kind": "mnist_mlp"}, sys.argv[1], device="cpu")
"""


def test_runs_keep_freed_heap_memory_for_reuse(tmp_path):
    """A freed 16 MiB tensor stays in the heap for the next step, not in a mapping the
    kernel must zero again: glibc's defaults in a plain process, not in a run."""
    import ctypes

    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("not glibc >= 2.33 (no mallinfo2): the malloc tuning is glibc's")

    def probe(where):
        done = subprocess.run(
            [sys.executable, "-c", KEEP, str(tmp_path / where), where],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return [int(n) for n in done.stdout.split()]

    mapped, _ = probe("plain")
    assert mapped >= 16 << 20  # glibc's default: a block this large gets its own mapping
    mapped, free_after = probe("run")
    assert mapped < 16 << 20  # in a run: from the heap ...
    assert free_after >= 16 << 20  # ... and still there, free, once the tensor is gone
