"""Aligner settings: the common ones plus the `PT_ALIGNER__…` group."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

from picturetime_aligner.models import AlignmentSettings
from picturetime_common.settings import CommonSettings


class AlignerOptions(BaseModel):
    # Each thread holds its own MediaPipe graph; one per core is the useful maximum.
    threads: int = Field(default=1, ge=1, le=16)
    width: int = Field(default=1080, ge=8)
    height: int = Field(default=1350, ge=8)
    # A failure of Picture Time's own infrastructure (S3 or NATS unreachable or answering 5xx, a
    # timeout) is retried for as long as it takes: first after this long, then doubling...
    retry_first_seconds: float = Field(default=2.0, gt=0)
    # ...up to this (each delay shortened by up to half at random, so replicas spread out).
    retry_max_seconds: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _first_retry_within_the_cap(self) -> Self:
        if self.retry_first_seconds > self.retry_max_seconds:
            raise ValueError("PT_ALIGNER__RETRY_FIRST_SECONDS exceeds PT_ALIGNER__RETRY_MAX_SECONDS")
        return self

    def alignment(self) -> AlignmentSettings:
        """The output canvas these options ask for."""
        return AlignmentSettings(width=self.width, height=self.height)


class AlignerSettings(CommonSettings):
    aligner: AlignerOptions = AlignerOptions()
