"""Alignment settings and results: the hash that names a frame, the targets, the JSON record."""

from __future__ import annotations

import dataclasses

import pytest

from picturetime_aligner import Aligner, AlignmentSettings
from tests.support import faces

SETTINGS = AlignmentSettings()


def test_settings_hash_and_targets():
    assert SETTINGS.params_hash() == AlignmentSettings().params_hash()
    assert len(SETTINGS.params_hash()) == 12
    assert dataclasses.replace(SETTINGS, eye_line=0.4).params_hash() != SETTINGS.params_hash()
    (lx, ly), (rx, ry) = SETTINGS.target_eyes()
    assert ly == ry == pytest.approx(0.42 * 1350 - 0.5)
    assert rx - lx == pytest.approx(0.28 * 1080)
    with pytest.raises(ValueError):
        AlignmentSettings(background="plaid")


def test_result_json_round_trips(aligner: Aligner):
    import json

    result = aligner.align(faces.face_photo().jpeg)
    record = json.loads(json.dumps(result.to_json()))
    assert "jpeg" not in record
    assert record["status"] == "aligned" and len(record["matrix"]) == 2 and len(record["matrix"][0]) == 3
