//! anomstack: painless anomaly detection for business metrics.
//!
//! Users describe metric batches in YAML and SQL; the app ingests them on a schedule, trains
//! detectors, scores new points, alerts people and shows it all on a dashboard.
//!
//! # Layout
//! Data flows one way: configuration → jobs → storage → web, with the maths and text
//! transformations below them all.
//! - [`config`]: settings from the environment and typed, validated batch configs (also
//!   folders written for the original Anomstack).
//! - [`dialect`]: DuckDB SQL rewritten for SQLite, as the original's sqlglot did.
//! - [`detect`]: the detectors, preprocessing and score calibration; pure maths.
//! - [`names`]: what a metric or batch name may be.
//! - [`feedback_link`]: the signed "useful / not useful" links in alert messages.
//! - [`timestamp`]: reading and writing the app's times.
//! - [`store`]: the libsql app database (local file, Turso, embedded replica), migrations and
//!   every SQL statement the app runs against it.
//! - [`sources`]: where batches' metrics come from (SQL engines, programs, Python).
//! - [`model_store`]: where trained models are kept (files, the database, object storage).
//! - [`llm`]: the LLM client and prompts of the llmalert job.
//! - [`charts`]: SVG charts for the dashboard, PNG pictures for messages.
//! - [`notify`]: notices to email, Slack and webhooks, with routing and silences.
//! - [`jobs`]: ingest, train, score, alert, change, llmalert, plot, delete, summary, and the
//!   recording of every run.
//! - [`connectors`]: the engines and model stores a process has opened.
//! - [`queue`]: the job queue, its workers, the scheduler and housekeeping.
//! - [`web`]: the axum server: dashboard pages, admin panel, JSON API, health.
//! - [`mcp`]: the Model Context Protocol server for AI assistants (stdio and `/mcp`).
//! - [`app`]: the app assembled from settings (database, port, services, background tasks)
//!   and run until shutdown; what `anomstack serve` and the tests start.
//! - [`commands`]: the binary's subcommands, one file each.
//! - [`backtest`], [`bench`](mod@bench): replays on labelled data and the measurements of BENCHMARKS.md.
//! - [`cli`]: command-line arguments (read by [`commands`]).
//! - [`telemetry`], [`version`]: tracing setup and the build's identity.
//! - [`http`]: the outbound HTTP client.
//! - [`password`]: argon2 password hashing for admin credentials.

pub mod app;
pub mod backtest;
pub mod bench;
pub mod charts;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod detect;
pub mod dialect;
pub mod feedback_link;
pub mod http;
pub mod incident;
pub mod incident_link;
pub mod jobs;
pub mod llm;
pub mod mcp;
pub mod model_store;
pub mod names;
pub mod notify;
pub mod password;
pub mod queue;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod timestamp;
pub mod version;
pub mod web;
