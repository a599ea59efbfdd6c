//! The public dashboard's pages, server-rendered with maud; htmx loads chart cards and
//! applies searches and feedback without full reloads.

mod anomalies;
mod batch;
mod feedback_link;
mod home;
mod incident_link;
mod incidents;
pub mod layout;
mod metric;
mod plot;

use axum::Router;
use axum::routing::{get, post};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/batch/{batch}", get(batch::batch_page))
        .route("/batch/{batch}/cards", get(batch::cards))
        .route("/batch/{batch}/chart", get(batch::chart_card))
        .route("/batch/{batch}/metric/{metric}", get(metric::metric_page))
        .route("/batch/{batch}/anomalies", get(anomalies::anomaly_list))
        .route("/batch/{batch}/anomalies/expand", get(anomalies::expand))
        .route("/batch/{batch}/plot.png", get(plot::batch_plot))
        .route("/batch/{batch}/feedback", post(anomalies::post_feedback))
        .route("/incidents", get(incidents::incident_list))
        .route("/incidents/{id}", get(incidents::incident_page))
        .route(
            "/incident-link/{token}",
            get(incident_link::confirm).post(incident_link::record),
        )
        .route(
            "/feedback/{token}",
            get(feedback_link::confirm).post(feedback_link::record),
        )
}
