"""data: archive members are md5-checked - a wrong member fails even when the archive's
own md5 is right; an archive-checksummed manifest records each member's true md5 (hashlib
of the bytes, computed here) and `check_manifest` re-verifies every one of them."""

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from repro import data

MEMBERS = {"pack/x.bin": b"x" * 1000, "pack/sub/y.txt": b"why\n", "pack/z.raw": bytes(range(256))}


def md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


@pytest.fixture
def packed(tmp_path, monkeypatch):
    """Register dataset `name` = an archive in the mirror holding `archive_members`, with
    per-file md5s `listed` (path -> md5; empty: archive-checksummed)."""

    def register(name, archive_members, listed):
        blob = tar_bytes(archive_members)
        (tmp_path / "mirror").mkdir(exist_ok=True)
        (tmp_path / "mirror" / f"{name}.tar").write_bytes(blob)
        files = tuple(data.DataFile(path, value) for path, value in listed.items())
        archive = data.DataFile(f"{name}.tar", md5(blob))
        monkeypatch.setitem(data.REGISTRY, name, data.Dataset(name, files, archive=archive))
        return tmp_path / "mirror"

    return register


def quiet(*_):
    pass


def test_members_with_their_md5s_are_extracted(tmp_path, packed):
    mirror = packed("good", MEMBERS, {p: md5(b) for p, b in MEMBERS.items()})
    manifest = data.fetch("good", tmp_path / "dest", mirror=mirror, log=quiet)
    for path, blob in MEMBERS.items():
        assert (tmp_path / "dest" / path).read_bytes() == blob
    assert manifest["files"] == {p: md5(b) for p, b in MEMBERS.items()}
    assert manifest["sources"] == {p: "archive:good.tar" for p in MEMBERS}


@pytest.mark.parametrize("bad", sorted(MEMBERS))
def test_a_member_with_the_wrong_md5_raises_and_is_not_kept(tmp_path, packed, bad):
    listed = {p: md5(b) for p, b in MEMBERS.items()}
    listed[bad] = md5(MEMBERS[bad] + b"!")  # the registry expects other bytes
    mirror = packed("bad", MEMBERS, listed)
    with pytest.raises(data.DataError) as err:
        data.fetch("bad", tmp_path / "dest", mirror=mirror, log=quiet)
    message = str(err.value)
    assert bad in message and listed[bad] in message and md5(MEMBERS[bad]) in message
    assert not (tmp_path / "dest" / bad).exists()
    assert not (tmp_path / "dest/manifest.json").exists()


def test_a_listed_member_missing_from_the_archive_raises(tmp_path, packed):
    listed = {p: md5(b) for p, b in MEMBERS.items()}
    listed["pack/extra.bin"] = md5(b"never packed")
    mirror = packed("short", MEMBERS, listed)
    with pytest.raises(data.DataError, match="no member 'pack/extra.bin'"):
        data.fetch("short", tmp_path / "dest", mirror=mirror, log=quiet)
    assert not (tmp_path / "dest/manifest.json").exists()


def test_only_pending_members_come_from_the_archive(tmp_path, packed):
    listed = {p: md5(b) for p, b in MEMBERS.items()}
    mirror = packed("part", MEMBERS, listed)
    (tmp_path / "dest/pack").mkdir(parents=True)
    (tmp_path / "dest/pack/x.bin").write_bytes(MEMBERS["pack/x.bin"])
    manifest = data.fetch("part", tmp_path / "dest", mirror=mirror, log=quiet)
    assert manifest["sources"]["pack/x.bin"] == "present"
    assert manifest["sources"]["pack/z.raw"] == "archive:part.tar"
    # a present file with the wrong bytes is refused, not silently replaced
    (tmp_path / "dest/pack/x.bin").write_bytes(b"x" * 999)
    with pytest.raises(data.DataError, match="x.bin"):
        data.fetch("part", tmp_path / "dest", mirror=mirror, log=quiet)


def test_archive_checksummed_manifest_holds_each_members_true_md5(tmp_path, packed):
    mirror = packed("whole", MEMBERS, {})
    manifest = data.fetch("whole", tmp_path / "dest", mirror=mirror, log=quiet)
    on_disk = json.loads((tmp_path / "dest/manifest.json").read_text())
    assert manifest["files"] == on_disk["files"] == {p: md5(b) for p, b in MEMBERS.items()}
    assert data.check_manifest(tmp_path / "dest/manifest.json")["name"] == "whole"


@pytest.mark.parametrize("bad", sorted(MEMBERS))
def test_archive_checksummed_check_manifest_catches_any_changed_member(tmp_path, packed, bad):
    mirror = packed("whole", MEMBERS, {})
    data.fetch("whole", tmp_path / "dest", mirror=mirror, log=quiet)
    path = tmp_path / "dest" / bad
    path.write_bytes(path.read_bytes()[:-1])  # truncated by one byte
    with pytest.raises(data.DataError) as err:
        data.check_manifest(tmp_path / "dest/manifest.json")
    assert bad in str(err.value) and md5(MEMBERS[bad]) in str(err.value)
    assert md5(MEMBERS[bad][:-1]) in str(err.value)
    path.unlink()
    with pytest.raises(data.DataError, match="missing"):
        data.check_manifest(tmp_path / "dest/manifest.json")


def test_md5sum_matches_hashlib_across_chunks(tmp_path):
    blob = bytes(range(256)) * 4099  # crosses several 1 KiB chunks
    (tmp_path / "f").write_bytes(blob)
    assert data.md5sum(tmp_path / "f", chunk=1024) == md5(blob)
    assert data.md5sum(tmp_path / "f") == md5(blob)


# --------------------------------------------------------------------------- sources, logs
def test_fetch_reads_the_datasets_file_it_is_given(tmp_path):
    """A dataset declared only in a `datasets_file` (as the test stand-ins are)."""
    blob = b"a,b\n1,2\n"
    (tmp_path / "mirror/own").mkdir(parents=True)
    (tmp_path / "mirror/own/t.csv").write_bytes(blob)
    declared = tmp_path / "own.yaml"
    declared.write_text(
        "ownset:\n  kind: table\n  reader: {format: csv, file: own/t.csv}\n"
        f"  files: {{own/t.csv: {md5(blob)}}}\n  note: declared in a test file\n"
    )
    manifest = data.fetch(
        "ownset", tmp_path / "dest", mirror=tmp_path / "mirror", log=quiet, datasets_file=declared
    )
    assert manifest["note"] == "declared in a test file"
    assert manifest["files"] == {"own/t.csv": md5(blob)}
    with pytest.raises(data.DataError, match="unknown dataset 'ownset'"):
        data.fetch("ownset", tmp_path / "dest2", mirror=tmp_path / "mirror", log=quiet)


@pytest.fixture
def no_wait(monkeypatch):
    monkeypatch.setattr(data, "RETRY_WAIT_S", 0.0)
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)


def _archive_only(tmp_path, monkeypatch, where: str):
    """Dataset `remote`: archive-checksummed, its archive served from a file:// URL."""
    blob = tar_bytes(MEMBERS)
    served = tmp_path / "www"
    served.mkdir()
    if where == "url":
        (served / "remote.tar").write_bytes(blob)
    archive = data.DataFile("remote.tar", md5(blob))
    dataset = data.Dataset("remote", (), urls=(served.as_uri() + "/",), archive=archive)
    monkeypatch.setitem(data.REGISTRY, "remote", dataset)
    return served


@pytest.mark.parametrize("mirror", ["none", "without the archive"])
def test_an_archive_missing_from_the_mirror_is_downloaded_and_logged(
    tmp_path, monkeypatch, no_wait, mirror
):
    served = _archive_only(tmp_path, monkeypatch, "url")
    (tmp_path / "empty").mkdir()
    lines = []
    manifest = data.fetch(
        "remote",
        tmp_path / "dest",
        mirror=None if mirror == "none" else tmp_path / "empty",
        log=lines.append,
    )
    url = served.as_uri() + "/remote.tar"
    assert manifest["sources"] == {"remote.tar": url}
    assert manifest["files"] == {p: md5(b) for p, b in MEMBERS.items()}
    assert lines == [f"remote: downloading {url}", "remote: 3 files extracted from remote.tar"]


def test_an_archive_nowhere_names_what_was_tried(tmp_path, monkeypatch, no_wait):
    served = _archive_only(tmp_path, monkeypatch, "nowhere")
    lines = []
    with pytest.raises(data.DataError, match="could not be downloaded") as err:
        data.fetch("remote", tmp_path / "dest", mirror=None, log=lines.append)
    assert served.as_uri() + "/remote.tar (attempt 3/3)" in str(err.value)
    assert lines == [f"remote: downloading {served.as_uri()}/remote.tar"] * 3
    (tmp_path / "mirror").mkdir()
    with pytest.raises(data.DataError) as err:
        data.fetch("remote", tmp_path / "dest", mirror=tmp_path / "mirror", log=quiet)
    assert f"not in the mirror '{tmp_path / 'mirror'}'" in str(err.value)


def test_mirror_archive_copy_is_logged_and_checked_twice(tmp_path, packed, monkeypatch):
    mirror = packed("good", MEMBERS, {})
    lines = []
    data.fetch("good", tmp_path / "dest", mirror=mirror, log=lines.append)
    assert lines == [
        "good: copying good.tar from the mirror",
        "good: 3 files extracted from good.tar",
    ]
    # the mirror's archive itself is wrong: named as the mirror archive
    (mirror / "good.tar").write_bytes(tar_bytes({"pack/x.bin": b"other"}))
    with pytest.raises(
        data.DataError, match=rf"^mirror archive '{mirror / 'good.tar'}' is corrupted"
    ):
        data.fetch("good", tmp_path / "dest2", mirror=mirror, log=quiet)
    # a copy that goes wrong on the way (a full disk, say): named as the copy
    mirror = packed("good", MEMBERS, {})
    monkeypatch.setattr(data.shutil, "copyfile", lambda a, b: open(b, "wb").write(b"cut"))
    with pytest.raises(data.DataError, match=rf"copy of mirror archive {mirror / 'good.tar'}'?"):
        data.fetch("good", tmp_path / "dest3", mirror=mirror, log=quiet)
    assert not (tmp_path / "dest3/good.tar").exists()


def test_a_corrupted_mirror_file_is_named_as_a_mirror_file(tmp_path, packed):
    mirror = packed("files", MEMBERS, {p: md5(b) for p, b in MEMBERS.items()})
    (mirror / "pack").mkdir()
    (mirror / "pack/x.bin").write_bytes(b"y" * 1000)
    with pytest.raises(data.DataError, match=rf"^mirror file '{mirror / 'pack/x.bin'}'"):
        data.fetch("files", tmp_path / "dest", mirror=mirror, log=quiet)


# --------------------------------------------------------------------------- member paths
@pytest.mark.parametrize(
    ("name", "clean"),
    [("dir\\file.txt", "dir/file.txt"), ("a//b/./c", "a/b/c"), ("./top.bin", "top.bin")],
)
def test_member_paths_are_cleaned(tmp_path, name, clean):
    assert data._member_path(name, tmp_path / "x.zip", tmp_path / "dest") == clean


@pytest.mark.parametrize(
    "name", ["a/../b", "\\abs.txt", "/abs.txt", "C:/x.txt", "C:x", "", ".", "./"]
)
def test_unsafe_member_paths_are_refused_naming_the_archive(tmp_path, name):
    with pytest.raises(data.DataError) as err:
        data._member_path(name, tmp_path / "x.zip", tmp_path / "dest")
    assert str(err.value) == (
        f"archive '{tmp_path / 'x.zip'}': refusing member '{name}' (outside '{tmp_path / 'dest'}')"
    )


def test_refused_and_irregular_members_name_the_archive(tmp_path, monkeypatch):
    inside = tarfile.TarInfo("pack/link")
    inside.type, inside.linkname = tarfile.SYMTYPE, "x.bin"  # a link inside dest: filter passes
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(inside)
    blob = buffer.getvalue()
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror/odd.tar").write_bytes(blob)
    monkeypatch.setitem(
        data.REGISTRY, "odd", data.Dataset("odd", (), archive=data.DataFile("odd.tar", md5(blob)))
    )
    archive = tmp_path / "dest" / "odd.tar"
    with pytest.raises(data.DataError) as err:
        data.fetch("odd", tmp_path / "dest", mirror=tmp_path / "mirror", log=quiet)
    assert str(err.value) == f"archive '{archive}': member 'pack/link' is not a regular file"
    zipped = tmp_path / "evil.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("../evil.txt", b"x")
    with pytest.raises(data.DataError, match=rf"^archive '{zipped}': refusing member"):
        list(data._members(zipped, tmp_path / "dest"))
    tarred = tmp_path / "evil.tar"
    tarred.write_bytes(tar_bytes({"../evil.txt": b"x"}))
    with pytest.raises(data.DataError, match=rf"^archive '{tarred}': refusing member"):
        list(data._members(tarred, tmp_path / "dest"))


def test_verify_all_defaults_to_resources_data(tmp_path, monkeypatch):
    folder = tmp_path / "resources/data/set"
    folder.mkdir(parents=True)
    (folder / "f.bin").write_bytes(b"abc")
    (folder / "manifest.json").write_text(json.dumps({"files": {"f.bin": md5(b"abc"), "g": "0"}}))
    monkeypatch.chdir(tmp_path)
    listed = Path("resources/data/set/manifest.json")
    assert data.verify_all() == [f"{listed.parent / 'g'}: missing (listed in {listed})"]


def test_files_copied_from_the_mirror_are_logged_and_errors_say_which_file(tmp_path, packed):
    listed = {p: md5(b) for p, b in MEMBERS.items()}
    mirror = packed("files", MEMBERS, listed)
    for rel, blob in MEMBERS.items():
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(blob)
    lines = []
    data.fetch("files", tmp_path / "dest", mirror=mirror, log=lines.append)
    assert lines == [f"files: {rel} copied from the mirror" for rel in MEMBERS]
    # a present file with other bytes: named as the present file of that dataset
    (tmp_path / "dest/pack/x.bin").write_bytes(b"x" * 999)
    with pytest.raises(data.DataError, match=r"^dataset file \(already present\) of files '"):
        data.fetch("files", tmp_path / "dest", mirror=mirror, log=quiet)
    # check_manifest: a changed file, then no manifest at all
    manifest = tmp_path / "dest/manifest.json"
    with pytest.raises(data.DataError, match=rf"^dataset file '{tmp_path / 'dest/pack/x.bin'}' is"):
        data.check_manifest(manifest)
    manifest.unlink()
    with pytest.raises(data.DataError) as err:
        data.check_manifest(manifest)
    assert str(err.value) == (
        f"dataset manifest '{manifest}' is missing; run the download rule first"
    )


def test_a_file_in_no_source_names_the_mirror_it_looked_in(tmp_path, monkeypatch, no_wait):
    monkeypatch.setitem(
        data.REGISTRY, "lost", data.Dataset("lost", (data.DataFile("a/b.bin", "0" * 32),))
    )
    (tmp_path / "mirror").mkdir()
    with pytest.raises(data.DataError) as err:
        data.fetch("lost", tmp_path / "dest", mirror=tmp_path / "mirror", log=quiet)
    assert f"not in the mirror '{tmp_path / 'mirror'}'" in str(err.value)
    with pytest.raises(data.DataError, match=r"not in a mirror \(none set"):
        data.fetch("lost", tmp_path / "dest", mirror=None, log=quiet)
