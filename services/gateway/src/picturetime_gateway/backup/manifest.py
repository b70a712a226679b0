"""DIR/manifest.json: what a backup holds, and where each object's file lives."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from picturetime_common.settings import BucketNames
from picturetime_gateway.backup.errors import BackupError

FORMAT: Literal[1] = 1
MANIFEST = "manifest.json"
BUCKETS_DIR = "buckets"
# The bucket roles a backup covers, by their settings name (PT_BUCKETS__<ROLE>).
ROLES = tuple(BucketNames.model_fields)
CHUNK = 1024 * 1024


class ObjectEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    etag: str
    content_type: str
    # User metadata (x-amz-meta-*, without the prefix) and the object's tags, which drive expiry.
    metadata: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class BucketEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # the bucket's name when it was backed up; a restore uses the role's current name
    objects: list[ObjectEntry] = Field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects)


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["postgresql", "sqlite"]
    file: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    schema_revision: str
    tool: str  # what wrote the file, e.g. "pg_dump (PostgreSQL) 16.6"
    tool_major: int | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = FORMAT
    created_at: datetime
    catalog: CatalogEntry
    buckets: dict[str, BucketEntry]

    @property
    def object_count(self) -> int:
        return sum(len(b.objects) for b in self.buckets.values())

    @property
    def object_bytes(self) -> int:
        return sum(b.size for b in self.buckets.values())


def read_manifest(root: Path, *, required: bool = True) -> Manifest | None:
    path = root / MANIFEST
    if not path.is_file():
        if required:
            raise BackupError(f"{path} not found: {root} is not a Picture Time backup")
        return None
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BackupError(
            f"{path} is damaged or not a Picture Time backup ({where}: {first['msg']})"
        ) from None
    unknown = set(manifest.buckets) - set(ROLES)
    if unknown:
        raise BackupError(f"{path} names unknown buckets {sorted(unknown)}; expected {', '.join(ROLES)}")
    return manifest


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write the manifest atomically: a reader sees the old one or the new one, never half."""
    temp = root / f".{MANIFEST}.tmp"
    with temp.open("w") as out:
        json.dump(manifest.model_dump(mode="json"), out, indent=1, sort_keys=False)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    temp.replace(root / MANIFEST)
    fsync_dir(root)


def object_path(root: Path, role: str, key: str) -> Path:
    """DIR/buckets/<role>/<key>, refusing keys that would land outside it or cannot be a file."""
    parts = key.split("/")
    if not key or "\0" in key or any(part in ("", ".", "..") for part in parts):
        raise BackupError(f"object key {key!r} in bucket {role} cannot be stored as a file safely")
    return root.joinpath(BUCKETS_DIR, role, *parts)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
