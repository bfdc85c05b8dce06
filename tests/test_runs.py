"""Runs: same seed -> same numbers; a killed run resumes to the same metrics; run.json."""

import json
import math
import signal
import subprocess
import sys

import numpy as np
import pandas as pd

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
