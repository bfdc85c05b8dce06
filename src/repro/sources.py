"""Dataset sources: what each dataset is made of and how it is read (torch- and numpy-free).

The built-in sources are `datasets.yaml` beside this module. A YAML file of the same
shape, named by the config key `datasets_file` or by $REPRO_DATASETS (several paths
separated by the OS path separator; the config key comes last), adds datasets or
overrides keys of existing ones, entry by entry (a dataset's `files` mapping is
replaced whole, not merged, so an override cannot leave stale checksums behind).
Every list of dataset names in the pipeline derives from `sources(...)`: the config
schema's dataset values (repro.config), the corrupted-set sources, caption labels,
the readers (repro.data) and compute_pca's memory (workflow/rules/common.smk).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

BUILTIN = Path(__file__).with_name("datasets.yaml")
DATASETS_ENV = "REPRO_DATASETS"
KINDS = ("images", "table")
KEYS = {"label", "kind", "reader", "corrupts", "mem_mb", "files", "archive", "urls", "note"}


class SourceError(ValueError):
    """A dataset declaration is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the dataset folder, torchvision layout
    md5: str


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[DataFile, ...]  # () with an archive: archive-checksummed (repro.data)
    urls: tuple[str, ...] = ()  # base URLs; a file is fetched from base + its file name
    archive: DataFile | None = None  # tar or zip holding `files` (fetched from `urls` + name)
    kind: str = "images"  # images | table
    note: str = ""
    label: str = ""
    reader: dict = field(default_factory=dict, compare=False)  # {format: ..., ...}
    corrupts: str | None = None  # the clean dataset of a corrupted test set
    mem_mb: int = 8000  # compute_pca memory
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not self.files and self.archive is None:
            raise ValueError(f"dataset {self.name!r}: no files and no archive")


def overlay_paths(datasets_file: str | Path | None = None) -> tuple[str, ...]:
    """The override files in force: $REPRO_DATASETS, then the config key's file."""
    paths = [p for p in os.environ.get(DATASETS_ENV, "").split(os.pathsep) if p]
    if datasets_file:
        paths.append(str(datasets_file))
    resolved = [str(Path(p).expanduser().resolve()) for p in paths]
    return tuple(dict.fromkeys(resolved))  # a file named twice applies once, first place


def activate(datasets_file: str | Path | None) -> None:
    """Put the config's `datasets_file` in force for this process and the jobs it starts
    ($REPRO_DATASETS), so that code which knows only a dataset's name (captions' labels
    in figure, table and scorecard jobs) sees the same sources as the workflow. The
    workflow calls it at parse time (workflow/rules/common.smk)."""
    if datasets_file:
        os.environ[DATASETS_ENV] = os.pathsep.join(overlay_paths(datasets_file))


def sources(datasets_file: str | Path | None = None) -> dict[str, Dataset]:
    """Every declared dataset: built-in, then the overrides (`overlay_paths`)."""
    return _load(overlay_paths(datasets_file))


@functools.lru_cache(maxsize=16)
def _load(paths: tuple[str, ...]) -> dict[str, Dataset]:
    raw = _read(BUILTIN)
    for path in paths:
        for name, entry in _read(Path(path)).items():
            raw[name] = {**raw.get(name, {}), **entry}
    return {name: _dataset(name, entry, paths) for name, entry in raw.items()}


def _read(path: Path) -> dict:
    if not path.is_file():
        raise SourceError(f"datasets file '{path}' does not exist")
    with open(path) as fh:
        content = yaml.safe_load(fh) or {}
    if not isinstance(content, dict) or not all(isinstance(v, dict) for v in content.values()):
        raise SourceError(f"datasets file '{path}': expected a mapping name -> declaration")
    for name, entry in content.items():
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise SourceError(
                f"datasets file '{path}': dataset '{name}' has unknown key(s) "
                f"{', '.join(unknown)} (allowed: {', '.join(sorted(KEYS))})"
            )
    return content


def _dataset(name: str, entry: dict, paths) -> Dataset:
    where = f"dataset '{name}' (from {BUILTIN.name}{''.join(', ' + p for p in paths)})"
    for key in ("kind", "reader"):
        if key not in entry:
            raise SourceError(f"{where}: key '{key}' is missing")
    if entry["kind"] not in KINDS:
        raise SourceError(f"{where}: kind {entry['kind']!r} is not one of {', '.join(KINDS)}")
    if "format" not in entry["reader"]:
        raise SourceError(f"{where}: reader has no 'format'")
    archive = entry.get("archive")
    try:
        return Dataset(
            name=name,
            files=tuple(DataFile(p, m) for p, m in (entry.get("files") or {}).items()),
            urls=tuple(entry.get("urls") or ()),
            archive=DataFile(archive["path"], archive["md5"]) if archive else None,
            kind=entry["kind"],
            note=entry.get("note", ""),
            label=entry.get("label", name),
            reader=dict(entry["reader"]),
            corrupts=entry.get("corrupts"),
            mem_mb=int(entry.get("mem_mb", 8000)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise SourceError(f"{where}: {err}") from None


def names(datasets_file=None, kind: str | None = None) -> list[str]:
    """Dataset names (of one kind), clean sets only: corrupted test sets are `corrupted`."""
    return [
        n
        for n, d in sources(datasets_file).items()
        if d.corrupts is None and (kind is None or d.kind == kind)
    ]


def corrupted(datasets_file=None) -> list[str]:
    """Corrupted test sets (those declaring `corrupts`)."""
    return [n for n, d in sources(datasets_file).items() if d.corrupts is not None]


def label(name: str, datasets_file=None) -> str:
    dataset = sources(datasets_file).get(name)
    return dataset.label if dataset else name
