//! `/batch/{batch}`: the batch's metrics as chart cards, most anomalous first, loaded lazily
//! ten at a time, with search, window and display settings; and the card and card-list
//! partials htmx fetches.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::page;
use crate::charts::{anomalies_words, kinds_words, metric_chart, percent};
use crate::config::Batch;
use crate::store::{BatchSummary, KindCounts, MetricStats};
use crate::web::view::{View, ViewQuery, segment};
use crate::web::{AppState, DashboardBatch, WebError};

/// Cards per load.
pub const PAGE: usize = 10;

#[derive(Debug, Default, Deserialize)]
pub struct CardsQuery {
    #[serde(flatten)]
    view: ViewQuery,
    offset: Option<usize>,
    metric: Option<String>,
}

/// The batch's metrics matching the search, most anomalous first.
async fn ranked(
    state: &AppState,
    batch: &Batch,
    view: &View,
) -> Result<Vec<MetricStats>, WebError> {
    let mut stats: Vec<MetricStats> = state
        .stats
        .get(&state.store, batch, view.window, view.fresh)
        .await
        .map_err(|e| WebError::internal("reading the batch's metrics", &e))?
        .as_ref()
        .clone();
    if let Some(re) = view.matcher() {
        stats.retain(|s| re.is_match(&s.name));
    }
    stats.sort_by(|a, b| {
        b.anomaly_rate()
            .total_cmp(&a.anomaly_rate())
            .then(
                b.avg_score
                    .unwrap_or(0.0)
                    .total_cmp(&a.avg_score.unwrap_or(0.0)),
            )
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(stats)
}

pub async fn batch_page(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Query(q): Query<ViewQuery>,
) -> Result<Response, WebError> {
    let (config, batch) = (shown.config(), shown.batch());
    let view = View::from_query(&q);
    let stats = ranked(&state, batch, &view).await?;
    let base = format!("/batch/{}", segment(batch.name()));
    let batches = config.dashboard_batches();
    // A missing picture only hides its link.
    let plot = state.store.plot(batch.name(), false).await.ok().flatten();
    let body = html! {
        div.controls {
            a.button href={ "/" (view.query(&[])) } { "⌂ Home" }
            select aria-label="Batch" data-navigate {
                @for b in &batches {
                    option value={ "/batch/" (segment(b.name())) (view.query(&[])) } selected[b.name() == batch.name()] { (b.name()) }
                }
            }
            form method="get" action=(base) hx-get=(base) hx-target="#cards" hx-select="#cards"
                hx-swap="outerHTML" hx-push-url="true"
                hx-trigger="input changed delay:400ms from:input[type=search], change from:input[name=window], submit" {
                input type="search" name="search" value=(view.search) placeholder="Search metrics (regex)" aria-label="Search metrics";
                input type="text" name="window" value=(view.window_error.as_ref().map(|_| q.window.clone().unwrap_or_default()).unwrap_or_else(|| view.window.to_string()))
                    pattern="^[0-9]+[nNhHmMdD]?$" title="90n (points), 45m, 24h or 7d" aria-label="Window";
                @for (key, value) in view.pairs() {
                    @if key != "search" && key != "window" {
                        input type="hidden" name=(key) value=(value);
                    }
                }
                button type="submit" { "Apply" }
            }
            details.menu {
                summary aria-label="Chart settings" { "⚙ View" }
                div.menu-items {
                    (toggle(&base, &view, "Large charts", view.large, |v| v.large = !v.large))
                    (toggle(&base, &view, "One column", view.one_column, |v| v.one_column = !v.one_column))
                    (toggle(&base, &view, "Point markers", view.markers, |v| v.markers = !v.markers))
                    (toggle(&base, &view, "Legend", view.legend, |v| v.legend = !v.legend))
                    (toggle(&base, &view, "Thin lines", view.thin, |v| v.thin = !v.thin))
                }
            }
            a.button href={ (base) "/anomalies" (view.query(&[])) } { "⚑ Anomalies" }
            a.button href={ (base) (view.query(&[("refresh", "1".into())])) } title="Recompute the figures now" aria-label="Refresh" { "↻" }
            @if let Some(plot) = &plot {
                a.button href={ (base) "/plot.png" } title={ "The plot job's picture of " (plot.info.metrics) " metric(s), drawn " (plot.info.created_at.format("%Y-%m-%d %H:%M")) " UTC" } { "PNG" }
            }
        }
        h1 { (batch.name()) }
        (cards_section(batch, &view, &stats))
        dialog #modal {
            form method="dialog" { button { "Close" } }
            div #modal-body {}
        }
    };
    Ok(page(batch.name(), view.dark, body).into_response())
}

/// A view setting as a menu entry that shows whether it is on and links to the other state.
fn toggle(base: &str, view: &View, label: &str, on: bool, flip: fn(&mut View)) -> Markup {
    html! {
        a.toggle href={ (base) (view.toggled(flip)) } role="menuitemcheckbox" aria-checked=(on) aria-pressed=(on) { (label) }
    }
}

/// The grid of placeholders (or the reason there is none), with the load-more button.
fn cards_section(batch: &Batch, view: &View, stats: &[MetricStats]) -> Markup {
    html! {
        section #cards {
            @if let Some(e) = &view.window_error { p.error role="alert" { (e) "; showing the default window (90n)." } }
            @if let Some(e) = &view.search_error { p.error role="alert" { (e) } }
            @if stats.is_empty() && view.search_error.is_none() {
                @if view.search.is_empty() {
                    p.notice { "No data in this window yet. This batch ingests on "
                        code { (batch.spec.ingest_cron_schedule.as_str()) } " (UTC)." }
                } @else {
                    p.notice { "No matching metrics found." }
                }
            } @else if view.search_error.is_none() {
                @let summary = BatchSummary::of(stats);
                p.summary {
                    (stats.len()) " metric(s) · "
                    strong.count.flagged[summary.anomalies > 0] { (anomalies_words(summary.anomalies)) }
                    @if summary.anomalies > 0 { " (" (kinds_words(&summary.kinds)) ")" }
                    " in window " (view.window)
                    @if summary.anomalous_now > 0 { " · " (summary.anomalous_now) " anomalous now" }
                    @if summary.stale > 0 {
                        " · "
                        span.badge.stale title="No new data for stale_after_n of their usual intervals" {
                            (summary.stale) " stale: "
                            (stats.iter().filter(|s| s.stale).map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "))
                        }
                    }
                    span.muted { " · most anomalous first" }
                }
                div.charts.one[view.one_column] {
                    (placeholders(batch, view, stats, 0))
                }
            }
        }
    }
}

/// Cards `offset..offset+PAGE` as lazy placeholders, then the button for the next ones.
fn placeholders(batch: &Batch, view: &View, stats: &[MetricStats], offset: usize) -> Markup {
    let base = format!("/batch/{}", segment(batch.name()));
    let end = offset.saturating_add(PAGE).min(stats.len());
    let rest = stats.len().saturating_sub(end);
    html! {
        @for s in stats.get(offset..end).unwrap_or_default() {
            div.card.placeholder hx-get={ (base) "/chart" (view.query(&[("metric", s.name.clone())])) }
                hx-trigger="load" hx-swap="outerHTML" { span { "Loading " (s.name) "…" } }
        }
        @if rest > 0 {
            div.load-more {
                button hx-get={ (base) "/cards" (view.query(&[("offset", end.to_string())])) }
                    hx-target="closest .load-more" hx-swap="outerHTML" {
                    "Load next " (rest.min(PAGE)) " of " (rest)
                }
            }
        }
    }
}

/// `/batch/{b}/cards?offset=`: the next placeholders.
pub async fn cards(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Query(q): Query<CardsQuery>,
) -> Result<Markup, WebError> {
    let batch = shown.batch();
    let view = View::from_query(&q.view);
    let stats = ranked(&state, batch, &view).await?;
    Ok(placeholders(batch, &view, &stats, q.offset.unwrap_or(0)))
}

/// `/batch/{b}/chart?metric=`: one chart card.
pub async fn chart_card(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Query(q): Query<CardsQuery>,
) -> Result<Markup, WebError> {
    let batch = shown.batch();
    let Some(metric) = q.metric.as_deref().filter(|m| !m.is_empty()) else {
        return Err(WebError::NotFound("No metric was named.".into()));
    };
    let view = View::from_query(&q.view);
    let points = shown.series(&state.store, metric, view.window).await?;
    // Staleness comes with the batch's figures (cached for the page that lists the cards).
    let stale = state
        .stats
        .get(&state.store, batch, view.window, false)
        .await
        .ok()
        .is_some_and(|stats| stats.iter().any(|s| s.name == metric && s.stale));
    let (anomalies, kinds) = KindCounts::tally(&points);
    let scores: Vec<f64> = points.iter().filter_map(|p| p.score).collect();
    let avg = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
    let min_n = batch.spec.train_min_n;
    let metric_url = format!(
        "/batch/{}/metric/{}{}",
        segment(batch.name()),
        segment(metric),
        view.query(&[])
    );
    let mut large = view.clone();
    large.large = true;
    let expand = format!(
        "/batch/{}/chart{}",
        segment(batch.name()),
        large.query(&[("metric", metric.to_owned())])
    );
    Ok(html! {
        article.card.chart-card {
            header {
                h3 {
                    a href=(metric_url) { (metric) }
                    @if stale {
                        " " span.badge.stale title="No new data for stale_after_n of its usual intervals" { "stale" }
                    }
                }
                span.sub {
                    span.count.flagged[anomalies > 0] { (anomalies_words(anomalies)) }
                    @if anomalies > 0 { " (" (kinds_words(&kinds)) ")" }
                    " · "
                    @match avg {
                        Some(avg) => { "avg score " (percent(avg)) }
                        None => { span title={ "The model trains once the metric has " (min_n) " points" } { "no score yet (needs " (min_n) " points)" } }
                    }
                }
                span.actions {
                    button type="button" title="Expand" aria-label={ "Expand " (metric) }
                        hx-get=(expand) hx-target="#modal-body"
                        data-open-dialog="modal" { "⤢" }
                }
            }
            (metric_chart(metric, &points, view.chart_style()))
        }
    })
}
