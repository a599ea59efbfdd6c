//! Per-batch metric figures, cached for a few seconds: the home page needs every batch's
//! figures and the batch view needs them to rank its charts, and aggregating a window of a
//! hundred metrics costs milliseconds. A stale entry is served at once while one background
//! task recomputes it, so no visitor waits on an expiry. A write of a batch's metrics by this
//! process (a job run by its worker, a push through the API) makes that batch's entries out
//! of date at once, so a job's new points show on the next page load; writes by other
//! processes show within `FRESH_FOR`. Bounded: at most `MAX_ENTRIES`
//! (batch, window) pairs; the oldest is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::Batch;
use crate::store::{MetricStats, Store, StoreError, Window};

/// How long figures count as fresh.
const FRESH_FOR: Duration = Duration::from_secs(10);
const MAX_ENTRIES: usize = 2048;

type Key = (String, String, Window);

struct Entry {
    stats: Arc<Vec<MetricStats>>,
    computed: Instant,
    refreshing: bool,
    /// `Store::write_generation` of the batch when the figures were read.
    generation: u64,
}

#[derive(Clone, Default)]
pub struct StatsCache {
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
}

impl StatsCache {
    /// The batch's figures over `window`: cached, or computed now; `fresh` skips the cache
    /// (the refresh buttons).
    pub async fn get(
        &self,
        store: &Store,
        batch: &Batch,
        window: Window,
        fresh: bool,
    ) -> Result<Arc<Vec<MetricStats>>, StoreError> {
        let key: Key = (
            batch.spec.table_key.clone(),
            batch.name().to_owned(),
            window,
        );
        if !fresh {
            let generation = store.write_generation(&key.0, &key.1);
            let mut stale = None;
            if let Ok(mut entries) = self.entries.lock()
                && let Some(entry) = entries.get_mut(&key)
            {
                let written = entry.generation != generation;
                if entry.refreshing || (!written && entry.computed.elapsed() < FRESH_FOR) {
                    // Fresh, or someone is already computing the next figures.
                    return Ok(entry.stats.clone());
                }
                entry.refreshing = true;
                if !written {
                    stale = Some(entry.stats.clone());
                }
                // After a write in this process, this visitor waits for the new figures (the
                // others get these meanwhile), so a job's new points show on the next load.
            }
            if let Some(stats) = stale {
                let (cache, store, batch) = (self.clone(), store.clone(), batch.clone());
                tokio::spawn(async move {
                    if let Err(e) = cache.compute(&store, &batch, window).await {
                        tracing::warn!(error = %e, "refreshing the figures of {}", batch.name());
                        cache.release(&(
                            batch.spec.table_key.clone(),
                            batch.name().to_owned(),
                            window,
                        ));
                    }
                });
                return Ok(stats);
            }
            let result = self.compute(store, batch, window).await;
            if result.is_err() {
                self.release(&key);
            }
            return result;
        }
        self.compute(store, batch, window).await
    }

    async fn compute(
        &self,
        store: &Store,
        batch: &Batch,
        window: Window,
    ) -> Result<Arc<Vec<MetricStats>>, StoreError> {
        let spec = &batch.spec;
        let generation = store.write_generation(&spec.table_key, batch.name());
        let stats = Arc::new(
            store
                .dashboard_stats(
                    &spec.table_key,
                    batch.name(),
                    window,
                    spec.dashboard_stale_metric_max_days_ago,
                    Utc::now().naive_utc(),
                )
                .await?,
        );
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.computed)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
            entries.insert(
                (spec.table_key.clone(), batch.name().to_owned(), window),
                Entry {
                    stats: stats.clone(),
                    computed: Instant::now(),
                    refreshing: false,
                    generation,
                },
            );
        }
        Ok(stats)
    }

    /// Lets the next request retry a refresh that failed.
    fn release(&self, key: &Key) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(key)
        {
            entry.refreshing = false;
        }
    }
}
