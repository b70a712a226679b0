"""web_sessions.api_key_id: a Piwigo session opened with an API key carries that key only

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-08 00:30:00

A `pwg.session.login` with an API key in place of the password used to open a full browser
session. Such a session now names its key: it serves only Piwigo's methods within the key's scopes
and ends with the key (revoked, or deleted with it). An existing session may have been opened
with a key, and nothing tells which: every existing session ends (everyone signs in once more).
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0002"  # rechained onto 0003 at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM web_sessions")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_web_sessions_api_key_id"), ["api_key_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_web_sessions_api_key_id_api_keys"), "api_keys", ["api_key_id"], ["id"],
            ondelete="CASCADE",
        )  # fmt: skip


def downgrade() -> None:
    # A key-opened session would become a full browser session without its column: end them.
    op.execute("DELETE FROM web_sessions WHERE api_key_id IS NOT NULL")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_web_sessions_api_key_id_api_keys"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_web_sessions_api_key_id"))
        batch_op.drop_column("api_key_id")
