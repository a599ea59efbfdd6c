//! `/`: a card per batch with its metric count, time since its newest point, average score
//! and alert count, the batches needing attention first.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, Utc};
use maud::html;

use super::layout::{page, server_error};
use crate::charts::percent;
use crate::config::{Batch, BatchJob, ScheduleStatus};
use crate::queue::scheduler::{Overrides, schedule_on};
use crate::store::{BatchSummary, Window};
use crate::web::AppState;
use crate::web::view::{View, ViewQuery, segment};

/// What a batch card shows.
struct BatchCard<'a> {
    batch: &'a Batch,
    summary: BatchSummary,
    ingest: Ingest,
}

/// How new rows reach a batch, so an empty one says what will happen.
#[derive(Clone, Copy, PartialEq)]
enum Ingest {
    /// Its ingest schedule runs.
    Scheduled,
    /// Its ingest schedule is stopped (by default or by an operator).
    Stopped,
    /// `disable_ingest`: rows only arrive pushed through the API.
    Pushed,
}

impl Ingest {
    fn of(batch: &Batch, overrides: &Overrides) -> Self {
        let schedule = batch.spec.schedule(BatchJob::Ingest);
        if schedule.disabled {
            return Ingest::Pushed;
        }
        let default_on = schedule.default_status == ScheduleStatus::Running;
        if schedule_on(
            overrides,
            batch.name(),
            BatchJob::Ingest.as_str(),
            default_on,
        ) {
            Ingest::Scheduled
        } else {
            Ingest::Stopped
        }
    }
}

pub async fn home(State(state): State<AppState>, Query(q): Query<ViewQuery>) -> Response {
    let view = View::from_query(&q);
    let config = state.config.current();
    let now = Utc::now().naive_utc();
    // Without them every stopped schedule reads as its default; the page still shows.
    let overrides = state.store.schedule_overrides().await.unwrap_or_default();
    let mut cards = Vec::new();
    for batch in config.dashboard_batches() {
        match state
            .stats
            .get(&state.store, batch, Window::default(), view.fresh)
            .await
        {
            Ok(stats) => cards.push(BatchCard {
                batch,
                summary: BatchSummary::of(&stats),
                ingest: Ingest::of(batch, &overrides),
            }),
            Err(e) => return server_error("reading the batches' figures", &e),
        }
    }
    cards.sort_by(|a, b| {
        b.summary
            .alerts
            .cmp(&a.summary.alerts)
            .then(
                b.summary
                    .avg_score
                    .unwrap_or(0.0)
                    .total_cmp(&a.summary.avg_score.unwrap_or(0.0)),
            )
            .then_with(|| a.batch.name().cmp(b.batch.name()))
    });
    let query = view.query(&[]);
    let body = html! {
        div.controls {
            h1 { "Metric batches" }
            a.button href={ "/" (view.query(&[("refresh", "1".into())])) } { "↻ Refresh" }
            a.button href={ "/" (view.toggled(|v| v.dark = !v.dark)) } {
                @if view.dark { "☀ Light" } @else { "☾ Dark" }
            }
        }
        @if !config.invalid.is_empty() {
            // Only the names: the problems (file paths, values) are for the admin panel.
            p.error #invalid-batches {
                (config.invalid.len())
                @if config.invalid.len() == 1 { " batch does" } @else { " batches do" }
                " not validate and do not run: "
                @for (i, b) in config.invalid.iter().enumerate() {
                    @if i > 0 { ", " } strong { (b.label()) }
                }
                ". The admin panel says why (or run " code { "anomstack validate" } ")."
            }
        }
        @if cards.is_empty() {
            p.notice {
                "No metric batches yet. Add a batch YAML under the metrics folder ("
                code { "ANOMSTACK_METRICS_DIR" } "), or leave "
                code { "ANOMSTACK_IGNORE_EXAMPLES" } " unset to get the examples."
            }
        }
        div.grid {
            @for card in &cards {
                @let name = card.batch.name();
                article.card.alerting[card.summary.alerts > 0] {
                    h2 { a href={ "/batch/" (segment(name)) (query) } { (name) } }
                    @if card.summary.metrics == 0 {
                        p.muted {
                            @match card.ingest {
                                Ingest::Scheduled => {
                                    "No data yet: this batch ingests on "
                                    code { (card.batch.spec.ingest_cron_schedule.as_str()) }
                                    " (UTC); trigger a run from the admin panel or with "
                                    code { "anomstack run ingest " (name) } "."
                                }
                                Ingest::Stopped => {
                                    "No data yet, and none will come: its ingest schedule ("
                                    code { (card.batch.spec.ingest_cron_schedule.as_str()) }
                                    " UTC) is stopped. Start it in the admin panel or set "
                                    code { "ingest_default_schedule_status: RUNNING" }
                                    "; or run it once with "
                                    code { "anomstack run ingest " (name) } "."
                                }
                                Ingest::Pushed => {
                                    "No data yet: its ingest is off ("
                                    code { "disable_ingest" }
                                    "), so rows arrive only when pushed to "
                                    code { "POST /api/v1/batches/" (name) "/ingest" } "."
                                }
                            }
                        }
                    } @else {
                        dl.figures {
                            dt { "Metrics" } dd { (card.summary.metrics) }
                            dt { "Updated" } dd { (card.summary.latest.map(|t| time_ago(t, now)).unwrap_or_default()) }
                            dt { "Avg score" } dd { (card.summary.avg_score.map(percent).unwrap_or_else(|| "–".into())) }
                            dt { "Alerts" } dd { (card.summary.alerts) }
                        }
                    }
                }
            }
        }
    };
    page("Batches", view.dark, body).into_response()
}

/// "3 days ago", "5 hours ago", "12 minutes ago", "just now".
pub fn time_ago(then: NaiveDateTime, now: NaiveDateTime) -> String {
    let minutes = (now - then).num_minutes();
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    if minutes >= 60 * 24 {
        plural(minutes / (60 * 24), "day")
    } else if minutes >= 60 {
        plural(minutes / 60, "hour")
    } else if minutes >= 1 {
        plural(minutes, "minute")
    } else {
        "just now".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn times_ago_read_naturally() {
        let now = Utc::now().naive_utc();
        assert_eq!(time_ago(now, now), "just now");
        assert_eq!(time_ago(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(time_ago(now - Duration::minutes(150), now), "2 hours ago");
        assert_eq!(time_ago(now - Duration::days(3), now), "3 days ago");
    }
}
