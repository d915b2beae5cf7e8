"""Outputs appear whole or not at all (npu.outputs, in-process)."""

from __future__ import annotations

import pytest

from npu.outputs import output_batch


def test_batch_commits_every_file(tmp_path):
    with output_batch() as out:
        out.write_text(tmp_path / "a.json", "{}")
        out.write(tmp_path / "b.bin", lambda p: p.write_bytes(b"123"))
        out.write_text(None, "skipped")
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []
    assert (tmp_path / "a.json").read_text() == "{}"
    assert (tmp_path / "b.bin").read_bytes() == b"123"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]


def test_failure_part_way_leaves_nothing(tmp_path):
    (tmp_path / "a.json").write_text("old")

    def explode(path):
        path.write_bytes(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError), output_batch() as out:
        out.write_text(tmp_path / "a.json", "new")
        out.write(tmp_path / "b.bin", explode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert (tmp_path / "a.json").read_text() == "old"
