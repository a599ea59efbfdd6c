//! [`DashboardBatch`]: the batch a dashboard or API route names in its `{batch}` segment,
//! found once for every handler that shows one (a batch hidden from the dashboard, or not
//! configured, is a 404 there).

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use chrono::Utc;

use super::AppState;
use super::error::WebError;
use crate::config::{Batch, Config};
use crate::store::{ChartPoint, Store, Window};

/// The dashboard batch of the route, with the configuration it was found in.
pub struct DashboardBatch {
    config: Arc<Config>,
    index: usize,
}

impl DashboardBatch {
    pub fn batch(&self) -> &Batch {
        &self.config.batches[self.index]
    }

    /// The configuration the batch belongs to (the same snapshot for the whole request).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One metric's chart points over `window` up to now; empty when it has none there.
    pub async fn series(
        &self,
        store: &Store,
        metric: &str,
        window: Window,
    ) -> Result<Vec<ChartPoint>, WebError> {
        let batch = self.batch();
        let now = Utc::now().naive_utc();
        store
            .dashboard_series(
                &batch.spec.table_key,
                batch.name(),
                metric,
                window,
                now,
                None,
            )
            .await
            .map_err(|e| WebError::internal("reading a metric's series", &e))
    }
}

impl FromRequestParts<AppState> for DashboardBatch {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| WebError::BadRequest(e.body_text()))?;
        let Some(name) = params
            .iter()
            .find_map(|(key, value)| (key == "batch").then(|| value.to_owned()))
        else {
            return Err(WebError::internal(
                "finding the batch",
                &"a DashboardBatch route without a {batch} segment",
            ));
        };
        let config = state.config.current();
        let index = config
            .dashboard_batch_index(&name)
            .ok_or_else(|| WebError::no_batch(&name))?;
        Ok(Self { config, index })
    }
}
