"""One table of what each service may do, and the compose stack's files written from it."""

from __future__ import annotations

from pathlib import Path

from picturetime_common import permissions
from picturetime_common.permissions import GRANTS, READ, WRITE, minio_policy, nats_permissions


def test_the_compose_files_carry_the_table(tmp_path: Path) -> None:
    assert permissions.main([]) == 0, "run `uv run python -m picturetime_common.permissions --write`"
    # A hand edit between the markers is found, and --write puts the table back.
    for path in (permissions.NATS_CONF, permissions.MINIO_INIT):
        (tmp_path / path).parent.mkdir(parents=True)
        text = (permissions.REPO / path).read_text()
        (tmp_path / path).write_text(text.replace("pt.", "pt.hand-edited.", 1).replace("s3:", "s3:Also", 1))
    assert permissions.main(["--root", str(tmp_path)]) == 1
    assert permissions.main(["--root", str(tmp_path), "--write"]) == 0
    assert permissions.main(["--root", str(tmp_path)]) == 0


def test_least_privilege_for_each_service() -> None:
    aligner, archive = GRANTS["aligner"], GRANTS["archive"]
    assert aligner.buckets == {"originals": {READ}, "frames": {READ, WRITE}}  # frames: its faceprints too
    assert archive.buckets["media"] == {READ, WRITE}
    assert all(caps == {READ} for role, caps in archive.buckets.items() if role != "media")
    # The aligner publishes frames only and pulls from its own consumer; the archive only listens.
    publish = nats_permissions(aligner)["publish"]["allow"]
    assert "pt.frame.*" in publish and not [s for s in publish if s.startswith("pt.photo")]
    assert not [s for s in publish if ".gateway-frames" in s]
    assert nats_permissions(archive)["publish"] == {"deny": [">"]}
    policy = minio_policy(archive, {"originals": "o", "frames": "f", "media": "m", "timelapse": "t"})
    writes = [s["Resource"] for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
    assert writes == [["arn:aws:s3:::m/*"]]
