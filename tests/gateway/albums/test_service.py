"""Albums: created once by name, whoever races to create them."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from picturetime_common.db import make_engine, make_sessionmaker
from picturetime_common.db.models import User
from picturetime_common.enums import AlbumVisibility
from picturetime_gateway.albums.service import get_or_create_album
from picturetime_gateway.settings import GatewaySettings
from tests.support.stack import Account


def test_a_racing_album_creation_returns_the_winners_album(
    gateway_settings: GatewaySettings, account: Account
) -> None:
    """Two transactions create the same new album: the second waits on the unique index, then uses the first's."""

    async def go() -> tuple[int, int]:
        engine = make_engine(gateway_settings.catalog_url)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions() as first, sessions() as second:
                owner = await first.scalar(select(User.id).where(User.name == account.name))
                await second.scalar(select(User.id))  # opens the second transaction
                winner = await get_or_create_album(
                    first, owner, "Race album", AlbumVisibility.PUBLIC
                )  # not committed yet
                loser = asyncio.create_task(
                    get_or_create_album(second, owner, "Race album", AlbumVisibility.PUBLIC)
                )
                await asyncio.sleep(0.5)  # the second INSERT now waits on the unique index
                await first.commit()
                album = await loser
                await second.commit()
                return winner.id, album.id
        finally:
            await engine.dispose()

    winner_id, loser_id = asyncio.run(go())
    assert winner_id == loser_id
