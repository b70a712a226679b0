"""Per-account Picture Time: timelapse versions get an owner, accounts a public flag, the site an owner

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 00:30:00

Before this revision every account's daily photos were public and any account's timelapse was the
site's. Now each account has its own Picture Time, public only when its owner says so, and the
site shows its owner's. To keep the site showing what it showed: the site's owner is the first
admin, their Picture Time is public, and each timelapse version belongs to whoever published it
(a version whose publisher is gone goes to the site's owner; with no account at all, it is dropped).
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

users = sa.table(
    "users", sa.column("id", sa.Integer()), sa.column("role", sa.String()),
    sa.column("picture_time_public", sa.Boolean()),
)  # fmt: skip
versions = sa.table(
    "timelapse_versions", sa.column("id", sa.Integer()), sa.column("owner_id", sa.Integer()),
    sa.column("uploaded_by", sa.Integer()),
)  # fmt: skip
site = sa.table("site_settings", sa.column("id", sa.Integer()), sa.column("owner_id", sa.Integer()))


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("picture_time_public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "site_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_site_settings_owner_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_settings")),
    )  # fmt: skip
    with op.batch_alter_table("timelapse_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))

    bind = op.get_bind()
    owner = bind.execute(sa.select(sa.func.min(users.c.id)).where(users.c.role == "admin")).scalar()
    if owner is None:
        owner = bind.execute(sa.select(sa.func.min(users.c.id))).scalar()
    if owner is not None:
        bind.execute(site.insert().values(id=1, owner_id=owner))
        bind.execute(sa.update(users).where(users.c.id == owner).values(picture_time_public=True))
    bind.execute(sa.update(versions).values(owner_id=versions.c.uploaded_by))
    if owner is not None:
        bind.execute(sa.update(versions).where(versions.c.owner_id.is_(None)).values(owner_id=owner))
    bind.execute(sa.delete(versions).where(versions.c.owner_id.is_(None)))

    with op.batch_alter_table("timelapse_versions", schema=None) as batch_op:
        batch_op.alter_column("owner_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_timelapse_versions_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index(batch_op.f("ix_timelapse_versions_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("timelapse_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timelapse_versions_owner_id"))
        batch_op.drop_constraint(batch_op.f("fk_timelapse_versions_owner_id_users"), type_="foreignkey")
        batch_op.drop_column("owner_id")
    op.drop_table("site_settings")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("picture_time_public")
