//! Run history: every recorded run, filterable by batch, job, status and trigger, 50 a page,
//! and each run's page with its log and error.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::jobs::{batch_link, runs_table};
use super::session::Admin;
use super::{admin_page, human_duration};
use crate::store::{RunFilter, RunStatus};
use crate::web::AppState;
use crate::web::pages::layout::{not_found, server_error};

const PER_PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct RunQuery {
    batch: Option<String>,
    job: Option<String>,
    status: Option<String>,
    trigger: Option<String>,
    before: Option<i64>,
}

pub async fn run_list(
    State(state): State<AppState>,
    Query(q): Query<RunQuery>,
    admin: Admin,
) -> Response {
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let filter = RunFilter {
        batch: nonempty(&q.batch),
        job: nonempty(&q.job),
        status: q.status.as_deref().and_then(RunStatus::parse),
        trigger: nonempty(&q.trigger),
        before_id: q.before,
        queue_id: None,
    };
    let runs = match state.store.runs(&filter, PER_PAGE).await {
        Ok(r) => r,
        Err(e) => return server_error("reading run history", &e),
    };
    let config = state.config.current();
    let mut batches: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
    batches.sort_unstable();
    let selected = |field: &Option<String>, v: &str| field.as_deref() == Some(v);
    let older = (runs.len() as u32 == PER_PAGE)
        .then(|| runs.last().map(|r| r.id))
        .flatten();
    let next_link = older.map(|before| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("batch", &filter.batch),
            ("job", &filter.job),
            ("trigger", &filter.trigger),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        if let Some(s) = filter.status {
            pairs.push(("status", s.as_str().to_owned()));
        }
        pairs.push(("before", before.to_string()));
        format!(
            "/admin/runs?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    });
    let body = html! {
        h1 { "Run history" }
        form.filters method="get" action="/admin/runs" {
            label { "Batch " select name="batch" {
                option value="" { "all" }
                option value="*" selected[selected(&filter.batch, "*")] { "* (summary)" }
                @for b in &batches { option value=(b) selected[selected(&filter.batch, b)] { (b) } }
            } }
            label { "Job " select name="job" {
                option value="" { "all" }
                @for j in crate::config::BatchJob::ALL.map(crate::config::BatchJob::as_str).into_iter().chain([crate::queue::SUMMARY_JOB]) {
                    option value=(j) selected[selected(&filter.job, j)] { (j) }
                }
            } }
            label { "Status " select name="status" {
                option value="" { "all" }
                @for s in [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::TimedOut] {
                    option value=(s.as_str()) selected[filter.status == Some(s)] { (s.as_str()) }
                }
            } }
            label { "Trigger " select name="trigger" {
                option value="" { "all" }
                @for t in crate::jobs::Trigger::ALL.map(crate::jobs::Trigger::as_str) {
                    option value=(t) selected[selected(&filter.trigger, t)] { (t) }
                }
            } }
            button type="submit" { "Filter" }
        }
        (runs_table(&runs))
        @if let Some(link) = next_link { p { a href=(link) { "Older runs →" } } }
    };
    admin_page("Runs", &admin, body).into_response()
}

pub async fn run_detail(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    admin: Admin,
) -> Response {
    let run = match state.store.run(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found("There is no run with this number."),
        Err(e) => return server_error("reading a run", &e),
    };
    let body = html! {
        h1 { "Run #" (run.id) ": " (run.job) " of " (batch_link(&run.batch)) }
        dl.facts {
            dt { "Status" } dd { (run.status.as_str()) }
            dt { "Trigger" } dd { (run.trigger) }
            dt { "Started" } dd { (run.started_at.format("%Y-%m-%d %H:%M:%S UTC")) }
            dt { "Finished" } dd { @if let Some(f) = run.finished_at { (f.format("%Y-%m-%d %H:%M:%S UTC")) } @else { "—" } }
            dt { "Duration" } dd { @if let Some(d) = run.duration() { (human_duration(d)) } @else { "—" } }
            dt { "Rows read / written" } dd { (run.rows_read) " / " (run.rows_written) }
            @if let Some(q) = run.queue_id { dt { "Queued job" } dd { a href={ "/admin/queue/" (q) } { "#" (q) } } }
        }
        @if let Some(e) = &run.error {
            h2 { "Error" }
            pre.log.error-text { (e) }
        }
        h2 { "Log" }
        @if run.log.is_empty() { p.muted { "Nothing logged." } } @else { pre.log { (run.log) } }
        p { a href={ "/admin/runs?batch=" (crate::web::view::segment(&run.batch)) "&job=" (run.job) } { "Runs of this job" } }
    };
    admin_page(&format!("Run #{id}"), &admin, body).into_response()
}
