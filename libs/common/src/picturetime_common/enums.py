"""The catalog's closed vocabularies, shared by every service (stored as their string values)."""

from __future__ import annotations

from enum import StrEnum


class PhotoKind(StrEnum):
    DAILY = "daily"  # for the timelapse: aligned, and its original may expire once mirrored home
    PORTFOLIO = "portfolio"  # kept forever, never aligned


class PhotoStatus(StrEnum):
    PENDING = "pending"  # waiting for the aligner
    STORED = "stored"  # a portfolio photo: nothing more to do
    ALIGNED = "aligned"
    FAILED = "failed"


class AlbumVisibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class ProjectVisibility(StrEnum):
    PUBLIC = "public"  # listed on the home page
    UNLISTED = "unlisted"  # reachable by its address only
    PRIVATE = "private"


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class FailureReason(StrEnum):
    """Why the aligner made no frame of a photo. A failure of the infrastructure is never one: the
    aligner retries it until it passes."""

    NO_FACE = "no_face"
    UNDECODABLE = "undecodable"
    MISSING_ORIGINAL = "missing_original"
    # The aligner process died while aligning it, again and again (out of memory, a native crash).
    CRASHED = "crashed"
    ERROR = "error"  # anything else that failed again and again, or eye points that are not points
