.DEFAULT_GOAL := help
.PHONY: help serve test lint fmt bench

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

serve:  ## Start the server on SQLite + ./taipan-data at http://127.0.0.1:8000
	scripts/serve

test:  ## Lint, type-check, layering, all tests (SQLite), functional tests again (PostgreSQL + S3)
	scripts/test

lint:  ## ruff, mypy and import-linter only
	scripts/bootstrap
	.venv/bin/ruff check src tests bench && .venv/bin/ruff format --check src tests bench
	.venv/bin/mypy && .venv/bin/lint-imports

fmt:  ## Format and autofix
	.venv/bin/ruff format src tests bench && .venv/bin/ruff check --fix src tests bench
