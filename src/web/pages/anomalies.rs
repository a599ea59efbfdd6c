//! `/batch/{batch}/anomalies`: every alert of the batch, newest first, 50 a page, filterable
//! by kind, each with a sparkline, 👍/👎 feedback and ⤢, which opens the metric's chart
//! centred on that anomaly (the only one marked) in a dialog. Feedback is per anomaly (metric
//! and time), idempotent and undoable: clicking the active thumb clears it.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::page;
use crate::charts::{Marks, kind_label, metric_chart, number, sparkline, threshold_words};
use crate::config::Batch;
use crate::store::{ANOMALY_KINDS, Anomaly, ChartPoint, Feedback, Flag, MetricType, Window};
use crate::timestamp::{format_db, parse_lenient};
use crate::web::csrf;
use crate::web::view::{View, ViewQuery, segment};
use crate::web::{AppState, DashboardBatch, WebError, admin};

const PER_PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(flatten)]
    view: ViewQuery,
    kind: Option<String>,
    page: Option<u32>,
}

pub async fn anomaly_list(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let batch = shown.batch();
    let view = View::from_query(&q.view);
    let kind = q
        .kind
        .as_deref()
        .and_then(|k| k.parse::<MetricType>().ok())
        .filter(|k| ANOMALY_KINDS.contains(k));
    let kinds: Vec<MetricType> = kind.into_iter().collect();
    let page_no = q.page.unwrap_or(1).max(1);
    let spec = &batch.spec;
    let (rows, total) = state
        .store
        .anomalies(
            &spec.table_key,
            batch.name(),
            &kinds,
            (page_no - 1).saturating_mul(PER_PAGE),
            PER_PAGE,
        )
        .await
        .map_err(|e| WebError::internal("reading the anomaly list", &e))?;
    let pages = total.div_ceil(u64::from(PER_PAGE)).max(1);
    let (token, new_cookie) = csrf::token(&headers, crate::web::cookies::secure(&state, &headers));
    let can_vote =
        state.public_feedback || admin::session::current(&state, &headers).await.is_some();
    let base = format!("/batch/{}", segment(batch.name()));
    let link = |kind: Option<MetricType>, page_no: u32| {
        let mut extra = Vec::new();
        if let Some(k) = kind {
            extra.push(("kind", k.as_str().to_owned()));
        }
        if page_no > 1 {
            extra.push(("page", page_no.to_string()));
        }
        format!("{base}/anomalies{}", view.query(&extra))
    };
    let mut sparks = Vec::with_capacity(rows.len());
    for a in &rows {
        sparks.push(spark(&state, batch, a).await);
    }
    let body = html! {
        div.controls {
            a.button href={ (base) (view.query(&[])) } { "← " (batch.name()) }
            span.muted { "Kind:" }
            a.button.active[kind.is_none()] href=(link(None, 1)) { "all" }
            @for k in ANOMALY_KINDS {
                a.button.active[kind == Some(k)] href=(link(Some(k), 1)) { (kind_label(k)) }
            }
        }
        h1 { "Anomalies in " (batch.name()) }
        p.muted {
            "An anomaly is a point that a detector flagged (ML, threshold, change or LLM); "
            "a point flagged by several is listed once with each kind. "
            "Showing " (rows.len()) " of " (total) " " @if kind.is_some() { "with this kind" } @else { "in all stored history" } "."
        }
        @if !can_vote {
            p.muted { "Feedback needs an admin session (or ANOMSTACK_PUBLIC_FEEDBACK=true)." }
        }
        @if rows.is_empty() {
            p.notice { "No anomalies of this kind yet." }
        } @else {
            ol.anomaly-list {
                @for (a, spark) in rows.iter().zip(&sparks) {
                    li.anomaly {
                        div.what {
                            a.metric href={ (base) "/metric/" (segment(&a.metric)) (view.query(&[])) } { (a.metric) }
                            span.when.nowrap { (a.timestamp.format("%Y-%m-%d %H:%M")) " UTC" }
                            span.kinds {
                                @for f in &a.flags {
                                    span class={ "kind " (f.kind.as_str()) } title=[flag_title(f)] { (kind_label(f.kind)) } " "
                                }
                                @if a.held() {
                                    span.kind.held title="Over the metric's alert budget: saved, and sent in the daily summary instead of at once" { "over budget" } " "
                                }
                            }
                            span.value { "value " (a.value.map(number).unwrap_or_else(|| "–".into())) }
                        }
                        div.trend { (spark) }
                        div.act {
                            (feedback_form(&base, &a.metric, a.timestamp, a.feedback, &token, can_vote, Place::Row))
                            button.icon type="button" title="Expand" aria-label={ "Expand " (a.metric) " at " (a.timestamp.format("%Y-%m-%d %H:%M")) }
                                hx-get={ (base) "/anomalies/expand" (view.query(&[("metric", a.metric.clone()), ("ts", format_db(a.timestamp))])) }
                                hx-target="#modal-body"
                                data-open-dialog="modal" { "⤢" }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if page_no > 1 { a.button href=(link(kind, page_no - 1)) { "‹ Previous" } }
            span { "Page " (page_no) " of " (pages) }
            @if u64::from(page_no) < pages { a.button href=(link(kind, page_no + 1)) { "Next ›" } }
        }
        dialog #modal {
            form method="dialog" { button { "Close" } }
            div #modal-body {}
        }
    };
    let mut response = page("Anomalies", view.dark, body).into_response();
    if let Some(cookie) = new_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct ExpandQuery {
    #[serde(flatten)]
    view: ViewQuery,
    metric: String,
    ts: String,
}

/// `/batch/{batch}/anomalies/expand`: the dialog's content for one anomaly: what and when,
/// its feedback, and the metric's chart centred on it with only it marked.
pub async fn expand(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Query(q): Query<ExpandQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let batch = shown.batch();
    let Some(ts) = parse_lenient(&q.ts) else {
        return Err(WebError::BadRequest("Unreadable timestamp.".into()));
    };
    let points = state
        .store
        .series_around(
            &batch.spec.table_key,
            batch.name(),
            &q.metric,
            ts,
            EXPAND_POINTS,
        )
        .await
        .map_err(|e| WebError::internal("reading the anomaly's chart", &e))?;
    let Some(at) = points
        .iter()
        .find(|p| p.timestamp == ts && p.flagged())
        .cloned()
    else {
        return Err(WebError::NotFound("There is no such anomaly.".into()));
    };
    // Only this anomaly is marked; the others would pull the eye elsewhere.
    let points: Vec<ChartPoint> = points
        .into_iter()
        .map(|p| {
            if p.timestamp == ts {
                p
            } else {
                ChartPoint {
                    alert: false,
                    llmalert: None,
                    change: false,
                    tholdalert: None,
                    ..p
                }
            }
        })
        .collect();
    let kinds: Vec<&str> = [
        (at.alert, MetricType::Alert),
        (at.llmalert.is_some(), MetricType::LlmAlert),
        (at.change, MetricType::Change),
        (at.tholdalert.is_some(), MetricType::TholdAlert),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, k)| kind_label(k))
    .collect();
    let (token, new_cookie) = csrf::token(&headers, crate::web::cookies::secure(&state, &headers));
    let can_vote =
        state.public_feedback || admin::session::current(&state, &headers).await.is_some();
    let view = View::from_query(&q.view);
    let mut style = view.chart_style();
    style.large = true;
    let base = format!("/batch/{}", segment(batch.name()));
    let body = html! {
        div.expanded {
            header {
                h2 { (q.metric) }
                p.muted {
                    (kinds.join(", ")) " at " (ts.format("%Y-%m-%d %H:%M")) " UTC · value "
                    (at.value.map(number).unwrap_or_else(|| "–".into()))
                    @if let Some(score) = at.score { " · score " (crate::charts::percent(score)) }
                }
                @if let Some(why) = at.llmalert.as_deref().filter(|w| !w.is_empty()) {
                    p { "LLM: " (why) }
                }
                @if let Some(meta) = at.tholdalert.as_deref().filter(|m| !m.is_empty()) {
                    p { "Threshold: " (crate::charts::threshold_words(meta)) }
                }
                div.controls {
                    (feedback_form(&base, &q.metric, ts, at.feedback, &token, can_vote, Place::Expanded))
                    a.button href={ (base) "/metric/" (segment(&q.metric)) (view.query(&[])) } { "Open the metric" }
                }
            }
            (metric_chart(&q.metric, &points, style))
        }
    };
    let mut response = body.into_response();
    if let Some(cookie) = new_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// A flag's details in words, for the badge's tooltip.
fn flag_title(f: &Flag) -> Option<String> {
    let meta = f.metadata.trim();
    if meta.is_empty() {
        return None;
    }
    match f.kind {
        MetricType::TholdAlert => Some(threshold_words(meta)),
        MetricType::LlmAlert => Some(meta.chars().take(300).collect()),
        _ => None,
    }
}

/// Two hours of the metric around the anomaly.
async fn spark(state: &AppState, batch: &Batch, a: &Anomaly) -> Markup {
    let end = a.timestamp + Duration::minutes(30);
    match state
        .store
        .dashboard_series(
            &batch.spec.table_key,
            batch.name(),
            &a.metric,
            Window::Minutes(150),
            end,
            Some(end),
        )
        .await
    {
        Ok(points) => sparkline(&a.metric, &points, Marks::Only(a.timestamp)),
        Err(e) => {
            tracing::warn!(error = %e, "sparkline of {}", a.metric);
            html! {}
        }
    }
}

/// Points around an anomaly in its expanded chart, on each side.
const EXPAND_POINTS: u32 = 60;

/// Where a feedback form sits: in its row of the list, or in the expanded view, whose answer
/// also replaces the row's form (out of band) so both show the same verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Row,
    Expanded,
    RowOutOfBand,
}

/// The id of an anomaly's feedback form in the list: stable for a metric and time.
fn form_id(metric: &str, ts: NaiveDateTime) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{metric}\u{0}{}", format_db(ts)).as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("fb-{hex}")
}

/// The 👍/👎 pair of one anomaly: a form htmx posts and swaps with the answer.
fn feedback_form(
    base: &str,
    metric: &str,
    ts: NaiveDateTime,
    current: Option<Feedback>,
    token: &str,
    enabled: bool,
    place: Place,
) -> Markup {
    // The active thumb clears; the other sets.
    let (up, down) = match current {
        Some(Feedback::Up) => ("clear", "down"),
        Some(Feedback::Down) => ("up", "clear"),
        None => ("up", "down"),
    };
    let id = match place {
        Place::Expanded => format!("{}-expanded", form_id(metric, ts)),
        Place::Row | Place::RowOutOfBand => form_id(metric, ts),
    };
    html! {
        form.feedback id=(id) method="post" action={ (base) "/feedback" } hx-post={ (base) "/feedback" }
            hx-target="this" hx-swap="outerHTML"
            hx-swap-oob=[(place == Place::RowOutOfBand).then_some("true")] {
            input type="hidden" name="metric" value=(metric);
            input type="hidden" name="ts" value=(format_db(ts));
            input type="hidden" name="csrf" value=(token);
            @if place == Place::Expanded {
                input type="hidden" name="from" value="expanded";
            }
            button type="submit" name="verdict" value=(up) disabled[!enabled]
                class=[(current == Some(Feedback::Up)).then_some("active")]
                aria-pressed=(current == Some(Feedback::Up)) title="Real anomaly" { "👍" }
            " "
            button type="submit" name="verdict" value=(down) disabled[!enabled]
                class=[(current == Some(Feedback::Down)).then_some("active")]
                aria-pressed=(current == Some(Feedback::Down)) title="False alarm" { "👎" }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct FeedbackForm {
    metric: String,
    ts: String,
    verdict: String,
    csrf: String,
    /// `expanded` when posted from the expanded view.
    #[serde(default)]
    from: Option<String>,
}

pub async fn post_feedback(
    State(state): State<AppState>,
    shown: DashboardBatch,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<FeedbackForm>,
) -> Result<Response, WebError> {
    let batch = shown.batch();
    let is_admin = admin::session::current(&state, &headers).await.is_some();
    if !state.public_feedback && !is_admin {
        return Err(WebError::Forbidden(
            "Feedback needs an admin session (or ANOMSTACK_PUBLIC_FEEDBACK=true).".into(),
        ));
    }
    if !csrf::matches(&headers, &form.csrf) {
        return Err(WebError::Forbidden(
            "The form has expired or came from another site; reload the page and try again.".into(),
        ));
    }
    let client =
        crate::web::rate_limit::client_ip(&headers, connect.map(|Extension(ConnectInfo(a))| a));
    // Operators are not rate limited; anonymous visitors are.
    if !is_admin && !state.feedback_limiter.allow(&client, Utc::now()) {
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, HeaderValue::from_static("60"))],
            "Too much feedback at once; try again in a minute.",
        )
            .into_response());
    }
    let Some(ts) = parse_lenient(&form.ts) else {
        return Err(WebError::BadRequest("Unreadable timestamp.".into()));
    };
    let verdict = match form.verdict.as_str() {
        "up" => Some(Feedback::Up),
        "down" => Some(Feedback::Down),
        "clear" => None,
        _ => return Err(WebError::BadRequest("Unknown verdict.".into())),
    };
    let spec = &batch.spec;
    let known = state
        .store
        .is_anomaly(&spec.table_key, batch.name(), &form.metric, ts)
        .await
        .map_err(|e| WebError::internal("looking up an anomaly", &e))?;
    if !known {
        return Err(WebError::NotFound("There is no such anomaly.".into()));
    }
    state
        .store
        .set_feedback(&spec.table_key, batch.name(), &form.metric, ts, verdict)
        .await
        .map_err(|e| WebError::internal("storing feedback", &e))?;
    let base = format!("/batch/{}", segment(batch.name()));
    Ok(if headers.contains_key("hx-request") {
        let form_at =
            |place| feedback_form(&base, &form.metric, ts, verdict, &form.csrf, true, place);
        if form.from.as_deref() == Some("expanded") {
            html! { (form_at(Place::Expanded)) (form_at(Place::RowOutOfBand)) }.into_response()
        } else {
            form_at(Place::Row).into_response()
        }
    } else {
        Redirect::to(&format!("{base}/anomalies")).into_response()
    })
}
