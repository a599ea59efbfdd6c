//! The pipeline's jobs, one file each. A job reads what its template selects from the app
//! database, decides with pure functions (`rules`, `detect`), writes rows idempotently and
//! returns a [`JobReport`]. [`run`] is the one way to run them (`run.rs` wraps each with its
//! `job_runs` row and delivers its alerts); `job.rs` names what can be run, `context.rs` says
//! what a run is given, `seed.rs` gives new batches history.
//! Jobs never render HTML and never word or send messages themselves: they return
//! [`Notice`]s (facts) in the report, and `run.rs` hands them to `notify`.

mod alert;
mod change;
mod delete;
mod incidents;
mod ingest;
mod llmalert;
mod plot;
mod score;
mod stale;
mod summary;
mod train;

mod context;
mod job;
mod report;
mod run;
mod seed;

use std::collections::BTreeMap;

use crate::config::Batch;
use crate::model_store::ModelStore;
use crate::store::MetricRow;

pub use crate::notify::{Event, Notice, Table};
pub use context::{Delivery, JobCtx, Services, ServicesError, Trigger};
pub use incidents::AUTO_RESOLVER;
pub use ingest::{NormalizedIngest, Rejection, normalize, normalize_for};
pub use job::{Job, PIPELINE_JOB, SUMMARY_JOB, Work};
pub use report::{JobError, JobReport};
pub use run::{
    PIPELINE, Pushed, RUN_HEARTBEAT, RUN_SILENT_AFTER, RunError, Runs, push, run, run_recorded,
};
pub use seed::{backfill, seed_empty_batches};

/// Rows of one metric, by metric name, each list in time order.
fn by_metric(rows: Vec<MetricRow>) -> BTreeMap<String, Vec<MetricRow>> {
    let mut out: BTreeMap<String, Vec<MetricRow>> = BTreeMap::new();
    for r in rows {
        out.entry(r.name.clone()).or_default().push(r);
    }
    for list in out.values_mut() {
        list.sort_by_key(|r| r.timestamp);
    }
    out
}

/// A batch's model store.
fn model_store(ctx: &JobCtx, batch: &Batch) -> Result<ModelStore, JobError> {
    Ok(ctx
        .connectors
        .model_store(&batch.spec.model_path, &ctx.store)?)
}

/// `v` rounded to `places` decimals. A value too large to have decimals at that precision
/// is returned as is: scaling it up first would overflow to infinity.
fn round_to(v: f64, places: u32) -> f64 {
    let f = 10f64.powi(places.min(15) as i32);
    let scaled = v * f;
    if !scaled.is_finite() || scaled.abs() >= 2f64.powi(53) {
        return v;
    }
    scaled.round() / f
}

/// The long-format rows the batch's `key` template (`alert_sql`, `score_sql`, ...) selects,
/// counted as the run's rows read.
async fn read_rows(
    ctx: &JobCtx,
    batch: &Batch,
    key: &str,
    template: &str,
    report: &mut JobReport,
) -> Result<Vec<MetricRow>, JobError> {
    let sql = render(ctx, batch, key, template)?;
    let rows = ctx
        .store
        .query_long_rows(batch.name(), &sql, &format!("{key} failed"))
        .await?;
    report.rows_read = rows.len() as u64;
    Ok(rows)
}

fn render(ctx: &JobCtx, batch: &Batch, key: &str, source: &str) -> Result<String, JobError> {
    ctx.templates
        .render(source, &batch.spec, ctx.run_ts)
        .map_err(|e| JobError::Config {
            batch: batch.name().to_owned(),
            message: format!("{key}: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_round_trip_and_unknown_ones_are_refused() {
        for t in Trigger::ALL {
            assert_eq!(t.to_string().parse::<Trigger>(), Ok(t));
        }
        assert!("cron".parse::<Trigger>().is_err());
        assert!("".parse::<Trigger>().is_err());
    }

    #[test]
    fn rounding_keeps_the_configured_places() {
        assert_eq!(round_to(1.23456, 4), 1.2346);
        assert_eq!(round_to(0.5, 0), 1.0);
    }

    #[test]
    fn rounding_a_huge_or_tiny_value_never_makes_an_infinity() {
        for v in [1e305, -1e305, f64::MAX, f64::MIN, 9.007e15 + 0.5] {
            assert_eq!(round_to(v, 4), v, "{v}");
        }
        assert_eq!(round_to(5e-324, 4), 0.0);
        assert_eq!(round_to(1e-5, 15), 1e-5);
    }
}
