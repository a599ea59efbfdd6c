//! `/batch/{batch}/metric/{name}`: one metric in full: its chart (with the alert threshold
//! and where the metric waited to re-arm), its recent alerts with their explanations and
//! feedback, its alert budget, what feedback taught it and what its models were trained on.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use maud::{Markup, html};

use super::layout::page;
use crate::charts::{
    Overlays, anomalies_words, kind_label, kinds_words, metric_chart_with, number, threshold_words,
};
use crate::detect::feedback::{Lesson, placed};
use crate::detect::rules::{AlertRule, disarmed_spans};
use crate::detect::{AlertPoint, FeedbackRule, TrainedModel};
use crate::store::{ChartPoint, Feedback, FeedbackReset, KindCounts, StoredVerdict};
use crate::web::admin::{self, csrf_field};
use crate::web::view::{View, ViewQuery, segment};
use crate::web::{AppState, DashboardBatch, WebError};

pub async fn metric_page(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Path((_, metric)): Path<(String, String)>,
    Query(q): Query<ViewQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let batch = shown.batch();
    let mut view = View::from_query(&q);
    view.large = true;
    let spec = &batch.spec;
    let points = shown.series(&state.store, &metric, view.window).await?;
    if points.is_empty() {
        return Err(WebError::NotFound(format!(
            "Batch “{}” has no metric named “{metric}” in this window.",
            batch.name()
        )));
    }
    // Models may live in object storage: a slow or unreachable store costs the page at most
    // a few seconds, and the page still shows without them.
    let models: Vec<(String, Option<TrainedModel>)> = {
        let load = async {
            let mut out = Vec::new();
            if let Ok(store) = state
                .services
                .connectors
                .model_store(&spec.model_path, &state.store)
            {
                for (plan, model) in store.trained(batch.name(), &metric, &batch.models).await {
                    out.push((plan.tag.clone(), model.ok().flatten()));
                }
            }
            out
        };
        tokio::time::timeout(std::time::Duration::from_secs(3), load)
            .await
            .unwrap_or_default()
    };
    let verdicts = state
        .store
        .verdicts(&spec.table_key, batch.name(), Some(&metric))
        .await
        .map_err(|e| WebError::internal("reading feedback", &e))?;
    let reset = state
        .store
        .feedback_reset(batch.name(), &metric)
        .await
        .map_err(|e| WebError::internal("reading feedback", &e))?;
    let times: Vec<i64> = points
        .iter()
        .filter(|p| p.score.is_some())
        .map(|p| p.timestamp.and_utc().timestamp())
        .collect();
    let given = verdicts.iter().map(StoredVerdict::given);
    let rule = spec.feedback_rule();
    let lesson = rule.lesson(&placed(given, &times), times.len() as f64);
    let budgeted = match spec.alert_budget_for(&metric) {
        Some(_) => state
            .store
            .budget_threshold(batch.name(), &metric)
            .await
            .map_err(|e| WebError::internal("reading the alert budget", &e))?,
        None => None,
    };
    let mut alert_rule = spec.alert_rule_for(&metric);
    if let Some(b) = &budgeted {
        alert_rule.threshold = b.threshold;
    }
    let overlays = overlays(&alert_rule, &points);
    let admin = admin::session::current(&state, &headers).await;
    let base = format!("/batch/{}", segment(batch.name()));
    let (anomalies, kinds) = KindCounts::tally(&points);
    let alerts: Vec<_> = points
        .iter()
        .rev()
        .filter(|p| p.flagged())
        .take(20)
        .collect();
    let body = html! {
        div.controls {
            a.button href={ (base) (view.query(&[])) } { "← " (batch.name()) }
            a.button href={ (base) "/anomalies" (view.query(&[])) } { "⚑ Anomalies" }
        }
        h1 { (metric) }
        div.card { (metric_chart_with(&metric, &points, view.chart_style(), &overlays)) }
        h2 { "Recent anomalies" }
        p.muted {
            (anomalies_words(anomalies)) " in window " (view.window)
            @if anomalies > 0 { " (" (kinds_words(&kinds)) ")" }
            @if alerts.len() < anomalies as usize { "; the newest " (alerts.len()) " below" }
            "."
        }
        @if !alerts.is_empty() {
            div.table-wrap {
            table.list {
                thead { tr { th { "Time (UTC)" } th { "Kind" } th { "Value" } th { "Details" } th { "Feedback" } } }
                tbody {
                    @for p in &alerts {
                        tr {
                            td.nowrap { (p.timestamp.format("%Y-%m-%d %H:%M")) }
                            td {
                                @for k in p.kinds() { span class={ "kind " (k.as_str()) } { (kind_label(k)) } " " }
                            }
                            td { (p.value.map(number).unwrap_or_else(|| "–".into())) }
                            td { (p.llmalert.clone().or_else(|| p.tholdalert.as_deref().map(threshold_words)).unwrap_or_default()) }
                            td { @match p.feedback { Some(Feedback::Up) => "👍", Some(Feedback::Down) => "👎", None => "" } }
                        }
                    }
                }
            }
            }
        }
        @if let Some(budget) = spec.alert_budget_for(&metric) {
            h2 { "Alert budget" }
            p.muted.budget {
                "At most " (budget) " ML alerts; more within the period are saved, marked “over budget” and sent in the daily summary. "
                @match &budgeted {
                    Some(b) if b.threshold > b.configured => {
                        "To fit it, this metric alerts at a smoothed score of " (format!("{:.4}", b.threshold))
                        " instead of " (b.configured) " (calibrated from its last "
                        (budget.history_seconds() / budget.period_seconds) " periods of scores, "
                        (b.calibrated_at.format("%Y-%m-%d %H:%M")) " UTC)."
                    }
                    Some(b) => {
                        "Its recent scores fit the budget at the batch's threshold " (b.configured)
                        " (checked " (b.calibrated_at.format("%Y-%m-%d %H:%M")) " UTC)."
                    }
                    None => { "The next alert run calibrates its threshold." }
                }
            }
        }
        h2 { "What feedback taught it" }
        (taught(&lesson, rule, reset.as_ref()))
        @if let Some(admin) = &admin {
            @if lesson.not_useful + lesson.useful > 0 {
                form.inline method="post" action={ "/admin" (base) "/metric/" (segment(&metric)) "/feedback/reset" } {
                    (csrf_field(admin))
                    button type="submit" { "Forget this feedback" }
                }
            }
        }
        h2 { "Models" }
        div.table-wrap {
        table.list {
            thead { tr { th { "Tag" } th { "Detector" } th { "Trained" } th { "Training rows" } th { "Training window" } } }
            tbody {
                @for (tag, model) in &models {
                    tr {
                        td { (tag) }
                        @if let Some(m) = model {
                            td { (m.spec.name()) }
                            td { (stamp(m.training.trained_at)) }
                            td { (m.training.rows) }
                            td { (m.training.first_timestamp.map(stamp).unwrap_or_default()) " – " (m.training.last_timestamp.map(stamp).unwrap_or_default()) }
                        } @else {
                            td colspan="4" { span.muted { "not trained yet (needs " (spec.train_min_n) " points)" } }
                        }
                    }
                }
            }
        }
        }
    };
    let mut response = page(&metric, view.dark, body).into_response();
    if admin.is_some() {
        // The page carries the session's CSRF token: not for shared caches.
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    Ok(response)
}

/// The alert rule drawn over the chart: its threshold, and where the metric waited to
/// re-arm after each ML alert.
fn overlays(rule: &AlertRule, points: &[ChartPoint]) -> Overlays {
    let scored: Vec<&ChartPoint> = points.iter().filter(|p| p.score.is_some()).collect();
    let alert_points: Vec<AlertPoint> = scored
        .iter()
        .map(|p| AlertPoint::scored(p.score.unwrap_or(0.0)))
        .collect();
    let alerted: Vec<bool> = scored.iter().map(|p| p.alert).collect();
    let smoothed = rule.smoothed(&alert_points);
    // Without snooze or re-arming a metric may alert at the very next point: nothing to shade.
    let waits = rule.snooze_n > 0 || rule.resolve_n > 0;
    let disarmed = disarmed_spans(rule, &smoothed, &alerted)
        .into_iter()
        .filter(|_| waits)
        .map(|(from, to)| (scored[from].timestamp, to.map(|k| scored[k].timestamp)))
        .collect();
    let mut words = format!("snoozed for {} scored points", rule.snooze_n);
    if rule.resolve_n > 0 {
        words.push_str(&format!(
            ", and until {} points in a row are back under the threshold",
            rule.resolve_n
        ));
    }
    Overlays {
        threshold: Some(rule.threshold),
        disarmed,
        rearm_words: words,
        time_range: None,
    }
}

/// The lesson in words: what was said, what it mutes now, and any reset.
fn taught(lesson: &Lesson, rule: FeedbackRule, reset: Option<&FeedbackReset>) -> Markup {
    let said = lesson.not_useful + lesson.useful;
    html! {
        p.muted.taught {
            @if said == 0 {
                "No feedback teaches this metric yet: a 👎 on one of its anomalies mutes later alerts like it, a 👍 keeps them coming."
            } @else {
                (lesson.not_useful) " " (if lesson.not_useful == 1 { "alert" } else { "alerts" }) " marked not useful, "
                (lesson.useful) " useful. "
                @if lesson.useful > 0 {
                    (lesson.useful) " confirmed " (if lesson.useful == 1 { "point is" } else { "points are" })
                    " kept out of its models' training (with the feature rows that hold them), from the next train on. "
                }
                @match lesson.muted_up_to {
                    Some(level) if rule.enabled() => {
                        "ML alerts at level " (format!("{level:.1}")) " or below are muted now (a rejected alert's level × "
                        (format!("{:.1}", 1.0 + rule.margin)) ", halving every " (rule.half_life_n) " points; the level is the outlier score over its usual value)."
                    }
                    _ => { "Nothing is muted now." }
                }
            }
            @if let Some(r) = reset {
                " Feedback on points up to " (r.reset_at.format("%Y-%m-%d %H:%M")) " UTC was forgotten (reset by " (r.reset_by) ")."
            }
        }
    }
}

fn stamp(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}
