# syntax=docker/dockerfile:1
# anomstack: one static-ish binary, the example metrics, and a volume for the database and
# models. `make docker-build` / `make fly-deploy` build it; see README "Docker" and "Fly.io".

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build ------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
# Cargo features: every engine and model store by default (README "Data sources").
ARG FEATURES=full
# DuckDB: `prebuilt` links the libduckdb.so that DuckDB publishes in its npm package (the same
# one the tests use; a minute), `bundled` compiles DuckDB from source (about 40 minutes on two
# cores; no download at build time).
ARG DUCKDB=prebuilt
ARG DUCKDB_NPM_VERSION=1.5.6-r.1
ARG TARGETARCH
# Shown at /version; `make fly-deploy` passes the commit and the time.
ARG ANOMSTACK_BUILD_HASH=unknown
ARG ANOMSTACK_BUILD_TIME=

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl g++ make \
 && rm -rf /var/lib/apt/lists/*
# The download below is piped into tar: fail on a failed download, not only on tar.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY benches ./benches
COPY metrics ./metrics
COPY assets ./assets

# The prebuilt library lives at the same path in both stages: the binary's rpath points there.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eux; \
    mkdir -p /opt/duckdb; \
    features="${FEATURES}"; \
    if [ "${DUCKDB}" = "bundled" ]; then \
      features="${features},duckdb-bundled"; \
    else \
      arch="x64"; if [ "${TARGETARCH:-amd64}" = "arm64" ]; then arch="arm64"; fi; \
      curl -fsSL "https://registry.npmjs.org/@duckdb/node-bindings-linux-${arch}/-/node-bindings-linux-${arch}-${DUCKDB_NPM_VERSION}.tgz" \
        | tar -xz -C /opt/duckdb --strip-components=1 package/libduckdb.so; \
      export DUCKDB_LIB_DIR=/opt/duckdb; \
    fi; \
    cargo build --release --locked --features "${features}"; \
    cp target/release/anomstack /usr/local/bin/anomstack

# ---- run --------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# `ingest_fn` (original Anomstack Python ingest files) needs Python with pandas, and most of
# the original's examples call web APIs with requests: Debian's are included so an existing
# metrics folder runs as it is. --build-arg WITH_PYTHON=false leaves them out (about 150 MB).
ARG WITH_PYTHON=true
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates tzdata; \
    if [ "${WITH_PYTHON}" = "true" ]; then \
      apt-get install -y --no-install-recommends python3 python3-pandas python3-requests; \
    fi; \
    rm -rf /var/lib/apt/lists/*; \
    useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin anomstack; \
    mkdir -p /data /app; \
    chown anomstack:anomstack /data

COPY --from=builder /usr/local/bin/anomstack /usr/local/bin/anomstack
COPY --from=builder /opt/duckdb /opt/duckdb
COPY metrics /app/metrics
COPY assets /app/assets
COPY scripts/docker/entrypoint.sh /usr/local/bin/docker-entrypoint.sh

WORKDIR /app
# The same values as fly.toml's [env]; the database and models on the /data volume.
ENV ANOMSTACK_METRICS_DIR=/app/metrics \
    ANOMSTACK_SQLITE_PATH=/data/anomstack.db \
    ANOMSTACK_MODEL_PATH=local:///data/models \
    ANOMSTACK_DUCKDB_PATH=/data/anomstack-duckdb.db \
    ANOMSTACK_HOST=0.0.0.0 \
    ANOMSTACK_PORT=8080
EXPOSE 8080
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/anomstack", "healthcheck"]
# Starts as root only to hand a freshly mounted volume to the `anomstack` user (Fly mounts
# volumes owned by root), then runs the server as that user.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["anomstack", "serve"]
