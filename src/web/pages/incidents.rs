//! `/incidents` and `/incidents/{id}`: alerts grouped into incidents. An incident's page
//! shows its metrics' charts on one time axis, with their alerts, LLM explanations and
//! feedback, and its timeline; an admin acknowledges or resolves it there.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDateTime, Utc};
use maud::{Markup, html};

use super::layout::page;
use crate::charts::{ChartStyle, Overlays, kind_label, metric_chart_with, number};
use crate::incident::{Incident, State as IncidentState, member_label};
use crate::store::{ChartPoint, Feedback, IncidentEvent, Window};
use crate::web::admin::{self, csrf_field};
use crate::web::view::segment;
use crate::web::{AppState, WebError};

/// Incidents listed at most.
const LISTED: usize = 100;
/// Alerts listed per metric on an incident's page at most.
const ALERTS_SHOWN: usize = 10;

/// The state as a badge.
pub fn state_badge(state: IncidentState) -> Markup {
    let class = match state {
        IncidentState::Open => "badge now",
        IncidentState::Acknowledged => "badge stale",
        IncidentState::Resolved => "badge ok",
    };
    html! { span class=(class) { (state.as_str()) } }
}

fn when(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// One line per incident: state, number, metrics, when.
pub fn incident_rows(incidents: &[Incident]) -> Markup {
    html! {
        div.table-wrap {
            table.list.incidents {
                thead { tr { th { "State" } th { "Incident" } th { "Batch" } th { "Metrics" } th { "Opened (UTC)" } th { "Last alert" } } }
                tbody {
                    @for i in incidents {
                        tr {
                            td { (state_badge(i.state)) }
                            td { a href={ "/incidents/" (i.id) } { "#" (i.id) } }
                            td { (i.batch) }
                            td { (i.metrics().join(", ")) }
                            td.nowrap { (when(i.opened_at)) }
                            td.nowrap { (when(i.last_alert_at)) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn incident_list(State(state): State<AppState>) -> Result<Response, WebError> {
    let incidents = state
        .store
        .incidents(LISTED)
        .await
        .map_err(|e| WebError::internal("reading incidents", &e))?;
    let body = html! {
        h1 { "Incidents" }
        p.muted {
            "Alerts of one batch, or of metrics sharing a tag, raised within "
            code { "incident_window_minutes" } " of each other; open and acknowledged ones first."
        }
        @if incidents.is_empty() {
            p.notice.calm { "No incidents yet." }
        } @else {
            (incident_rows(&incidents))
        }
    };
    Ok(page("Incidents", false, body).into_response())
}

/// A member metric with what the page shows of it.
struct Shown {
    batch: String,
    metric: String,
    kinds: Vec<String>,
    normal_at: Option<NaiveDateTime>,
    points: Vec<ChartPoint>,
}

/// The span every chart of `incident` shares: from a while before its first flagged point
/// to its newest one (or now, while it is open), padded by the same while.
fn time_range(incident: &Incident, now: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
    let first = incident.members.iter().map(|m| m.first_at).min();
    let last = incident.members.iter().map(|m| m.last_at).max();
    let (first, last) = match (first, last) {
        (Some(a), Some(b)) => (a, b),
        _ => (incident.opened_at, incident.opened_at),
    };
    let end = if incident.active() {
        last.max(now.min(last + Duration::days(1)))
    } else {
        last
    };
    let pad = ((end - first) / 2).max(Duration::hours(2));
    (first - pad, end + pad / 4)
}

pub async fn incident_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let Some(incident) = state
        .store
        .incident(id)
        .await
        .map_err(|e| WebError::internal("reading the incident", &e))?
    else {
        return Err(WebError::NotFound(format!("There is no incident #{id}.")));
    };
    let events = state
        .store
        .incident_events(id)
        .await
        .map_err(|e| WebError::internal("reading the incident's timeline", &e))?;
    let config = state.config.current();
    let now = Utc::now().naive_utc();
    let (t0, t1) = time_range(&incident, now);
    let mut shown: BTreeMap<(String, String), Shown> = BTreeMap::new();
    let mut order = Vec::new();
    for m in &incident.members {
        let key = (m.batch.clone(), m.metric.clone());
        if let Some(s) = shown.get_mut(&key) {
            s.kinds.push(m.kind.clone());
            // Back to normal when every kind of alert of it is.
            s.normal_at = s.normal_at.zip(m.normal_at).map(|(a, b)| a.max(b));
            continue;
        }
        let points = match config.batch(&m.batch) {
            Some(batch) if !m.metric.is_empty() => {
                let minutes = u32::try_from((t1 - t0).num_minutes().max(1)).unwrap_or(u32::MAX);
                state
                    .store
                    .dashboard_series(
                        &batch.spec.table_key,
                        batch.name(),
                        &m.metric,
                        Window::Minutes(minutes),
                        t1,
                        Some(t1),
                    )
                    .await
                    .map_err(|e| WebError::internal("reading an incident's metric", &e))?
            }
            _ => Vec::new(),
        };
        order.push(key.clone());
        shown.insert(
            key,
            Shown {
                batch: m.batch.clone(),
                metric: m.metric.clone(),
                kinds: vec![m.kind.clone()],
                normal_at: m.normal_at,
                points,
            },
        );
    }
    let admin = admin::session::current(&state, &headers).await;
    let overlays = Overlays {
        time_range: Some((t0, t1)),
        ..Overlays::default()
    };
    let style = ChartStyle::default();
    let body = html! {
        div.controls {
            a.button href="/incidents" { "← Incidents" }
        }
        h1 { "Incident #" (incident.id) " " (state_badge(incident.state)) }
        p.muted.incident-facts {
            "Batch " a href={ "/batch/" (segment(&incident.batch)) } { (incident.batch) }
            " · opened " (when(incident.opened_at)) " UTC · last alert " (when(incident.last_alert_at)) " UTC"
            @if let Some((at, by)) = &incident.acknowledged { " · acknowledged by " strong { (by) } " at " (when(*at)) }
            @if let Some((at, by)) = &incident.resolved { " · resolved by " strong { (by) } " at " (when(*at)) }
        }
        p { (incident.title) }
        @if admin.is_none() && incident.active() {
            p.muted { a href={ "/admin/login?next=/incidents/" (incident.id) } { "Log in" } " to acknowledge or resolve it." }
        }
        @if let Some(admin) = &admin {
            @if incident.active() {
                div.controls.incident-actions {
                    @if incident.state == IncidentState::Open {
                        form.inline method="post" action={ "/admin/incidents/" (incident.id) "/acknowledge" } {
                            (csrf_field(admin))
                            button type="submit" { "Acknowledge" }
                        }
                    }
                    form.inline method="post" action={ "/admin/incidents/" (incident.id) "/resolve" } {
                        (csrf_field(admin))
                        button type="submit" { "Resolve" }
                    }
                }
            }
        }
        h2 { "Metrics" }
        p.muted { "On one time axis: " (when(t0)) " to " (when(t1)) " UTC." }
        @for key in &order {
            @if let Some(s) = shown.get(key) {
                (metric_section(s, &incident, &overlays, style))
            }
        }
        h2 { "Timeline" }
        (timeline(&events, &incident))
    };
    Ok(page(&format!("Incident #{}", incident.id), false, body).into_response())
}

fn metric_section(
    s: &Shown,
    incident: &Incident,
    overlays: &Overlays,
    style: ChartStyle,
) -> Markup {
    let label = member_label(&s.batch, &s.metric, &incident.batch);
    let flagged: Vec<&ChartPoint> = s
        .points
        .iter()
        .rev()
        .filter(|p| p.flagged())
        .take(ALERTS_SHOWN)
        .collect();
    html! {
        section.card.incident-metric {
            h3 {
                @if s.metric.is_empty() { (label) } @else {
                    a href={ "/batch/" (segment(&s.batch)) "/metric/" (segment(&s.metric)) } { (label) }
                }
                " "
                @for k in &s.kinds { span.badge { (k) } " " }
                @match s.normal_at {
                    Some(t) => span.badge.ok { "back to normal " (when(t)) },
                    None => span.badge.now { "not back to normal" },
                }
            }
            @if s.metric.is_empty() {
                p.muted { "The batch's ingest returned no rows." }
            } @else {
                (metric_chart_with(&label, &s.points, style, overlays))
            }
            @if !flagged.is_empty() {
                table.list {
                    thead { tr { th { "Time (UTC)" } th { "Kind" } th { "Value" } th { "Explanation" } th { "Feedback" } } }
                    tbody {
                        @for p in &flagged {
                            tr {
                                td.nowrap { (when(p.timestamp)) }
                                td { @for k in p.kinds() { span class={ "kind " (k.as_str()) } { (kind_label(k)) } " " } }
                                td { (p.value.map(number).unwrap_or_else(|| "–".into())) }
                                td { (p.llmalert.clone().unwrap_or_default()) }
                                td { @match p.feedback { Some(Feedback::Up) => "👍", Some(Feedback::Down) => "👎", None => "" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn timeline(events: &[IncidentEvent], incident: &Incident) -> Markup {
    html! {
        ol.timeline {
            @for e in events {
                li {
                    span.nowrap.muted { (when(e.at)) " UTC" } " "
                    @let who = member_label(&e.batch, &e.metric, &incident.batch);
                    @match e.event.as_str() {
                        "opened" => { strong { (who) } " opened the incident (" (e.detail) " alert)" },
                        "joined" => { strong { (who) } " joined (" (e.detail) " alert)" },
                        "again" => { strong { (who) } " alerted again (" (e.detail) ")" },
                        "normal" => { strong { (who) } " back to normal (" (e.detail) ")" },
                        "acknowledged" => { "Acknowledged by " strong { (e.actor) } },
                        "resolved" => { "Resolved by " strong { (e.actor) } },
                        other => { (other) " " (who) },
                    }
                }
            }
        }
    }
}
