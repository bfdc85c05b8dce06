"""Conda environments, checked statically: valid YAML, pinned, consistent with the
project's pins, every rule has one, each env lists what its rules import and nothing
they do not use; and solved by conda, mamba or micromamba where one is installed."""

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

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


RULE_ENVS = {
    "download_dataset": "data",
    "compute_pca": "data",
    "verify_data": "data",
    "cost_measure": "train",
    "cost_table": "train",  # repro.cost also holds the measuring code (torch)
    "train": "train",
    "aggregate": "plot",
    "figure": "plot",
    "table": "plot",
    "paper_scorecard": "plot",
    "scorecard": "plot",
}
# the `name:` expressions of rules defined in a loop -> the rule they run like
ANONYMOUS_RULES = {"layout.train_rule(_paper, _name)": "train"}
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow"}
STDLIB = set(sys.stdlib_module_names) | {"snakemake"}


def test_every_rule_that_runs_code_has_an_env():
    text = "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    rules = re.findall(r"^rule (\w+):\n((?:    .*\n|\n)+)", text, flags=re.M)
    # rules defined in a loop name themselves: `rule:` + `name: <expression>` (runs.smk)
    named = re.findall(
        r"^    rule:\n        name:\n            (.+)\n((?:        .*\n|\n)+)", text, re.M
    )
    rules += [(ANONYMOUS_RULES[expression], body) for expression, body in named]
    with_script = [(name, body) for name, body in rules if "script:" in body]
    assert {name for name, _ in with_script} == set(RULE_ENVS)
    assert len(named) == 1
    for name, body in with_script:
        env = re.search(r'conda:\s*\n\s*"\.\./\.\./envs/(\w+)\.yaml"', body).group(1)
        assert env == RULE_ENVS[name], name


def _module_file(module: str) -> Path | None:
    base = REPO / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imported_names(path: Path) -> list[str]:
    """Every module a file imports, anywhere (also inside functions)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def _closure(start: list[Path]) -> set[Path]:
    """The files and every repro module they import, transitively."""
    seen, todo = set(), list(start)
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += [
                file
                for name in _imported_names(path)
                if name.split(".")[0] == "repro" and (file := _module_file(name)) is not None
            ]
    return seen


def _third_party_imports(start: list[Path]) -> set[str]:
    """Top-level third-party packages imported (anywhere, also inside functions) by the
    given files and, transitively, by every repro module they import."""
    tops = {name.split(".")[0] for path in _closure(start) for name in _imported_names(path)}
    return {DISTRIBUTIONS.get(top, top).lower() for top in tops - STDLIB - {"repro"}}


def _scripts_of(env_name: str) -> list[Path]:
    text = "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    files = []
    for name, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)+)", text, flags=re.M):
        if RULE_ENVS.get(name) == env_name:
            script = re.search(r'script:\s*\n\s*"\.\./\.\./(scripts/\w+\.py)"', body).group(1)
            files.append(REPO / script)
    # rules dispatch to every paper's subpackage by name (importlib)
    dispatch = {"train": ["train"], "plot": ["figures", "tables"], "data": []}[env_name]
    for paper in sorted(p for p in (REPO / "src/repro").iterdir() if (p / "__init__.py").exists()):
        files += [
            paper / f"{module}.py" for module in dispatch if (paper / f"{module}.py").exists()
        ]
    return files


# pandas methods that import an optional dependency when called
PANDAS_OPTIONAL = {".to_markdown(": "tabulate", ".to_latex(": "jinja2"}
NOT_IMPORTED = {"python", "pip"}  # the interpreter and the installer of the pip section


def _optional_uses(start: list[Path]) -> set[str]:
    """Optional pandas dependencies the files (and the repro modules they import) use."""
    text = "\n".join(p.read_text() for p in _closure(start))
    return {dist for call, dist in PANDAS_OPTIONAL.items() if call in text}


@pytest.mark.parametrize("env_name", sorted(set(RULE_ENVS.values())))
def test_env_lists_what_its_rules_import_and_nothing_else(env_name):
    packages = _packages(yaml.safe_load((REPO / f"envs/{env_name}.yaml").read_text()))
    scripts = _scripts_of(env_name)
    imported = _third_party_imports(scripts)
    assert imported, env_name
    assert imported <= set(packages), f"envs/{env_name}.yaml lacks {imported - set(packages)}"
    used = imported | _optional_uses(scripts)
    assert used <= set(packages), f"envs/{env_name}.yaml lacks {used - set(packages)}"
    unused = set(packages) - used - NOT_IMPORTED
    assert not unused, f"envs/{env_name}.yaml has {sorted(unused)}, which its rules never use"


SOLVERS = {  # dry-run solve of an env file (pip section included where the tool does it)
    "micromamba": ["micromamba", "create", "--dry-run", "--yes", "--name", "repro-solve", "--file"],
    "mamba": ["mamba", "env", "create", "--dry-run", "--name", "repro-solve", "--file"],
    "conda": ["conda", "env", "create", "--dry-run", "--name", "repro-solve", "--file"],
}


@pytest.mark.slow
@pytest.mark.parametrize("path", ENVS, ids=[p.stem for p in ENVS])
def test_env_solves(path):
    """The env resolves on conda-forge (what `snakemake --sdm conda` will create)."""
    tool = next((name for name in SOLVERS if shutil.which(name)), None)
    if tool is None:
        pytest.skip("no conda, mamba or micromamba on PATH: the envs are checked statically only")
    result = subprocess.run(
        [*SOLVERS[tool], str(path)], capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, f"{tool} could not solve {path.name}:\n{result.stderr[-3000:]}"
