"""API shapes of API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from picturetime_common.db.models import ApiKey
from picturetime_gateway.auth.service import MAX_LABEL_LENGTH

Scope = Literal["upload", "sync", "admin"]


class ApiKeyOut(BaseModel):
    id: int
    label: str
    prefix: str = Field(description="the first characters of the key, to recognise it")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id, label=key.label, prefix=key.prefix, scopes=sorted(key.scope_set),
            created_at=key.created_at, last_used_at=key.last_used_at, revoked_at=key.revoked_at,
        )  # fmt: skip


class IssuedKeyOut(ApiKeyOut):
    secret: str = Field(description="the key itself: shown only in this response, never again")


class KeyIn(BaseModel):
    label: str = Field(min_length=1, max_length=MAX_LABEL_LENGTH, examples=["phone"])
    scopes: list[Scope] = Field(
        min_length=1, max_length=3, description="`admin` only for administrators", examples=[["upload"]]
    )
