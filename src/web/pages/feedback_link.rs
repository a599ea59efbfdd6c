//! `/feedback/{token}`: where an alert's "useful / not useful" link lands. Opening it shows
//! what it will record and a button; only the button's post records it. Mail scanners and
//! Slack's unfurler open every link in a message, so a link that recorded on opening would
//! give verdicts nobody gave. The token is the authority (no login); the post also carries
//! the page's confirmation (a mac of the token, in place of the cookie-bound CSRF token:
//! see `feedback_link::confirmation`), and a token is spent on its first use.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::page;
use crate::config::Batch;
use crate::feedback_link::{Claim, LinkError, LinkKey, confirmation, confirms, verify};
use crate::store::Feedback;
use crate::timestamp::format_db;
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

/// The signing key, read once per process; none before any link was made (reading never
/// writes, so requests for made-up links cost one query and no write).
pub(super) async fn key(state: &AppState) -> Result<Option<LinkKey>, WebError> {
    if let Some(k) = state.link_key.get() {
        return Ok(Some(k.clone()));
    }
    let made = state
        .store
        .made_link_key()
        .await
        .map_err(|e| WebError::internal("reading the feedback links' key", &e))?;
    Ok(made.map(|bytes| state.link_key.get_or_init(|| LinkKey::new(bytes)).clone()))
}

/// The claim of `token` (at `now`, unix seconds), its key and its batch, if the link is good
/// and its alert still stored.
async fn claimed(
    state: &AppState,
    token: &str,
    now: i64,
) -> Result<(Claim, LinkKey, Batch), WebError> {
    let Some(key) = key(state).await? else {
        return Err(refused(LinkError::Forged));
    };
    let claim = verify(&key, token, now).map_err(refused)?;
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
    Ok((claim, key, batch))
}

fn already_used() -> WebError {
    WebError::Conflict(
        "This link was already used. To change the verdict, use the other link in the alert or the dashboard's anomaly list."
            .into(),
    )
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
pub(super) fn private(mut response: Response) -> Response {
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
) -> Result<Response, WebError> {
    let (claim, key, batch) = claimed(&state, &token, Utc::now().timestamp()).await?;
    let spent = state
        .store
        .link_spent(&claim.nonce)
        .await
        .map_err(|e| WebError::internal("reading the used feedback links", &e))?;
    if spent {
        return Err(already_used());
    }
    let (verdict, effect) = verdict_words(claim.verdict);
    let body = html! {
        h1 { "Was this alert useful?" }
        (what(&claim, &batch))
        p { (effect) }
        form method="post" action={ "/feedback/" (token) } {
            input type="hidden" name="confirm" value=(confirmation(&key, &token));
            button type="submit" { "Record " (verdict) }
        }
    };
    Ok(private(page("Alert feedback", false, body).into_response()))
}

/// The confirmation form of a link's page (see [`confirmation`]).
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    confirm: String,
}

impl ConfirmForm {
    /// Refuses a form that did not come from `token`'s page.
    pub(super) fn check(&self, key: &LinkKey, token: &str) -> Result<(), WebError> {
        if confirms(key, token, &self.confirm) {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "The form did not come from this link's page; open the link from the alert again."
                    .into(),
            ))
        }
    }
}

/// `POST /feedback/{token}`: records the link's verdict, once.
pub async fn record(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    // One clock for the expiry check and the spending, so a link cannot expire in between.
    let now = Utc::now();
    let (claim, key, batch) = claimed(&state, &token, now.timestamp()).await?;
    form.check(&key, &token)?;
    let expires = chrono::DateTime::from_timestamp(claim.expires, 0)
        .map(|t| t.naive_utc())
        .unwrap_or(now.naive_utc());
    let first = state
        .store
        .spend_link(&claim.nonce, expires, now.naive_utc())
        .await
        .map_err(|e| WebError::internal("recording a used feedback link", &e))?;
    if !first {
        return Err(already_used());
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
