//! `/admin`: is the app healthy? Queue depth, what is running and waiting, the workers, recent
//! failures, the batches with links to their jobs, and configuration warnings.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;

use super::jobs::{batch_link, runs_table};
use super::session::Admin;
use super::{admin_page, csrf_field, human_duration};
use crate::store::{RunFilter, RunStatus};
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
    );
    let (depth, active, workers, mut failures, timeouts) = match result {
        Ok(r) => r,
        Err(e) => return server_error("reading the queue", &e),
    };
    failures.extend(timeouts);
    failures.sort_by_key(|r| std::cmp::Reverse(r.id));
    failures.truncate(10);
    let config = state.config.current();
    let now = Utc::now().naive_utc();
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
        h2 { "Queue" }
        @if active.is_empty() { p.muted { "Nothing waiting or running." } } @else {
            table.admin-table {
                thead { tr { th { "#" } th { "Batch" } th { "Job" } th { "Trigger" } th { "Status" } th { "Attempts" } th { "Queued" } th { "Worker" } } }
                tbody { @for e in &active {
                    tr {
                        td { a href={ "/admin/queue/" (e.id) } { (e.id) } }
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
        h2 { "Batches" }
        ul.batch-links {
            @for b in &config.batches {
                li { a href={ "/admin/batch/" (segment(b.name())) } { (b.name()) } }
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
        h2 { "Recent failures" }
        @if failures.is_empty() {
            p.muted { "None: every recorded run succeeded (or is still running)." }
        } @else {
            (runs_table(&failures))
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
