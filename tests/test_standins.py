"""The test stand-ins (tests/standins.py) reach the readers through the dataset registry
like real data: their own checksums from a `datasets_file`, the mirror, the archives."""

import pickle

import numpy as np
import pytest

from repro import data
from repro.forde import corruption
from tests import standins


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("standins")
    mirror, datasets_file = standins.write_mirror(root)
    fetched = {}

    def get(name):
        if name not in fetched:
            dest = root / "data" / name
            data.fetch(name, dest, mirror=mirror, log=lambda *_: None, datasets_file=datasets_file)
            fetched[name] = dest / "manifest.json"
        return fetched[name]

    get.mirror, get.datasets_file = mirror, datasets_file
    return get


def _unpickle(path):
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="latin1")


def test_cifar10_standin_reads_as_the_pickles_say(standin):
    d = data.load_images(str(standin("cifar10")))
    assert d.x_train.shape == (80, 3, 32, 32) and d.x_test.shape == (16, 3, 32, 32)
    batch = _unpickle(standin.mirror / "cifar-10-batches-py/data_batch_2")
    # row-major 3072 = 3 x 32 x 32 planes (R, G, B), batches in order 1..5
    assert np.array_equal(d.x_train[16], batch["data"][0].reshape(3, 32, 32))
    assert d.y_train[16:32].tolist() == batch["labels"]
    assert d.x_train.dtype == np.uint8 and set(d.y_train) <= set(range(10))


def test_cifar100_standin_uses_fine_labels(standin):
    d = data.load_images(str(standin("cifar100")))
    test = _unpickle(standin.mirror / "cifar-100-python/test")
    assert d.x_train.shape == (64, 3, 32, 32) and d.y_test.tolist() == test["fine_labels"]
    assert max(test["fine_labels"]) >= 20  # fine (100), not coarse (20) labels


def test_cifar_c_standin_is_archive_checksummed_and_read_by_severity(standin):
    manifest = standin("cifar10_c")
    record = data.check_manifest(manifest)
    assert len(record["files"]) == 19 + 1 and "archive" in record
    folder = manifest.parent / "CIFAR-10-C"
    x, y = corruption.cifar_c(folder, "fog", 3, limit=5)
    raw = np.load(folder / "fog.npy")  # severities stacked in blocks of 8 here
    assert x.shape == (5, 3, 32, 32) and np.array_equal(x[0], raw[16].transpose(2, 0, 1))
    assert y.tolist() == np.load(folder / "labels.npy")[16:21].tolist()


def test_tinyimagenet_standins_read_with_sorted_wnids(standin):
    d = data.load_images(str(standin("tinyimagenet")))
    assert d.x_train.shape == (40, 3, 64, 64) and d.x_test.shape == (20, 3, 64, 64)
    assert d.y_train.tolist() == [i for i in range(10) for _ in range(4)]
    assert d.y_test.tolist() == [i % 10 for i in range(20)]
    folder = standin("tinyimagenet_c").parent / "Tiny-ImageNet-C"
    assert corruption.tinyimagenet_c_types(folder) == sorted(standins.TIN_C_TYPES)
    classes = sorted(p.name for p in (folder / "fog" / "1").iterdir())
    x, y = corruption.tinyimagenet_c(folder, "fog", 5, classes)
    assert x.shape == (10, 3, 64, 64) and y.tolist() == list(range(10))


def test_a_damaged_standin_fails_its_checksum(standin, tmp_path):
    blob = bytearray((standin.mirror / "CIFAR-100-C.tar").read_bytes())
    blob[-2000] ^= 0xFF
    (tmp_path / "CIFAR-100-C.tar").write_bytes(bytes(blob))
    with pytest.raises(data.DataError, match="CIFAR-100-C.tar.*corrupted"):
        data.fetch(
            "cifar100_c",
            tmp_path / "dest",
            mirror=tmp_path,
            log=lambda *_: None,
            datasets_file=standin.datasets_file,
        )
