//! Acknowledging and resolving an incident from its page.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::NoFields;
use super::session::AdminForm;
use crate::incident::State as IncidentState;
use crate::store::Transition;
use crate::web::pages::layout::server_error;
use crate::web::{AppState, WebError};

async fn move_to(state: &AppState, id: i64, to: IncidentState, actor: &str) -> Response {
    let now = Utc::now().naive_utc();
    match state.store.set_incident_state(id, to, actor, now).await {
        Ok(Transition::Missing) => {
            WebError::NotFound(format!("There is no incident #{id}.")).into_response()
        }
        Ok(_) => {
            tracing::info!(
                user = actor,
                incident = id,
                to = to.as_str(),
                "incident moved"
            );
            Redirect::to(&format!("/incidents/{id}")).into_response()
        }
        Err(e) => server_error("changing the incident", &e),
    }
}

pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Response {
    move_to(&state, id, IncidentState::Acknowledged, &admin.username).await
}

pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Response {
    move_to(&state, id, IncidentState::Resolved, &admin.username).await
}
