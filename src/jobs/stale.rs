//! Freshness: a metric that has not arrived for `stale_after_n` of its usual intervals is
//! stale, and an ingest that returns no rows for a batch that usually returns rows makes the
//! batch stale. Each change of state is recorded as a `stale` row (1: went stale, 0: came
//! back) and told once, through the batch's alert channels. Checked after every live ingest
//! and every alert run; the recorded state makes repeated checks (and several machines)
//! tell each change once.

use chrono::NaiveDateTime;
use serde_json::json;

use super::{Event, JobCtx, JobError, JobReport, Notice};
use crate::config::Batch;
use crate::detect::cadence::{
    CADENCE_N, Transition, overdue, transition, usual_interval, usually_returns_rows,
};
use crate::store::{MetricRow, MetricType};

/// Recent ingest runs that tell whether a batch usually returns rows.
const INGEST_HISTORY: u32 = 10;

/// Checks every metric of `batch` at the run time.
pub(super) async fn check_metrics(
    ctx: &JobCtx,
    batch: &Batch,
    report: &mut JobReport,
) -> Result<(), JobError> {
    let spec = &batch.spec;
    let now = ctx.run_ts.naive_utc();
    let arrivals = ctx
        .store
        .recent_arrivals(&spec.table_key, batch.name(), CADENCE_N)
        .await?;
    let states = ctx
        .store
        .stale_states(&spec.table_key, batch.name())
        .await?;
    let mut rows = Vec::new();
    for (metric, times) in arrivals {
        let n = spec.stale_after_n_for(&metric);
        let was_stale = states.get(&metric).is_some_and(|s| s.stale);
        if n == 0 && !was_stale {
            continue;
        }
        let secs: Vec<i64> = times.iter().map(|t| t.and_utc().timestamp()).collect();
        let (Some(&last), Some(interval)) = (secs.last(), usual_interval(&secs)) else {
            continue;
        };
        let stale_now = overdue(last, interval, now.and_utc().timestamp(), n);
        let last_seen = times[times.len() - 1];
        match transition(was_stale, stale_now) {
            Some(Transition::WentStale) => {
                let missing = (now.and_utc().timestamp() - last) / interval.max(1);
                rows.push(state_row(batch, &metric, now, true, last_seen, interval));
                report.notices.push(Notice {
                    metric: metric.clone(),
                    event: Event::Stale {
                        last_seen,
                        interval_seconds: interval,
                        missing: u64::try_from(missing).unwrap_or(0),
                    },
                });
            }
            Some(Transition::CameBack) => {
                rows.push(state_row(batch, &metric, now, false, last_seen, interval));
                report.notices.push(Notice {
                    metric: metric.clone(),
                    event: Event::Fresh {
                        at: last_seen,
                        stale_since: states.get(&metric).map_or(now, |s| s.at),
                    },
                });
            }
            None => {}
        }
    }
    save(ctx, batch, &rows, report).await
}

/// After a live ingest that read `read` rows: the batch goes stale when it read none but
/// usually returns rows, and comes back when it reads rows again.
pub(super) async fn check_batch(
    ctx: &JobCtx,
    batch: &Batch,
    read: usize,
    report: &mut JobReport,
) -> Result<(), JobError> {
    let spec = &batch.spec;
    if spec.stale_after_n == 0 {
        return Ok(());
    }
    let now = ctx.run_ts.naive_utc();
    let states = ctx
        .store
        .stale_states(&spec.table_key, batch.name())
        .await?;
    let was_stale = states.get("").is_some_and(|s| s.stale);
    let stale_now = read == 0
        && usually_returns_rows(
            &ctx.store
                .recent_ingest_rows(batch.name(), INGEST_HISTORY)
                .await?,
        );
    let row = |stale| MetricRow {
        timestamp: now,
        batch: batch.name().to_owned(),
        name: String::new(),
        metric_type: MetricType::Stale,
        value: if stale { 1.0 } else { 0.0 },
        metadata: String::new(),
    };
    let (row, event) = match transition(was_stale, stale_now) {
        Some(Transition::WentStale) => (row(true), Event::NoRows { at: now }),
        Some(Transition::CameBack) => (
            row(false),
            Event::Fresh {
                at: now,
                stale_since: states.get("").map_or(now, |s| s.at),
            },
        ),
        None => return Ok(()),
    };
    report.notices.push(Notice {
        metric: String::new(),
        event,
    });
    save(ctx, batch, &[row], report).await
}

fn state_row(
    batch: &Batch,
    metric: &str,
    now: NaiveDateTime,
    stale: bool,
    last_seen: NaiveDateTime,
    interval: i64,
) -> MetricRow {
    MetricRow {
        timestamp: now,
        batch: batch.name().to_owned(),
        name: metric.to_owned(),
        metric_type: MetricType::Stale,
        value: if stale { 1.0 } else { 0.0 },
        metadata: json!({
            "last_seen": crate::timestamp::format_db(last_seen),
            "interval_seconds": interval,
        })
        .to_string(),
    }
}

async fn save(
    ctx: &JobCtx,
    batch: &Batch,
    rows: &[MetricRow],
    report: &mut JobReport,
) -> Result<(), JobError> {
    if rows.is_empty() {
        return Ok(());
    }
    ctx.store
        .upsert_metrics(&batch.spec.table_key, rows)
        .await?;
    let (stale, back) = rows.iter().partition::<Vec<_>, _>(|r| r.value > 0.0);
    report.note(format!(
        "freshness: {} went stale, {} came back",
        stale.len(),
        back.len()
    ));
    Ok(())
}
