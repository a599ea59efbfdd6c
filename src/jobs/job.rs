//! What can be run: one job of a batch, a batch's whole pipeline, or the summary of all
//! batches ([`Job`], stored and shown by name); and the same resolved against a
//! configuration ([`Work`]), which is what [`super::run`] takes.

use crate::config::{Batch, BatchJob, Config};

/// The queue's name for "run the whole pipeline of a batch" (ingest → train → score → alert →
/// change), which the admin panel and API can queue like any job.
pub const PIPELINE_JOB: &str = "pipeline";

/// The queue's name for the daily summary across batches.
pub const SUMMARY_JOB: &str = "summary";

/// What the queue runs: one job of a batch, a batch's whole pipeline, or the summary of all
/// batches. Stored and shown by its name (`ingest`, `pipeline`, `summary`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Batch(BatchJob),
    Pipeline,
    Summary,
}

impl Job {
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Batch(job) => job.as_str(),
            Job::Pipeline => PIPELINE_JOB,
            Job::Summary => SUMMARY_JOB,
        }
    }
}

impl std::fmt::Display for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Job {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            PIPELINE_JOB => Ok(Job::Pipeline),
            SUMMARY_JOB => Ok(Job::Summary),
            _ => BatchJob::ALL
                .into_iter()
                .find(|j| j.as_str() == s)
                .map(Job::Batch)
                .ok_or_else(|| format!("unknown job `{s}`")),
        }
    }
}

/// A [`Job`] with what it runs on.
#[derive(Clone, Copy)]
pub enum Work<'a> {
    One(&'a Batch, BatchJob),
    Pipeline(&'a Batch),
    Summary(&'a [Batch]),
}

impl<'a> Work<'a> {
    /// `job` of the enabled, valid batch `batch` of `config` (any batch name for the summary).
    pub fn resolve(job: Job, batch: &str, config: &'a Config) -> Result<Self, String> {
        let find = || {
            config
                .batch(batch)
                .ok_or_else(|| format!("batch `{batch}` is not configured (or disabled)"))
        };
        Ok(match job {
            Job::Batch(one) => Work::One(find()?, one),
            Job::Pipeline => Work::Pipeline(find()?),
            Job::Summary => Work::Summary(&config.batches),
        })
    }

    pub fn job(&self) -> Job {
        match self {
            Work::One(_, job) => Job::Batch(*job),
            Work::Pipeline(_) => Job::Pipeline,
            Work::Summary(_) => Job::Summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_by_name() {
        for job in BatchJob::ALL
            .map(Job::Batch)
            .into_iter()
            .chain([Job::Pipeline, Job::Summary])
        {
            assert_eq!(job.to_string().parse::<Job>(), Ok(job));
        }
        assert!("cron".parse::<Job>().is_err());
    }
}
