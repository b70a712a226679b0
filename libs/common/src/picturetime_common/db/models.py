"""The catalog: SQLAlchemy 2 models (the gateway is the only writer)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from picturetime_common.enums import (
    AlbumVisibility,
    FailureReason,
    PhotoKind,
    PhotoStatus,
    ProjectVisibility,
    Role,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; attach a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class StringEnum(TypeDecorator[E]):
    """A StrEnum stored as its string value in a plain VARCHAR: read back as the enum, and a value
    outside it refused on write."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    """Collections raise on a lazy load (an async session cannot run one unseen): a query that needs
    one loads it explicitly (`selectinload`). The many-to-one links every reader uses (a frame's
    photo, a key's or a session's user) are joined into each query of their row."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(StringEnum(Role, 16), default=Role.MEMBER)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Whether this account's Picture Time (its daily frames, their dates, its timelapse) is public.
    picture_time_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", lazy="raise")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    # Keys are 256-bit random tokens, so a plain SHA-256 is a safe and fast verifier.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="api_keys", lazy="joined")

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("owner_id", "sha256"), UniqueConstraint("owner_id", "piwigo_id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The number Darktable's Piwigo exporter knows the photo by (it keeps ids to 9 digits), unique
    # per owner: an overwrite by image id must replace this photo and no other.
    piwigo_id: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # The MD5 Piwigo clients ask `pwg.images.exist` by (null for photos stored before it was kept).
    md5: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[PhotoKind] = mapped_column(StringEnum(PhotoKind, 16), default=PhotoKind.DAILY)
    width: Mapped[int | None]
    height: Mapped[int | None]
    taken_at: Mapped[datetime] = mapped_column(index=True)
    # The capture's UTC offset: a daily photo belongs to its local calendar day.
    utc_offset_minutes: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    exif: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[PhotoStatus] = mapped_column(
        StringEnum(PhotoStatus, 16), default=PhotoStatus.PENDING, index=True
    )
    title: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # Location stays private unless the owner opts in per photo.
    gps: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    show_location: Mapped[bool] = mapped_column(Boolean, default=False)
    # A RAW file kept beside this photo (same base name), if any.
    raw_key: Mapped[str | None] = mapped_column(String(512))
    raw_content_type: Mapped[str | None] = mapped_column(String(100))
    raw_size: Mapped[int | None] = mapped_column(BigInteger)
    failure_reason: Mapped[FailureReason | None] = mapped_column(StringEnum(FailureReason, 32))
    failure_detail: Mapped[str | None] = mapped_column(Text)
    # In the trash since then (hidden everywhere; removed for good after PT_GATEWAY__TRASH_DAYS).
    deleted_at: Mapped[datetime | None] = mapped_column(index=True, default=None)

    frame: Mapped[Frame | None] = relationship(back_populates="photo", uselist=False, lazy="raise")
    albums: Mapped[list[Album]] = relationship(
        secondary="album_photos", back_populates="photos", lazy="raise"
    )
    tags: Mapped[list[Tag]] = relationship(secondary="photo_tags", back_populates="photos", lazy="raise")

    @property
    def taken_at_local(self) -> datetime:
        return self.taken_at.astimezone(timezone(timedelta(minutes=self.utc_offset_minutes)))


class Frame(Base):
    __tablename__ = "frames"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    photo_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), unique=True)
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(String(512))
    params_hash: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    matrix: Mapped[list[Any]]
    left_eye: Mapped[list[Any]]
    right_eye: Mapped[list[Any]]
    confidence: Mapped[float] = mapped_column(Float)
    quality: Mapped[dict[str, Any]] = mapped_column(default=dict)
    aligned_at: Mapped[datetime] = mapped_column(default=utcnow)
    mirrored_at: Mapped[datetime | None] = mapped_column(index=True)

    photo: Mapped[Photo] = relationship(back_populates="frame", lazy="joined")


class OutboxEvent(Base):
    """Events written in the same transaction as the rows they describe; a relay publishes them."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class TimelapseVersion(Base):
    """A version of one account's timelapse: each account publishes and prunes only its own."""

    __tablename__ = "timelapse_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    frames: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SiteSettings(Base):
    """The site's one row: whose Picture Time `/picture-time` and the home page show.

    Without a row (or with its owner deleted) the site's owner is the first admin."""

    __tablename__ = "site_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always SITE_SETTINGS_ID
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


SITE_SETTINGS_ID = 1


album_photos = Table(
    "album_photos",
    Base.metadata,
    Column("album_id", ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True),
    Column("photo_id", ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("added_at", UTCDateTime, nullable=False, default=utcnow),
)

photo_tags = Table(
    "photo_tags",
    Base.metadata,
    Column("photo_id", ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Album(Base):
    __tablename__ = "albums"
    __table_args__ = (UniqueConstraint("owner_id", "name"), UniqueConstraint("owner_id", "slug"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[AlbumVisibility] = mapped_column(
        StringEnum(AlbumVisibility, 16), default=AlbumVisibility.PRIVATE
    )
    cover_photo_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    photos: Mapped[list[Photo]] = relationship(secondary=album_photos, back_populates="albums", lazy="raise")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)

    photos: Mapped[list[Photo]] = relationship(secondary=photo_tags, back_populates="tags", lazy="raise")


class WebSession(Base):
    """A login: the cookie carries a random token, the row keeps only its hash.

    `api_key_id` set: a Piwigo session opened with an API key in place of the password. It carries
    that key's scopes only, serves only Piwigo's `ws.php`, never a web page, the JSON API or the
    archive, and ends with the key."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True, default=None
    )

    user: Mapped[User] = relationship(lazy="joined")
    api_key: Mapped[ApiKey | None] = relationship(lazy="joined")


class LoginAttempt(Base):
    """Failed logins, counted per user and per client for rate limiting (works across replicas)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Project(Base):
    """A portfolio project: Markdown body, cover, order, visibility; may show an album or the timelapse."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    cover_photo_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    visibility: Mapped[ProjectVisibility] = mapped_column(
        StringEnum(ProjectVisibility, 16), default=ProjectVisibility.PRIVATE
    )
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id", ondelete="SET NULL"))
    show_timelapse: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
