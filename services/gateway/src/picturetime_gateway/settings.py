"""Gateway settings: the common ones plus the `PT_GATEWAY__…` group."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from picturetime_common.settings import CommonSettings
from picturetime_gateway.clients import LOOPBACK, Network, parse_networks


class GatewayOptions(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    max_timelapse_bytes: int = Field(default=8 * 1024**3, ge=1024)
    # Decompression-bomb guard: no photo may decode to more pixels than this.
    max_pixels: int = Field(default=200_000_000, ge=1)
    timezone: str = "UTC"
    timelapse_versions_kept: int = Field(default=3, ge=1)
    # The alignment contract (the aligner's PT_ALIGNER__WIDTH/HEIGHT): a frame registered through
    # `POST /api/v1/frames` must be this size, its eyes mapped where the aligner puts them.
    frame_width: int = Field(default=1080, ge=8)
    frame_height: int = Field(default=1350, ge=8)
    frame_eye_line: float = Field(default=0.42, gt=0, lt=1)  # eye-line height, a fraction of the height
    frame_eye_distance: float = Field(default=0.28, gt=0, lt=1)  # between the eyes, a fraction of the width
    # Aligned frames below this confidence wait in the admin's review queue.
    review_confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    # A multipart upload begun this long ago is abandoned (its process was killed): aborted at
    # start-up and every few minutes, so its parts stop taking space. A younger one may be another
    # replica's live upload: keep this above the time the slowest client takes to send a file.
    abandoned_upload_hours: float = Field(default=1, ge=0)
    # The reconciler runs at start-up and this often: it asks again for the frame of every pending
    # daily photo with no event in the outbox (or whose newest is older than reemit_pending_minutes),
    # and of every photo failed by an outage of S3, NATS or the database.
    reconcile_every_seconds: float = Field(default=60, gt=0)
    reemit_pending_minutes: float = Field(default=60, gt=0)
    # A published outbox event is kept this long (to see what went out and when), then deleted,
    # so the table holds days of events, not years; an unpublished one is never deleted. At least
    # two days: the review queue reads the realignments asked for in the last two.
    outbox_retention_days: float = Field(default=30, ge=2)
    # A deleted photo waits in the trash this long (restorable), then goes for good.
    trash_days: float = Field(default=30, ge=0)
    # The reverse proxies whose forwarding header names the client (comma-separated addresses or
    # networks): Caddy, the ingress controller. Anyone else's header is ignored.
    trusted_proxies: str = LOOPBACK
    # The header those proxies write: X-Forwarded-For (Caddy, ingress-nginx) or RFC 7239 Forwarded.
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)


class GatewaySettings(CommonSettings):
    gateway: GatewayOptions = GatewayOptions()
