//! What a run is given: what started it ([`Trigger`]) and everything a job needs besides
//! its batch ([`JobCtx`]).

use std::fmt;

use chrono::{DateTime, Utc};

use std::sync::Arc;

use crate::config::{Settings, Templates};
use crate::connectors::Connectors;
use crate::llm::LlmClient;
use crate::notify::Notifier;
use crate::store::Store;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Admin,
    Api,
    Cli,
    Chain,
    /// `anomstack backfill`.
    Backfill,
    /// History given to an empty batch when the app starts (`ANOMSTACK_SEED_HOURS`).
    Seed,
}

impl Trigger {
    pub const ALL: [Trigger; 7] = [
        Trigger::Schedule,
        Trigger::Admin,
        Trigger::Api,
        Trigger::Cli,
        Trigger::Chain,
        Trigger::Backfill,
        Trigger::Seed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Admin => "admin",
            Trigger::Api => "api",
            Trigger::Cli => "cli",
            Trigger::Chain => "chain",
            Trigger::Backfill => "backfill",
            Trigger::Seed => "seed",
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
                format!(
                    "unknown trigger `{s}` (one of schedule, admin, api, cli, chain, backfill, seed)"
                )
            })
    }
}

/// The long-lived parts every run shares: the app database, where alerts go, the LLM
/// `llmalert` asks and the engines batches read from. Built once per process.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    /// Sends the notices of a successful run; `None` only logs them.
    pub notifier: Option<Arc<Notifier>>,
    /// The LLM `llmalert` asks; `None` when none is configured.
    pub llm: Option<Arc<LlmClient>>,
    /// The `db` engines and object stores batches use.
    pub connectors: Connectors,
}

/// Why the services the settings describe cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error("cannot set up alert delivery: {0}")]
    Notify(#[from] crate::notify::NotifyError),
    #[error("cannot set up the LLM client: {0}")]
    Llm(#[from] crate::llm::LlmError),
}

impl Services {
    /// Services that send nothing and reach only the app database and local files.
    pub fn local(store: Store) -> Self {
        Self {
            store,
            notifier: None,
            llm: None,
            connectors: Connectors::default(),
        }
    }

    /// The channels, LLM and engines `settings` configure, said in the log (never their
    /// secrets).
    pub fn from_settings(store: Store, settings: &Settings) -> Result<Self, ServicesError> {
        let c = &settings.channels;
        let on: Vec<&str> = [
            c.email.as_ref().map(|_| "email"),
            c.slack.as_ref().map(|_| "slack"),
            c.webhook.as_ref().map(|_| "webhook"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if on.is_empty() {
            tracing::info!(
                "no alert channels configured: alerts are saved and shown, not sent (see .example.env)"
            );
        } else {
            tracing::info!(channels = on.join(","), "alert channels configured");
        }
        let llm = match &settings.llm {
            None => None,
            Some(llm) => {
                let url = crate::config::mask::mask_url_password(&llm.base_url)
                    .unwrap_or_else(|| llm.base_url.clone());
                tracing::info!(url, "LLM configured for llmalert");
                Some(Arc::new(LlmClient::new(llm.clone())?))
            }
        };
        Ok(Self {
            store,
            notifier: Some(Arc::new(Notifier::new(c.clone())?)),
            llm,
            connectors: Connectors::from_settings(settings),
        })
    }
}

/// When a run's notices are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Before the run is recorded as done, within `notify::DELIVERY_DEADLINE` (what the
    /// log of the run then says).
    #[default]
    Awaited,
    /// In a task of its own, so the caller (a push request) is not held by a slow channel.
    Detached,
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
    pub notifier: Option<Arc<Notifier>>,
    /// When the notices are sent.
    pub delivery: Delivery,
    /// The LLM `llmalert` asks; `None` when none is configured.
    pub llm: Option<Arc<LlmClient>>,
    /// The `db` engines and object stores batches use.
    pub connectors: Connectors,
    /// A run at a past time, filling in history (a backfill or seed): freshness, which is
    /// about now, is not judged.
    pub history: bool,
}

impl JobCtx {
    /// A run at `run_ts` with the process's services and the configuration's templates.
    pub fn for_run(services: &Services, templates: Templates, run_ts: DateTime<Utc>) -> Self {
        Self {
            store: services.store.clone(),
            templates,
            run_ts,
            queue_id: None,
            notifier: services.notifier.clone(),
            delivery: Delivery::default(),
            llm: services.llm.clone(),
            connectors: services.connectors.clone(),
            history: false,
        }
    }

    /// A context that sends nothing and reaches only the app database and local files.
    pub fn new(store: Store, templates: Templates, run_ts: DateTime<Utc>) -> Self {
        Self::for_run(&Services::local(store), templates, run_ts)
    }

    /// The same context at another logical time.
    pub fn at(&self, run_ts: DateTime<Utc>) -> Self {
        Self {
            run_ts,
            ..self.clone()
        }
    }
}
