"""Dataset sources: one declaration per dataset, extendable and overridable by YAML."""

import pytest
import yaml

from repro import config, data, registry, sources
from tests.conftest import CONFIG as REPO_CONFIG


def _write(path, content):
    path.write_text(yaml.safe_dump(content))
    return path


def test_builtin_sources_declare_what_the_pipeline_used_to_list():
    declared = sources.sources()
    assert sources.names(kind="table") == ["iris", "auto_mpg"]
    assert set(sources.names(kind="images")) == {
        "mnist", "fashion_mnist", "cifar10", "cifar100", "tinyimagenet"
    }  # fmt: skip
    assert {n: declared[n].corrupts for n in sources.corrupted()} == {
        "cifar10_c": "cifar10",
        "cifar100_c": "cifar100",
        "tinyimagenet_c": "tinyimagenet",
    }
    assert declared["tinyimagenet"].mem_mb == 16000 and declared["cifar10"].mem_mb == 8000
    assert registry.dataset_label("cifar100") == "CIFAR-100"
    assert registry.dataset_label("unknown_set") == "unknown_set"


def test_a_datasets_file_adds_and_overrides(tmp_path, monkeypatch):
    extra = _write(
        tmp_path / "site.yaml",
        {
            "mnist": {"urls": ["https://mirror.example/mnist/"]},  # a site mirror
            "wine": {
                "label": "Wine",
                "kind": "table",
                "reader": {"format": "csv", "file": "tabular/wine.csv"},
                "files": {"tabular/wine.csv": "0" * 32},
            },
        },
    )
    declared = sources.sources(extra)
    assert declared["mnist"].urls == ("https://mirror.example/mnist/",)
    assert declared["mnist"].files == data.REGISTRY["mnist"].files  # other keys kept
    assert "wine" in sources.names(extra, kind="table") and "wine" not in data.REGISTRY
    assert data.get("wine", extra).label == "Wine"
    with pytest.raises(data.DataError, match="unknown dataset 'wine'"):
        data.get("wine")
    # $REPRO_DATASETS does the same
    monkeypatch.setenv(sources.DATASETS_ENV, str(extra))
    assert "wine" in sources.names()


def test_an_activated_datasets_file_labels_captions_here_and_in_child_jobs(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv(sources.DATASETS_ENV, "")  # restored after the test
    standin = _write(tmp_path / "standins.yaml", {"cifar10": {"label": "CIFAR-10 STAND-IN"}})
    experiments = {"c10": {"dataset": "cifar10", "seeds": [0]}}
    assert "data: CIFAR-10]" in registry.caption_text("Fig.", "paper-tiny", experiments)
    sources.activate(standin)
    sources.activate(standin)  # idempotent: the workflow parses common.smk more than once
    assert sources.overlay_paths() == (str(standin.resolve()),)
    caption = registry.caption_text("Fig.", "paper-tiny", experiments)
    assert caption == (
        "Fig.  [preset: paper-tiny, a TEST RUN: paper shapes, sizes cut to seconds, not "
        "results; seeds: 0; data: CIFAR-10 STAND-IN]"
    )
    child = "from repro import registry; print(registry.dataset_label('cifar10'))"
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "CIFAR-10 STAND-IN"  # a figure job started by the workflow


def test_the_config_schema_takes_its_dataset_lists_from_the_sources(tmp_path):
    cfg = yaml.safe_load(REPO_CONFIG.read_text())
    cfg["optlab"]["defaults"]["mnist_mlp"]["dataset"] = "wine"
    with pytest.raises(config.ConfigError, match="optlab.defaults.mnist_mlp.dataset"):
        config.validate(yaml.safe_load(yaml.safe_dump(cfg)))
    wine = {
        "wine": {
            "kind": "images",
            "reader": {"format": "idx", "folder": "W"},
            "files": {"W/x": "0" * 32},
        }
    }
    cfg["datasets_file"] = str(_write(tmp_path / "wine.yaml", wine))
    config.validate(cfg)  # declared: accepted
    bad = _write(tmp_path / "bad.yaml", {"wine": {"kind": "images", "reeder": {}}})
    cfg["datasets_file"] = str(bad)
    with pytest.raises(config.ConfigError, match="unknown key.*reeder"):
        config.validate(cfg)


def test_corrupted_sources_are_the_forde_schema_sources(tmp_path):
    cfg = yaml.safe_load(REPO_CONFIG.read_text())
    ensemble = cfg["forde"]["defaults"]["ensemble"]
    ensemble["corruptions"]["source"] = "cifar10_c"
    config.validate(yaml.safe_load(yaml.safe_dump(cfg)))
    ensemble["corruptions"]["source"] = "cifar10"  # a clean set is no corrupted source
    with pytest.raises(config.ConfigError, match="corruptions.source"):
        config.validate(cfg)
