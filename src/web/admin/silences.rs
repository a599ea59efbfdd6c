//! Silences: mute alert messages for a batch, a metric (glob) or a tag for a while, with a
//! comment saying why; list those in force and end one early.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::{Admin, AdminForm};
use super::{NoFields, admin_page, csrf_field, flash};
use crate::notify::silence::SilenceForm;
use crate::store::Silence;
use crate::web::AppState;
use crate::web::pages::layout::server_error;

#[derive(Debug, Default, Deserialize)]
pub struct SilenceQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn silence_list(
    State(state): State<AppState>,
    Query(q): Query<SilenceQuery>,
    admin: Admin,
) -> Response {
    let now = Utc::now().naive_utc();
    let all = match state.store.silences(now, true).await {
        Ok(s) => s,
        Err(e) => return server_error("reading silences", &e),
    };
    let (active, ended): (Vec<Silence>, Vec<Silence>) =
        all.into_iter().partition(|s| s.ends_at > now);
    let config = state.config.current();
    let body = html! {
        h1 { "Silences" }
        p.muted { "A silence holds back alert messages that match all of its matchers until it ends. The alerts are still saved and shown on the dashboard." }
        (flash(q.done.as_deref()))
        @if let Some(e) = &q.error { p.error role="alert" { (e) } }
        form.stacked method="post" action="/admin/silences" {
            (csrf_field(&admin))
            label { "Batch " select name="batch" {
                option value="" { "any batch" }
                @for b in &config.batches { option value=(b.name()) { (b.name()) } }
            } }
            label { "Metric " input type="text" name="metric" placeholder="any metric, or a name, or a glob such as cpu_*"; }
            label { "Tag " input type="text" name="tag" placeholder="key=value, e.g. priority=p3"; }
            label { "For " select name="duration" {
                @for (v, l) in [("1h", "1 hour"), ("4h", "4 hours"), ("1d", "1 day"), ("3d", "3 days"), ("1w", "1 week")] {
                    option value=(v) { (l) }
                }
            } }
            label { "Comment " input type="text" name="comment" placeholder="why (maintenance, known issue…)" maxlength="500"; }
            button type="submit" { "Create silence" }
        }
        h2 { "In force" }
        (table(&admin, &active, true))
        @if !ended.is_empty() {
            h2 { "Ended" }
            (table(&admin, &ended[..ended.len().min(20)], false))
        }
    };
    admin_page("Silences", &admin, body).into_response()
}

fn table(admin: &Admin, silences: &[Silence], expirable: bool) -> Markup {
    let any = |s: &str| {
        if s.is_empty() {
            "any".to_owned()
        } else {
            s.to_owned()
        }
    };
    html! {
        @if silences.is_empty() { p.muted { "None." } } @else {
            table.admin-table.silences {
                thead { tr { th { "#" } th { "Batch" } th { "Metric" } th { "Tag" } th { "Until (UTC)" } th { "Comment" } th { "By" } @if expirable { th {} } } }
                tbody { @for s in silences {
                    tr {
                        td { (s.id) }
                        td { (any(&s.batch)) }
                        td { (any(&s.metric)) }
                        td { @if s.tag_key.is_empty() { "any" } @else { (s.tag_key) "=" (s.tag_value) } }
                        td { (s.ends_at.format("%Y-%m-%d %H:%M")) }
                        td { (s.comment) }
                        td { (s.created_by) }
                        @if expirable {
                            td { form.inline method="post" action={ "/admin/silences/" (s.id) "/expire" } {
                                (csrf_field(admin))
                                button.link type="submit" { "End now" }
                            } }
                        }
                    }
                } }
            }
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm<SilenceForm>,
) -> Response {
    let config = state.config.current();
    let silence = match form.silence(&admin.username, |b| config.batch(b).is_some()) {
        Ok(s) => s,
        Err(why) => return back(("error", why)),
    };
    match state.store.create_silence(&silence).await {
        Ok(id) => {
            tracing::info!(user = admin.username, id, "silence created");
            back((
                "done",
                format!(
                    "Silence #{id} created until {} UTC.",
                    silence.ends_at.format("%Y-%m-%d %H:%M")
                ),
            ))
        }
        Err(e) => server_error("creating a silence", &e),
    }
}

pub async fn expire(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Response {
    match state.store.expire_silence(id, Utc::now().naive_utc()).await {
        Ok(true) => {
            tracing::info!(user = admin.username, id, "silence ended");
            back(("done", format!("Silence #{id} ended.")))
        }
        Ok(false) => (
            StatusCode::NOT_FOUND,
            "There is no silence in force with this number.",
        )
            .into_response(),
        Err(e) => server_error("ending a silence", &e),
    }
}

fn back(message: (&str, String)) -> Response {
    Redirect::to(&format!(
        "/admin/silences?{}",
        serde_urlencoded::to_string([message]).unwrap_or_default()
    ))
    .into_response()
}
