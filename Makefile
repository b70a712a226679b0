# Picture Time: every target wraps uv. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=
# `make up PORT_BASE=20000`: every port of the stack at a fixed offset from this one.
PORT_BASE ?=

.PHONY: help install up test lint format bench backfill sync-agent-binary

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

install: ## install uv if missing and sync the workspace from uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet

up: install ## start the whole stack locally (SQLite, local S3 and NATS); Ctrl-C stops it; PORT_BASE=n for other ports
	@$(UV) run --locked python -m picturetime_common.devstack $(if $(PORT_BASE),--port-base $(PORT_BASE))

test: install ## run the whole test suite on real servers (starts a PostgreSQL and installs a browser if missing)
	@$(UV) run --locked python -m tests.support.bootstrap $(PYTEST_ARGS)

lint: install ## ruff lint, ruff format check and mypy
	@$(UV) run --locked ruff check .
	@$(UV) run --locked ruff format --check .
	@$(UV) run --locked mypy

format: install ## apply ruff fixes and formatting
	@$(UV) run --locked ruff check --fix .
	@$(UV) run --locked ruff format .

bench: install ## run every benchmark (bench/bench_*.py); numbers are printed and written to bench/results/; fails if any missed its target
	@failed=""; for script in bench/bench_*.py; do echo "== $$script"; $(UV) run --locked python $$script || failed="$$failed $$script"; done; \
	if [ -n "$$failed" ]; then echo "missed a target or failed:$$failed" >&2; exit 1; fi

backfill: install ## align and register years of photos: make backfill SRC=/path [VIDEO=out.mp4] [JOBS=n]
	@test -n "$(SRC)" || { echo "usage: make backfill SRC=/path/to/photos [VIDEO=out.mp4] [JOBS=n]" >&2; exit 2; }
	@$(UV) run --locked picturetime-backfill "$(SRC)" $(if $(VIDEO),--video "$(VIDEO)") $(if $(JOBS),--jobs $(JOBS))

sync-agent-binary: install ## build dist/picturetime-sync, the single-file sync agent (PyInstaller), and smoke-test it
	@$(UV) run --locked pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller deploy/pyinstaller/picturetime-sync.spec
	@dist/picturetime-sync --help >/dev/null && tmp=$$(mktemp -d) && dist/picturetime-sync scan "$$tmp" --index "$$tmp/index.db" && rm -rf "$$tmp"
