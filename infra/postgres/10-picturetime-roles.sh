#!/bin/sh
# Picture Time catalog roles. The postgres image runs this once, as the superuser
# ($POSTGRES_USER), when it initialises an empty data volume (/docker-entrypoint-initdb.d).
# It can be run again on an existing volume (it changes only what differs), e.g. to bring a volume
# made by an older version up to date:
#   docker compose -f deploy/compose.yaml exec postgres sh /docker-entrypoint-initdb.d/10-picturetime-roles.sh
#
#   PT_DB_USER / PT_DB_PASSWORD                    the gateway: owns the database, runs Alembic
#   PT_DB_READONLY_USER / PT_DB_READONLY_PASSWORD  the archive: reads what the public site shows
#
# What the archive's role may read is granted by the gateway after every migration
# (picturetime_common/db/roles.py): the site's tables, users' id and name only, and one session
# at a time through archive_session_user(token_hash); never password hashes, API keys or the
# sessions table. That list follows the schema as it changes; this script only names the role
# (the database setting picturetime.archive_role) and grants it nothing by default, so a table a
# later migration adds stays closed to the archive unless the list opens it.
#
# Passwords are passed as psql variables, quoted by psql (:'name'), never pasted into SQL text.
set -e  # (no -u: if the exec bit is lost, the entrypoint sources this file)

: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}"
: "${PT_DB_USER:?}" "${PT_DB_PASSWORD:?}" "${PT_DB_READONLY_USER:?}" "${PT_DB_READONLY_PASSWORD:?}"

if [ "${PT_ENV:-prod}" = prod ]; then
    for secret in "${POSTGRES_PASSWORD:-}" "$PT_DB_PASSWORD" "$PT_DB_READONLY_PASSWORD"; do
        case "$secret" in
            change-me* | changeme* | secret | password)
                echo "picturetime-roles: a database password in deploy/.env is still a placeholder" >&2
                exit 1 ;;
        esac
    done
fi

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v db="$POSTGRES_DB" \
    -v owner="$PT_DB_USER" -v owner_password="$PT_DB_PASSWORD" \
    -v reader="$PT_DB_READONLY_USER" -v reader_password="$PT_DB_READONLY_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'owner') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner')
\gexec
SELECT format('CREATE ROLE %I LOGIN', :'reader') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader')
\gexec
ALTER ROLE :"owner" LOGIN PASSWORD :'owner_password';
ALTER ROLE :"reader" LOGIN PASSWORD :'reader_password';

-- The gateway owns the database; as its owner it also owns the public schema
-- (pg_database_owner), so its migrations can create tables there.
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;

-- The archive: connect and look; the gateway grants it the tables it reads after each migration.
GRANT CONNECT ON DATABASE :"db" TO :"reader";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"reader";
ALTER DATABASE :"db" SET picturetime.archive_role = :'reader';
-- Belt and braces: even a mistaken grant cannot make the archive's sessions write.
ALTER ROLE :"reader" SET default_transaction_read_only = on;
SQL
