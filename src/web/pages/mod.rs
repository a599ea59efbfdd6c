//! The public dashboard's pages, server-rendered with maud; htmx loads chart cards and
//! applies searches and feedback without full reloads.

mod anomalies;
mod batch;
mod home;
pub mod layout;
mod metric;

use axum::Router;
use axum::routing::{get, post};

use super::AppState;
use crate::config::{Batch, Config};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/batch/{batch}", get(batch::batch_page))
        .route("/batch/{batch}/cards", get(batch::cards))
        .route("/batch/{batch}/chart", get(batch::chart_card))
        .route("/batch/{batch}/metric/{metric}", get(metric::metric_page))
        .route("/batch/{batch}/anomalies", get(anomalies::anomaly_list))
        .route("/batch/{batch}/feedback", post(anomalies::post_feedback))
}

/// The batches the dashboard shows: enabled and not `disable_dashboard`, by name.
fn dashboard_batches(config: &Config) -> Vec<&Batch> {
    let mut out: Vec<&Batch> = config
        .batches
        .iter()
        .filter(|b| !b.spec.disable_dashboard)
        .collect();
    out.sort_by(|a, b| a.name().cmp(b.name()));
    out
}

fn dashboard_batch<'a>(config: &'a Config, name: &str) -> Option<&'a Batch> {
    config
        .batches
        .iter()
        .find(|b| b.name() == name && !b.spec.disable_dashboard)
}
