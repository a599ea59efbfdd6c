//! A batch's jobs: schedule, next run, last run, a button to run each (and the whole
//! pipeline), and the schedule switch. A run button queues the job like the scheduler does
//! (trigger `admin`) and answers with a progress fragment that htmx polls until the queued job
//! has finished, listing the runs it made.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::{Admin, AdminForm};
use super::{admin_page, csrf_field, flash, human_duration};
use crate::config::{BatchJob, ScheduleStatus};
use crate::jobs::Trigger;
use crate::queue::{ALL_BATCHES, Job, PIPELINE_JOB, enqueue_now};
use crate::store::{JobRun, QueueEntry, RunFilter, RunStatus};
use crate::web::AppState;
use crate::web::pages::layout::{not_found, server_error};
use crate::web::view::segment;

#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    done: Option<String>,
}

pub async fn batch_jobs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<Flash>,
    admin: Admin,
) -> Response {
    let config = state.config.current();
    let Some(batch) = config.batch(&name) else {
        return not_found(&format!("There is no batch named “{name}”."));
    };
    let (overrides, last, recent) = match tokio::try_join!(
        state.store.schedule_overrides(),
        state.store.last_runs(batch.name()),
        state.store.recent_runs(Some(batch.name()), 10),
    ) {
        Ok(r) => r,
        Err(e) => return server_error("reading the batch's jobs", &e),
    };
    let base = format!("/admin/batch/{}", segment(batch.name()));
    let now = Utc::now();
    let rows = BatchJob::ALL.iter().map(|job| {
        let s = batch.spec.schedule(*job);
        let override_on = overrides
            .get(&(batch.name().to_owned(), job.as_str().to_owned()))
            .copied();
        let on = !s.disabled && override_on.unwrap_or(s.default_status == ScheduleStatus::Running);
        JobRow {
            job: job.as_str(),
            cron: Some((s.cron.as_str().to_owned(), s.cron.describe())),
            disabled: s.disabled,
            on,
            overridden: override_on.is_some(),
            next: if on { s.cron.next_after(now) } else { None },
            last: last.iter().find(|r| r.job == job.as_str()).cloned(),
        }
    });
    let pipeline = JobRow {
        job: PIPELINE_JOB,
        cron: None,
        disabled: false,
        on: false,
        overridden: false,
        next: None,
        last: None,
    };
    let body = html! {
        h1 { "Jobs of " (batch.name()) }
        (flash(q.done.as_deref()))
        p.muted {
            "From " code { (batch.file.display()) } ". "
            @if !batch.spec.disable_dashboard {
                a href={ "/batch/" (segment(batch.name())) } { "Open its dashboard" } ". "
            }
            a href={ "/admin/config?batch=" (segment(batch.name())) } { "Effective config" } "."
        }
        @if !batch.warnings.is_empty() {
            div.notice #batch-warnings role="note" {
                ul { @for w in &batch.warnings { li { (w) } } }
            }
        }
        div.admin-scroll {
        table.admin-table.jobs {
            thead { tr {
                th { "Job" } th { "Schedule" } th { "Next run" } th { "Last run" } th { "Run now" }
            } }
            tbody {
                @for row in rows { (job_row(&admin, &base, &row)) }
                (job_row(&admin, &base, &pipeline))
            }
        }
        }
        // When a run started here finishes, this section and every "last run" cell refresh.
        section #recent-runs hx-get=(base) hx-trigger="anomstack-run-finished from:body"
            hx-select="#recent-runs" hx-swap="outerHTML"
            hx-select-oob=(BatchJob::ALL.iter().map(|j| format!("#last-{}", j.as_str())).collect::<Vec<_>>().join(",")) {
            h2 { "Recent runs" }
            (runs_table(&recent))
            p { a href={ "/admin/runs?batch=" (segment(batch.name())) } { "All runs of " (batch.name()) } }
        }
    };
    admin_page(&format!("Jobs of {}", batch.name()), &admin, body).into_response()
}

struct JobRow {
    job: &'static str,
    /// The cron expression and its reading; none for the pipeline.
    cron: Option<(String, String)>,
    disabled: bool,
    on: bool,
    overridden: bool,
    next: Option<chrono::DateTime<Utc>>,
    last: Option<JobRun>,
}

fn job_row(admin: &Admin, base: &str, row: &JobRow) -> Markup {
    let cell = format!("progress-{}", row.job);
    html! {
        tr id={ "job-" (row.job) } {
            th scope="row" {
                @if row.job == PIPELINE_JOB { "whole pipeline" br; span.muted { "ingest → train → score → alert → change" } }
                @else { (row.job) }
            }
            td {
                @match &row.cron {
                    None => span.muted { "runs on demand" },
                    Some(_) if row.disabled => span.muted { "disabled in the batch config" },
                    Some((expr, reading)) => {
                        code title=(reading) { (expr) } " "
                        span class={ "badge " (if row.on { "ok" } else { "off" }) } { (if row.on { "on" } else { "off" }) }
                        @if row.overridden { span.muted { " (set here)" } }
                        form.inline method="post" action={ (base) "/schedule/" (row.job) } {
                            (csrf_field(admin))
                            @if row.on {
                                button.link type="submit" name="state" value="off" { "Stop schedule" }
                            } @else {
                                button.link type="submit" name="state" value="on" { "Start schedule" }
                            }
                            @if row.overridden {
                                " · " button.link type="submit" name="state" value="default" { "Back to config default" }
                            }
                        }
                    }
                }
            }
            td { @if let Some(next) = row.next { (next.format("%Y-%m-%d %H:%M UTC")) } @else { "—" } }
            td id={ "last-" (row.job) } { @if let Some(run) = &row.last { (run_cell(run)) } @else { span.muted { "never" } } }
            td {
                form method="post" action={ (base) "/run/" (row.job) }
                    hx-post={ (base) "/run/" (row.job) } hx-target={ "#" (cell) } hx-swap="innerHTML" {
                    (csrf_field(admin))
                    button type="submit" disabled[row.disabled] data-job=(row.job) { "Run " (row.job) }
                }
                div id=(cell) aria-live="polite" {}
            }
        }
    }
}

fn status_badge(status: RunStatus) -> Markup {
    let (class, label) = match status {
        RunStatus::Running => ("run", "running"),
        RunStatus::Succeeded => ("ok", "succeeded"),
        RunStatus::Failed => ("bad", "failed"),
        RunStatus::TimedOut => ("bad", "timed out"),
    };
    html! { span class={ "badge " (class) } { (label) } }
}

/// One run in a cell: its number, status, when, how long, rows (and why none), and the
/// error's first line.
pub(super) fn run_cell(run: &JobRun) -> Markup {
    html! {
        a.run-ref href={ "/admin/runs/" (run.id) } { "run #" (run.id) } " "
        a href={ "/admin/runs/" (run.id) } { (status_badge(run.status)) }
        " " (run.started_at.format("%m-%d %H:%M:%S"))
        @if let Some(d) = run.duration() { " · " (human_duration(d)) }
        " · " (run.rows_written) " rows"
        @if let Some(why) = run.why_nothing() { br; span.muted.why { (why) } }
        @if let Some(e) = &run.error { br; span.error-text { (e.lines().next().unwrap_or_default()) } }
    }
}

/// A table of runs, newest first.
pub(super) fn runs_table(runs: &[JobRun]) -> Markup {
    html! {
        @if runs.is_empty() {
            p.muted { "No runs yet." }
        } @else {
            div.admin-scroll { table.admin-table.runs {
                thead { tr {
                    th { "Run #" } th { "Batch" } th { "Job" } th { "Trigger" } th { "Status" }
                    th { "Started (UTC)" } th { "Duration" } th { "Rows read" } th { "Rows written" } th { "Error or note" }
                } }
                tbody {
                    @for run in runs {
                        tr {
                            td { a.run-ref href={ "/admin/runs/" (run.id) } { "run #" (run.id) } }
                            td { (run.batch) }
                            td { (run.job) }
                            td { (run.trigger) }
                            td { (status_badge(run.status)) }
                            td { (run.started_at.format("%Y-%m-%d %H:%M:%S")) }
                            td { @if let Some(d) = run.duration() { (human_duration(d)) } @else { "—" } }
                            td.num { (run.rows_read) }
                            td.num { (run.rows_written) }
                            td {
                                @if let Some(e) = run.error.as_deref().and_then(|e| e.lines().next()) { span.error-text { (e) } }
                                @else if let Some(why) = run.why_nothing() { span.muted.why { (why) } }
                            }
                        }
                    }
                }
            } }
        }
    }
}

pub async fn run_job(
    State(state): State<AppState>,
    Path((name, job)): Path<(String, String)>,
    headers: HeaderMap,
    AdminForm { admin, .. }: AdminForm<super::NoFields>,
) -> Response {
    let config = state.config.current();
    let Some(batch) = config.batch(&name) else {
        return not_found(&format!("There is no batch named “{name}”."));
    };
    let job = match job.parse::<Job>() {
        Ok(job @ (Job::Batch(_) | Job::Pipeline)) => job,
        _ => return not_found(&format!("There is no job named “{job}”.")),
    };
    queue_and_follow(&state, &headers, &admin, batch.name(), job).await
}

pub async fn run_summary_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    AdminForm { admin, .. }: AdminForm<super::NoFields>,
) -> Response {
    queue_and_follow(&state, &headers, &admin, ALL_BATCHES, Job::Summary).await
}

/// Queues (or joins the waiting) job and answers with its progress.
async fn queue_and_follow(
    state: &AppState,
    headers: &HeaderMap,
    admin: &Admin,
    batch: &str,
    job: Job,
) -> Response {
    let id = match enqueue_now(&state.store, batch, job, Trigger::Admin).await {
        Ok((id, _)) => id,
        Err(e) => return server_error("queueing the job", &e),
    };
    tracing::info!(
        user = admin.username,
        batch,
        job = job.as_str(),
        id,
        "job queued from the admin panel"
    );
    if headers.contains_key("hx-request") {
        progress_fragment(state, id).await
    } else {
        Redirect::to(&format!("/admin/queue/{id}")).into_response()
    }
}

/// GET `/admin/queue/{id}`: the fragment (for htmx polling) or a page.
pub async fn progress(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    admin: Admin,
) -> Response {
    if headers.contains_key("hx-request") {
        return progress_fragment(&state, id).await;
    }
    let fragment = match progress_markup(&state, id).await {
        Ok(Some((m, _))) => m,
        Ok(None) => return not_found("There is no such queued job."),
        Err(e) => return server_error("reading the queue", &e),
    };
    admin_page(
        &format!("Queued job #{id}"),
        &admin,
        html! { h1 { "Queued job #" (id) } (fragment) },
    )
    .into_response()
}

/// The event a finished run's last progress fragment fires, on which the page around it
/// refreshes its run lists in place.
const RUN_FINISHED: &str = "anomstack-run-finished";

async fn progress_fragment(state: &AppState, id: i64) -> Response {
    match progress_markup(state, id).await {
        Ok(Some((m, true))) => ([("HX-Trigger", RUN_FINISHED)], m).into_response(),
        Ok(Some((m, false))) => m.into_response(),
        Ok(None) => not_found("There is no such queued job."),
        Err(e) => server_error("reading the queue", &e),
    }
}

/// The progress of a queued job, and whether it has finished.
async fn progress_markup(
    state: &AppState,
    id: i64,
) -> Result<Option<(Markup, bool)>, crate::store::StoreError> {
    let Some(entry) = state.store.queue_entry(id).await? else {
        return Ok(None);
    };
    let filter = RunFilter {
        queue_id: Some(id),
        ..RunFilter::default()
    };
    let mut runs = state.store.runs(&filter, 20).await?;
    runs.reverse();
    Ok(Some((progress_view(&entry, &runs), entry.is_finished())))
}

fn progress_view(entry: &QueueEntry, runs: &[JobRun]) -> Markup {
    let finished = entry.is_finished();
    let (class, text) = match entry.status.as_str() {
        "done" => ("ok", "Finished".to_owned()),
        "failed" => (
            "bad",
            format!(
                "Failed after {} attempt(s): {}",
                entry.attempts,
                entry.last_error.as_deref().unwrap_or("unknown error")
            ),
        ),
        "running" => (
            "run",
            format!(
                "Running (attempt {} of {})…",
                entry.attempts, entry.max_attempts
            ),
        ),
        _ if entry.attempts > 0 => (
            "run",
            format!(
                "Attempt {} failed ({}); retrying at {} UTC…",
                entry.attempts,
                entry.last_error.as_deref().unwrap_or("unknown error"),
                entry.run_after.format("%H:%M:%S")
            ),
        ),
        _ => ("run", "Queued, waiting for a worker…".to_owned()),
    };
    html! {
        div.progress data-status=(entry.status) data-queue-id=(entry.id)
            hx-get=[(!finished).then(|| format!("/admin/queue/{}", entry.id))]
            hx-trigger=[(!finished).then_some("load delay:1s")]
            hx-swap=[(!finished).then_some("outerHTML")] {
            span class={ "badge " (class) } { (entry.job) } " " span.queue-ref { "queue #" (entry.id) } " " (text)
            @if !runs.is_empty() {
                ul.steps {
                    @for run in runs {
                        li { (run.job) ": " (run_cell(run)) }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ScheduleForm {
    state: String,
}

pub async fn set_schedule(
    State(state): State<AppState>,
    Path((name, job)): Path<(String, String)>,
    AdminForm { admin, form }: AdminForm<ScheduleForm>,
) -> Response {
    let config = state.config.current();
    let Some(batch) = config.batch(&name) else {
        return not_found(&format!("There is no batch named “{name}”."));
    };
    let Some(job) = BatchJob::ALL.into_iter().find(|j| j.as_str() == job) else {
        return not_found(&format!("There is no scheduled job named “{job}”."));
    };
    let enabled = match form.state.as_str() {
        "on" => Some(true),
        "off" => Some(false),
        "default" => None,
        _ => {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                "state must be on, off or default",
            )
                .into_response();
        }
    };
    if let Err(e) = state
        .store
        .set_schedule_override(
            batch.name(),
            job.as_str(),
            enabled,
            &admin.username,
            Utc::now().naive_utc(),
        )
        .await
    {
        return server_error("changing the schedule", &e);
    }
    tracing::info!(
        user = admin.username,
        batch = batch.name(),
        job = job.as_str(),
        state = form.state,
        "schedule changed"
    );
    let done = match enabled {
        Some(true) => format!("The {job} schedule is on."),
        Some(false) => format!("The {job} schedule is off."),
        None => format!("The {job} schedule follows the batch config again."),
    };
    Redirect::to(&format!(
        "/admin/batch/{}?{}",
        segment(batch.name()),
        serde_urlencoded::to_string([("done", done)]).unwrap_or_default()
    ))
    .into_response()
}

/// The batch a page is about, for links (the summary's `*` has no page).
pub(super) fn batch_link(batch: &str) -> Markup {
    html! {
        @if batch == ALL_BATCHES { "all batches" }
        @else { a href={ "/admin/batch/" (segment(batch)) } { (batch) } }
    }
}
