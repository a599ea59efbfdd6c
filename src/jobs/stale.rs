//! Freshness: a metric that has not arrived for `stale_after_n` of its usual intervals is
//! stale, and an ingest that returns no rows for a batch that usually returns rows makes the
//! batch stale. Each change of state is recorded in the `freshness` table by a
//! compare-and-set and told once, through the batch's alert channels, by the check that made
//! it. Checked after every live ingest and every alert run, best effort: a failed check is
//! logged and never fails the run (whose own alerts are already decided).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::{Event, JobCtx, JobError, JobReport, Notice};
use crate::config::{Batch, BatchJob};
use crate::detect::cadence::{
    CADENCE_N, Transition, overdue, transition, usual_interval, usually_returns_rows,
};
use crate::store::{StaleState, StateChange};

/// Recent ingest runs that tell whether a batch usually returns rows.
const INGEST_HISTORY: u32 = 10;

/// Runs the freshness checks after a live run: the batch's ingest (when `ingest_read` says
/// how many rows an ingest read) and every metric. Errors are noted, not returned.
pub(super) async fn check(
    ctx: &JobCtx,
    batch: &Batch,
    ingest_read: Option<usize>,
    report: &mut JobReport,
) {
    if ctx.history {
        return;
    }
    let result = async {
        // One read of the states serves both checks: each changes other rows.
        let states = ctx.store.stale_states(batch.name()).await?;
        if let Some(read) = ingest_read {
            check_batch(ctx, batch, &states, read, report).await?;
        }
        check_metrics(ctx, batch, &states, report).await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(batch = batch.name(), error = %e, "freshness not checked");
        report.note(format!("freshness not checked: {e}"));
    }
}

/// The interval a metric is judged by: its usual gap between points, or the ingest's period
/// when that is longer (an hourly ingest of five-minute points is not stale between runs).
fn judged_interval(batch: &Batch, usual: i64, now: NaiveDateTime) -> i64 {
    let schedule = batch.spec.schedule(BatchJob::Ingest);
    if schedule.disabled {
        return usual;
    }
    let cron = &batch.spec.ingest_cron_schedule;
    let period = cron
        .next_after(now.and_utc())
        .and_then(|a| cron.next_after(a).map(|b| (b - a).num_seconds()));
    usual.max(period.unwrap_or(0))
}

async fn check_metrics(
    ctx: &JobCtx,
    batch: &Batch,
    states: &BTreeMap<String, StaleState>,
    report: &mut JobReport,
) -> Result<(), JobError> {
    let spec = &batch.spec;
    let now = ctx.run_ts.naive_utc();
    let arrivals = ctx
        .store
        .recent_arrivals(&spec.table_key, batch.name(), CADENCE_N)
        .await?;
    let mut told = (0, 0);
    for (metric, times) in arrivals {
        if spec.alert_exclude_metrics.contains(&metric) {
            continue;
        }
        let n = spec.stale_after_n_for(&metric);
        let was_stale = states.get(&metric).is_some_and(|s| s.stale);
        let secs: Vec<i64> = times.iter().map(|t| t.and_utc().timestamp()).collect();
        let (Some(&last), Some(usual)) = (secs.last(), usual_interval(&secs)) else {
            continue;
        };
        let interval = judged_interval(batch, usual, now);
        let stale_now = overdue(last, interval, now.and_utc().timestamp(), n);
        let last_seen = times[times.len() - 1];
        let Some(change) = transition(was_stale, stale_now) else {
            continue;
        };
        let record = StateChange {
            metric: metric.clone(),
            stale: change == Transition::WentStale,
            at: now,
            last_seen: Some(last_seen),
            interval_seconds: Some(interval),
        };
        if !ctx.store.change_freshness(batch.name(), &record).await? {
            continue; // another check told it
        }
        // Switched off while stale: cleared without a message.
        if n == 0 {
            continue;
        }
        let event = match change {
            Transition::WentStale => {
                told.0 += 1;
                let missing = (now.and_utc().timestamp() - last) / interval.max(1);
                Event::Stale {
                    last_seen,
                    interval_seconds: interval,
                    missing: u64::try_from(missing).unwrap_or(0),
                }
            }
            Transition::CameBack => {
                told.1 += 1;
                Event::Fresh {
                    at: last_seen,
                    stale_since: states.get(&metric).map_or(now, |s| s.at),
                }
            }
        };
        report.notices.push(Notice { metric, event });
    }
    if told != (0, 0) {
        report.note(format!(
            "freshness: {} metric(s) went stale, {} came back",
            told.0, told.1
        ));
    }
    Ok(())
}

/// After a live ingest that read `read` rows: the batch goes stale when it read none but
/// usually returns rows, stays stale while it reads none, and comes back when it reads rows.
async fn check_batch(
    ctx: &JobCtx,
    batch: &Batch,
    states: &BTreeMap<String, StaleState>,
    read: usize,
    report: &mut JobReport,
) -> Result<(), JobError> {
    if batch.spec.stale_after_n == 0 {
        return Ok(());
    }
    let now = ctx.run_ts.naive_utc();
    let was_stale = states.get("").is_some_and(|s| s.stale);
    let stale_now = read == 0
        && (was_stale
            || usually_returns_rows(
                &ctx.store
                    .recent_ingest_rows(batch.name(), INGEST_HISTORY)
                    .await?,
            ));
    let Some(change) = transition(was_stale, stale_now) else {
        return Ok(());
    };
    let record = StateChange {
        metric: String::new(),
        stale: change == Transition::WentStale,
        at: now,
        last_seen: None,
        interval_seconds: None,
    };
    if !ctx.store.change_freshness(batch.name(), &record).await? {
        return Ok(());
    }
    let event = match change {
        Transition::WentStale => Event::NoRows { at: now },
        Transition::CameBack => Event::Fresh {
            at: now,
            stale_since: states.get("").map_or(now, |s| s.at),
        },
    };
    report.note(match change {
        Transition::WentStale => "freshness: the batch went stale (no rows)",
        Transition::CameBack => "freshness: the batch returns rows again",
    });
    report.notices.push(Notice {
        metric: String::new(),
        event,
    });
    Ok(())
}
