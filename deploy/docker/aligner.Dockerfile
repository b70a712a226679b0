# syntax=docker/dockerfile:1.7
# Picture Time aligner image. Build from the repository root:
#   docker build -f deploy/docker/aligner.Dockerfile -t picturetime/aligner:0.1.0 .
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
# The `video` extra (the sync agent's encoder, PyAV) lets the backfill job encode with --video.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package picturetime-aligner --extra video

# Source layer: the workspace packages this service needs, installed as wheels (not editable),
# so the runtime stage needs nothing from /src.
COPY libs/common/src libs/common/src
COPY libs/client/src libs/client/src
COPY services/aligner/src services/aligner/src
COPY services/sync-agent/src services/sync-agent/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package picturetime-aligner --extra video \
    && find /app/.venv -path "*/face_recognition_models/models/*" \
       \( -name "shape_predictor_68_face_landmarks.dat" -o -name "mmod_human_face_detector.dat" \) -delete
# (face-recognition-models ships four dlib models; the aligner uses the 5-point shape model and the
# face-recognition ResNet, so the 68-point one, 96 MB, and the CNN detector stay out of the image.)

# ---- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="picturetime-aligner" \
      org.opencontainers.image.description="Picture Time aligner: JetStream worker, originals to aligned frames"
# libglib2.0-0 is a precaution for MediaPipe/OpenCV: `ldd` on every shared object of the locked
# environment (mediapipe 0.10.21, opencv-python-headless) found only glibc, libstdc++ and zlib,
# which the base image has, but the import was never tried in a clean slim container.
# Debian package versions are not pinned: bookworm security updates replace them (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 picturetime \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin picturetime
COPY --from=builder /app/.venv /app/.venv
# matplotlib (imported by mediapipe.solutions) wants a writable config dir; /tmp is writable
# even with a read-only root filesystem (an emptyDir in Kubernetes).
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    PT_ENV=prod \
    PT_DATA_DIR=/tmp/picturetime \
    PT_ALIGNER__THREADS=1
WORKDIR /app
USER 10001:10001
# No HTTP port and no HEALTHCHECK: the worker is a JetStream pull consumer. It exits when it
# loses its work, and the orchestrator restarts it (restart policy / Deployment).
ENTRYPOINT ["picturetime-aligner"]
