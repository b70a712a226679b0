#!/bin/sh
# Picture Time catalog roles. The postgres image runs this once, as the superuser
# ($POSTGRES_USER), when it initialises an empty data volume (/docker-entrypoint-initdb.d).
# A change here does not touch an existing volume: apply it by hand with the same psql call.
#
#   PT_DB_USER / PT_DB_PASSWORD                    the gateway: owns the database, runs Alembic
#   PT_DB_READONLY_USER / PT_DB_READONLY_PASSWORD  the archive: SELECT only, now and on every
#                                                  table the gateway creates later
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
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';

-- The gateway owns the database; as its owner it also owns the public schema
-- (pg_database_owner), so its migrations can create tables there.
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;

-- The archive: connect, read, nothing else.
GRANT CONNECT ON DATABASE :"db" TO :"reader";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
-- Tables the gateway's migrations create later are readable too.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
-- Belt and braces: even a mistaken grant cannot make the archive's sessions write.
ALTER ROLE :"reader" SET default_transaction_read_only = on;
SQL
