"""photos.md5: the checksum Piwigo clients ask `pwg.images.exist` by

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 01:00:00

Photos stored before keep a null MD5 until the same bytes are uploaded again (`pwg.images.exist`
then answers null for them: a client uploads, and the duplicate is recognised by its SHA-256).
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"  # rechained at merge if another revision took this place
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("md5", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_photos_md5"), ["md5"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_photos_md5"))
        batch_op.drop_column("md5")
