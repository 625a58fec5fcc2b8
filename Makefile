# Tenantry — the two commands a newcomer needs: `make up` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export TENANTRY_DATA_DIR ?= $(CURDIR)/var

.PHONY: up test test-quick lint bench install docker images clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

docker:
	scripts/ensure-docker.sh

images: docker
	scripts/build-hello-image.sh

## Run the product: control plane (127.0.0.1:8000), worker, Traefik (127.0.0.1:8880).
up: install images
	$(BIN)/tenantry up

## The whole test suite, on SQLite then on PostgreSQL, against real Docker and Traefik.
test: install images
	scripts/test.sh

## Only SQLite, for a quick local loop.
test-quick: install images
	TENANTRY_TEST_DATABASES=sqlite scripts/test.sh

lint: install
	$(BIN)/ruff check tenantry tests bench scripts
	$(BIN)/mypy tenantry

bench: install images
	$(BIN)/python bench/provision.py

clean:
	rm -rf var test-output .pytest_cache .mypy_cache .ruff_cache
