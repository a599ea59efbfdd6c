//! `/incident-link/{token}`: where an incident's "acknowledge" and "resolve" links land.
//! Opening one shows the incident and a button; only the button's post moves it (mail
//! scanners open links). The token is the authority, as for feedback links; the post carries
//! the page's confirmation instead of a cookie-bound CSRF token.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;

use super::feedback_link::{ConfirmForm, key, private};
use super::incidents::state_badge;
use super::layout::page;
use crate::feedback_link::{LinkError, LinkKey, confirmation};
use crate::incident::{Incident, State as IncidentState};
use crate::incident_link::{IncidentClaim, verify};
use crate::store::Transition;
use crate::web::{AppState, WebError};

/// Who the timeline says moved an incident through a link.
const LINK_ACTOR: &str = "someone with the alert's link";

fn refused(e: LinkError) -> WebError {
    let page = "Incidents can still be acknowledged and resolved on their page, by an admin.";
    match e {
        LinkError::Expired(when) => {
            WebError::Gone(format!("This incident link expired on {when} UTC. {page}"))
        }
        LinkError::Forged => WebError::Forbidden(format!(
            "This incident link was not made by this server. {page}"
        )),
        LinkError::Malformed => WebError::BadRequest(format!(
            "This is not a whole incident link (it may have been cut short when copied). {page}"
        )),
    }
}

async fn claimed(
    state: &AppState,
    token: &str,
) -> Result<(IncidentClaim, LinkKey, Incident), WebError> {
    let Some(key) = key(state).await? else {
        return Err(refused(LinkError::Forged));
    };
    let claim = verify(&key, token, Utc::now().timestamp()).map_err(refused)?;
    let Some(incident) = state
        .store
        .incident(claim.incident)
        .await
        .map_err(|e| WebError::internal("reading the incident", &e))?
    else {
        return Err(WebError::NotFound(format!(
            "Incident #{} is no longer stored.",
            claim.incident
        )));
    };
    Ok((claim, key, incident))
}

fn verb(to: IncidentState) -> &'static str {
    match to {
        IncidentState::Resolved => "Resolve",
        _ => "Acknowledge",
    }
}

/// `GET /incident-link/{token}`: the incident, and the button that moves it.
pub async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (claim, key, incident) = claimed(&state, &token).await?;
    let body = html! {
        h1 { (verb(claim.to)) " incident #" (incident.id) "? " (state_badge(incident.state)) }
        p { (incident.title) }
        p.muted { "Metrics: " (incident.metrics().join(", ")) }
        form method="post" action={ "/incident-link/" (token) } {
            input type="hidden" name="confirm" value=(confirmation(&key, &token));
            button type="submit" { (verb(claim.to)) " incident #" (incident.id) }
        }
        p { a href={ "/incidents/" (incident.id) } { "See the incident" } }
    };
    Ok(private(page("Incident", false, body).into_response()))
}

/// `POST /incident-link/{token}`: moves the incident forward (a second time does nothing).
pub async fn record(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    let (claim, key, incident) = claimed(&state, &token).await?;
    form.check(&key, &token)?;
    let moved = state
        .store
        .set_incident_state(incident.id, claim.to, LINK_ACTOR, Utc::now().naive_utc())
        .await
        .map_err(|e| WebError::internal("changing the incident", &e))?;
    let said = match moved {
        Transition::Changed => format!("Incident #{} is {}.", incident.id, claim.to.as_str()),
        Transition::Already(now, Some((at, by))) => format!(
            "Incident #{} was already {} (by {by}, {} UTC).",
            incident.id,
            now.as_str(),
            at.format("%Y-%m-%d %H:%M")
        ),
        Transition::Already(now, None) => {
            format!("Incident #{} was already {}.", incident.id, now.as_str())
        }
        Transition::Missing => format!("Incident #{} is no longer stored.", incident.id),
    };
    let body = html! {
        h1 { (said) }
        p { a href={ "/incidents/" (incident.id) } { "See the incident" } }
    };
    Ok(private(page("Incident", false, body).into_response()))
}
