"""photos.deleted_at: a photo in the trash (emptied, or expired after PT_GATEWAY__TRASH_DAYS)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 01:30:00
"""

from alembic import op
import sqlalchemy as sa

import picturetime_common.db.models

revision = "0006"
down_revision = "0005"  # rechained at merge if another revision took this place
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", picturetime_common.db.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_photos_deleted_at"), ["deleted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_photos_deleted_at"))
        batch_op.drop_column("deleted_at")
