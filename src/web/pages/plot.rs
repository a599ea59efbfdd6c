//! `/batch/{batch}/plot.png`: the plot job's newest picture of the batch, for linking and
//! embedding (wikis, tickets, chat unfurls).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::web::{AppState, DashboardBatch, WebError};

pub async fn batch_plot(
    State(state): State<AppState>,
    shown: DashboardBatch,
) -> Result<Response, WebError> {
    let batch = shown.batch();
    let plot = state
        .store
        .plot(batch.name(), true)
        .await
        .map_err(|e| WebError::internal("reading the batch's picture", &e))?;
    match plot {
        Some(plot) => Ok((
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
            .into_response()),
        None => Err(WebError::NotFound(format!(
            "Batch “{}” has no picture yet: its plot job has not run. The job is off unless the \
             batch sets plot_default_schedule_status: RUNNING (cron {}), or the admin panel \
             runs it.",
            batch.name(),
            batch.spec.plot_cron_schedule.as_str()
        ))),
    }
}
