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
