//! `/`: what needs attention. First the open incidents, then the metrics anomalous now or in the last 24 hours across
//! every batch, most severe first, each with a sparkline of its day and one click to its
//! chart; then a card per batch with its health (last point's age, failing jobs, anomalies
//! per hour).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDateTime, Utc};
use maud::{Markup, html};

use super::layout::{page, server_error};
use crate::charts::{Marks, anomalies_words, bars, kinds_words, percent, sparkline};
use crate::config::{Batch, BatchJob, ScheduleStatus};
use crate::queue::scheduler::{Overrides, schedule_on};
use crate::store::{BatchSummary, MetricStats, RunStatus, Window};
use crate::web::AppState;
use crate::web::view::{View, ViewQuery, segment};

/// What the home page looks back over.
const LOOKBACK_HOURS: u32 = 24;
/// Metrics listed under "Needs attention" at most.
const ATTENTION_ROWS: usize = 10;
/// Flags read per batch for its hourly bars at most.
const MAX_FLAGS: u32 = 20_000;

/// What a batch card shows.
struct BatchCard<'a> {
    batch: &'a Batch,
    summary: BatchSummary,
    ingest: Ingest,
    /// Jobs whose latest run failed.
    failing: Vec<String>,
    /// Anomalies in each of the last 24 hours, oldest first.
    hourly: Vec<u32>,
}

/// A metric under "Needs attention".
struct Attention<'a> {
    batch: &'a Batch,
    stats: MetricStats,
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
    let since = now - Duration::hours(i64::from(LOOKBACK_HOURS));
    // Without them every stopped schedule reads as its default; the page still shows.
    let overrides = state.store.schedule_overrides().await.unwrap_or_default();
    let mut cards = Vec::new();
    let mut attention = Vec::new();
    for batch in config.dashboard_batches() {
        let stats = match state
            .stats
            .get(
                &state.store,
                batch,
                Window::Hours(LOOKBACK_HOURS),
                view.fresh,
            )
            .await
        {
            Ok(stats) => stats,
            Err(e) => return server_error("reading the batches' figures", &e),
        };
        // Health extras: a failure here leaves the card without them, not the page broken.
        let failing = state
            .store
            .last_runs(batch.name())
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.status == RunStatus::Failed)
            .map(|r| r.job)
            .collect();
        let flags = state
            .store
            .flag_times(&batch.spec.table_key, batch.name(), since, MAX_FLAGS)
            .await
            .unwrap_or_default();
        attention.extend(stats.iter().filter(|s| s.anomalies > 0).map(|s| Attention {
            batch,
            stats: s.clone(),
        }));
        cards.push(BatchCard {
            batch,
            summary: BatchSummary::of(&stats),
            ingest: Ingest::of(batch, &overrides),
            failing,
            hourly: hourly(&flags, now),
        });
    }
    cards.sort_by(|a, b| {
        b.summary
            .anomalous_now
            .cmp(&a.summary.anomalous_now)
            .then(b.failing.len().cmp(&a.failing.len()))
            .then(b.summary.anomalies.cmp(&a.summary.anomalies))
            .then_with(|| a.batch.name().cmp(b.batch.name()))
    });
    attention.sort_by(|a, b| {
        b.stats
            .anomalous_now
            .cmp(&a.stats.anomalous_now)
            .then(b.stats.anomalies.cmp(&a.stats.anomalies))
            .then(
                b.stats
                    .avg_score
                    .unwrap_or(0.0)
                    .total_cmp(&a.stats.avg_score.unwrap_or(0.0)),
            )
            .then_with(|| a.stats.name.cmp(&b.stats.name))
    });
    let more = attention.len().saturating_sub(ATTENTION_ROWS);
    attention.truncate(ATTENTION_ROWS);
    let mut sparks = Vec::with_capacity(attention.len());
    for a in &attention {
        sparks.push(
            match state
                .store
                .dashboard_series(
                    &a.batch.spec.table_key,
                    a.batch.name(),
                    &a.stats.name,
                    Window::Hours(LOOKBACK_HOURS),
                    now,
                    None,
                )
                .await
            {
                Ok(points) => sparkline(&a.stats.name, &points, Marks::All),
                Err(e) => {
                    tracing::warn!(error = %e, "sparkline of {}", a.stats.name);
                    html! {}
                }
            },
        );
    }
    // A failure leaves the page without them, not broken.
    let incidents = state.store.active_incidents().await.unwrap_or_default();
    let query = view.query(&[]);
    let with_data = cards.iter().filter(|c| c.summary.metrics > 0).count();
    let body = html! {
        div.controls {
            h1 { "Overview" }
            a.button href={ "/" (view.query(&[("refresh", "1".into())])) } title="Recompute the figures now" { "↻ Refresh" }
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
        } @else {
            @if !incidents.is_empty() {
                section #open-incidents aria-labelledby="incidents-title" {
                    h2 #incidents-title { "Open incidents" }
                    (super::incidents::incident_rows(&incidents))
                }
            }
            section #attention aria-labelledby="attention-title" {
                h2 #attention-title { "Needs attention" }
                @if attention.is_empty() {
                    p.notice.calm {
                        @if with_data == 0 { "No data yet, so nothing to flag. The batches below say when their data comes." }
                        @else { "Nothing anomalous in the last 24 hours across " (with_data) " batch(es) with data." }
                    }
                } @else {
                    p.muted { "Metrics with an anomaly (a point flagged by ML, a threshold, a change or the LLM) in the last 24 hours; anomalous now first." }
                    ol.attention-list {
                        @for (a, spark) in attention.iter().zip(&sparks) {
                            @let url = format!("/batch/{}/metric/{}{}", segment(a.batch.name()), segment(&a.stats.name), query);
                            li.attention.now[a.stats.anomalous_now] {
                                div.what {
                                    a.metric href=(url) { (a.stats.name) }
                                    span.muted { " in " a href={ "/batch/" (segment(a.batch.name())) (query) } { (a.batch.name()) } }
                                    div.detail {
                                        @if a.stats.anomalous_now { span.badge.now { "anomalous now" } " " }
                                        @if a.stats.stale { span.badge.stale { "stale" } " " }
                                        strong { (anomalies_words(a.stats.anomalies)) } " in 24 h"
                                        span.muted { " (" (kinds_words(&a.stats.kinds)) ")" }
                                    }
                                }
                                a.trend href=(url) aria-label={ "Chart of " (a.stats.name) } { (spark) }
                            }
                        }
                    }
                    @if more > 0 { p.muted { "And " (more) " more metric(s) with anomalies: see their batches below." } }
                }
            }
            section #batches aria-labelledby="batches-title" {
                h2 #batches-title { "Batches" }
                div.grid {
                    @for card in &cards { (batch_card(card, &query, now)) }
                }
            }
        }
    };
    page("Overview", view.dark, body).into_response()
}

fn batch_card(card: &BatchCard, query: &str, now: NaiveDateTime) -> Markup {
    let name = card.batch.name();
    let s = &card.summary;
    html! {
        article.card.batch-card.alerting[s.anomalous_now > 0 || s.stale > 0 || !card.failing.is_empty()] {
            h2 { a href={ "/batch/" (segment(name)) (query) } { (name) } }
            @if !card.failing.is_empty() {
                p.health.bad { "Failing: " (card.failing.join(", ")) " (last run failed)" }
            }
            @if s.metrics == 0 {
                (empty_state(card))
            } @else {
                dl.figures {
                    dt { "Metrics" } dd { (s.metrics) }
                    dt { "Last point" } dd { (s.latest.map(|t| time_ago(t, now)).unwrap_or_default()) }
                    dt { "Anomalous now" } dd { (s.anomalous_now) }
                    @if s.stale > 0 {
                        dt { "Stale" } dd {
                            span.badge.stale title="No new data for stale_after_n of their usual intervals" {
                                (s.stale) " metric(s) without new data"
                            }
                        }
                    }
                    dt { "Anomalies, 24 h" } dd {
                        (s.anomalies)
                        @if s.anomalies > 0 { span.muted { " (" (kinds_words(&s.kinds)) ")" } }
                    }
                    dt { "Avg score" } dd { (s.avg_score.map(percent).unwrap_or_else(|| "–".into())) }
                }
                (bars(&format!("Anomalies per hour in {name}, last 24 hours"), &card.hourly))
                p.muted.small { "Anomalies per hour, last 24 h (UTC)" }
            }
        }
    }
}

fn empty_state(card: &BatchCard) -> Markup {
    let name = card.batch.name();
    html! {
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
    }
}

/// Flag times bucketed into the last `LOOKBACK_HOURS` hours ending at `now`, oldest first.
fn hourly(times: &[NaiveDateTime], now: NaiveDateTime) -> Vec<u32> {
    let hours = LOOKBACK_HOURS as usize;
    let mut counts = vec![0u32; hours];
    for t in times {
        let ago = (now - *t).num_minutes();
        if (0..60 * hours as i64).contains(&ago) {
            let slot = hours - 1 - (ago / 60) as usize;
            counts[slot] += 1;
        }
    }
    counts
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

    #[test]
    fn times_ago_read_naturally() {
        let now = Utc::now().naive_utc();
        assert_eq!(time_ago(now, now), "just now");
        assert_eq!(time_ago(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(time_ago(now - Duration::minutes(150), now), "2 hours ago");
        assert_eq!(time_ago(now - Duration::days(3), now), "3 days ago");
    }

    #[test]
    fn flags_fall_in_their_hour() {
        let now = Utc::now().naive_utc();
        let times = [
            now - Duration::minutes(5),
            now - Duration::minutes(59),
            now - Duration::minutes(61),
            now - Duration::hours(23) - Duration::minutes(59),
            now - Duration::hours(30),
            now + Duration::minutes(1),
        ];
        let counts = hourly(&times, now);
        assert_eq!(counts.len(), 24);
        assert_eq!(counts[23], 2, "the newest hour is last");
        assert_eq!(counts[22], 1);
        assert_eq!(counts[0], 1, "23 h 59 min ago is the oldest hour");
        assert_eq!(
            counts.iter().sum::<u32>(),
            4,
            "older and future times are left out"
        );
    }
}
