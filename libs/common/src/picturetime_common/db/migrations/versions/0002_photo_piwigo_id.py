"""photos.piwigo_id: a stored Piwigo image id, unique per owner

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:55:00

Piwigo image ids used to be derived from the photo's UUID (29 bits), so two photos of one owner
could share one and an overwrite by image id could pick the wrong photo. Existing photos keep the
id they had (Darktable may have seen it); the later of two that shared one gets the next free id.
"""

import uuid

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MAX_ID = 0x1FFFFFFF  # Darktable prints image ids into 10 bytes: at most 9 digits


def _derived(photo_id: uuid.UUID) -> int:
    """The id the gateway derived before this revision: the UUID's first 29 bits (never 0)."""
    return int(photo_id.hex[:8], 16) & MAX_ID or 1


def upgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("piwigo_id", sa.Integer(), nullable=True))

    photos = sa.table(
        "photos",
        sa.column("id", sa.Uuid()),
        sa.column("owner_id", sa.Integer()),
        sa.column("uploaded_at", sa.DateTime()),
        sa.column("piwigo_id", sa.Integer()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(photos.c.id, photos.c.owner_id).order_by(photos.c.owner_id, photos.c.uploaded_at, photos.c.id)
    ).all()
    taken: dict[int, set[int]] = {}
    for photo_id, owner_id in rows:
        used = taken.setdefault(owner_id, set())
        value = _derived(photo_id)
        while value in used:  # the earlier photo keeps the shared id
            value = value % MAX_ID + 1
        used.add(value)
        bind.execute(sa.update(photos).where(photos.c.id == photo_id).values(piwigo_id=value))

    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.alter_column("piwigo_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_photos_owner_id_piwigo_id"), ["owner_id", "piwigo_id"])


def downgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_photos_owner_id_piwigo_id"), type_="unique")
        batch_op.drop_column("piwigo_id")
