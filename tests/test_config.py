"""Config: presets load, wrong keys and values are named, parse-time imports stay light."""

import copy
import subprocess
import sys

import pytest
import yaml

from repro import config as cfg
from tests.conftest import CONFIG, REPO, SMOKE

PAPER = REPO / "config" / "paper.yaml"


@pytest.fixture
def raw():
    return yaml.safe_load(CONFIG.read_text())


@pytest.mark.parametrize("overlays", [(), (SMOKE,), (PAPER,)], ids=["quick", "smoke", "paper"])
def test_presets_validate_and_resolve(overlays):
    config = cfg.load(CONFIG, *overlays)
    for paper in cfg.papers(config):
        experiments = cfg.resolve_experiments(config, paper)
        assert experiments
        for name, exp in experiments.items():
            assert exp["seeds"], name
            assert set(exp["resources"]) == {"threads", "mem_mb", "runtime", "gpu"}, name


def test_preset_names():
    assert cfg.load(CONFIG)["preset"] == "quick"
    assert cfg.load(CONFIG, SMOKE)["preset"] == "smoke"
    assert cfg.load(CONFIG, PAPER)["preset"] == "paper"


def test_overlay_changes_only_what_it_says():
    quick = cfg.resolve_experiments(cfg.load(CONFIG), "optlab")
    paper = cfg.resolve_experiments(cfg.load(CONFIG, PAPER), "optlab")
    assert paper["mlp_lr1"]["epochs"] == 20 and quick["mlp_lr1"]["epochs"] == 3
    assert paper["mlp_lr1"]["lr"] == quick["mlp_lr1"]["lr"] == 1.0
    assert paper["curv_sgd"]["seeds"] == [0]  # experiment-kind override survives


def test_misspelt_key_is_named(raw):
    raw["optlab"]["experiments"]["mlp_lr1"]["lrr"] = 0.1
    with pytest.raises(cfg.ConfigError, match=r"optlab\.experiments\.mlp_lr1\.lrr"):
        cfg.validate(raw)


def test_misspelt_top_level_and_paper_keys_are_named(raw):
    bad = copy.deepcopy(raw)
    bad["devcie"] = "cpu"
    bad["optlba"] = bad.pop("optlab")
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(bad)
    assert "'devcie'" in str(err.value) and "'optlba'" in str(err.value)


def test_bad_value_is_named(raw):
    raw["optlab"]["defaults"]["mnist_mlp"]["epochs"] = 0
    with pytest.raises(cfg.ConfigError, match=r"optlab\.defaults\.mnist_mlp\.epochs"):
        cfg.validate(raw)


def test_unknown_kind_is_named(raw):
    raw["optlab"]["experiments"]["x"] = {"kind": "nope"}
    with pytest.raises(cfg.ConfigError, match=r"optlab\.experiments\.x\.kind"):
        cfg.validate(raw)


def test_missing_hyperparameter_is_named(raw):
    del raw["optlab"]["defaults"]["mnist_mlp"]["batch_size"]
    with pytest.raises(cfg.ConfigError, match=r"optlab\.experiments\.mlp_lr[0-9.]+\.batch_size"):
        cfg.validate(raw)


def test_defaults_are_filled(raw):
    for key in ("device", "data_mirror", "cluster"):
        del raw[key]
    out = cfg.validate(raw)
    assert out["device"] == "auto" and out["data_mirror"] is None
    assert out["cluster"] == {"cpu_partition": "cpu", "gpu_partition": "gpu"}


def test_hyperparameters_exclude_seeds_and_resources():
    exp = cfg.resolve_experiments(cfg.load(CONFIG), "optlab")["mlp_lr1"]
    hp = cfg.hyperparameters(exp)
    assert "seeds" not in hp and "resources" not in hp and hp["lr"] == 1.0


def test_parse_time_modules_do_not_import_torch():
    code = (
        "import sys, repro.config, repro.layout, repro.registry\n"
        "for p in repro.config.known_papers(): __import__(f'repro.{p}')\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize("name", [123, "mlp\n", "mlp x", "-mlp"])
def test_experiment_names_must_be_strings_matching_the_whole_pattern(raw, name):
    raw["optlab"]["experiments"][name] = {"kind": "curvature", "optimizer": "sgd", "lr": 1.0}
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(raw)
    message = str(err.value)
    assert f"optlab.experiments.{name if isinstance(name, int) else repr(name)}" in message
    assert ("quote it" in message) == isinstance(name, int)


def test_image_kind_with_a_table_dataset_is_named(raw):
    raw["optlab"]["experiments"]["mlp_lr1"]["dataset"] = "iris"
    with pytest.raises(cfg.ConfigError, match=r"optlab\.experiments\.mlp_lr1\.dataset"):
        cfg.validate(raw)


def test_dataset_from_defaults_must_fit_the_architecture(raw):
    # the experiment names the architecture, the kind's defaults the dataset: only the
    # merged experiment shows the mismatch
    raw["levelsets"]["defaults"]["traversal"]["dataset"] = "mnist"
    del raw["levelsets"]["experiments"]["IRIS_FF"]["dataset"]
    with pytest.raises(cfg.ConfigError, match=r"levelsets\.experiments\.IRIS_FF\.dataset"):
        cfg.validate(raw)


def test_curvature_reads_no_dataset(raw):
    raw["optlab"]["defaults"]["curvature"]["dataset"] = "mnist"
    with pytest.raises(cfg.ConfigError, match=r"optlab\.defaults\.curvature\.dataset"):
        cfg.validate(raw)


def test_numbers_written_as_pyyaml_strings_are_accepted():
    text = CONFIG.read_text().replace("lr: 0.05", "lr: 5e-2", 1)
    raw = yaml.safe_load(text)
    assert "5e-2" in yaml.safe_dump(raw)  # PyYAML really reads it as a string
    raw["optlab"]["defaults"]["mnist_mlp"]["epochs"] = "4"
    raw["levelsets"]["defaults"]["weight_decay"]["lambdas"] = ["0", "1e-3"]
    cfg.validate(raw)
    experiments = cfg.resolve_experiments(raw, "optlab")
    assert experiments["mlp_lr0.05"]["lr"] == 0.05 and experiments["mlp_lr1"]["epochs"] == 4
    assert raw["levelsets"]["defaults"]["weight_decay"]["lambdas"] == [0.0, 0.001]


def test_non_numeric_string_for_a_number_is_still_named(raw):
    raw["optlab"]["experiments"]["mlp_lr1"]["lr"] = "fast"
    with pytest.raises(cfg.ConfigError, match=r"optlab\.experiments\.mlp_lr1\.lr"):
        cfg.validate(raw)


PAPER_CPU = REPO / "config" / "paper-cpu.yaml"


def test_only_selects_experiments_by_paper_and_glob(raw):
    raw["only"] = ["optlab/curv_*", "levelsets"]
    config = cfg.validate(raw)
    assert list(cfg.resolve_experiments(config, "optlab")) == [
        "curv_sgd",
        "curv_sgd_momentum",
        "curv_adam",
    ]
    every = cfg.resolve_experiments(config, "levelsets", only=False)
    assert cfg.resolve_experiments(config, "levelsets") == every  # a paper alone: all of it
    assert cfg.resolve_experiments(config, "enkf") == {}  # not named: nothing
    assert cfg.resolve_experiments(config, "enkf", only=False)


def test_only_pattern_that_matches_nothing_is_named(raw):
    raw["only"] = ["optlab/curv_*", "enkf/gd_sgd_std9", "optlba"]
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(raw)
    assert "'enkf/gd_sgd_std9' matches no configured experiment" in str(err.value)
    assert "'optlba' matches no" in str(err.value)
    assert "curv_" not in str(err.value)


def test_only_keeps_the_run_a_check_starts_from():
    config = cfg.load(CONFIG, PAPER)
    config["only"] = ["eqprop/gdu_cnn"]
    with pytest.raises(
        cfg.ConfigError, match="eqprop/gdu_cnn starts from eqprop/cnn_mse_symmetric"
    ):
        cfg.validate(config)
    config["only"].append("eqprop/cnn_mse_symmetric")
    cfg.validate(config)


def test_paper_cpu_overlay_selects_cpu_runs_of_the_paper_preset():
    """config/paper-cpu.yaml: paper-preset settings, only experiments that ask for no GPU."""
    paper = cfg.load(CONFIG, PAPER)
    cpu = cfg.load(CONFIG, PAPER, PAPER_CPU)
    assert cpu["preset"] == "paper"
    for name in cfg.papers(cpu):
        every = cfg.resolve_experiments(paper, name)
        selected = cfg.resolve_experiments(cpu, name)
        assert selected, name  # every paper keeps something
        for experiment, params in selected.items():
            assert params == every[experiment]  # the paper preset's settings, unchanged
            assert params["resources"]["gpu"] == 0, (name, experiment)
