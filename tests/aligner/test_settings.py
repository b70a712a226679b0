"""The aligner's settings: the common ones plus `PT_ALIGNER__…`."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from picturetime_aligner import AlignmentSettings
from picturetime_aligner.settings import AlignerSettings


@pytest.fixture(autouse=True)
def no_pt_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("PT_")]:
        monkeypatch.delenv(name)


def test_defaults() -> None:
    options = AlignerSettings().aligner
    assert (options.threads, options.retry_first_seconds, options.retry_max_seconds) == (1, 2.0, 300.0)
    assert options.alignment() == AlignmentSettings()


def test_the_aligner_group_comes_from_pt_aligner_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"THREADS": "3", "WIDTH": "540", "HEIGHT": "675", "RETRY_FIRST_SECONDS": "0.5",
                        "RETRY_MAX_SECONDS": "4"}.items():  # fmt: skip
        monkeypatch.setenv(f"PT_ALIGNER__{name}", value)
    monkeypatch.setenv("PT_NATS__MAX_DELIVER", "7")
    settings = AlignerSettings()
    options = settings.aligner
    assert (options.threads, options.retry_first_seconds, options.retry_max_seconds) == (3, 0.5, 4.0)
    assert options.alignment() == AlignmentSettings(width=540, height=675)
    assert settings.nats.max_deliver == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THREADS", "0"),
        ("THREADS", "17"),
        ("WIDTH", "4"),
        ("RETRY_FIRST_SECONDS", "0"),
        ("RETRY_FIRST_SECONDS", "301"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"PT_ALIGNER__{name}", value)
    with pytest.raises(ValidationError):
        AlignerSettings()
