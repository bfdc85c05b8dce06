"""Dataset registry: checksums, mirror resolution, downloads, archives, loaders."""

import gzip
import hashlib
import http.server
import io
import shutil
import tarfile
import threading

import numpy as np
import pytest

from repro import data


def _md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


@pytest.fixture
def tiny(monkeypatch):
    """A two-file dataset registered for the test: files as IDX gz, plus their bytes."""
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(int(n).to_bytes(4, "big") for n in images.shape)
    blobs = {
        "TINY/raw/a.gz": gzip.compress(header + images.tobytes(), mtime=0),
        "TINY/raw/b.txt": b"hello\n",
    }
    files = tuple(data.DataFile(path, _md5(blob)) for path, blob in blobs.items())
    monkeypatch.setitem(data.REGISTRY, "tiny", data.Dataset("tiny", files, urls=()))
    return blobs, images


def _write_tree(root, blobs):
    for rel, blob in blobs.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(blob)


def test_fetch_from_mirror_writes_manifest(tmp_path, tiny):
    blobs, _ = tiny
    _write_tree(tmp_path / "mirror", blobs)
    manifest = data.fetch("tiny", tmp_path / "dest", mirror=tmp_path / "mirror", log=print)
    assert manifest["files"] == {rel: _md5(b) for rel, b in blobs.items()}
    assert all(s.startswith("mirror:") for s in manifest["sources"].values())
    assert (tmp_path / "dest" / "manifest.json").exists()
    # a second fetch re-verifies what is present and needs no mirror
    again = data.fetch("tiny", tmp_path / "dest", mirror=None)
    assert set(again["sources"].values()) == {"present"}


def test_corrupted_mirror_file_names_file_and_checksum(tmp_path, tiny):
    blobs, _ = tiny
    _write_tree(tmp_path / "mirror", blobs)
    bad = tmp_path / "mirror" / "TINY/raw/a.gz"
    bad.write_bytes(bad.read_bytes()[:-5])  # truncated
    expected = _md5(blobs["TINY/raw/a.gz"])
    with pytest.raises(data.DataError) as err:
        data.fetch("tiny", tmp_path / "dest", mirror=tmp_path / "mirror")
    assert str(bad) in str(err.value) and expected in str(err.value)
    assert not (tmp_path / "dest" / "manifest.json").exists()


def test_corrupted_present_file_is_not_reused(tmp_path, tiny):
    blobs, _ = tiny
    _write_tree(tmp_path / "dest", blobs)
    (tmp_path / "dest/TINY/raw/b.txt").write_bytes(b"hellO\n")
    with pytest.raises(data.DataError, match=r"b\.txt.*expected " + _md5(b"hello\n")):
        data.fetch("tiny", tmp_path / "dest")


def test_missing_mirror_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(data.DataError, match="does not exist"):
        data.resolve_mirror(tmp_path / "nope")
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "gone"))
    with pytest.raises(data.DataError, match=r"REPRO_DATA_MIRROR"):
        data.resolve_mirror(None)


def test_config_mirror_wins_over_environment(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "env").mkdir()
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "env"))
    assert data.resolve_mirror(tmp_path / "cfg") == tmp_path / "cfg"
    assert data.resolve_mirror(None) == tmp_path / "env"
    monkeypatch.delenv(data.MIRROR_ENV)
    assert data.resolve_mirror(None) is None


def test_no_source_error_lists_what_was_tried(tmp_path, tiny, monkeypatch):
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    with pytest.raises(data.DataError, match=r"TINY/raw/a\.gz.*not in a mirror"):
        data.fetch("tiny", tmp_path / "dest", mirror=None)


@pytest.fixture
def http_root(tmp_path):
    """A loopback HTTP server serving tmp_path/www; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_and_falls_back_across_urls(tmp_path, tiny, http_root, monkeypatch):
    blobs, images = tiny
    root, base = http_root
    for rel, blob in blobs.items():
        (root / rel.split("/")[-1]).write_bytes(blob)
    dead = "http://127.0.0.1:9/"  # discard port: connection refused
    files = data.REGISTRY["tiny"].files
    monkeypatch.setitem(data.REGISTRY, "tiny", data.Dataset("tiny", files, urls=(dead, base)))
    manifest = data.fetch("tiny", tmp_path / "dest", log=lambda *_: None)
    assert set(manifest["sources"].values()) == {base + "a.gz", base + "b.txt"}
    assert np.array_equal(data._read_idx(tmp_path / "dest/TINY/raw/a.gz"), images)


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, tiny, http_root, monkeypatch):
    blobs, _ = tiny
    root, base = http_root
    (root / "a.gz").write_bytes(b"not the file")
    (root / "b.txt").write_bytes(blobs["TINY/raw/b.txt"])
    files = data.REGISTRY["tiny"].files
    monkeypatch.setitem(data.REGISTRY, "tiny", data.Dataset("tiny", files, urls=(base,)))
    with pytest.raises(data.DataError, match="corrupted"):
        data.fetch("tiny", tmp_path / "dest", log=lambda *_: None)
    assert not (tmp_path / "dest/TINY/raw/a.gz").exists()


def test_archive_members_are_extracted_and_verified(tmp_path, monkeypatch):
    members = {"pack/x.bin": b"x" * 100, "pack/y.bin": b"y" * 50}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror/pack.tar.gz").write_bytes(buffer.getvalue())
    dataset = data.Dataset(
        "packed",
        tuple(data.DataFile(n, _md5(b)) for n, b in members.items()),
        archive=data.DataFile("pack.tar.gz", _md5(buffer.getvalue())),
    )
    monkeypatch.setitem(data.REGISTRY, "packed", dataset)
    manifest = data.fetch("packed", tmp_path / "dest", mirror=tmp_path / "mirror")
    assert (tmp_path / "dest/pack/y.bin").read_bytes() == members["pack/y.bin"]
    assert set(manifest["sources"].values()) == {"archive:pack.tar.gz"}
    assert not (tmp_path / "dest/pack.tar.gz").exists()


def test_registry_has_the_required_datasets():
    assert {"mnist", "fashion_mnist", "cifar10", "cifar100", "iris", "auto_mpg"} <= set(
        data.REGISTRY
    )
    for dataset in data.REGISTRY.values():
        assert all(len(f.md5) == 32 for f in dataset.files)


def test_mnist_loads_like_torchvision_says(manifests):
    mnist = data.load_images(str(manifests("mnist")))
    assert mnist.x_train.shape == (60000, 1, 28, 28) and mnist.x_test.shape == (10000, 1, 28, 28)
    assert list(mnist.y_train[:5]) == [5, 0, 4, 1, 9] and list(mnist.y_test[:5]) == [7, 2, 1, 0, 4]
    assert abs(mnist.x_train.mean() / 255 - 0.1307) < 1e-4


def test_fashion_mnist_loads(manifests):
    fashion = data.load_images(str(manifests("fashion_mnist")))
    assert list(fashion.y_train[:5]) == [9, 0, 0, 3, 0]
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10


def test_tables_load(manifests):
    assert data.load_table(manifests("iris")).shape == (150, 5)
    mpg = data.load_table(manifests("auto_mpg"))
    assert mpg.shape == (398, 9) and mpg["horsepower"].isna().sum() == 6


def test_loader_rechecks_checksums(manifests, tmp_path):
    copy = tmp_path / "iris"
    shutil.copytree(manifests("iris").parent, copy)
    (copy / "tabular/iris.csv").write_text("tampered\n")
    with pytest.raises(data.DataError, match="iris.csv"):
        data.load_table(copy / "manifest.json")
