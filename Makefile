# anomstack: the two commands a new machine needs are `make run` and `make test`.
SHELL := /usr/bin/env bash
CARGO ?= cargo
export CARGO_TARGET_DIR ?= target

.PHONY: run dev build test test-deps fmt lint validate bench clean help docs docker-build docker-run fly-validate fly-preview fly-preview-demo fly-preview-production fly-deploy fly-deploy-demo fly-deploy-production fly-status fly-logs test-shell

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-24s %s\n", $$1, $$2}'

# `make run` seeds batches that have no data yet with a day of history (ANOMSTACK_SEED_HOURS=0
# turns it off), so the first look at the dashboard shows charts and scores.
run: ## build (release) and serve the dashboard on :8080 with the example metrics
	ANOMSTACK_SEED_HOURS=$${ANOMSTACK_SEED_HOURS:-24} $(CARGO) run --release -- serve

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
	$(MAKE) --no-print-directory test-shell

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

docs: ## regenerate the README's configuration reference from metrics/defaults/defaults.yaml
	python3 scripts/config_reference.py --write README.md

DOCKER ?= docker
IMAGE ?= anomstack
docker-build: ## build the image (every engine; see README "Docker" for build args)
	$(DOCKER) build -t $(IMAGE) \
		--build-arg ANOMSTACK_BUILD_HASH="$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
		--build-arg ANOMSTACK_BUILD_TIME="$$(date -u +%Y-%m-%dT%H:%M:%SZ)" .

docker-run: ## run the image on :8080 with .env (if any), data in the volume anomstack-data
	$(DOCKER) run --rm -p 8080:8080 -v anomstack-data:/data $(if $(wildcard .env),--env-file .env) $(IMAGE)

validate: ## check the metric batch configs
	$(CARGO) run -- validate

clean: ## remove build output and local data
	$(CARGO) clean
	rm -rf tmpdata models

# --- Fly.io (scripts/deployment/) ---------------------------------------------------------------
# FLY_APP defaults to the app in fly.toml. ENV_FILE is sent as secrets (local-only keys skipped),
# with profiles/<name>.env merged over it; FLY_DEPLOY_ARGS adds options (--dry-run,
# --force-rebuild, --region R, --volume-size GB).
FLY_APP ?=
ENV_FILE ?= .env
FLY_DEPLOY_ARGS ?=
FLY ?= $(shell command -v fly 2>/dev/null || command -v flyctl 2>/dev/null || echo fly)
FLY_APP_FLAG = $(if $(FLY_APP),--app "$(FLY_APP)")
# Only another ENV_FILE is passed: a missing default .env is fine, a missing named one is not.
FLY_ENV_FLAG = $(if $(filter-out .env,$(ENV_FILE)),--env-file "$(ENV_FILE)")
FLY_DEPLOY = scripts/deployment/deploy_fly.sh $(if $(FLY_APP),"$(FLY_APP)") $(FLY_ENV_FLAG) $(FLY_DEPLOY_ARGS)
FLY_PREVIEW = scripts/deployment/preview_fly_secrets.sh $(FLY_ENV_FLAG)

fly-validate: ## parse ENV_FILE and both profiles, then check fly.toml with flyctl (needs a login)
	$(FLY_PREVIEW) --profile demo >/dev/null
	$(FLY_PREVIEW) --profile production >/dev/null
	$(FLY) config validate --config fly.toml $(FLY_APP_FLAG)

fly-preview: ## what fly-deploy would send (secrets masked, skipped keys, fly.toml [env]); no flyctl
	$(FLY_PREVIEW)

fly-preview-demo: ## the same with profiles/demo.env merged over ENV_FILE
	$(FLY_PREVIEW) --profile demo

fly-preview-production: ## the same with profiles/production.env merged over ENV_FILE
	$(FLY_PREVIEW) --profile production

fly-deploy: ## deploy to Fly.io: app and volume if missing, ENV_FILE as secrets, one release
	$(FLY_DEPLOY)

fly-deploy-demo: ## deploy a public demo (profiles/demo.env: examples, public feedback)
	$(FLY_DEPLOY) --profile demo

fly-deploy-production: ## deploy your own metrics (profiles/production.env)
	$(FLY_DEPLOY) --profile production

fly-status: ## status of the Fly app (FLY_APP or fly.toml's)
	$(FLY) status $(FLY_APP_FLAG)

fly-logs: ## stream the Fly app's logs
	$(FLY) logs $(FLY_APP_FLAG)

test-shell: ## tests of the Fly scripts against a fake flyctl (uses ANOMSTACK_BIN, default the debug build)
	ANOMSTACK_BIN="$${ANOMSTACK_BIN:-$(CARGO_TARGET_DIR)/debug/anomstack}" tests/deploy/run.sh
