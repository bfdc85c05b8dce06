"""The workflow as a user meets it: dry runs, errors before any job, the smoke preset."""

import re
import shutil

import pytest
import yaml

from repro import layout, registry
from repro.config import load, papers, resolve_experiments
from tests.conftest import CONFIG, REPO, SMOKE, snakemake

PAPER = REPO / "config" / "paper.yaml"


def _job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("\n\n")[0]
    counts = {}
    for line in table.splitlines()[3:]:
        name, count = line.split()
        if name != "total":
            counts[name] = int(count)
    return counts


def test_one_figure_target_lists_only_its_own_jobs(tmp_path):
    """Quick preset (`train_jobs: per_experiment`): one job per experiment trains its seeds."""
    result = snakemake(tmp_path, "-n", "results/figures/optlab/O2.png")
    trains = {layout.train_rule("optlab", f"curv_{o}"): 1 for o in ("sgd", "sgd_momentum", "adam")}
    assert _job_counts(result.stdout) == {**trains, "aggregate": 3, "figure": 1}
    assert "curv_sgd" in result.stdout and "mlp_lr" not in result.stdout


def test_figure_from_data_pulls_its_download_and_nothing_else(tmp_path):
    result = snakemake(tmp_path, "-n", "results/figures/optlab/L1.png")
    assert _job_counts(result.stdout) == {
        "download_dataset": 1,
        layout.train_rule("optlab", "mlp_lr0.005"): 1,
        "aggregate": 1,
        "figure": 1,
    }
    assert "dataset=mnist" in result.stdout and "fashion_mnist" not in result.stdout


def test_train_jobs_per_seed_or_per_experiment_make_the_same_runs(tmp_path):
    """The two `train_jobs` settings list the same run files, one job per run or per
    experiment; a per-experiment job asks for the runs' time together, on the partition
    the experiment asks for."""
    config = load(CONFIG)
    experiment = resolve_experiments(config, "optlab")["mlp_lr0.005"]
    seeds, resources = experiment["seeds"], experiment["resources"]
    target = "results/optlab/summary/mlp_lr0.005.csv"
    listed = {}
    for mode in ("per_seed", "per_experiment"):
        result = snakemake(tmp_path, "-n", target, "--config", f"train_jobs={mode}", "--forceall")
        listed[mode] = set(re.findall(r"results/optlab/runs/\S+/run\.json", result.stdout))
        counts = _job_counts(result.stdout)
        rule = layout.train_rule("optlab", "mlp_lr0.005")
        if mode == "per_seed":
            assert counts["train"] == len(seeds) and rule not in counts
        else:
            assert counts[rule] == 1 and "train" not in counts
            block = result.stdout.split(f"rule {rule}:")[1].split("\n\n")[0]
            asked = dict(
                item.split("=", 1) for item in re.search(r"resources: (.*)", block)[1].split(", ")
            )
            assert int(asked["runtime"]) == resources["runtime"] * len(seeds)
            assert int(asked["mem_mb"]) == resources["mem_mb"]
            assert asked["slurm_partition"] == "cpu"
    expected = {f"results/optlab/runs/mlp_lr0.005/seed{s}/run.json" for s in seeds}
    assert listed["per_seed"] == listed["per_experiment"] == expected


def _made_figures(config, paper):
    return registry.made(registry.figures(paper), resolve_experiments(config, paper))


def test_all_figures_dry_run_covers_every_figure_the_preset_makes(tmp_path):
    result = snakemake(tmp_path, "-n", "all_figures")
    config = load(CONFIG)
    expected = sum(len(_made_figures(config, p)) for p in papers(config))
    assert _job_counts(result.stdout)["figure"] == expected


def test_paper_preset_dry_run_on_the_slurm_profile_sends_gpu_runs_to_the_gpu_partition(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason='pip install -e ".[cluster]"')
    result = snakemake(
        tmp_path,
        "-n",
        "all",
        "--profile",
        str(REPO / "profiles" / "slurm"),
        configs=(CONFIG, PAPER),
    )
    config = load(CONFIG, PAPER)
    runs = {
        (paper, name, seed): params["resources"]
        for paper in papers(config)
        for name, params in resolve_experiments(config, paper).items()
        for seed in params["seeds"]
    }
    assert _job_counts(result.stdout)["train"] == len(runs)
    jobs = re.findall(
        r"rule train:\n(?:    .*\n)*?    wildcards: paper=(\S+), experiment=(\S+), seed=(\d+)\n"
        r"    resources: (.*)",
        result.stdout,
    )
    assert len(jobs) == len(runs)
    for paper, name, seed, line in jobs:
        asked = dict(item.split("=", 1) for item in line.split(", "))
        wanted = runs[paper, name, int(seed)]
        assert int(asked["gpu"]) == wanted["gpu"], (name, asked)
        assert asked["slurm_partition"] == ("gpu" if wanted["gpu"] else "cpu"), (name, asked)
        assert (
            int(asked["mem_mb"]) == wanted["mem_mb"] and int(asked["runtime"]) == wanted["runtime"]
        )


def test_paper_preset_cost_trains_nothing(tmp_path):
    """`snakemake cost` is what a user runs before submitting: it must not first train
    the run a check starts from (eqprop's GDU check loads a trained net, `init_from`)."""
    config = load(CONFIG, PAPER)
    assert any(
        e.get("init_from") for p in papers(config) for e in resolve_experiments(config, p).values()
    )
    counts = _job_counts(snakemake(tmp_path, "-n", "cost", configs=(CONFIG, PAPER)).stdout)
    assert not [rule for rule in counts if rule.startswith("train")], counts
    assert counts["cost_measure"] == sum(
        len(resolve_experiments(config, p)) for p in papers(config)
    )


def test_paper_cpu_dry_run_trains_the_selected_runs_on_cpus_only(tmp_path):
    """`--configfile config/config.yaml config/paper.yaml config/paper-cpu.yaml`: the paper
    preset's CPU experiments, and nothing of the GPU ones (no CIFAR download, no GPU)."""
    configs = (CONFIG, PAPER, REPO / "config" / "paper-cpu.yaml")
    config = load(*configs)
    runs = sum(
        len(e["seeds"]) for p in papers(config) for e in resolve_experiments(config, p).values()
    )
    result = snakemake(tmp_path, "-n", "all", configs=configs)
    counts = _job_counts(result.stdout)
    assert counts["train"] == runs and counts["paper_scorecard"] == len(papers(config))
    assert "gpu=1" not in result.stdout and "dataset=cifar" not in result.stdout
    assert "results/figures/enkf/fig1.png" not in result.stdout  # it needs the EnKF runs
    assert "results/figures/enkf/fig5.png" in result.stdout


def test_needs_made_drops_outputs_whose_experiments_the_preset_lacks():
    experiments = {
        "de": {"kind": "ensemble", "method": "de"},
        "toy": {"kind": "toy", "method": "de"},
    }
    assert registry.Needs(kinds=("ensemble",)).made(experiments)
    assert not registry.Needs(kinds=("other",)).made(experiments)
    assert not registry.Needs(experiments=("absent",), optional=True).made(experiments)
    assert registry.Needs().made(experiments)  # asks for no experiment (optlab's O1 surface)
    sweep = registry.Needs(kinds=("ensemble",), requires=(("method", "tuned"),))
    assert not sweep.made(experiments)
    assert sweep.made({**experiments, "t": {"kind": "ensemble", "method": "tuned"}})
    outputs = {"a": registry.Needs(kinds=("toy",)), "b": sweep}
    assert list(registry.made(outputs, experiments)) == ["a"]
    # an output naming an experiment the `only` key leaves out is not made
    named = registry.Needs(kinds=("toy",), experiments=("de",))
    assert named.made(experiments) and not named.made({"toy": experiments["toy"]}, {"de"})


def test_misspelt_config_key_stops_before_any_job(tmp_path):
    bad = yaml.safe_load(CONFIG.read_text())
    bad["optlab"]["defaults"]["mnist_mlp"]["epocs"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = snakemake(
        tmp_path, "all", "--cores", "1", configs=(tmp_path / "bad.yaml",), check=False
    )
    assert result.returncode != 0
    assert "optlab.defaults.mnist_mlp.epocs" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        ("optlab:\n  experiments:\n    mlp_lr1: {dataset: iris}\n", "mlp_lr1.dataset"),
        ("optlab:\n  experiments:\n    123: {kind: curvature}\n", "optlab.experiments.123"),
    ],
    ids=["dataset_of_other_kind", "integer_name"],
)
def test_config_holes_stop_before_any_job(tmp_path, edit, key):
    (tmp_path / "bad.yaml").write_text(edit)
    result = snakemake(
        tmp_path, "all", "--cores", "1", configs=(CONFIG, tmp_path / "bad.yaml"), check=False
    )
    assert result.returncode != 0 and key in result.stdout + result.stderr
    assert "KeyError" not in result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_corrupted_dataset_file_is_named(tmp_path, mirror):
    copy = tmp_path / "mirror"
    shutil.copytree(mirror / "MNIST", copy / "MNIST")
    victim = copy / "MNIST/raw/train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:1000])
    work = tmp_path / "work"
    result = snakemake(
        work, layout.DATA_MANIFEST.format(dataset="mnist"), "--cores", "1", mirror=copy, check=False
    )
    assert result.returncode != 0
    log = (work / "logs/download_dataset/mnist.log").read_text()
    for text in (log, result.stderr):
        assert str(victim) in text and "d53e105ee54ea40749a09fcbcd1e9432" in text
    # a checksum error is deterministic: one attempt, one error (no rule-level retries)
    assert result.stderr.count("Error in rule download_dataset") == 1, result.stderr
    assert not (work / layout.DATA_MANIFEST.format(dataset="mnist")).exists()


@pytest.mark.slow
def test_smoke_preset_builds_every_output(smoke_workflow):
    config = load(CONFIG, SMOKE)
    for paper in papers(config):
        for figure in _made_figures(config, paper):
            for ext in layout.FIGURE_EXTS:
                path = smoke_workflow / layout.FIGURE.format(paper=paper, figure=figure, ext=ext)
                assert path.stat().st_size > 5_000, path
        experiments = resolve_experiments(config, paper)
        for table in registry.made(registry.tables(paper), experiments):
            for ext in layout.TABLE_EXTS:
                assert (
                    smoke_workflow / layout.TABLE.format(paper=paper, table=table, ext=ext)
                ).exists()
    import pandas as pd

    from repro.tables import SCORECARD_COLUMNS, VERDICTS

    frame = pd.read_csv(
        smoke_workflow / layout.SCORECARD.format(ext="csv"), dtype=str, keep_default_na=False
    )
    assert list(frame.columns) == SCORECARD_COLUMNS
    assert set(frame["paper"]) == set(papers(config))  # every paper scored
    assert set(frame["preset"]) == {"smoke"}  # every row says which preset it rests on
    assert set(frame["verdict"]) <= set(VERDICTS)
    assert (frame["claim"].str.len() > 0).all()
    markdown = (smoke_workflow / layout.SCORECARD.format(ext="md")).read_text()
    counts = frame["verdict"].value_counts()
    for verdict, count in counts.items():
        assert f"{verdict}: {count}" in markdown


@pytest.mark.slow
def test_only_builds_the_outputs_of_its_experiments_and_scores_the_rest_not_run(
    smoke_workflow, tmp_path
):
    """The smoke runs seen through config/paper-cpu.yaml's `only` (a copy of the folder):
    nothing retrains, the outputs of the selected experiments are rebuilt from them, and
    the scorecard keeps every paper, with the claims of the left-out experiments not run."""
    import pandas as pd

    workdir = tmp_path / "smoke"
    shutil.copytree(smoke_workflow, workdir, symlinks=True)
    configs = (CONFIG, SMOKE, REPO / "config" / "paper-cpu.yaml")
    result = snakemake(workdir, "all", "--cores", "2", configs=configs)
    ran = _job_counts(result.stderr + result.stdout)
    assert not [rule for rule in ran if rule.startswith(("train", "download"))], ran
    every, only = load(CONFIG, SMOKE), load(*configs)
    narrowed = [
        p for p in papers(only) if resolve_experiments(only, p) != resolve_experiments(every, p)
    ]
    assert "enkf" in narrowed and "optlab" not in narrowed  # paper-cpu keeps all of optlab
    assert ran["figure"] >= 1 and ran["paper_scorecard"] == len(narrowed)

    def verdicts(folder):
        frame = pd.read_csv(folder / layout.SCORECARD.format(ext="csv"), dtype=str)
        return frame.set_index(["paper", "claim"])["verdict"]

    every, only = verdicts(smoke_workflow), verdicts(workdir)
    assert only.index.is_unique and set(only.index.get_level_values("paper")) == set(
        every.index.get_level_values("paper")
    )  # every paper scored
    kept = every.index.intersection(only.index)
    changed = only[kept][only[kept] != every[kept]]
    assert len(changed) and (changed == "not run").all()  # left out: not run, rest as before
    assert "enkf" in changed.index.get_level_values("paper")  # EnKF itself is left out
    # a claim that is no longer its own row went into a new not-run row of its paper
    added = only[only.index.difference(every.index)]
    assert (added == "not run").all()
    dropped = set(every.index.difference(only.index).get_level_values("paper"))
    assert dropped <= set(added.index.get_level_values("paper")), dropped


@pytest.mark.slow
def test_rebuilding_one_figure_reruns_only_that_figure(smoke_workflow):
    target = smoke_workflow / "results/figures/optlab/O2.png"
    target.unlink()
    result = snakemake(
        smoke_workflow,
        str(target.relative_to(smoke_workflow)),
        "--cores",
        "1",
        configs=(CONFIG, SMOKE),
    )
    assert _job_counts(result.stderr + result.stdout) == {"figure": 1}
    assert target.exists()


@pytest.mark.slow
def test_every_run_record_is_complete(smoke_workflow):
    records = list(smoke_workflow.glob("results/*/runs/*/seed*/run.json"))
    assert records
    for path in records:
        record = yaml.safe_load(path.read_text())
        assert record["status"] in ("ok", "diverged") and record["preset"] == "smoke"
        assert re.fullmatch(r"seed\d+", path.parent.name)
        assert not (path.parent / "checkpoint.pt").exists()


@pytest.mark.slow
def test_report_captions_every_figure_and_table(smoke_workflow):
    """`snakemake --report` embeds every figure and table with its caption: what it
    shows and which preset made it."""
    import json

    report = smoke_workflow / "report.html"
    snakemake(smoke_workflow, "--report", str(report), configs=(CONFIG, SMOKE))
    html = report.read_text()
    config = load(CONFIG, SMOKE)
    for paper in papers(config):
        experiments = resolve_experiments(config, paper)
        outputs = [
            (layout.FIGURE.format(paper=paper, figure=f, ext="png"), needs)
            for f, needs in registry.made(registry.figures(paper), experiments).items()
        ] + [
            (layout.TABLE.format(paper=paper, table=t, ext="csv"), needs)
            for t, needs in registry.made(registry.tables(paper), experiments).items()
        ]
        for path, needs in outputs:
            key = json.dumps(path)
            assert f"{key}: {{" in html, f"{path} is not in the report"
            entry = html[html.index(f"{key}: {{") :][:200_000]
            caption = entry[entry.index('"caption": ') : entry.index('"mime_type"')]
            assert "preset: smoke" in caption, f"{path}: caption lacks the preset"
            first_words = " ".join(needs.caption.split()[:3])
            assert first_words in caption.replace("\\n", " "), f"{path}: caption {caption[:200]}"


def _copy_repo(dest):
    """A private copy of the workflow and library (the test edits its code)."""
    from tests.conftest import REPO

    dest.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "scripts", "src", "config", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy(source, dest / name)
    return dest


def _sm(repo, work, *args, check=True):
    import subprocess

    from repro import command

    configs = (repo / "config/config.yaml", repo / "config" / SMOKE.name)
    cmd = command.snakemake(repo, work, *args, configs=configs)
    env = command.environment(repo)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert not check or result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_code_edits_rerun_exactly_the_jobs_that_use_the_code(tmp_path):
    """Editing a paper's training code marks its train jobs (and what they feed);
    editing its figure code marks only its figures; run.json records the digest."""
    repo = _copy_repo(tmp_path / "repo")
    work = tmp_path / "work"
    target = "results/figures/optlab/O2.png"
    _sm(repo, work, target, "--cores", "2")
    record = yaml.safe_load((work / "results/optlab/runs/curv_sgd/seed0/run.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{16}", record["code_digest"])
    assert "Nothing to be done" in _sm(repo, work, "-n", target).stdout

    figures = repo / "src/repro/optlab/figures.py"
    figures.write_text(figures.read_text() + "\n# cosmetic edit\n")
    changed = _sm(repo, work, "--list-changes", "params").stdout.split()
    assert target in changed and not any(f.endswith("run.json") for f in changed), changed
    counts = _job_counts(_sm(repo, work, "-n", target).stdout)
    assert counts == {"figure": 1}, counts
    # the opt-out the README gives for a cosmetic edit
    quiet = _sm(repo, work, "-n", target, "--rerun-triggers", "mtime", "input").stdout
    assert "Nothing to be done" in quiet

    train = repo / "src/repro/optlab/train.py"
    train.write_text(train.read_text() + "\n# edit\n")
    changed = _sm(repo, work, "--list-changes", "params").stdout.split()
    assert any(f.endswith("curv_sgd/seed0/run.json") for f in changed), changed
    counts = _job_counts(_sm(repo, work, "-n", target).stdout)
    trains = {layout.train_rule("optlab", f"curv_{o}"): 1 for o in ("sgd", "sgd_momentum", "adam")}
    assert counts == {**trains, "aggregate": 3, "figure": 1}, counts
    other = _sm(repo, work, "-n", "results/figures/levelsets/table1.png", check=False)
    assert "curv_sgd" not in other.stdout


def test_code_digest_follows_imports_per_paper_and_role(tmp_path):
    from repro import codehash
    from tests.conftest import REPO

    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    roles = [(p, r) for p in ("optlab", "levelsets") for r in ("train", "figure", "table")]

    def digests():
        codehash.digest.cache_clear()
        return {key: codehash.digest(*key, src=src) for key in roles}

    def edit(rel):
        path = src / "repro" / rel
        path.write_text(path.read_text() + "\n# edit\n")
        before, after = after_all[0], digests()
        after_all[0] = after
        return {key for key in roles if before[key] != after[key]}

    after_all = [digests()]
    assert edit("optlab/train.py") == {("optlab", "train")}  # figures draw the surface in NumPy
    assert edit("optlab/figures.py") == {("optlab", "figure")}
    assert edit("optlab/tables.py") == {("optlab", "table")}
    assert edit("optlab/__init__.py") == set()  # captions are the figure rule's params
    assert edit("runs.py") == {("optlab", "train"), ("levelsets", "train")}
    assert edit("plotting.py") == {key for key in roles if key[1] != "train"}
    assert edit("levelsets/walk.py") == {("levelsets", "train")}


def test_verify_data_target_names_a_file_changed_after_download(tmp_path, mirror):
    copy = tmp_path / "mirror"
    shutil.copytree(mirror / "tabular", copy / "tabular")
    work = tmp_path / "work"
    snakemake(work, layout.DATA_MANIFEST.format(dataset="iris"), "--cores", "1", mirror=copy)
    assert "0 file(s) changed" in snakemake(work, "verify_data", "--cores", "1").stdout
    victim = work / "resources/data/iris/tabular/iris.csv"
    victim.write_text(victim.read_text().replace("setosa", "setosb", 1))
    result = snakemake(work, "verify_data", "--cores", "1", check=False)
    assert result.returncode != 0 and f"{victim.relative_to(work)}: changed" in result.stdout
