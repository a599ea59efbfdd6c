//! `/batch/{batch}/plot.png`: the plot job's newest picture of the batch, for linking and
//! embedding (wikis, tickets, chat unfurls).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::layout::{not_found, server_error};
use crate::web::AppState;

pub async fn batch_plot(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let config = state.config.current();
    let batch = match super::batch_or_404(&config, &name) {
        Ok(b) => b,
        Err(missing) => return missing.into_response(),
    };
    match state.store.plot(batch.name(), true).await {
        Ok(Some(plot)) => (
            [
                (header::CONTENT_TYPE, "image/png".to_owned()),
                // The job redraws it every few minutes; `private`, as the dashboard may sit
                // behind an authenticating proxy.
                (header::CACHE_CONTROL, "private, max-age=60".to_owned()),
                (
                    header::LAST_MODIFIED,
                    plot.info
                        .created_at
                        .and_utc()
                        .format("%a, %d %b %Y %H:%M:%S GMT")
                        .to_string(),
                ),
            ],
            plot.png,
        )
            .into_response(),
        Ok(None) => not_found(&format!(
            "Batch “{}” has no picture yet: its plot job has not run. The job is off unless the \
             batch sets plot_default_schedule_status: RUNNING (cron {}), or the admin panel \
             runs it.",
            batch.name(),
            batch.spec.plot_cron_schedule.as_str()
        )),
        Err(e) => server_error("reading the batch's picture", &e),
    }
}
