"""TEST DATA: small random stand-ins for the datasets the offline mirror lacks.

`write_mirror(root)` writes, under `root/mirror`, CIFAR-10 and CIFAR-100 in their python
pickle layout, CIFAR-10-C.tar / CIFAR-100-C.tar (`<type>.npy` with severities 1-5
stacked, `labels.npy`), tiny-imagenet-200.zip (wnids.txt, train/<wnid>/images/*.JPEG,
val/images + val_annotations.txt) and Tiny-ImageNet-C.tar (`<type>/<severity>/<wnid>/
*.JPEG`), all of random pixels and labels; it links the real mirror's MNIST,
FashionMNIST and tables beside them. It also writes `root/standins.yaml`, a
`datasets_file` that overrides these datasets' checksums and labels ("CIFAR-10
STAND-IN (random test data)" in every caption and table) and removes their download
URLs (nothing is fetched from the web), so the workflow reaches the stand-ins
through the same registry, mirror and download rule as the real data:

    snakemake ... --config datasets_file=<root>/standins.yaml data_mirror=<root>/mirror

`python tests/standins.py <root> [real mirror]` does the same from the command line.
Nothing computed from these images means anything: they test code paths, not results.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import yaml

LINKED = ("MNIST", "FashionMNIST", "tabular")  # real files, taken from the real mirror
CIFAR_C_TYPES = (  # the 19 types of the released CIFAR-10-C / CIFAR-100-C archives
    "brightness contrast defocus_blur elastic_transform fog frost gaussian_blur "
    "gaussian_noise glass_blur impulse_noise jpeg_compression motion_blur pixelate "
    "saturate shot_noise snow spatter speckle_noise zoom_blur"
).split()
TIN_C_TYPES = ("gaussian_noise", "fog")  # the tiny run evaluates every type it finds
NOTE = "TEST STAND-IN (tests/standins.py): random pixels and labels, not the real dataset"
LABEL = "STAND-IN (random test data)"
BUILTIN = Path(__file__).resolve().parents[1] / "src" / "repro" / "datasets.yaml"


def _md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


def _jpeg(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return out.getvalue()


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def _pickle(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)  # the released files are Python 2 cPickles


def cifar10(rng, per_batch: int) -> dict[str, bytes]:
    def batch(label: str, n: int) -> bytes:
        return _pickle(
            {
                "batch_label": label,
                "labels": rng.integers(0, 10, n).tolist(),
                "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                "filenames": [f"standin_{label.split()[-1]}_{i}.png" for i in range(n)],
            }
        )

    names = "airplane automobile bird cat deer dog frog horse ship truck".split()
    files = {
        f"cifar-10-batches-py/data_batch_{i}": batch(f"training batch {i} of 5", per_batch)
        for i in range(1, 6)
    }
    files["cifar-10-batches-py/test_batch"] = batch("testing batch 1 of 1", per_batch)
    meta = {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}
    files["cifar-10-batches-py/batches.meta"] = _pickle(meta)
    return files


def cifar100(rng, n_train: int, n_test: int) -> dict[str, bytes]:
    def split(label: str, n: int) -> bytes:
        return _pickle(
            {
                "filenames": [f"standin_{label}_{i}.png" for i in range(n)],
                "batch_label": f"{label} batch 1 of 1",
                "fine_labels": rng.integers(0, 100, n).tolist(),
                "coarse_labels": rng.integers(0, 20, n).tolist(),
                "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            }
        )

    meta = {
        "fine_label_names": [f"class{i}" for i in range(100)],
        "coarse_label_names": [f"super{i}" for i in range(20)],
    }
    return {
        "cifar-100-python/train": split("training", n_train),
        "cifar-100-python/test": split("testing", n_test),
        "cifar-100-python/meta": _pickle(meta),
    }


def cifar_c(rng, folder: str, classes: int, per_severity: int) -> bytes:
    n = 5 * per_severity
    members = {f"{folder}/labels.npy": _npy(rng.integers(0, classes, n).astype(np.uint8))}
    for name in CIFAR_C_TYPES:
        members[f"{folder}/{name}.npy"] = _npy(rng.integers(0, 256, (n, 32, 32, 3), np.uint8))
    return _tar(members)


def _wnids(classes: int) -> list[str]:
    return [f"n{90000000 + 17 * i:08d}" for i in range(classes)]


def tinyimagenet(rng, classes: int, train_per_class: int, val_per_class: int) -> bytes:
    base, wnids = "tiny-imagenet-200", _wnids(classes)
    members = {f"{base}/wnids.txt": ("\n".join(reversed(wnids)) + "\n").encode()}
    members[f"{base}/words.txt"] = "".join(f"{w}\tstand-in {w}\n" for w in wnids).encode()
    annotations = []
    for w in wnids:
        boxes = []
        for i in range(train_per_class):
            name = f"{w}_{i}.JPEG"
            members[f"{base}/train/{w}/images/{name}"] = _jpeg(
                rng.integers(0, 256, (64, 64, 3), np.uint8)
            )
            boxes.append(f"{name}\t0\t0\t63\t63\n")
        members[f"{base}/train/{w}/{w}_boxes.txt"] = "".join(boxes).encode()
    for i in range(classes * val_per_class):
        name, w = f"val_{i}.JPEG", wnids[i % classes]
        members[f"{base}/val/images/{name}"] = _jpeg(rng.integers(0, 256, (64, 64, 3), np.uint8))
        annotations.append(f"{name}\t{w}\t0\t0\t63\t63\n")
    members[f"{base}/val/val_annotations.txt"] = "".join(annotations).encode()
    members[f"{base}/test/images/test_0.JPEG"] = _jpeg(rng.integers(0, 256, (64, 64, 3), np.uint8))
    return _zip(members)


def tinyimagenet_c(rng, classes: int, per_class: int) -> bytes:
    members = {}
    for name in TIN_C_TYPES:
        for severity in range(1, 6):
            for w in _wnids(classes):
                for i in range(per_class):
                    pixels = rng.integers(0, 256, (64, 64, 3), np.uint8)
                    members[f"Tiny-ImageNet-C/{name}/{severity}/{w}/val_{i}.JPEG"] = _jpeg(pixels)
    return _tar(members)


def write_mirror(root: str | Path, real_mirror: str | Path | None = None, seed: int = 0):
    """Write the stand-in mirror under `root/mirror` and `root/standins.yaml`; return both.

    Sizes: CIFAR-10 5 x 16 training and 16 test images, CIFAR-100 64 / 32, the -C sets
    8 images per severity (all 19 types), TinyImageNet 10 classes x 4 training and 2
    validation images, Tiny-ImageNet-C 2 types x 5 severities x 10 classes x 1."""
    root = Path(root)
    mirror = root / "mirror"
    mirror.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    declared: dict[str, dict] = {}

    def files(name: str, blobs: dict[str, bytes]) -> None:
        for rel, blob in blobs.items():
            (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
            (mirror / rel).write_bytes(blob)
        declared[name] = {"files": {rel: _md5(b) for rel, b in blobs.items()}, "archive": None}

    def archive(name: str, path: str, blob: bytes) -> None:
        (mirror / path).write_bytes(blob)
        declared[name] = {"files": {}, "archive": {"path": path, "md5": _md5(blob)}}

    files("cifar10", cifar10(rng, per_batch=16))
    files("cifar100", cifar100(rng, n_train=64, n_test=32))
    archive("cifar10_c", "CIFAR-10-C.tar", cifar_c(rng, "CIFAR-10-C", 10, per_severity=8))
    archive("cifar100_c", "CIFAR-100-C.tar", cifar_c(rng, "CIFAR-100-C", 100, per_severity=8))
    archive("tinyimagenet", "tiny-imagenet-200.zip", tinyimagenet(rng, 10, 4, 2))
    archive("tinyimagenet_c", "Tiny-ImageNet-C.tar", tinyimagenet_c(rng, 10, 1))
    builtin = yaml.safe_load(BUILTIN.read_text())
    for name, entry in declared.items():  # captions and tables name them as stand-ins
        entry.update(urls=[], note=NOTE, label=f"{builtin[name]['label']} {LABEL}")
    if real_mirror is not None:
        for name in LINKED:
            link = mirror / name
            if (Path(real_mirror) / name).exists() and not link.exists():
                link.symlink_to(Path(real_mirror).resolve() / name)
    datasets_file = root / "standins.yaml"
    datasets_file.write_text(
        "# TEST DATA: checksums of the stand-ins written by tests/standins.py\n"
        + yaml.safe_dump(declared, sort_keys=False)
    )
    return mirror, datasets_file


if __name__ == "__main__":
    mirror, datasets_file = write_mirror(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print(f"data_mirror={mirror} datasets_file={datasets_file}")
