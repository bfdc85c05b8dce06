"""How tests and benchmarks run this workflow: one Snakemake command line and one
environment, so both run it the same way (a user types the same command by hand)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path


def snakemake(
    repo: str | Path, workdir: str | Path, *args: str, configs: Iterable[str | Path] = ()
) -> list[str]:
    """`python -m snakemake` on `repo`'s Snakefile in `workdir`; `args` (targets, --cores,
    ...) come before the config files, since `--configfile` takes several values."""
    repo = Path(repo)
    configs = [str(c) for c in configs] or [str(repo / "config" / "config.yaml")]
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(repo / "Snakefile"),
        "-d",
        str(workdir),
        *args,
        "--configfile",
        *configs,
    ]


def environment(repo: str | Path, mirror: str | Path | None = None) -> dict[str, str]:
    """The current environment with `repo`'s library first on PYTHONPATH (every job then
    imports this checkout's code, also where another checkout is pip-installed) and, if
    given, the data mirror."""
    from repro.data import MIRROR_ENV

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(repo) / "src"), env.get("PYTHONPATH")) if p
    )
    if mirror is not None:
        env[MIRROR_ENV] = str(mirror)
    return env
