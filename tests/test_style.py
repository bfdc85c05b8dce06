"""Formatting and linting gates: ruff, snakefmt, and Snakemake's own linter."""

import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run(*cmd):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


@pytest.mark.parametrize(
    "cmd",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("snakefmt", "--check", "Snakefile", "workflow"),
    ],
    ids=["ruff-check", "ruff-format", "snakefmt"],
)
def test_formatters_are_clean(cmd):
    result = _run(sys.executable, "-m", *cmd)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_is_clean():
    result = _run(sys.executable, "-m", "snakemake", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
