"""Digest of the library code a job's outputs depend on, so Snakemake reruns a job when
that code changes (the rules pass it as `params: code=`; run.json records it).

Snakemake tracks a rule's script (`scripts/train.py`), not the library it calls. Here a
job's code is the source of its entry modules plus every `repro` module they import,
found by reading `import` statements (no module is imported: this runs at parse time,
without torch):

- `train`: `repro.runs` and `repro.<paper>.train`;
- `figure`: `repro.outputs` and `repro.<paper>.figures`;
- `table` and `paper_scorecard`: `repro.outputs` and `repro.<paper>.tables`;
- `aggregate`: `repro.aggregate`.

A package's `__init__.py` counts only when it is imported for its own names (`from
repro.optlab import FIGURES`), not when a submodule is (`from repro.optlab import optim`),
so editing a figure caption does not rerun training.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent  # .../src
ROLES = {
    "train": ("repro.runs", "repro.{paper}.train"),
    "figure": ("repro.outputs", "repro.{paper}.figures"),
    "table": ("repro.outputs", "repro.{paper}.tables"),
    "scorecard": ("repro.outputs", "repro.{paper}.tables"),
    "aggregate": ("repro.aggregate",),
}


def module_file(name: str, src: Path = SRC) -> Path | None:
    """The source file of module `name` under `src`, or None if it is not one."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(name: str, path: Path, src: Path) -> set[str]:
    """`repro` modules that module `name` (file `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if module_file(sub, src) else base)
    return {m for m in found if m == "repro" or m.startswith("repro.")}


def closure(entries: tuple[str, ...], src: Path = SRC) -> list[Path]:
    """Source files of `entries` and of every `repro` module they import, transitively."""
    seen: dict[str, Path] = {}
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, src)
        if path is None:
            continue
        seen[name] = path
        todo.extend(_imports(name, path, src))
    return sorted(set(seen.values()))


@functools.cache
def digest(paper: str, role: str, src: Path = SRC) -> str:
    """sha256 (16 hex digits) over the relative paths and contents of the files a
    `role` job of `paper` runs (see the module docstring)."""
    entries = tuple(e.format(paper=paper) for e in ROLES[role])
    h = hashlib.sha256()
    for path in closure(entries, src):
        h.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]
