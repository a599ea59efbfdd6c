//! Resetting what feedback taught a metric: its verdicts so far stop muting its alerts (they
//! stay stored and shown).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::NoFields;
use super::session::AdminForm;
use crate::web::pages::layout::server_error;
use crate::web::view::segment;
use crate::web::{AppState, WebError};

pub async fn reset(
    State(state): State<AppState>,
    Path((batch, metric)): Path<(String, String)>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Response {
    if state.config.current().batch(&batch).is_none() {
        return WebError::NotFound(format!("There is no batch named “{batch}”.")).into_response();
    }
    let now = Utc::now().naive_utc();
    if let Err(e) = state
        .store
        .reset_feedback(&batch, &metric, now, &admin.username)
        .await
    {
        return server_error("resetting feedback", &e);
    }
    tracing::info!(user = admin.username, batch, metric, "feedback reset");
    Redirect::to(&format!(
        "/batch/{}/metric/{}",
        segment(&batch),
        segment(&metric)
    ))
    .into_response()
}
