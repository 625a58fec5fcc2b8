# Tenantry — the two commands a newcomer needs: `make up` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export TENANTRY_DATA_DIR ?= $(CURDIR)/var

# No registry here: apps run on images built locally and mapped over the public names.
export TENANTRY_IMAGE_OVERRIDES ?= {"n8nio/n8n:2.8.4": "tenantry/n8n:2.8.4", "postgres:15": "tenantry/postgres:15", "mariadb:10.11": "tenantry/mariadb:10.11"}

.PHONY: up test test-quick lint bench bench-scale bench-engine bench-n8n bench-seo bench-billing install docker images n8n-image app-images clean

$(BIN)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# The Python SDK (clients/python), editable: the suite tests it against a live control plane.
	$(BIN)/pip install -q -e clients/python
	touch $@

install: $(BIN)/.installed

docker:
	scripts/ensure-docker.sh

images: docker
	scripts/build-hello-image.sh

## The n8n and PostgreSQL images (~5 min the first time, cached afterwards): for n8n instances and their tests.
n8n-image: docker
	scripts/build-n8n-image.sh
	scripts/build-postgres-image.sh

## The WordPress and MariaDB images (~4 min the first time, cached afterwards): for WordPress instances.
app-images: docker
	scripts/build-mariadb-image.sh
	scripts/build-wordpress-image.sh

## Run the product: control plane (127.0.0.1:8000), worker, Traefik (127.0.0.1:8880).
up: install images
	$(BIN)/tenantry up

## The whole test suite, on SQLite and on PostgreSQL side by side, against real Docker and Traefik.
test: install images n8n-image app-images
	scripts/test.sh

## Only SQLite and without the real-n8n and real-WordPress scenarios, for a quick local loop.
test-quick: install images
	TENANTRY_TEST_DATABASES=sqlite scripts/test.sh -m "not n8n and not wordpress"

lint: install
	$(BIN)/ruff check tenantry tests bench scripts
	$(BIN)/mypy tenantry

bench: install images
	$(BIN)/python bench/provision.py

bench-scale: install images
	$(BIN)/python bench/scale.py --count 1000

bench-engine: install images
	command -v perf >/dev/null || apt-get install -y -qq linux-perf >/dev/null
	$(BIN)/python bench/engine_cpu.py --count 1000

bench-n8n: install images n8n-image
	$(BIN)/python bench/n8n_provision.py

bench-seo: install images n8n-image app-images
	$(BIN)/python bench/seo_pipeline.py

bench-billing: install
	$(BIN)/python bench/billing_run.py

clean:
	rm -rf var test-output .pytest_cache .mypy_cache .ruff_cache
