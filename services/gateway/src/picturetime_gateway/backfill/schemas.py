"""API shapes of the backfill endpoints."""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_LOOKUP = 1000
MAX_FRAME_SIDE = 8192
HEX64 = r"^[0-9a-f]{64}$"
ORIGINAL_TYPES = ("image/jpeg", "image/png", "image/heic", "image/heif", "image/webp")

Sha256 = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")]


class LookupIn(BaseModel):
    sha256: list[Sha256] = Field(max_length=MAX_LOOKUP, description="SHA-256 of original files")


class LookupOut(BaseModel):
    known: list[str] = Field(description="the given hashes this account already has a photo for")


class FrameMetadata(BaseModel):
    """What the backfill job knows about one original and the frame it aligned from it."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=HEX64, description="SHA-256 of the original file")
    size: int = Field(ge=1, description="size of the original file in bytes")
    content_type: str = Field(description="type of the original: " + ", ".join(ORIGINAL_TYPES))
    taken_at: AwareDatetime = Field(description="capture time, with its UTC offset")
    original_name: str = Field(default="", max_length=255)
    original_width: int | None = Field(default=None, ge=1, description="upright width of the original")
    original_height: int | None = Field(default=None, ge=1)
    matrix: list[list[float]] = Field(description="2x3 similarity: original pixels to frame pixels")
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    confidence: float = Field(ge=0, le=1)
    quality: dict[str, Any] = Field(default_factory=dict)
    params_hash: str = Field(pattern=r"^[0-9a-f]{8,32}$")
    width: int = Field(ge=8, le=MAX_FRAME_SIDE, description="frame width, checked against the JPEG")
    height: int = Field(ge=8, le=MAX_FRAME_SIDE)
    frame_sha256: str | None = Field(default=None, pattern=HEX64, description="verified when given")
    exif: dict[str, Any] = Field(default_factory=dict, description="a summary: make, model, lens, ...")

    @field_validator("sha256", "frame_sha256", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("original_name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # A base name only, without control characters: it is shown, never used as a path.
        base = value.replace("\\", "/").rsplit("/", 1)[-1]
        return "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")

    @field_validator("content_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in ORIGINAL_TYPES:
            raise ValueError(f"must be one of {', '.join(ORIGINAL_TYPES)}")
        return value

    @field_validator("matrix")
    @classmethod
    def _two_by_three(cls, value: list[list[float]]) -> list[list[float]]:
        if len(value) != 2 or any(len(row) != 3 for row in value):
            raise ValueError("must be a 2x3 matrix")
        if not all(math.isfinite(v) for row in value for v in row):
            raise ValueError("must hold finite numbers")
        return value

    @field_validator("left_eye", "right_eye")
    @classmethod
    def _finite_point(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(math.isfinite(v) for v in value):
            raise ValueError("must hold finite numbers")
        return value
