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
mod detect_models;
mod detect_parity;
mod detect_quality;
mod examples;
pub mod nab_scorer;
mod notify;
mod pipeline;
mod queue;
mod queue_processes;
mod store_local;
mod store_remote;
mod web;
