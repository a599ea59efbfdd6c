//! `/admin`: is the app healthy? Queue depth, what is running and waiting, the workers, recent
//! failures, the batches with links to their jobs, and configuration warnings.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};

use super::jobs::{batch_link, run_cell, runs_table};
use super::session::Admin;
use super::{admin_page, csrf_field, human_duration};
use crate::config::{Batch, BatchJob, ScheduleStatus};
use crate::queue::PIPELINE_JOB;
use crate::queue::scheduler::schedule_on;
use crate::store::{JobRun, RunFilter, RunStatus};
use crate::web::AppState;
use crate::web::pages::layout::server_error;
use crate::web::view::segment;

pub async fn overview(State(state): State<AppState>, admin: Admin) -> Response {
    let failed = RunFilter {
        status: Some(RunStatus::Failed),
        ..RunFilter::default()
    };
    let timed_out = RunFilter {
        status: Some(RunStatus::TimedOut),
        ..RunFilter::default()
    };
    let result = tokio::try_join!(
        state.store.queue_depth(),
        state.store.active_queue(50),
        state.store.workers(),
        state.store.runs(&failed, 10),
        state.store.runs(&timed_out, 10),
        state.store.run_totals(),
    );
    let (depth, active, workers, mut failures, timeouts, totals) = match result {
        Ok(r) => r,
        Err(e) => return server_error("reading the queue", &e),
    };
    failures.extend(timeouts);
    failures.sort_by_key(|r| std::cmp::Reverse(r.id));
    failures.truncate(10);
    let runs_kept: u64 = totals.iter().map(|t| t.runs).sum();
    let config = state.config.current();
    let now = Utc::now().naive_utc();
    // Without them every schedule reads as its default; the page still shows.
    let overrides = state.store.schedule_overrides().await.unwrap_or_default();
    let mut cards = Vec::with_capacity(config.batches.len());
    for (i, b) in config.batches.iter().enumerate() {
        // A card without its last run still has its buttons.
        let last = state
            .store
            .recent_runs(Some(b.name()), 1)
            .await
            .unwrap_or_default()
            .into_iter()
            .next();
        let ingest_on = schedule_on(
            &overrides,
            b.name(),
            BatchJob::Ingest.as_str(),
            b.spec.schedule(BatchJob::Ingest).default_status == ScheduleStatus::Running,
        );
        cards.push(batch_card(&admin, i, b, ingest_on, last.as_ref()));
    }
    let oob: Vec<String> = (0..cards.len())
        .map(|i| format!("#last-run-{i}"))
        .chain(["#recent-failures".to_owned(), "#queue".to_owned()])
        .collect();
    let body = html! {
        h1 { "Admin" }
        section.tiles {
            div.tile { span.big { (depth.pending) } " waiting" }
            div.tile { span.big { (depth.running) } " running" }
            div.tile { span.big { (depth.failed) } " failed for good" }
            div.tile { span.big { (workers.len()) } " worker process" @if workers.len() != 1 { "es" } }
        }
        @if workers.is_empty() {
            p.error { "No worker is running: queued jobs wait until one starts (ANOMSTACK_WORKERS=true on some process)." }
        }
        // When a run started here finishes, the last runs, queue and failures refresh in place.
        div #run-refresh hx-get="/admin" hx-trigger="anomstack-run-finished from:body"
            hx-select="#run-refresh" hx-swap="outerHTML" hx-select-oob=(oob.join(",")) {}
        h2 { "Batches" }
        p.muted { "Run a job now (it is queued, as the scheduler would), or open a batch for its schedules and every job." }
        div.grid.admin-batches { @for card in &cards { (card) } }
        section #queue {
        h2 { "Queue" }
        @if active.is_empty() { p.muted { "Nothing waiting or running." } } @else {
            div.admin-scroll {
            table.admin-table.queue {
                thead { tr { th { "Queue #" } th { "Batch" } th { "Job" } th { "Trigger" } th { "Status" } th { "Attempts" } th { "Queued" } th { "Worker" } } }
                tbody { @for e in &active {
                    tr {
                        td { a.queue-ref href={ "/admin/queue/" (e.id) } { "queue #" (e.id) } }
                        td { (batch_link(&e.batch)) }
                        td { (e.job) }
                        td { (e.trigger) }
                        td { (e.status) }
                        td { (e.attempts) " / " (e.max_attempts) }
                        td { (human_duration(now - e.created_at)) " ago" }
                        td { (e.lock_by.as_deref().unwrap_or("—")) }
                    }
                } }
            }
            }
        }
        }
        @if !config.disabled.is_empty() {
            p.muted { "Disabled: " @for (i, (name, _)) in config.disabled.iter().enumerate() { @if i > 0 { ", " } (name) } }
        }
        @if !config.invalid.is_empty() || !config.errors.is_empty() {
            section.error #invalid-batches {
                h2 { "Invalid configuration" }
                p { "These batches do not validate, so they do not run (one that an edit broke keeps its last valid configuration); every other batch does. Fix the files below (" code { "anomstack validate" } " prints the same), and the app picks the change up." }
                @for b in &config.invalid {
                    h3 { (b.label()) " " span.muted { "(" (b.file.display()) ")" } }
                    @if config.kept_running.contains(&b.label()) {
                        p.muted { "Still running its last configuration that validated." }
                    }
                    ul { @for e in &b.errors { li { (e) } } }
                }
                @if !config.errors.is_empty() {
                    h3 { "Other files" }
                    ul { @for e in &config.errors { li { (e) } } }
                }
            }
        }
        form.inline method="post" action="/admin/summary/run" hx-post="/admin/summary/run" hx-target="#progress-summary" {
            (csrf_field(&admin))
            button type="submit" { "Run the daily summary now" }
        }
        div #progress-summary aria-live="polite" {}
        section #recent-failures {
            h2 { "Recent failures" }
            @if runs_kept == 0 {
                p.muted { "No runs yet." }
            } @else if failures.is_empty() {
                p.muted { "None in the last " (runs_kept) " run(s)." }
            } @else {
                (runs_table(&failures))
            }
        }
        @if !config.warnings.is_empty() {
            h2 { "Configuration warnings" }
            ul { @for w in &config.warnings { li { (w) } } }
        }
        @if !config.notes.is_empty() {
            h2 { "How the configuration was read" }
            ul.notes { @for n in &config.notes { li { (n) } } }
        }
        h2 { "Workers" }
        @if workers.is_empty() { p.muted { "None." } } @else {
            ul { @for w in &workers {
                li { code { (w.id) } " — up " (human_duration(now - w.started_at)) ", seen " (human_duration(now - w.last_seen)) " ago" }
            } }
        }
    };
    admin_page("Admin", &admin, body).into_response()
}

/// A batch on the overview: its schedules at a glance, its last run, and buttons for the jobs
/// people run by hand. `i` numbers the card's ids (batch names are not always valid ids).
fn batch_card(
    admin: &Admin,
    i: usize,
    batch: &Batch,
    ingest_on: bool,
    last: Option<&JobRun>,
) -> Markup {
    let base = format!("/admin/batch/{}", segment(batch.name()));
    let ingest = batch.spec.schedule(BatchJob::Ingest);
    html! {
        article.card.admin-batch {
            h3 { a href=(base) { (batch.name()) } }
            p.muted.small {
                @if ingest.disabled { "ingest off (pushed rows only)" }
                @else {
                    "ingest " code title=(ingest.cron.describe()) { (ingest.cron.as_str()) } " UTC "
                    @if ingest_on { span.badge.ok { "on" } } @else { span.badge.off { "stopped" } }
                }
            }
            p #{ "last-run-" (i) } .last-run {
                "Last run: "
                @match last {
                    Some(run) => { (run.job) " " (run_cell(run)) }
                    None => span.muted { "never" },
                }
            }
            div.run-buttons {
                @for job in [PIPELINE_JOB, BatchJob::Ingest.as_str(), BatchJob::Train.as_str(), BatchJob::Score.as_str()] {
                    form.inline method="post" action={ (base) "/run/" (job) }
                        hx-post={ (base) "/run/" (job) } hx-target={ "#card-progress-" (i) } hx-swap="innerHTML" {
                        (csrf_field(admin))
                        button type="submit" data-job=(job) {
                            @if job == PIPELINE_JOB { "▶ Pipeline" } @else { "Run " (job) }
                        }
                    }
                }
            }
            div #{ "card-progress-" (i) } aria-live="polite" {}
        }
    }
}
