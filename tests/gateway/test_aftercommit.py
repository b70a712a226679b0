"""What waits for the commit runs once the request committed, and never when the request fails."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from picturetime_common.db import make_engine
from picturetime_common.db.models import User
from picturetime_gateway.aftercommit import after_commit
from picturetime_gateway.app import create_app
from picturetime_gateway.deps import SessionDep
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.settings import GatewaySettings


async def names_committed(url: str) -> list[str]:
    """The user names another connection sees."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return sorted((await conn.scalars(select(User.name))).all())
    finally:
        await engine.dispose()


def test_after_commit_actions_run_once_committed_and_never_after_a_failure(
    gateway_settings: GatewaySettings,
) -> None:
    app = create_app(gateway_settings)
    url = gateway_settings.catalog_url
    seen: list[str] = []

    @app.post("/test/commits", include_in_schema=False)
    async def commits(session: SessionDep) -> None:
        session.add(User(name="kept"))

        async def action() -> None:
            seen.append(f"committed: {await names_committed(url)}")

        after_commit(session, action)

    @app.post("/test/fails", include_in_schema=False)
    async def fails(session: SessionDep) -> None:
        session.add(User(name="dropped"))
        await session.flush()

        async def action() -> None:
            seen.append("ran after a rollback")

        after_commit(session, action)
        raise GatewayError(409, "refused", "refused after writing")

    @app.post("/test/breaks", include_in_schema=False)
    async def breaks(session: SessionDep) -> None:
        async def failing() -> None:
            raise OSError("the object store is down")

        async def next_one() -> None:
            seen.append("the next one ran")

        after_commit(session, failing)
        after_commit(session, next_one)

    with TestClient(app) as client:
        assert client.post("/test/commits").status_code == 200
        assert client.post("/test/fails").status_code == 409
        assert client.post("/test/breaks").status_code == 200  # the commit stands; the failure is logged
    # The action saw its request's row committed, from another connection, before the answer went out.
    assert seen == ["committed: ['kept']", "the next one ran"]
