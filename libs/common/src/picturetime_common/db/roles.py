"""What the archive's database role may read, applied by the gateway after every migration.

On PostgreSQL the public site connects with its own role (infra/postgres/10-picturetime-roles.sh
creates it and records its name in the database setting `picturetime.archive_role`). That role
reads the tables the site shows, only `id` and `name` of `users`, nothing of `api_keys`,
`login_attempts` or the outbox, and finds a signed-in visitor only through
`archive_session_user(token_hash)`, which answers for one session whose hash it is given.

Nothing else is readable: a table a later migration adds stays closed to the archive until it is
listed here. `apply` runs after every migration (gateway start-up, `migrate`, `restore`), so the
grants follow the schema, and a restore (which recreates the tables without their grants) or a
volume initialised by an older script (SELECT on every table) ends up with exactly these.
SQLite has no roles: there the archive reads its file like any other process.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text

log = logging.getLogger(__name__)

ARCHIVE_ROLE_SETTING = "picturetime.archive_role"
# Tables the archive reads whole (new columns included, so an added column needs no grant).
ARCHIVE_TABLES = (
    "albums", "album_photos", "photos", "frames", "photo_tags", "tags", "projects", "timelapse_versions",
)  # fmt: skip
# Tables the archive reads only some columns of.
ARCHIVE_COLUMNS = {"users": ("id", "name")}
SESSION_LOOKUP = "archive_session_user"
# Any fixed number: concurrent gateway start-ups apply the grants one after the other.
GRANTS_LOCK = 0x70745F726F6C6573

SESSION_LOOKUP_FUNCTION = f"""
CREATE OR REPLACE FUNCTION public.{SESSION_LOOKUP}(token_hash text)
RETURNS TABLE (user_id integer, name varchar)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id, u.name FROM public.users u JOIN public.web_sessions s ON s.user_id = u.id
    WHERE s.token_hash = archive_session_user.token_hash AND s.expires_at > now()
      AND s.api_key_id IS NULL  -- a session opened with an API key (Piwigo) is nobody's browser
$$
"""


def apply(connection: Connection) -> None:
    """Create the session lookup and grant the archive's role what it reads (PostgreSQL only)."""
    if connection.dialect.name != "postgresql":
        return
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GRANTS_LOCK})
    connection.execute(text(SESSION_LOOKUP_FUNCTION))
    # Runs with its owner's rights (the gateway's): only the archive's role may call it.
    connection.execute(text(f"REVOKE ALL ON FUNCTION public.{SESSION_LOOKUP}(text) FROM PUBLIC"))
    role = connection.execute(text("SELECT current_setting(:name, true)"), {"name": ARCHIVE_ROLE_SETTING})
    reader = role.scalar() or ""
    if not reader:
        return  # no separate role for the archive (tests, a single-role setup)
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": reader})
    if exists.scalar() is None:
        log.warning("catalog.grants.no_such_role role=%s setting=%s", reader, ARCHIVE_ROLE_SETTING)
        return
    quoted = connection.dialect.identifier_preparer.quote(reader)
    statements = [
        # What an older roles script granted: SELECT on every table, now and later.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {quoted}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}",
        f"GRANT SELECT ON {', '.join(f'public.{table}' for table in ARCHIVE_TABLES)} TO {quoted}",
        *(f"GRANT SELECT ({', '.join(columns)}) ON public.{table} TO {quoted}"
          for table, columns in ARCHIVE_COLUMNS.items()),
        f"GRANT EXECUTE ON FUNCTION public.{SESSION_LOOKUP}(text) TO {quoted}",
    ]  # fmt: skip
    for statement in statements:
        connection.execute(text(statement))
    log.info("catalog.grants.applied role=%s tables=%d", reader, len(ARCHIVE_TABLES) + len(ARCHIVE_COLUMNS))
