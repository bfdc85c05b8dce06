"""Run mutmut on one module of the numerical core, with only the test files that cover it.

    python tests/mutation_run.py repro.aggregate [--workdir /tmp/mutmut]
    python tests/mutation_report.py --root /tmp/mutmut/repro.aggregate/mutants --survivors

mutmut first runs every test file of `pytest_add_cli_args_test_selection` once to learn
which test reaches which function; with the whole numerical core's selection that is
the slow half of the fast suite, for every module. This script copies `src/`, `tests/`
and `pyproject.toml` into `<workdir>/<module>/`, narrows `[tool.mutmut]` there to the
module's file and the test files below, and runs `mutmut run` in that copy under
`nice -n 19` with one thread (`OMP_NUM_THREADS=1`), without a `PYTHONPATH` that would
shadow the mutated copy. The repository itself is left untouched (no `mutants/` in it).
Results stay in `<workdir>/<module>/mutants` (`mutmut show NAME` from that folder).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# module -> (source file, test files that exercise it, mutant-name globs or None = all)
MODULES = {
    "repro.aggregate": ("src/repro/aggregate.py", ["tests/test_aggregate.py"], None),
    "repro.enkf.kalman": ("src/repro/enkf/kalman.py", ["tests/test_enkf.py"], None),
    "repro.forde.kernel": (
        "src/repro/forde/kernel.py",
        ["tests/test_forde.py", "tests/test_forde_repulsion.py"],
        None,
    ),
    "repro.forde.step": (
        "src/repro/forde/step.py",
        ["tests/test_forde.py", "tests/test_forde_repulsion.py"],
        None,
    ),
    "repro.optlab.optim": ("src/repro/optlab/optim.py", ["tests/test_optlab.py"], None),
    "repro.optlab.init": ("src/repro/optlab/init.py", ["tests/test_optlab_init.py"], None),
    "repro.levelsets.walk": (
        "src/repro/levelsets/walk.py",
        ["tests/test_levelsets_walk.py", "tests/test_levelsets.py"],
        None,
    ),
    "repro.eqprop.estimators": (
        "src/repro/eqprop/estimators.py",
        ["tests/test_eqprop.py", "tests/test_eqprop_by_hand.py"],
        None,
    ),
    "repro.eqprop.dynamics": (
        "src/repro/eqprop/dynamics.py",
        ["tests/test_eqprop.py", "tests/test_eqprop_by_hand.py"],
        None,
    ),
    # the checksum functions of data.py only (the readers are tested elsewhere)
    "repro.data": (
        "src/repro/data.py",
        ["tests/test_data.py", "tests/test_data_archive.py"],
        [
            f"repro.data.x_{f}__*"
            for f in ("md5sum", "verify", "fetch", "_copy_verified", "_extract", "_members")
            + ("_member_path", "check_manifest", "_get_archive", "verify_all")
        ],
    ),
}


def narrowed(pyproject: str, source: str, tests: list[str], timeout_multiplier: float) -> str:
    """pyproject.toml with [tool.mutmut]'s only_mutate and test selection narrowed."""

    def listing(items):
        return "[\n" + "".join(f'    "{i}",\n' for i in items) + "]"

    text = re.sub(r"only_mutate = \[[^\]]*\]", f"only_mutate = {listing([source])}", pyproject)
    text = re.sub(
        r"pytest_add_cli_args_test_selection = \[[^\]]*\]",
        f"pytest_add_cli_args_test_selection = {listing(tests)}",
        text,
    )
    return text.replace(
        "[tool.mutmut]\n", f"[tool.mutmut]\ntimeout_multiplier = {timeout_multiplier}\n", 1
    )


def unkilled(root: Path) -> list[str]:
    """Mutants of an earlier run whose result is not "killed" (see mutation_report.py)."""
    import json

    sys.path.insert(0, str(Path(__file__).parent))
    from mutation_report import KILLED, NOT_CHECKED, status

    names = []
    for meta in sorted(root.rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if status(code) not in (KILLED, NOT_CHECKED):
                names.append(name)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", choices=sorted(MODULES))
    parser.add_argument("--workdir", default="/tmp/mutmut", help="parent of the copies")
    parser.add_argument("--fresh", action="store_true", help="delete an earlier copy first")
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="after adding tests: copy the tests into the earlier copy and rerun only the "
        "mutants that survived, had no tests or timed out there",
    )
    parser.add_argument(
        "--timeout-multiplier",
        type=float,
        default=15.0,
        help="mutmut's (15 by default): a mutant times out after (baseline test time + 1 s) x "
        "this, in wall seconds. On a loaded machine clean tests time out too: rerun with a "
        "larger value (mutmut then rechecks only the timed-out mutants)",
    )
    args = parser.parse_args()
    source, tests, globs = MODULES[args.module]
    work = Path(args.workdir) / args.module
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for folder in ("src", "tests", "config", "workflow"):
        shutil.copytree(
            REPO / folder,
            work / folder,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
        )
    (work / "pyproject.toml").write_text(
        narrowed((REPO / "pyproject.toml").read_text(), source, tests, args.timeout_multiplier)
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = ["nice", "-n", "19", sys.executable, "-m", "mutmut", "run", "--max-children", "1"]
    if args.recheck:
        names = unkilled(work / "mutants")
        if not names:
            print("nothing to recheck")
            return 0
        # mutmut notices the new tests and re-collects which test reaches which function,
        # but the mutants of that same invocation can still run with the old mapping (seen
        # here: a mutant a new test kills reported as surviving): refresh with one first
        subprocess.call(command + names[:1], cwd=work, env=env)
        command += names
    else:
        command += globs or [f"{args.module}*"]
    print(" ".join(command), f"(in {work})", flush=True)
    return subprocess.call(command, cwd=work, env=env)


if __name__ == "__main__":
    sys.exit(main())
