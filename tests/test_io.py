"""Atomic writes: a failed or killed write never leaves a file that looks complete."""

import pytest

from repro.io import atomic_path, read_json, write_json


def test_success_replaces_target(tmp_path):
    target = tmp_path / "sub" / "x.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert read_json(target) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_failure_keeps_old_content_and_leaves_no_temp(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("complete")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_failure_on_new_target_creates_nothing(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise ValueError
    assert not target.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_get_the_users_umask_not_0600(tmp_path, umask):
    import os
    import stat

    old = os.umask(umask)
    try:
        write_json(tmp_path / "x.json", {"a": 1})
        with atomic_path(tmp_path / "y.bin") as tmp:
            with open(tmp, "wb") as fh:  # writers that reopen the temp path keep its mode
                fh.write(b"1")
    finally:
        os.umask(old)
    for name in ("x.json", "y.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
