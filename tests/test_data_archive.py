"""data: archive members are md5-checked - a wrong member fails even when the archive's
own md5 is right; an archive-checksummed manifest records each member's true md5 (hashlib
of the bytes, computed here) and `check_manifest` re-verifies every one of them."""

import hashlib
import io
import json
import tarfile

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
