# syntax=docker/dockerfile:1.7
# Picture Time gateway image. Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t picturetime/gateway:0.1.0 .
# All four service Dockerfiles share this pattern; only the package, the extra runtime packages,
# the port and the entrypoint differ.

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---- builder: resolve from uv.lock into /app/.venv --------------------------------------------
FROM python:3.11-slim-bookworm AS builder
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Dependency layer: only the lock file and the workspace's pyproject files, so a source change
# does not re-download or re-install third-party packages. uv needs every member's pyproject
# to check the lock (--locked), even the ones this image does not install.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY libs/client/pyproject.toml libs/client/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/aligner/pyproject.toml services/aligner/
COPY services/archive/pyproject.toml services/archive/
COPY services/sync-agent/pyproject.toml services/sync-agent/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package picturetime-gateway

# Source layer: the workspace packages this service needs, installed as wheels (not editable),
# so the runtime stage needs nothing from /src.
COPY libs/common/src libs/common/src
COPY services/gateway/src services/gateway/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package picturetime-gateway

# ---- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="picturetime-gateway" \
      org.opencontainers.image.description="Picture Time gateway: accounts, uploads, catalog, outbox"
# pg_dump and pg_restore for `picturetime-gateway backup|restore`: they must be at least as new as
# the server (postgres:16 in deploy/compose.yaml), and bookworm ships 15, so they come from the
# PostgreSQL project's apt repository, set up by Debian's postgresql-common script with the
# signing key that package ships. Keep PG_CLIENT_MAJOR >= the server's major version.
ARG PG_CLIENT_MAJOR=16
# Debian package versions are not pinned: bookworm security updates replace them (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates postgresql-common \
    && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
    && apt-get install -y --no-install-recommends "postgresql-client-${PG_CLIENT_MAJOR}" \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 picturetime \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin picturetime
# The virtual environment stays owned by root: the service cannot modify its own code.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PT_ENV=prod \
    PT_DATA_DIR=/tmp/picturetime
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["picturetime-gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
