//! `/feedback/{token}`: where an alert's "useful / not useful" link lands. Opening it shows
//! what it will record and a button; only the button's post records it. Mail scanners and
//! Slack's unfurler open every link in a message, so a link that recorded on opening would
//! give verdicts nobody gave. The token is the authority (no login); the post also carries
//! the CSRF token, and a token is spent on its first use.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::page;
use crate::config::Batch;
use crate::feedback_link::{Claim, LinkError, LinkKey, verify};
use crate::store::Feedback;
use crate::timestamp::format_db;
use crate::web::csrf;
use crate::web::view::segment;
use crate::web::{AppState, WebError};

fn refused(e: LinkError) -> WebError {
    let dashboard = "Feedback can still be given on the dashboard's anomaly list.";
    match e {
        LinkError::Expired(when) => WebError::Gone(format!(
            "This feedback link expired on {when} UTC. {dashboard}"
        )),
        LinkError::Forged => WebError::Forbidden(format!(
            "This feedback link was not made by this server. {dashboard}"
        )),
        LinkError::Malformed => WebError::BadRequest(format!(
            "This is not a whole feedback link (it may have been cut short when copied). {dashboard}"
        )),
    }
}

/// The claim of `token` and its batch, if the link is good and its alert still stored.
async fn claimed(state: &AppState, token: &str) -> Result<(Claim, Batch), WebError> {
    let now = Utc::now();
    let key = state
        .store
        .link_key(now.naive_utc())
        .await
        .map_err(|e| WebError::internal("reading the feedback links' key", &e))?;
    let claim = verify(&LinkKey::new(key), token, now.timestamp()).map_err(refused)?;
    let config = state.config.current();
    let Some(batch) = config.batch(&claim.batch).cloned() else {
        return Err(WebError::NotFound(format!(
            "The batch “{}” of this alert is no longer configured.",
            claim.batch
        )));
    };
    let known = state
        .store
        .is_anomaly(&batch.spec.table_key, batch.name(), &claim.metric, claim.at)
        .await
        .map_err(|e| WebError::internal("looking up the alert", &e))?;
    if !known {
        return Err(WebError::NotFound(
            "This alert's point is no longer stored (its history was deleted).".into(),
        ));
    }
    Ok((claim, batch))
}

fn verdict_words(verdict: Feedback) -> (&'static str, &'static str) {
    match verdict {
        Feedback::Up => (
            "👍 useful",
            "A 👍 keeps alerts like this one coming for this metric, and keeps the point out of what its model learns as normal.",
        ),
        Feedback::Down => (
            "👎 not useful",
            "A 👎 mutes later alerts on this metric that look no stranger than this one; the mute fades as new data arrives.",
        ),
    }
}

fn what(claim: &Claim, batch: &Batch) -> Markup {
    let metric_page = format!(
        "/batch/{}/metric/{}",
        segment(batch.name()),
        segment(&claim.metric)
    );
    html! {
        p {
            "The alert on " a href=(metric_page) { strong { (claim.metric) } }
            " (batch " (batch.name()) ") at " (format_db(claim.at)) " UTC."
        }
    }
}

/// Pages holding a token are not kept, indexed or sent on as a referrer.
fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}

/// `GET /feedback/{token}`: what the link records, and the button that does.
pub async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let (claim, batch) = claimed(&state, &token).await?;
    let (csrf_token, new_cookie) =
        csrf::token(&headers, crate::web::cookies::secure(&state, &headers));
    let (verdict, effect) = verdict_words(claim.verdict);
    let body = html! {
        h1 { "Was this alert useful?" }
        (what(&claim, &batch))
        p { (effect) }
        form method="post" action={ "/feedback/" (token) } {
            input type="hidden" name="csrf" value=(csrf_token);
            button type="submit" { "Record " (verdict) }
        }
    };
    let mut response = page("Alert feedback", false, body).into_response();
    if let Some(cookie) = new_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(private(response))
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    csrf: String,
}

/// `POST /feedback/{token}`: records the link's verdict, once.
pub async fn record(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    if !csrf::matches(&headers, &form.csrf) {
        return Err(WebError::Forbidden(
            "The form has expired or came from another site; open the link from the alert again."
                .into(),
        ));
    }
    let (claim, batch) = claimed(&state, &token).await?;
    let now = Utc::now().naive_utc();
    let expires = chrono::DateTime::from_timestamp(claim.expires, 0)
        .map(|t| t.naive_utc())
        .unwrap_or(now);
    let first = state
        .store
        .spend_link(&claim.nonce, expires, now)
        .await
        .map_err(|e| WebError::internal("recording a used feedback link", &e))?;
    if !first {
        return Err(WebError::Conflict(
            "This link was already used. To change the verdict, use the other link in the alert or the dashboard's anomaly list."
                .into(),
        ));
    }
    let stored = state
        .store
        .set_feedback(
            &batch.spec.table_key,
            batch.name(),
            &claim.metric,
            claim.at,
            Some(claim.verdict),
        )
        .await;
    if let Err(e) = stored {
        // The link stays usable: nothing was recorded.
        if let Err(again) = state.store.unspend_link(&claim.nonce).await {
            tracing::warn!(error = %again, "cannot release a feedback link");
        }
        return Err(WebError::internal("storing feedback", &e));
    }
    let (verdict, effect) = verdict_words(claim.verdict);
    let body = html! {
        h1 { "Thanks: recorded " (verdict) }
        (what(&claim, &batch))
        p { (effect) }
    };
    Ok(private(page("Alert feedback", false, body).into_response()))
}
