//! Integration tests: one binary, one module per area. They use real libsql files in temp
//! directories, a real Hrana v3 server on 127.0.0.1 for the remote mode, and the real binary
//! for the CLI.

#[path = "../support/mod.rs"]
mod support;

mod admin;
mod browser;
mod build;
mod cli;
mod config_load;
mod config_reload;
mod dashboard;
mod db_cost;
mod db_faults;
mod detect_models;
mod detect_parity;
mod detect_quality;
mod examples;
mod examples_online;
mod hostile;
mod mcp;
#[cfg(all(feature = "s3", feature = "gcs", feature = "azure"))]
mod model_stores;
pub mod nab_scorer;
mod notify;
mod original_folder;
mod pipeline;
mod queue;
mod queue_processes;
#[cfg(all(
    feature = "bigquery",
    feature = "snowflake",
    feature = "clickhouse",
    feature = "postgres",
    feature = "redshift",
    feature = "turso"
))]
mod sources;
#[cfg(all(
    feature = "bigquery",
    feature = "snowflake",
    feature = "clickhouse",
    feature = "postgres",
    feature = "redshift",
    feature = "turso"
))]
mod sources_programs;
#[cfg(all(
    feature = "bigquery",
    feature = "snowflake",
    feature = "clickhouse",
    feature = "postgres",
    feature = "redshift",
    feature = "turso"
))]
mod sources_servers;
mod store_local;
mod store_remote;
mod web;
