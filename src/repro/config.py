"""Configuration: schema validation with readable errors, and experiment resolution.

A config has a few global keys (`preset`, `device`, `data_mirror`, `cluster`) and one
block per paper:

    <paper>:
      seeds: [0, 1]
      defaults:            # hyperparameters shared by all experiments of one kind
        <kind>: {...}
      experiments:
        <name>: {kind: <kind>, ...only what differs...}

`resolve_experiments` merges `defaults[kind]` under each experiment, so every
experiment carries every hyperparameter its kind declares. Torch-free: the Snakefile
imports this module at parse time.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from repro import sources

# The schemas ship with the package (src/repro/schemas/): config.schema.yaml (global keys)
# and one <paper>.schema.yaml per paper, which declares the paper's kinds.
SCHEMA_DIR = Path(str(resources.files("repro") / "schemas"))
EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # the whole name (fullmatch)
# A string PyYAML leaves unconverted although it is a number (`1e-3`: YAML 1.1 wants a dot).
NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key."""


def _load_yaml(path: Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


@functools.lru_cache(maxsize=64)
def _schema_file(path: Path) -> dict:
    """A schema file, parsed once per process (treat as read-only)."""
    return _load_yaml(path)


def _kinds_of(schema: dict) -> list[str]:
    """The kinds a paper schema declares: the `$defs` entries whose `kind` property is
    `{const: <their own name>}`, in file order."""
    defs = schema.get("$defs", {})
    return [
        name
        for name, sub in defs.items()
        if isinstance(sub, dict) and sub.get("properties", {}).get("kind") == {"const": name}
    ]


@functools.lru_cache(maxsize=64)
def _paper_schema(path: Path) -> dict:
    """A paper's schema file completed with what follows from its kinds, so each kind is
    written once (its `$defs` entry): the paper block (`seeds`, `defaults` with one entry
    per kind, `experiments`), and `$defs/experiment` (the kind enum and one branch per
    kind, so an experiment is checked against its own kind's keys)."""
    schema = copy.deepcopy(_schema_file(path))
    kinds = _kinds_of(schema)
    if not kinds:
        raise ConfigError(f"{path}: declares no kind (a $defs entry with kind: {{const: name}})")
    if "experiment" in schema["$defs"]:
        raise ConfigError(f"{path}: '$defs/experiment' is built from the kinds; rename it")
    schema.update(
        type="object",
        additionalProperties=False,
        required=["seeds", "defaults", "experiments"],
        properties={
            "seeds": {"$ref": "config.schema.yaml#/$defs/seeds"},
            "defaults": {
                "description": "Hyperparameters shared by every experiment of one kind.",
                "type": "object",
                "additionalProperties": False,
                "properties": {kind: {"$ref": f"#/$defs/{kind}"} for kind in kinds},
            },
            "experiments": {
                "$ref": "config.schema.yaml#/$defs/experiments",
                "additionalProperties": {"$ref": "#/$defs/experiment"},
            },
        },
    )
    schema["$defs"]["experiment"] = {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {
                "description": "Which training entry point runs the experiment.",
                "enum": kinds,
            }
        },
        "allOf": [
            {
                "if": {"required": ["kind"], "properties": {"kind": {"const": kind}}},
                "then": {"$ref": f"#/$defs/{kind}"},
            }
            for kind in kinds
        ],
    }
    return schema


def _load_schema(path: Path) -> dict:
    """config.schema.yaml as written; a paper's schema completed from its kinds."""
    if path.name == "config.schema.yaml":
        return _schema_file(path)
    return _paper_schema(path)


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def _describe(error) -> str:
    """Turn a jsonschema error into one line that names the offending key."""
    where = _path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        keys = ", ".join(f"'{_path([*error.absolute_path, k])}'" for k in extra)
        return f"unknown config key {keys} (allowed here: {', '.join(sorted(allowed))})"
    if error.validator == "required":
        return f"config key '{where}' is missing {error.message.split(' is a required')[0]}"
    if error.validator == "propertyNames":
        return f"config key '{where}': bad name {error.instance!r} ({error.message})"
    return f"config key '{where}': {error.message}"


def _validator_class(schema_path: Path, datasets_file=None):
    """A Draft 2020-12 validator that resolves local $refs and fills `default`s; its
    dataset lists come from the dataset sources (with `datasets_file`'s overrides)."""
    from jsonschema import Draft202012Validator, validators
    from referencing import Registry, Resource

    def retrieve(uri: str):
        return Resource.from_contents(_load_schema(Path(uri.removeprefix("file://"))))

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from Draft202012Validator.VALIDATORS["properties"](
            validator, properties, instance, schema
        )

    schema = copy.deepcopy(_schema_file(schema_path))
    try:
        defs = schema["$defs"]
        defs["dataset"]["enum"] = [*sources.names(datasets_file), None]
        defs["image_dataset"]["enum"] = sources.names(datasets_file, kind="images")
        defs["corrupted_dataset"]["enum"] = sources.corrupted(datasets_file)
    except sources.SourceError as err:
        raise ConfigError(f"config key 'datasets_file': {err}") from None
    for paper in known_papers(schema_path.parent):  # each paper brings its own schema file
        schema["properties"][paper] = {"$ref": f"{paper}.schema.yaml"}
    schema["$id"] = schema_path.resolve().as_uri()
    registry = Registry(retrieve=retrieve).with_resource(
        schema["$id"], Resource.from_contents(schema)
    )
    cls = validators.extend(Draft202012Validator, {"properties": set_defaults})
    return cls(schema, registry=registry)


def validate(config: dict, schema_dir: Path = SCHEMA_DIR) -> dict:
    """Validate `config` in place against the schema (filling defaults); raise ConfigError.

    All problems are reported at once, each naming its key.
    """
    datasets_file = config.get("datasets_file") if isinstance(config, dict) else None
    validator = _validator_class(Path(schema_dir) / "config.schema.yaml", datasets_file)
    _coerce_numbers(validator, config)
    names = _name_errors(config)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors or names:
        lines = sorted({_describe(e) for e in _leaves(errors)} | set(names))
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(lines))
    for paper in papers(config):
        resolved = resolve_experiments(config, paper, schema_dir, only=False)
        _check_resolved(validator, paper, resolved, Path(schema_dir))
    _check_only(config, schema_dir)
    return config


def selected(config: dict, paper: str, name: str) -> bool:
    """Whether experiment `name` of `paper` is one the `only` key selects (every
    experiment when `only` is null)."""
    patterns = config.get("only")
    return patterns is None or any(_only_matches(p, paper, name) for p in patterns)


def _only_matches(pattern: str, paper: str, name: str) -> bool:
    want_paper, _, want_name = pattern.partition("/")
    return want_paper == paper and fnmatch.fnmatchcase(name, want_name or "*")


def _check_only(config: dict, schema_dir: Path) -> None:
    """Every `only` pattern selects an experiment, and an experiment that starts from
    another one's trained network (`init_from`) is selected with it."""
    if config.get("only") is None:
        return
    every = {p: resolve_experiments(config, p, schema_dir, only=False) for p in papers(config)}
    lines = [
        f"config key 'only': {pattern!r} matches no configured experiment (papers: "
        f"{', '.join(every)}; write <paper> or <paper>/<experiment glob>)"
        for pattern in config["only"]
        if not any(_only_matches(pattern, p, n) for p, names in every.items() for n in names)
    ]
    for paper, experiments in every.items():
        for name, experiment in experiments.items():
            source = experiment.get("init_from")
            if source and selected(config, paper, name) and not selected(config, paper, source):
                lines.append(
                    f"config key 'only': {paper}/{name} starts from {paper}/{source} "
                    f"(init_from), which 'only' leaves out: add {paper}/{source}"
                )
    if lines:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(lines))


def _name_errors(config: dict) -> list[str]:
    """Experiment names that are not strings matching the whole name pattern (the
    schema's `propertyNames` sees neither integer keys nor a trailing newline)."""
    lines = []
    for paper in papers(config):
        block = config[paper] if isinstance(config[paper], dict) else {}
        experiments = block.get("experiments")
        for name in experiments if isinstance(experiments, dict) else ():
            if not isinstance(name, str):
                lines.append(
                    f"config key '{paper}.experiments.{name}': an experiment name must be a "
                    f"string; YAML read {name!r} as {type(name).__name__} (quote it: '{name}')"
                )
            elif not EXPERIMENT_NAME.fullmatch(name):
                lines.append(
                    f"config key '{paper}.experiments.{name!r}': bad experiment name {name!r} "
                    f"(letters, digits, '_', '.', '-', starting with a letter or digit)"
                )
    return lines


def _coerce_numbers(validator, config: dict) -> None:
    """Turn numeric-looking strings (`1e-3`, which PyYAML reads as a string) into numbers
    where the schema wants a number or an integer, in place."""
    for _ in range(100):  # one pass per nesting level that changes which branch applies
        changed = False
        for error in _leaves(list(validator.iter_errors(config))):
            wanted = error.validator_value if error.validator == "type" else None
            wanted = [wanted] if isinstance(wanted, str) else wanted or []
            value = error.instance
            if not (isinstance(value, str) and NUMERIC.fullmatch(value.strip())):
                continue
            number = float(value)
            if "integer" in wanted and number.is_integer():
                number = int(number)
            elif "number" not in wanted:
                continue
            *parents, last = error.absolute_path
            container = config
            for key in parents:
                container = container[key]
            container[last] = number
            changed = True
        if not changed:
            return


def _check_resolved(validator, paper: str, resolved: dict, schema_dir: Path) -> None:
    """Validate each experiment merged with its kind's defaults against the kind's
    schema: catches what needs keys from both, e.g. a dataset that does not fit the
    kind (images vs tables) or the architecture."""
    lines = []
    for name, experiment in resolved.items():
        uri = (schema_dir / f"{paper}.schema.yaml").resolve().as_uri()
        kind_validator = validator.evolve(schema={"$ref": f"{uri}#/$defs/{experiment['kind']}"})
        for error in _leaves(list(kind_validator.iter_errors(copy.deepcopy(experiment)))):
            error.path.extendleft(reversed([paper, "experiments", name]))
            lines.append(_describe(error) + " (after merging the kind's defaults)")
    if lines:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(sorted(set(lines))))


def _leaves(errors):
    """Prefer the specific errors inside `allOf`/`if-then` branches over their wrappers."""
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def known_papers(schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Papers with a schema file (`src/repro/schemas/<paper>.schema.yaml`)."""
    return sorted(
        p.name.removesuffix(".schema.yaml")
        for p in Path(schema_dir).glob("*.schema.yaml")
        if p.name != "config.schema.yaml"
    )


def papers(config: dict) -> list[str]:
    """Paper keys present in the config, in file order: every key but the global ones
    (the properties of config.schema.yaml)."""
    global_keys = _schema_file(SCHEMA_DIR / "config.schema.yaml")["properties"]
    return [key for key in config if key not in global_keys]


def kinds(paper: str, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """The kinds `paper`'s schema declares (each needs an entry in its train.py `KINDS`)."""
    return _kinds_of(_schema_file(Path(schema_dir) / f"{paper}.schema.yaml"))


def kind_schema(paper: str, kind: str, schema_dir: Path = SCHEMA_DIR) -> dict:
    return _schema_file(Path(schema_dir) / f"{paper}.schema.yaml")["$defs"][kind]


# A key whose schema is (or may be, via anyOf) one of these names a declared dataset.
DATASET_REFS = tuple(
    f"config.schema.yaml#/$defs/{name}"
    for name in ("dataset", "image_dataset", "corrupted_dataset")
)


def _pointer(schema: dict, ref: str):
    """The part of `schema` a local `#/...` reference points at."""
    node = schema
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _dataset_keys(node: dict, schema: dict, path: tuple = ()) -> list[tuple]:
    """Key paths under `node` (a kind's schema) whose value names a dataset."""

    def refs(sub) -> list[str]:
        if not isinstance(sub, dict):
            return []
        if sub.get("$ref", "").startswith("#/"):
            return refs(_pointer(schema, sub["$ref"]))
        found = [sub["$ref"]] if "$ref" in sub else []
        for key in ("anyOf", "oneOf", "allOf"):
            found += [r for alternative in sub.get(key, ()) for r in refs(alternative)]
        return found

    keys = []
    for key, sub in node.get("properties", {}).items():
        while isinstance(sub, dict) and sub.get("$ref", "").startswith("#/"):
            sub = _pointer(schema, sub["$ref"])
        if any(ref in DATASET_REFS for ref in refs(sub)):
            keys.append((*path, key))
        elif isinstance(sub, dict):
            keys += _dataset_keys(sub, schema, (*path, key))
    return keys


def datasets(
    paper: str, experiment: dict, declared: Iterable[str], schema_dir: Path = SCHEMA_DIR
) -> list[str]:
    """Every dataset a resolved experiment reads: its `dataset` first, then each other key
    its kind's schema declares as a dataset (e.g. forde's `corruptions.source`, a
    corrupted test set), in schema order. Values that are no `declared` dataset (null,
    `synthetic`) are left out. The train rule asks for each one's manifest, so no shared
    code knows which paper keeps a dataset under which key."""
    declared = set(declared)
    schema = _schema_file(Path(schema_dir) / f"{paper}.schema.yaml")
    node = kind_schema(paper, experiment["kind"], schema_dir)
    found = []
    for path in sorted(_dataset_keys(node, schema), key=lambda p: p != ("dataset",)):
        value = experiment
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value in declared and value not in found:
            found.append(value)
    return found


def resolve_experiments(
    config: dict, paper: str, schema_dir: Path = SCHEMA_DIR, only: bool = True
) -> dict:
    """Experiments of `paper`, each with `defaults[kind]` merged under it and `seeds` set;
    with `only`, those the config's `only` key selects (all when it is null).

    Raises ConfigError naming the experiment and key when a hyperparameter that the
    kind declares is set neither in the experiment nor in the kind's defaults.
    """
    block = config[paper]
    resolved = {}
    for name, experiment in block["experiments"].items():
        if only and not selected(config, paper, name):
            continue
        kind = experiment["kind"]
        merged = _deep_merge(block.get("defaults", {}).get(kind, {}), experiment)
        merged.setdefault("seeds", list(block["seeds"]))
        declared = set(kind_schema(paper, kind, schema_dir)["properties"])
        missing = sorted(declared - set(merged))
        if missing:
            keys = ", ".join(f"'{paper}.experiments.{name}.{k}'" for k in missing)
            raise ConfigError(
                f"config key {keys} is not set (set it in the experiment or in "
                f"'{paper}.defaults.{kind}')"
            )
        resolved[name] = merged
    return resolved


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load(*paths: str | Path, schema_dir: Path = SCHEMA_DIR) -> dict:
    """Load config files the way Snakemake does (later files deep-merge over earlier)."""
    config: dict = {}
    for path in paths:
        config = _deep_merge(config, _load_yaml(Path(path)) or {})
    return validate(config, schema_dir)


RUN_ONLY_KEYS = ("seeds", "resources")


def hyperparameters(experiment: dict) -> dict:
    """What determines a run's numbers: the resolved experiment minus `seeds` and
    `resources` (adding a seed or more memory must not rerun existing runs)."""
    return {k: v for k, v in experiment.items() if k not in RUN_ONLY_KEYS}
