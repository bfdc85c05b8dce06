"""Conda environments, checked statically: valid YAML, pinned, consistent with the
project's pins, every rule has one, and each env lists what its rules import."""

import re
import tomllib

import pytest
import yaml

from tests.conftest import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))
CONDA_NAMES = {"matplotlib-base": "matplotlib"}  # conda package -> PyPI distribution


def _pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", requirement).groups()
        pins[name.lower()] = version
    return pins


def _packages(env: dict) -> dict[str, str]:
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for item in dep["pip"]:
                name, version = item.split("==")
                out[name.lower()] = version
        else:
            name, version = dep.split("=", 1)
            out[CONDA_NAMES.get(name, name).lower()] = version
    return out


@pytest.mark.parametrize("path", ENVS, ids=[p.stem for p in ENVS])
def test_env_is_pinned_and_agrees_with_pyproject(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    packages = _packages(env)
    assert packages.pop("python") == "3.11"
    pins = _pins()
    for name, version in packages.items():
        assert re.fullmatch(r"[0-9][0-9a-z.]*", version), f"{path.name}: {name} not pinned"
        if name in pins:
            assert version == pins[name], f"{path.name}: {name} {version} != pyproject {pins[name]}"


RULE_ENVS = {"download_dataset": "data", "compute_pca": "data", "train": "train",
             "aggregate": "plot", "figure": "plot", "table": "plot", "paper_scorecard": "plot",
             "scorecard": "plot"}
NEEDS = {"data": {"numpy", "pyyaml", "jsonschema"},
         "train": {"torch", "numpy", "pandas", "scipy", "pyyaml"},
         "plot": {"numpy", "pandas", "scipy", "matplotlib", "seaborn", "tabulate", "jinja2",
                  "torch"}}


def test_every_rule_that_runs_code_has_an_env():
    text = "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    rules = re.findall(r"^rule (\w+):\n((?:    .*\n|\n)+)", text, flags=re.M)
    with_script = {name: body for name, body in rules if "script:" in body}
    assert set(with_script) == set(RULE_ENVS)
    for name, body in with_script.items():
        env = re.search(r'conda:\s*\n\s*"\.\./\.\./envs/(\w+)\.yaml"', body).group(1)
        assert env == RULE_ENVS[name], name


@pytest.mark.parametrize("env_name", sorted(NEEDS))
def test_env_lists_what_its_rules_import(env_name):
    packages = _packages(yaml.safe_load((REPO / f"envs/{env_name}.yaml").read_text()))
    assert NEEDS[env_name] <= set(packages), NEEDS[env_name] - set(packages)
