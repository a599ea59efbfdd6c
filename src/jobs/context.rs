//! What a run is given: what started it ([`Trigger`]) and everything a job needs besides
//! its batch ([`JobCtx`]).

use std::fmt;

use chrono::{DateTime, Utc};

use crate::config::Templates;
use crate::store::Store;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Admin,
    Api,
    Cli,
    Chain,
}

impl Trigger {
    pub const ALL: [Trigger; 5] = [
        Trigger::Schedule,
        Trigger::Admin,
        Trigger::Api,
        Trigger::Cli,
        Trigger::Chain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Admin => "admin",
            Trigger::Api => "api",
            Trigger::Cli => "cli",
            Trigger::Chain => "chain",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Trigger {
    type Err = String;

    /// The stored spelling; anything else is refused rather than taken for a schedule.
    fn from_str(s: &str) -> Result<Self, String> {
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown trigger `{s}` (one of schedule, admin, api, cli, chain)")
            })
    }
}

/// Everything a job needs besides its batch.
#[derive(Clone)]
pub struct JobCtx {
    pub store: Store,
    pub templates: Templates,
    /// The logical time of the run (a backfill sets it in the past).
    pub run_ts: DateTime<Utc>,
    /// The queued job this run belongs to, recorded on its `job_runs` row.
    pub queue_id: Option<i64>,
    /// Sends the notices of a successful run; `None` only logs them.
    pub notifier: Option<std::sync::Arc<crate::notify::Notifier>>,
    /// The LLM `llmalert` asks; `None` when none is configured.
    pub llm: Option<std::sync::Arc<crate::llm::LlmClient>>,
    /// The `db` engines and object stores batches use.
    pub connectors: crate::connectors::Connectors,
}

impl JobCtx {
    /// A context that sends nothing and reaches only the app database and local files; set
    /// the other fields for more.
    pub fn new(store: Store, templates: Templates, run_ts: DateTime<Utc>) -> Self {
        Self {
            store,
            templates,
            run_ts,
            queue_id: None,
            notifier: None,
            llm: None,
            connectors: Default::default(),
        }
    }
}
