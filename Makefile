# Picture Time: every target wraps uv. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=

.PHONY: help install up test lint format

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: ## install uv if missing and sync the workspace from uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet

up: install ## start the whole stack locally (SQLite, local S3 and NATS); Ctrl-C stops it
	@$(UV) run --locked python -m picturetime_common.devstack

test: install ## run the whole test suite on real servers
	@$(UV) run --locked pytest $(PYTEST_ARGS)

lint: install ## ruff lint and format check
	@$(UV) run --locked ruff check .
	@$(UV) run --locked ruff format --check .

format: install ## apply ruff fixes and formatting
	@$(UV) run --locked ruff check --fix .
	@$(UV) run --locked ruff format .
