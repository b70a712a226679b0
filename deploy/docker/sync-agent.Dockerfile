# syntax=docker/dockerfile:1.7
# Picture Time sync-agent image. Build from the repository root:
#   docker build -f deploy/docker/sync-agent.Dockerfile -t picturetime/sync-agent:0.1.0 .
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
    uv sync --locked --no-dev --no-install-workspace --package picturetime-sync-agent

# Source layer: the workspace packages this service needs, installed as wheels (not editable),
# so the runtime stage needs nothing from /src.
COPY libs/common/src libs/common/src
COPY libs/client/src libs/client/src
COPY services/sync-agent/src services/sync-agent/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package picturetime-sync-agent

# ---- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="picturetime-sync" \
      org.opencontainers.image.description="Picture Time sync agent for the home machine"
RUN groupadd --system --gid 10001 picturetime \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin picturetime \
    && install -d -o 10001 -g 10001 -m 0700 /data
COPY --from=builder /app/.venv /app/.venv
# PyAV wheels bundle FFmpeg (libx264), so no system codec packages are needed.
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PT_SYNC_DIR=/data
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# A one-shot CLI (no port, no HEALTHCHECK): `once` mirrors, encodes and publishes, then exits.
# deploy/compose.home.yaml runs it in a loop; systemd, cron and Task Scheduler files run it natively.
ENTRYPOINT ["picturetime-sync"]
CMD ["once"]
