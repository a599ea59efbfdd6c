# anomstack: the two commands a new machine needs are `make run` and `make test`.
SHELL := /usr/bin/env bash
CARGO ?= cargo
export CARGO_TARGET_DIR ?= target

.PHONY: run dev build test test-deps fmt lint validate bench clean help

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## build (release) and serve the dashboard on :8080 with the example metrics
	$(CARGO) run --release -- serve

dev: ## the same with a debug build (faster to compile)
	$(CARGO) run -- serve

build: ## release binary at $(CARGO_TARGET_DIR)/release/anomstack
	$(CARGO) build --release

# Tests build every engine and store (`full`), so optional code is compiled and tested too.
# DuckDB links the prebuilt libduckdb.so that test-deps installs from npm (compiling DuckDB
# from source, the `duckdb-bundled` feature, takes about 40 minutes).
TEST_FEATURES ?= full
export DUCKDB_LIB_DIR ?= $(CURDIR)/tests/services/node_modules/@duckdb/node-bindings-linux-x64

test: test-deps ## formatting, lints and every test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --features $(TEST_FEATURES) -- -D warnings
	$(CARGO) nextest run --features $(TEST_FEATURES) --no-fail-fast

test-deps: ## install what the tests need (idempotent)
	./scripts/install_test_deps.sh

fmt: ## format the code
	$(CARGO) fmt --all

lint: test-deps ## clippy, warnings as errors
	$(CARGO) clippy --all-targets --features $(TEST_FEATURES) -- -D warnings

bench: build ## detection and pipeline speed, NAB quality and criterion micro-benchmarks (see BENCHMARKS.md)
	$(CARGO_TARGET_DIR)/release/anomstack bench detect --metrics 1000 --points 1000
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) scripts/bench-pipeline.sh shipped 5
	$(CARGO_TARGET_DIR)/release/anomstack backtest --nab tests/fixtures/nab --output $${TMPDIR:-/tmp}/anomstack-nab
	$(CARGO) bench --bench detect

validate: ## check the metric batch configs
	$(CARGO) run -- validate

clean: ## remove build output and local data
	$(CARGO) clean
	rm -rf tmpdata models
