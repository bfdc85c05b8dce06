"""Dataset registry: checksums, mirror resolution, downloads, archives, loaders."""

import gzip
import hashlib
import http.server
import io
import shutil
import tarfile
import threading
import zipfile

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


@pytest.fixture(autouse=True)
def _no_retry_wait(monkeypatch):
    monkeypatch.setattr(data, "RETRY_WAIT_S", 0.0)


@pytest.fixture
def url_calls(monkeypatch):
    """Every URL urlopen is asked for; `fail[url] = n` makes its first n calls fail like a
    dropped connection."""
    import urllib.request

    calls, fail, real = [], {}, urllib.request.urlopen

    def urlopen(url, *args, **kwargs):
        calls.append(url)
        if fail.get(url, 0) > 0:
            fail[url] -= 1
            raise ConnectionResetError("connection reset by peer")
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls, fail


def test_checksum_error_is_not_retried_network_error_is(
    tmp_path, tiny, http_root, monkeypatch, url_calls
):
    blobs, _ = tiny
    root, base = http_root
    calls, fail = url_calls
    (root / "a.gz").write_bytes(b"not the file")
    (root / "b.txt").write_bytes(blobs["TINY/raw/b.txt"])
    files = data.REGISTRY["tiny"].files
    monkeypatch.setitem(data.REGISTRY, "tiny", data.Dataset("tiny", files, urls=(base,)))
    with pytest.raises(data.DataError, match="corrupted"):
        data.fetch("tiny", tmp_path / "dest", log=lambda *_: None)
    assert calls == [base + "a.gz"]  # deterministic: asked once
    (root / "a.gz").write_bytes(blobs["TINY/raw/a.gz"])
    calls.clear()
    fail[base + "a.gz"] = data.DOWNLOAD_ATTEMPTS - 1  # transient: retried, then succeeds
    data.fetch("tiny", tmp_path / "dest", log=lambda *_: None)
    assert calls.count(base + "a.gz") == data.DOWNLOAD_ATTEMPTS


def test_verify_names_every_changed_downloaded_file(tmp_path, tiny, capsys):
    blobs, _ = tiny
    _write_tree(tmp_path / "mirror", blobs)
    root = tmp_path / "resources/data"
    data.fetch("tiny", root / "tiny", mirror=tmp_path / "mirror", log=lambda *_: None)
    assert data.verify_all(root) == [] and data.main(["verify", str(root)]) == 0
    changed = root / "tiny/TINY/raw/b.txt"
    changed.write_bytes(b"hellO\n")  # same size, other content
    (root / "tiny/TINY/raw/a.gz").unlink()
    capsys.readouterr()
    assert data.main(["verify", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{changed}: changed" in out and "a.gz: missing" in out
    assert "1 dataset(s) checked (tiny): 2 file(s) changed" in out


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


MEMBERS = {"set/a.bin": b"a" * 3000, "set/sub/b.txt": b"bee\n", "set/c.npy": bytes(range(256))}


def _tar(members, extra=()) -> bytes:
    """An uncompressed tar of `members` (path -> bytes), a directory entry, and `extra`
    TarInfo objects added as they are."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directory = tarfile.TarInfo("./set")
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for name, blob in members.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return buffer.getvalue()


def _zip(members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("set/", b"")  # a directory entry
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buffer.getvalue()


@pytest.fixture
def archived(tmp_path, monkeypatch):
    """Register an archive-checksummed dataset `name` whose archive `blob` is in the mirror."""

    def register(name: str, archive_name: str, blob: bytes, md5: str | None = None):
        (tmp_path / "mirror").mkdir(exist_ok=True)
        (tmp_path / "mirror" / archive_name).write_bytes(blob)
        archive = data.DataFile(archive_name, md5 or _md5(blob))
        monkeypatch.setitem(data.REGISTRY, name, data.Dataset(name, (), archive=archive))
        return tmp_path / "mirror"

    return register


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archive_checksummed_manifest_lists_every_member(tmp_path, archived, kind):
    blob = _tar(MEMBERS) if kind == "tar" else _zip(MEMBERS)
    mirror = archived("whole", f"whole.{kind}", blob)
    manifest = data.fetch("whole", tmp_path / "dest", mirror=mirror, log=lambda *_: None)
    assert manifest["files"] == {rel: _md5(b) for rel, b in MEMBERS.items()}
    assert manifest["sources"] == {f"whole.{kind}": f"mirror:{mirror / f'whole.{kind}'}"}
    assert manifest["archive"] == {f"whole.{kind}": _md5(blob)}
    assert (tmp_path / "dest/set/sub/b.txt").read_bytes() == b"bee\n"
    assert not (tmp_path / "dest" / f"whole.{kind}").exists()  # archive removed
    assert data.check_manifest(tmp_path / "dest/manifest.json")["files"] == manifest["files"]


def test_archive_checksummed_wrong_archive_md5_names_file(tmp_path, archived):
    expected = "0" * 32
    mirror = archived("whole", "whole.tar", _tar(MEMBERS), md5=expected)
    with pytest.raises(data.DataError) as err:
        data.fetch("whole", tmp_path / "dest", mirror=mirror)
    message = str(err.value)
    assert str(mirror / "whole.tar") in message and expected in message
    assert _md5(_tar(MEMBERS)) in message  # the actual md5
    assert not (tmp_path / "dest/manifest.json").exists()
    assert not (tmp_path / "dest/set").exists()


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _file(name, size=4):
    info = tarfile.TarInfo(name)
    info.size = size
    return info


@pytest.mark.parametrize(
    "bad",
    [_file("../escape.txt"), _file("set/../../escape.txt"), _file("/tmp/escape.txt")],
    ids=["dotdot", "nested-dotdot", "absolute"],
)
def test_archive_checksummed_refuses_path_traversal_in_tar(tmp_path, archived, bad):
    mirror = archived("whole", "whole.tar", _tar(MEMBERS, extra=[bad]))
    with pytest.raises(data.DataError, match=r"refusing member .*escape\.txt"):
        data.fetch("whole", tmp_path / "deep/dest", mirror=mirror)
    assert not (tmp_path / "deep/escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "deep/dest/manifest.json").exists()


def test_archive_checksummed_refuses_links_and_zip_traversal(tmp_path, archived):
    mirror = archived("linked", "linked.tar", _tar(MEMBERS, extra=[_link("set/l", "/etc/passwd")]))
    with pytest.raises(data.DataError, match="set/l"):
        data.fetch("linked", tmp_path / "dest1", mirror=mirror)
    mirror = archived("zipped", "zipped.zip", _zip({**MEMBERS, "../escape.txt": b"x"}))
    with pytest.raises(data.DataError, match=r"refusing member '\.\./escape\.txt'"):
        data.fetch("zipped", tmp_path / "dest2", mirror=mirror)
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "dest2/manifest.json").exists()


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archive_checksummed_does_not_write_through_symlinks(tmp_path, archived, kind):
    (tmp_path / "outside").mkdir()
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest/set").symlink_to(tmp_path / "outside")
    mirror = archived("whole", f"whole.{kind}", _tar(MEMBERS) if kind == "tar" else _zip(MEMBERS))
    with pytest.raises(data.DataError, match="refusing member"):
        data.fetch("whole", tmp_path / "dest", mirror=mirror)
    assert list((tmp_path / "outside").iterdir()) == []


def test_archive_checksummed_check_manifest_detects_modified_member(tmp_path, archived):
    mirror = archived("whole", "whole.zip", _zip(MEMBERS))
    data.fetch("whole", tmp_path / "dest", mirror=mirror, log=lambda *_: None)
    (tmp_path / "dest/set/c.npy").write_bytes(b"changed")
    with pytest.raises(data.DataError) as err:
        data.check_manifest(tmp_path / "dest/manifest.json")
    assert "set/c.npy" in str(err.value) and _md5(MEMBERS["set/c.npy"]) in str(err.value)


def _tiny_imagenet(root, wnids=("n02", "n01"), per_class=3, val=(("n01", 2), ("n02", 1))):
    """A miniature tiny-imagenet-200 folder: wnids.txt (unsorted on purpose), train JPEGs
    whose red channel encodes the class, val images + val_annotations.txt."""
    from PIL import Image

    base = root / "tiny-imagenet-200"
    (base / "wnids.txt").parent.mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    blobs = {}

    def image(path, red):
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.zeros((64, 64, 3), dtype=np.uint8)
        pixels[..., 0] = red
        Image.fromarray(pixels).save(path, quality=95)

    for wnid in wnids:
        for k in range(per_class):
            image(base / f"train/{wnid}/images/{wnid}_{k}.JPEG", 200 if wnid == "n02" else 40)
    lines = []
    for k, (wnid, _) in enumerate(v for v in val for _ in range(v[1])):
        image(base / f"val/images/val_{k}.JPEG", 200 if wnid == "n02" else 40)
        lines.append(f"val_{k}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val/val_annotations.txt").write_text("\n".join(lines) + "\n")
    for path in sorted(base.rglob("*")):
        if path.is_file():
            blobs[path.relative_to(root).as_posix()] = path.read_bytes()
    return blobs


def test_load_images_reads_tinyimagenet(tmp_path, archived):
    from repro import pca

    blobs = _tiny_imagenet(tmp_path / "src")
    mirror = archived("tinyimagenet", "tiny-imagenet-200.zip", _zip(blobs))
    dest = tmp_path / "data/tinyimagenet"
    manifest = data.fetch("tinyimagenet", dest, mirror=mirror, log=lambda *_: None)
    assert len(manifest["files"]) == len(blobs) == 2 + 6 + 3
    d = data.load_images(str(dest / "manifest.json"))
    assert d.name == "tinyimagenet"
    assert d.x_train.shape == (6, 3, 64, 64) and d.x_test.shape == (3, 3, 64, 64)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    # labels index the sorted wnids (n01 -> 0, n02 -> 1), whatever wnids.txt's order
    assert d.y_train.tolist() == [0, 0, 0, 1, 1, 1] and d.y_test.tolist() == [0, 0, 1]
    red = d.x_train[:, 0].mean(axis=(1, 2))
    assert np.all(np.abs(red - np.where(d.y_train == 1, 200, 40)) < 3)  # JPEG rounding
    assert np.all(np.abs(d.x_test[:, 0].mean(axis=(1, 2)) - [40, 40, 200]) < 3)
    result, meta = pca.dataset_pca(dest / "manifest.json")  # what compute_pca runs
    assert result.mean.shape == (3 * 64 * 64,) and str(meta["dataset"]) == "tinyimagenet"
    assert meta["input_shape"].tolist() == [3, 64, 64]


def test_registry_has_the_required_datasets():
    required = {"mnist", "fashion_mnist", "cifar10", "cifar100", "iris", "auto_mpg"}
    corrupted = {"cifar10_c", "cifar100_c", "tinyimagenet", "tinyimagenet_c"}
    assert required | corrupted <= set(data.REGISTRY)
    for dataset in data.REGISTRY.values():
        assert all(len(f.md5) == 32 for f in dataset.files)
        assert dataset.archive is None or len(dataset.archive.md5) == 32
        assert dataset.urls and all(u.endswith("/") for u in dataset.urls)
    for name in corrupted:  # archive-checksummed
        assert data.REGISTRY[name].files == () and data.REGISTRY[name].archive is not None
    assert "not verified" in data.REGISTRY["tinyimagenet_c"].note


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


def test_image_datasets_are_decoded_once_and_memory_mapped(manifests, tmp_path):
    from repro import decoded

    manifest = manifests("mnist")
    record = data.read_json(manifest)
    assert sorted(record["decoded"]) == [f"decoded/{n}.npy" for n in sorted(decoded.ARRAYS)]
    for rel, md5 in record["decoded"].items():
        assert data.md5sum(manifest.parent / rel) == md5
    mapped = data.load_images(str(manifest))
    assert isinstance(mapped.x_train, np.memmap) and mapped.x_train.shape == (60000, 1, 28, 28)
    # the same arrays as decoding the gzipped IDX files (a manifest without `decoded`)
    copy = tmp_path / "mnist"
    shutil.copytree(manifest.parent, copy, ignore=shutil.ignore_patterns("decoded"))
    raw_record = {k: v for k, v in record.items() if k != "decoded"}
    data.write_json(copy / "manifest.json", raw_record)
    raw = data.load_images(str(copy / "manifest.json"))
    assert not isinstance(raw.x_train, np.memmap)
    for name in decoded.ARRAYS:
        np.testing.assert_array_equal(getattr(mapped, name), getattr(raw, name))
        assert getattr(mapped, name).dtype == getattr(raw, name).dtype
    # memory-mapped copy-on-write: a job may write into its arrays, the file stays intact
    fresh = data.load_images.__wrapped__(str(manifest))  # not the cached arrays
    fresh.x_train[0] = 0
    assert (
        data.md5sum(manifest.parent / "decoded/x_train.npy")
        == record["decoded"]["decoded/x_train.npy"]
    )
    data.load_images.cache_clear()


def test_tampered_decoded_array_is_refused(manifests, tmp_path):
    copy = tmp_path / "fashion"
    shutil.copytree(manifests("fashion_mnist").parent, copy)
    labels = copy / "decoded/y_test.npy"
    array = np.load(labels)
    array[0] = (array[0] + 1) % 10
    np.save(labels, array)
    with pytest.raises(data.DataError, match=r"y_test\.npy.*expected"):
        data.load_images(str(copy / "manifest.json"))
    labels.unlink()
    with pytest.raises(data.DataError, match="missing"):
        data.load_images(str(copy / "manifest.json"))
