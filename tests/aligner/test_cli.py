"""picturetime-align end to end, as a subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
from PIL import Image

from picturetime_aligner import AlignmentSettings
from picturetime_aligner.geometry import apply
from tests.support import faces


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "picturetime_aligner.cli", *args], capture_output=True, text=True, timeout=240
    )


def test_cli_aligns_a_folder(tmp_path: Path):
    photos = {"a": faces.face_photo(10, 1.0), "b": faces.face_photo(-20, 1.4, (40, 0), exif_orientation=6)}
    inputs = []
    for name, photo in photos.items():
        (tmp_path / f"{name}.jpg").write_bytes(photo.jpeg)
        inputs.append(str(tmp_path / f"{name}.jpg"))
    (tmp_path / "blank.jpg").write_bytes(faces.blank_photo())
    (tmp_path / "broken.jpg").write_bytes(b"definitely not a jpeg")
    inputs += [str(tmp_path / "blank.jpg"), str(tmp_path / "broken.jpg")]
    with Image.open(io.BytesIO(photos["a"].jpeg)) as upright:  # a phone's HEIC of the same face
        pillow_heif.from_pillow(upright).save(tmp_path / "c.heic", quality=90)
    inputs.append(str(tmp_path / "c.heic"))
    out = tmp_path / "out"

    proc = run_cli(*inputs, "--out", str(out), "--size", "540x675", "--jobs", "2")

    assert proc.returncode == 1, proc.stderr  # one input errored
    assert "5/5" in proc.stderr and "broken.jpg: error (undecodable)" in proc.stderr
    assert "W0000" not in proc.stderr and "absl" not in proc.stderr  # no native library chatter
    records = [json.loads(line) for line in (out / "alignments.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == inputs
    assert [r["status"] for r in records] == ["aligned", "aligned", "no_face", "error", "aligned"]
    assert records[3]["error"] == "undecodable"
    heic_eyes = apply(np.array(records[4]["matrix"]), photos["a"].eyes)
    assert np.abs(heic_eyes - np.array(AlignmentSettings(width=540, height=675).target_eyes())).max() < 1.5
    for r in records:
        assert {
            "source",
            "status",
            "matrix",
            "output_size",
            "left_eye",
            "right_eye",
            "confidence",
            "error",
        } <= set(r)
        assert r["output_size"] == [540, 675]
    targets = np.array(AlignmentSettings(width=540, height=675).target_eyes())
    for name, record in zip(photos, records, strict=False):
        frame = cv2.imread(str(out / f"{name}.jpg"))
        assert frame.shape == (675, 540, 3)
        landed = apply(np.array(record["matrix"]), photos[name].eyes)
        assert np.abs(landed - targets).max() < 1.0
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "alignments.jsonl", "b.jpg", "c.jpg"]


def test_cli_missing_file(tmp_path: Path):
    proc = run_cli(str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "nope.jpg" in proc.stderr


def test_cli_rejects_a_bad_size(tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(faces.blank_photo())
    proc = run_cli(str(tmp_path / "a.jpg"), "--out", str(tmp_path / "out"), "--size", "big")
    assert proc.returncode == 2 and "1080x1350" in proc.stderr
