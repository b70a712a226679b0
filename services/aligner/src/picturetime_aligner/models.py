"""Alignment settings and results: the data the worker stores with every frame."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum

BACKGROUNDS = ("blur", "solid", "edge")


@dataclass(frozen=True)
class AlignmentSettings:
    """Output canvas and where the eyes go on it."""

    width: int = 1080
    height: int = 1350
    eye_line: float = 0.42  # eye-line height as a fraction of output height
    eye_distance: float = 0.28  # inter-eye distance as a fraction of output width
    background: str = "blur"  # "blur" | "solid" | "edge"
    fill: tuple[int, int, int] = (0, 0, 0)  # RGB, for "solid"
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        if self.width < 8 or self.height < 8:
            raise ValueError("output size must be at least 8x8")
        if not 0 < self.eye_distance < 1 or not 0 < self.eye_line < 1:
            raise ValueError("eye_line and eye_distance are fractions in (0, 1)")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be in 1..100")
        object.__setattr__(self, "fill", tuple(int(c) for c in self.fill))

    def params_hash(self) -> str:
        """Short stable hash of every setting that changes the output pixels."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def target_eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Output-pixel targets (left, right) of the eye centres, pixel centres at integers."""
        # Fractions refer to continuous coordinates (0..width); -0.5 converts to pixel centres,
        # so that scaling a canvas keeps the eyes on the same fractions.
        y = self.eye_line * self.height - 0.5
        half = self.eye_distance * self.width / 2
        cx = self.width / 2 - 0.5
        return (cx - half, y), (cx + half, y)

    @property
    def size(self) -> tuple[int, int]:
        """Output (width, height)."""
        return (self.width, self.height)


class Failure(StrEnum):
    """Why a photo gave no frame."""

    NO_FACE = "no_face"
    UNDECODABLE = "undecodable"
    INVALID_INPUT = "invalid_input"  # hints that cannot be used (eye points that are not points)
    # An exception inside a library: a corrupt file, or the machine (memory) rather than the photo.
    INTERNAL = "internal"


@dataclass
class AlignmentResult:
    """What aligning one photo produced."""

    status: str  # "aligned" | "no_face" | "error"
    matrix: list[list[float]] | None  # 2x3 similarity: upright input pixels -> output pixels
    left_eye: tuple[float, float] | None  # upright input pixels, the eye on the image's left
    right_eye: tuple[float, float] | None
    confidence: float
    quality: dict = field(default_factory=dict)
    input_size: tuple[int, int] | None = None  # upright (w, h)
    output_size: tuple[int, int] = (1080, 1350)
    jpeg: bytes | None = None
    error: str | None = None
    failure: Failure | None = None  # None when aligned
    # The aligned face's 128-d embedding, when the caller asked for the owner's face ("faceprint").
    embedding: list[float] | None = None

    def to_json(self) -> dict:
        """Everything except the JPEG, JSON-serialisable."""
        return {
            "status": self.status,
            "matrix": self.matrix,
            "left_eye": list(self.left_eye) if self.left_eye is not None else None,
            "right_eye": list(self.right_eye) if self.right_eye is not None else None,
            "confidence": self.confidence,
            "quality": self.quality,
            "input_size": list(self.input_size) if self.input_size is not None else None,
            "output_size": list(self.output_size),
            "error": self.error,
        }
