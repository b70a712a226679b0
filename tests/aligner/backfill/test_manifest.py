"""The manifest a run resumes from."""

from __future__ import annotations

from pathlib import Path


def test_manifest_skips_a_torn_line_and_adds_no_blank_ones(tmp_path: Path) -> None:
    from picturetime_aligner.backfill.manifest import Entry, Manifest

    path = tmp_path / "m.jsonl"
    one = Entry("a.jpg", 10, 1, "ab" * 32, "registered", "p1", "t")
    first = Manifest(path, "t")
    first.record(one)
    first.close()
    again = Manifest(path, "t")
    again.record(Entry("b.jpg", 11, 2, "cd" * 32, "no_face", None, "t"))
    again.close()
    assert path.read_text().count("\n") == 2 and "\n\n" not in path.read_text()
    with path.open("a") as fh:
        fh.write('{"rel": "c.jpg", "size"')  # killed mid-write
    torn = Manifest(path, "t")
    assert set(torn.entries) == {"a.jpg", "b.jpg"} and torn.finished("a.jpg", 10, 1) == one
    torn.record(Entry("c.jpg", 12, 3, "ef" * 32, "registered", "p3", "t"))
    torn.close()
    assert set(Manifest(path, "t").entries) == {"a.jpg", "b.jpg", "c.jpg"}
