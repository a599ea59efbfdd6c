//! Enqueues each batch's jobs at their cron times: every job that is not disabled and whose
//! schedule is on (the operator's choice in the admin panel, stored in the database, else the
//! batch's `<job>_default_schedule_status`), plus the daily summary (with the first batch's
//! `summary_cron_schedule`) while any batch keeps it on. A tick is queued with its logical
//! time; ticks of several schedulers sharing a database are queued once.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{ALL_BATCHES, Job, enqueue};
use std::sync::Arc;

use crate::config::{BatchJob, Config, CronSchedule, LiveConfig, ScheduleStatus};
use crate::jobs::Trigger;
use crate::store::Store;

/// One scheduled job.
#[derive(Debug, Clone)]
pub struct Entry {
    pub batch: String,
    pub job: Job,
    pub cron: CronSchedule,
    /// The config's default status is RUNNING.
    pub default_on: bool,
}

impl Entry {
    /// Whether the schedule runs, given the operators' overrides.
    pub fn is_on(&self, overrides: &Overrides) -> bool {
        schedule_on(overrides, &self.batch, self.job.as_str(), self.default_on)
    }
}

/// Whether the schedule of `job` of `batch` runs: the operators' choice, else the default.
pub fn schedule_on(overrides: &Overrides, batch: &str, job: &str, default_on: bool) -> bool {
    overrides
        .get(&(batch.to_owned(), job.to_owned()))
        .copied()
        .unwrap_or(default_on)
}

/// Operators' schedule choices by (batch, job), from [`Store::schedule_overrides`].
pub type Overrides = HashMap<(String, String), bool>;

/// Every schedule the config defines (on or off; disabled jobs have none).
pub fn entries(config: &Config) -> Vec<Entry> {
    let mut out = Vec::new();
    for batch in &config.batches {
        for job in BatchJob::ALL {
            let s = batch.spec.schedule(job);
            if !s.disabled {
                out.push(Entry {
                    batch: batch.name().to_owned(),
                    job: Job::Batch(job),
                    cron: s.cron.clone(),
                    default_on: s.default_status == ScheduleStatus::Running,
                });
            }
        }
    }
    if let Some(first) = config.batches.iter().find(|b| !b.spec.disable_summary) {
        out.push(Entry {
            batch: ALL_BATCHES.to_owned(),
            job: Job::Summary,
            cron: first.spec.summary_cron_schedule.clone(),
            default_on: true,
        });
    }
    out
}

/// The ticks due in (`from`, `to`], each entry's latest only (a late scheduler does not replay
/// every missed tick).
pub fn due(
    entries: &[Entry],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(usize, DateTime<Utc>)> {
    entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let mut last = None;
            let mut t = from;
            while let Some(next) = e.cron.next_after(t) {
                if next > to {
                    break;
                }
                last = Some(next);
                t = next;
            }
            last.map(|at| (i, at))
        })
        .collect()
}

/// Runs until `shutdown` resolves, checking every second for due ticks. A new configuration
/// replaces the schedules from the next tick on.
pub async fn run(store: Store, config: Arc<LiveConfig>, shutdown: impl Future<Output = ()>) {
    let mut updates = config.subscribe();
    let mut schedule = entries(&config.current());
    tracing::info!(jobs = schedule.len(), "scheduler started");
    let mut last = Utc::now();
    let mut unqueued: HashMap<usize, DateTime<Utc>> = HashMap::new();
    let mut overrides = store.schedule_overrides().await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "cannot read schedule switches yet");
        Overrides::new()
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            changed = updates.changed() => {
                if changed.is_ok() {
                    schedule = entries(&updates.borrow_and_update());
                    unqueued.clear();
                    tracing::info!(jobs = schedule.len(), "schedules replaced");
                }
                continue;
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let now = Utc::now();
        // Ticks the database was away for are still due: the latest of each entry.
        let mut ticks = std::mem::take(&mut unqueued);
        ticks.extend(due(&schedule, last, now));
        last = now;
        if ticks.is_empty() {
            continue;
        }
        // Read when something is due, so a change in the admin panel applies at the next tick;
        // if the database does not answer, the last switches read stand (an operator's "stop"
        // must not lapse during an outage).
        match store.schedule_overrides().await {
            Ok(o) => overrides = o,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read schedule switches; using the last ones read")
            }
        }
        for (i, at) in ticks {
            let e = &schedule[i];
            if !e.is_on(&overrides) {
                continue;
            }
            match enqueue(&store, &e.batch, e.job, Trigger::Schedule, at).await {
                Ok(Some(id)) => tracing::debug!(batch = e.batch, job = %e.job, id, "queued"),
                Ok(None) => {}
                Err(err) if err.is_unavailable() => {
                    tracing::warn!(batch = e.batch, job = %e.job, error = %err, "the database is unreachable; the tick is queued when it is back");
                    unqueued.insert(i, at);
                }
                Err(err) => {
                    tracing::warn!(batch = e.batch, job = %e.job, error = %err, "cannot queue a scheduled job")
                }
            }
        }
    }
    tracing::info!("scheduler stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn only_the_latest_missed_tick_is_due() {
        let e = vec![Entry {
            batch: "b".into(),
            job: Job::Batch(BatchJob::Ingest),
            cron: CronSchedule::parse("*/5 * * * *").unwrap(),
            default_on: true,
        }];
        let t = |m| Utc.with_ymd_and_hms(2026, 1, 1, 0, m, 0).single().unwrap();
        assert_eq!(due(&e, t(0), t(4)), vec![]);
        assert_eq!(due(&e, t(4), t(5)), vec![(0, t(5))]);
        assert_eq!(due(&e, t(0), t(17)), vec![(0, t(15))]);
    }

    #[test]
    fn an_override_beats_the_default_status() {
        let entry = |default_on| Entry {
            batch: "b".into(),
            job: Job::Batch(BatchJob::Train),
            cron: CronSchedule::parse("* * * * *").unwrap(),
            default_on,
        };
        let mut overrides = Overrides::new();
        assert!(entry(true).is_on(&overrides));
        assert!(!entry(false).is_on(&overrides));
        overrides.insert(("b".into(), "train".into()), false);
        assert!(!entry(true).is_on(&overrides));
        overrides.insert(("b".into(), "train".into()), true);
        assert!(entry(false).is_on(&overrides));
    }
}
