"""Dataset registry: files with checksums, resolved from disk, a mirror, or the web.

Each dataset lives under `resources/data/<name>/`, laid out exactly like torchvision's
data root (so `resources/data/mnist/MNIST/raw/...`). A file is taken, in order, from:

1. that folder, if already there;
2. a local mirror folder with the same layout (config `data_mirror`, or the
   environment variable `REPRO_DATA_MIRROR`), e.g. `../shared/datasets`;
3. the official download (per file, or one archive that is then unpacked).

Every file is checked against its md5 wherever it comes from. A mismatch is an error
naming the file, the expected and the actual checksum; nothing is re-used silently.
`fetch` writes `manifest.json` last, so the manifest's existence means "verified".

A dataset whose per-file md5s are not known (`files=()` with an `archive`) is
"archive-checksummed": the archive (mirror, else download) is checked against its md5,
every member is extracted (refusing absolute paths, `..` and non-regular files), and
the md5 of each extracted file goes into the manifest, which `check_manifest` verifies
on every later load like any other.

Image datasets are decoded once, when fetched, into `.npy` arrays that jobs
memory-map (`repro.decoded`; the manifest's `decoded` key lists them with md5s).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from repro.io import atomic_path, read_json, write_json

MIRROR_ENV = "REPRO_DATA_MIRROR"


class DataError(RuntimeError):
    """A dataset file is missing, corrupted, or cannot be fetched."""


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the dataset folder, torchvision layout
    md5: str


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[DataFile, ...]  # () with an archive: archive-checksummed (module docstring)
    urls: tuple[str, ...] = ()  # base URLs; a file is fetched from base + its file name
    archive: DataFile | None = None  # tar or zip holding `files` (fetched from `urls` + name)
    kind: str = "images"  # images | table
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not self.files and self.archive is None:
            raise ValueError(f"dataset {self.name!r}: no files and no archive")


def _idx(folder: str, md5s: tuple[str, str, str, str]) -> tuple[DataFile, ...]:
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    return tuple(DataFile(f"{folder}/raw/{n}", m) for n, m in zip(names, md5s, strict=True))


REGISTRY: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "mnist",
            _idx(
                "MNIST",
                (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
            ),
            urls=(
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "http://yann.lecun.com/exdb/mnist/",
            ),
        ),
        Dataset(
            "fashion_mnist",
            _idx(
                "FashionMNIST",
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            ),
            urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        ),
        Dataset(
            "cifar10",
            tuple(
                DataFile(f"cifar-10-batches-py/{n}", m)
                for n, m in (
                    ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
                    ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                    ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
                    ("data_batch_4", "634d18415352ddfa80567beed471001a"),
                    ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
                    ("test_batch", "40351d587109b95175f43aff81a1287e"),
                    ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
                )
            ),
            urls=("https://www.cs.toronto.edu/~kriz/",),
            archive=DataFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
        ),
        Dataset(
            "cifar100",
            tuple(
                DataFile(f"cifar-100-python/{n}", m)
                for n, m in (
                    ("train", "16019d7e3df5f24257cddd939b257f8d"),
                    ("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),
                    ("meta", "7973b15100ade9c7d40fb424638fde48"),
                )
            ),
            urls=("https://www.cs.toronto.edu/~kriz/",),
            archive=DataFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
        ),
        Dataset(
            "iris",
            (DataFile("tabular/iris.csv", "013d0da08d6506664ce640459139176b"),),
            urls=("https://raw.githubusercontent.com/mwaskom/seaborn-data/master/",),
            kind="table",
            note="seaborn-data copy of the UCI iris table (150 rows, string species)",
        ),
        Dataset(
            "auto_mpg",
            (DataFile("tabular/auto-mpg.data", "b858f4580d0066c48e260dd3b96f1ed8"),),
            urls=("https://archive.ics.uci.edu/ml/machine-learning-databases/auto-mpg/",),
            kind="table",
            note="UCI original: whitespace separated, '?' for missing horsepower",
        ),
        # Archive-checksummed (per-file md5s unknown): the manifest records what was extracted.
        Dataset(
            "cifar10_c",
            (),
            urls=("https://zenodo.org/records/2535967/files/",),
            archive=DataFile("CIFAR-10-C.tar", "56bf5dcef84df0e2308c6dcbcbbd8499"),
            note="CIFAR-10-C/<type>.npy (19 types, severities 1-5 stacked) + labels.npy",
        ),
        Dataset(
            "cifar100_c",
            (),
            urls=("https://zenodo.org/records/3555552/files/",),
            archive=DataFile("CIFAR-100-C.tar", "11f0ed0f1191edbf9fa23466ae6021d3"),
            note="CIFAR-100-C/<type>.npy (19 types, severities 1-5 stacked) + labels.npy",
        ),
        Dataset(
            "tinyimagenet",
            (),
            urls=("http://cs231n.stanford.edu/",),
            archive=DataFile("tiny-imagenet-200.zip", "90528d7ca1a48142e341f4ef8d21d0de"),
            note="tiny-imagenet-200/: train/<wnid>/images, val/images + val_annotations.txt",
        ),
        Dataset(
            "tinyimagenet_c",
            (),
            urls=("https://zenodo.org/records/2536630/files/",),
            archive=DataFile("Tiny-ImageNet-C.tar", "3d9c6e89c2609aeb4198f84c8edd1ff0"),
            note=(
                "Tiny-ImageNet-C/<type>/<severity>/<wnid>/*.JPEG; the archive md5 is not "
                "verified against the Zenodo record"
            ),
        ),
    )
}


def get(name: str) -> Dataset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str, what: str, actual: str | None = None) -> None:
    """Raise DataError naming `path` unless its md5 (`actual`, if already known) is `expected`."""
    actual = actual or md5sum(path)
    if actual != expected:
        raise DataError(
            f"{what} '{path}' is corrupted or truncated: md5 {actual}, expected {expected} "
            f"({path.stat().st_size} bytes). Delete or replace the file and run again."
        )


def resolve_mirror(mirror: str | Path | None) -> Path | None:
    """The mirror folder from the config value or $REPRO_DATA_MIRROR; None if neither."""
    value = mirror or os.environ.get(MIRROR_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        source = "config 'data_mirror'" if mirror else f"${MIRROR_ENV}"
        raise DataError(f"data mirror '{path}' (from {source}) does not exist or is not a folder")
    return path


def fetch(name: str, dest: str | Path, mirror: str | Path | None = None, log=print) -> dict:
    """Make every file of dataset `name` present and verified under `dest`; write its manifest.

    Returns the manifest (name, files with md5, and where each file came from; for an
    archive-checksummed dataset, where the archive came from).
    """
    dataset = get(name)
    dest = Path(dest)
    mirror_dir = resolve_mirror(mirror)
    if not dataset.files:
        archive, source = _get_archive(dataset, dest, mirror_dir, log)
        files = _extract(archive, dest)
        archive.unlink()
        log(f"{name}: {len(files)} files extracted from {dataset.archive.path}")
        manifest = {
            "name": name,
            "archive": {dataset.archive.path: dataset.archive.md5},
            "files": files,
            "sources": {dataset.archive.path: source},
            "note": dataset.note,
        }
        _add_decoded(manifest, dest, log)
        write_json(dest / "manifest.json", manifest)
        return manifest
    sources: dict[str, str] = {}
    pending: list[DataFile] = []
    for f in dataset.files:
        target = dest / f.path
        if target.exists():
            verify(target, f.md5, f"dataset file (already present) of {name}")
            sources[f.path] = "present"
        elif mirror_dir is not None and (mirror_dir / f.path).exists():
            _copy_verified(mirror_dir / f.path, target, f.md5, "mirror file")
            sources[f.path] = f"mirror:{mirror_dir / f.path}"
            log(f"{name}: {f.path} copied from the mirror")
        else:
            pending.append(f)
    if pending and dataset.archive is not None:
        archive, _ = _get_archive(dataset, dest, mirror_dir, log)
        _extract(archive, dest, {f.path: f.md5 for f in pending})
        for f in pending:
            sources[f.path] = f"archive:{dataset.archive.path}"
        archive.unlink()
    elif pending:
        for f in pending:
            sources[f.path] = _download(dataset, f, dest / f.path, mirror_dir, log)
    manifest = {
        "name": name,
        "files": {f.path: f.md5 for f in dataset.files},
        "sources": sources,
        "note": dataset.note,
    }
    _add_decoded(manifest, dest, log)
    write_json(dest / "manifest.json", manifest)
    return manifest


def _add_decoded(manifest: dict, dest: Path, log) -> None:
    """Image datasets: decode the verified files once into memory-mappable arrays
    (`repro.decoded`), listed with their md5s under the manifest's `decoded` key."""
    if manifest["name"] not in DECODERS:
        return
    from repro import decoded

    manifest["decoded"] = decoded.write(dest, _decode(dest, manifest["name"]))
    log(f"{manifest['name']}: decoded into {', '.join(manifest['decoded'])}")


def _copy_verified(source: Path, target: Path, md5: str, what: str) -> None:
    verify(source, md5, what)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        verify(tmp, md5, f"copy of {what} {source}")


DOWNLOAD_ATTEMPTS, RETRY_WAIT_S = 3, 5.0  # per URL, for network errors only


def _download(dataset: Dataset, f: DataFile, target: Path, mirror_dir, log) -> str:
    """Download `f` from the first URL that serves it intact. Network errors are retried
    (DOWNLOAD_ATTEMPTS per URL); a wrong checksum is deterministic and never retried."""
    errors = []
    for base in dataset.urls:
        url = base + Path(f.path).name
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                with atomic_path(target) as tmp:
                    log(f"{dataset.name}: downloading {url}")
                    with (
                        urllib.request.urlopen(url, timeout=60) as response,
                        open(tmp, "wb") as out,
                    ):
                        shutil.copyfileobj(response, out)
                    verify(tmp, f.md5, f"download of {url}")
                return url
            except DataError as err:
                errors.append(f"{url}: {err}")
                break
            except OSError as err:
                errors.append(f"{url} (attempt {attempt}/{DOWNLOAD_ATTEMPTS}): {err}")
                if attempt < DOWNLOAD_ATTEMPTS and not _permanent(err):
                    time.sleep(RETRY_WAIT_S * attempt)
                else:
                    break
    where = (
        f"in the mirror '{mirror_dir}'"
        if mirror_dir
        else (f"in a mirror (none set: config 'data_mirror' or ${MIRROR_ENV})")
    )
    raise DataError(
        f"dataset '{dataset.name}': file '{f.path}' is not under '{target.parent}', not {where}, "
        "and could not be downloaded:\n  " + "\n  ".join(errors or ["no download URL known"])
    )


def _get_archive(dataset: Dataset, dest: Path, mirror_dir, log) -> tuple[Path, str]:
    """The verified archive under `dest` (from the mirror, else downloaded) and its source."""
    archive = dataset.archive
    target = dest / archive.path
    if mirror_dir is not None and (mirror_dir / archive.path).exists():
        log(f"{dataset.name}: copying {archive.path} from the mirror")
        _copy_verified(mirror_dir / archive.path, target, archive.md5, "mirror archive")
        return target, f"mirror:{mirror_dir / archive.path}"
    return target, _download(dataset, archive, target, mirror_dir, log)


def _extract(archive: Path, dest: Path, expected: dict[str, str] | None = None) -> dict[str, str]:
    """Write the archive's members under `dest`: those in `expected` (path -> md5, each
    verified), or every member when None. Returns path -> md5 of the files written."""
    written = {}
    for rel, stream in _members(archive, dest):
        if expected is not None and rel not in expected:
            continue
        digest = hashlib.md5()
        with atomic_path(dest / rel) as tmp:
            with open(tmp, "wb") as out:
                while block := stream.read(1 << 20):
                    digest.update(block)
                    out.write(block)
            if expected is not None:
                verify(tmp, expected[rel], f"member {rel} of archive", digest.hexdigest())
        written[rel] = digest.hexdigest()
    missing = sorted(set(expected or ()) - set(written))
    if missing:
        raise DataError(f"archive '{archive}' has no member '{missing[0]}'")
    return written


def _members(archive: Path, dest: Path):
    """Yield (relative path, binary stream) of each file of a tar or zip archive, refusing
    unsafe members (absolute paths, '..', links, devices: tarfile's "data" filter)."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    rel = _member_path(info.filename, archive, dest)
                    with zf.open(info) as stream:
                        yield rel, stream
        return
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isdir():
                continue
            rel = _member_path(member.name, archive, dest)
            try:
                member = tarfile.data_filter(member, str(dest))
            except tarfile.FilterError as err:
                raise DataError(f"archive '{archive}': refusing member '{rel}': {err}") from None
            if not member.isreg():
                raise DataError(f"archive '{archive}': member '{rel}' is not a regular file")
            yield rel, tar.extractfile(member)


def _member_path(name: str, archive: Path, dest: Path) -> str:
    """`name` as a clean relative path; DataError if absolute or leaving `dest` (by '..'
    or through a symlink already under `dest`)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    unsafe = name.startswith(("/", "\\")) or ".." in parts or not parts or ":" in parts[0]
    if unsafe or not dest.joinpath(*parts).resolve().is_relative_to(dest.resolve()):
        raise DataError(f"archive '{archive}': refusing member '{name}' (outside '{dest}')")
    return "/".join(parts)


def _permanent(err: OSError) -> bool:
    """An HTTP answer that another try will not change (404, 403, ...)."""
    import urllib.error

    return isinstance(err, urllib.error.HTTPError) and 400 <= err.code < 500 and err.code != 429


def verify_all(root: str | Path = "resources/data") -> list[str]:
    """Re-check every file of every downloaded dataset under `root` against its manifest;
    one line per changed or missing file (empty: all intact)."""
    problems = []
    manifests = sorted(Path(root).glob("*/manifest.json"))
    for manifest in manifests:
        for rel, md5 in read_json(manifest)["files"].items():
            path = manifest.parent / rel
            if not path.exists():
                problems.append(f"{path}: missing (listed in {manifest})")
            elif (actual := md5sum(path)) != md5:
                problems.append(f"{path}: changed (md5 {actual}, manifest {md5})")
    return problems


def main(argv: list[str] | None = None, echo=print) -> int:
    """`python -m repro.data verify [ROOT]`: re-verify every downloaded dataset."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m repro.data")
    parser.add_argument("command", choices=["verify"])
    parser.add_argument("root", nargs="?", default="resources/data")
    args = parser.parse_args(argv)
    manifests = sorted(Path(args.root).glob("*/manifest.json"))
    problems = verify_all(args.root)
    for line in problems:
        echo(line)
    names = ", ".join(m.parent.name for m in manifests) or "none"
    echo(f"{len(manifests)} dataset(s) checked ({names}): {len(problems)} file(s) changed")
    return 1 if problems or not manifests else 0


# --------------------------------------------------------------------------- loading


def dataset_dir(manifest: str | Path) -> Path:
    return Path(manifest).parent


def check_manifest(manifest: str | Path) -> dict:
    """Read a manifest and re-verify every file it lists (cheap: ~0.1 s for MNIST)."""
    manifest = Path(manifest)
    if not manifest.exists():
        raise DataError(f"dataset manifest '{manifest}' is missing; run the download rule first")
    record = read_json(manifest)
    for rel, md5 in record["files"].items():
        path = manifest.parent / rel
        if not path.exists():
            raise DataError(f"dataset file '{path}' listed in '{manifest}' is missing")
        verify(path, md5, "dataset file")
    return record


@dataclass
class ImageData:
    """uint8 images (N, C, H, W) and int64 labels, train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    md5: dict


@lru_cache(maxsize=4)
def load_images(manifest: str | Path) -> ImageData:
    """mnist, fashion_mnist, cifar10, cifar100 or tinyimagenet: the decoded arrays the
    download rule wrote (md5-verified, memory-mapped), or, for a manifest without them,
    the raw files (re-verified) decoded here."""
    root = Path(manifest).parent
    if not Path(manifest).exists():
        check_manifest(manifest)  # the error that says: run the download rule
    record = read_json(manifest)
    name = record["name"]
    if name not in DECODERS:
        hint = "it is a table; use load_table" if get(name).kind == "table" else "no reader"
        raise DataError(f"load_images cannot load dataset '{name}': {hint}")
    if "decoded" in record:
        from repro import decoded

        x_train, y_train, x_test, y_test = decoded.load(root, record["decoded"])
    else:
        check_manifest(manifest)
        x_train, y_train, x_test, y_test = _decode(root, name)
    return ImageData(
        x_train,
        y_train.astype(np.int64, copy=False),
        x_test,
        y_test.astype(np.int64, copy=False),
        name,
        record["files"],
    )


def _decode(root: Path, name: str) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test) of an image dataset from its raw files."""
    return DECODERS[name](root, name)


def _read_mnist(root: Path, name: str):
    folder = root / ("MNIST" if name == "mnist" else "FashionMNIST") / "raw"
    x_train, y_train, x_test, y_test = (
        _read_idx(folder / f)
        for f in (
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        )
    )
    return x_train[:, None], y_train.astype(np.int64), x_test[:, None], y_test.astype(np.int64)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"'{path}' is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(bytearray(raw), dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"'{path}' holds {data.size} values, its header says {shape}")
    return data.reshape(shape)


def _read_cifar(root: Path, name: str):
    def unpickle(path):
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")

    if name == "cifar10":
        folder, train, test, key = (
            root / "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
            "labels",
        )
    else:
        folder, train, test, key = root / "cifar-100-python", ["train"], ["test"], "fine_labels"

    def stack(parts):
        batches = [unpickle(folder / p) for p in parts]
        x = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(b[key]) for b in batches]).astype(np.int64)
        return x.astype(np.uint8), y

    return (*stack(train), *stack(test))


def _read_tinyimagenet(root: Path, name: str = "tinyimagenet"):
    """train/<wnid>/images/*.JPEG; the official validation images (labels from
    val/val_annotations.txt) are the test set. Label = index of the wnid in sorted order
    (torchvision ImageFolder's, and that of Tiny-ImageNet-C's class folders)."""
    from PIL import Image

    base = root / "tiny-imagenet-200"
    wnids = sorted((base / "wnids.txt").read_text().split())
    index = {w: i for i, w in enumerate(wnids)}
    train = [
        (p, index[w]) for w in wnids for p in sorted((base / "train" / w / "images").glob("*"))
    ]
    annotations = (base / "val" / "val_annotations.txt").read_text().splitlines()
    rows = [line.split("\t")[:2] for line in annotations if line.strip()]
    test = [(base / "val" / "images" / f, index[w]) for f, w in rows]

    def read(items):
        x = np.empty((len(items), 3, 64, 64), dtype=np.uint8)  # no list of 100 000 arrays
        for i, (path, _) in enumerate(items):
            with Image.open(path) as image:
                x[i] = np.asarray(image.convert("RGB")).transpose(2, 0, 1)
        return x, np.array([y for _, y in items], dtype=np.int64)

    return (*read(train), *read(test))


DECODERS = {
    "mnist": _read_mnist,
    "fashion_mnist": _read_mnist,
    "cifar10": _read_cifar,
    "cifar100": _read_cifar,
    "tinyimagenet": _read_tinyimagenet,
}


def load_table(manifest: str | Path):
    """The dataset's table as a pandas DataFrame (iris: 150 rows; auto_mpg: 398 rows)."""
    import pandas as pd

    record = check_manifest(manifest)
    path = Path(manifest).parent / next(iter(record["files"]))
    if record["name"] == "auto_mpg":
        columns = [
            "mpg",
            "cylinders",
            "displacement",
            "horsepower",
            "weight",
            "acceleration",
            "model_year",
            "origin",
            "car_name",
        ]
        return pd.read_csv(
            path, sep=r"\s+", header=None, names=columns, na_values="?", quotechar='"'
        )
    return pd.read_csv(path)


if __name__ == "__main__":
    raise SystemExit(main())
