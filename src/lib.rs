//! anomstack: painless anomaly detection for business metrics.
//!
//! Users describe metric batches in YAML and SQL; the app ingests them on a schedule, trains
//! detectors, scores new points, alerts people and shows it all on a dashboard.
//!
//! # Layout
//! - [`config`]: settings from the environment and typed, validated batch configs.
//! - [`store`]: the libsql app database (local file, Turso, embedded replica), migrations and
//!   every SQL statement the app runs against it.
//! - [`charts`]: SVG charts for the dashboard.
//! - [`web`]: the axum server: dashboard pages, JSON API, health.
//! - [`cli`]: command-line arguments (only `main.rs` reads them).
//! - [`telemetry`]: tracing setup.
//! - [`sources`]: where batches' metrics come from (SQL engines, programs).
//! - [`model_store`]: where trained models are kept (files, the database, object storage).
//! - [`names`]: what a metric or batch name may be.
//! - [`http`]: the outbound HTTP client.
//! - [`password`]: argon2 password hashing for admin credentials.

pub mod backtest;
pub mod bench;
pub mod charts;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod detect;
pub mod dialect;
pub mod http;
pub mod jobs;
pub mod llm;
pub mod model_store;
pub mod names;
pub mod notify;
pub mod password;
pub mod queue;
pub mod serve;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod timestamp;
pub mod version;
pub mod web;
