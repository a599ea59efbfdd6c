//! The typed configuration of one metric batch: every key of `defaults.yaml` with the original
//! Anomstack names, after all layers are merged. Values that have rules (cron strings, methods,
//! resample rules, enums) are parsed here, so the rest of the program never sees raw strings.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::cron_schedule::CronSchedule;
use crate::detect::budget::AlertBudget;
use crate::detect::{Aggregation, Combination, Direction, Preprocess, ScoreMethod};
use crate::dialect::Dialect;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    pub metric_batch: String,
    pub db: DbKind,
    pub table_key: String,
    pub disable_batch: bool,
    pub ingest_sql: Option<String>,
    pub ingest_fn: Option<String>,
    pub ingest_cmd: Option<String>,
    pub ingest_timeout_seconds: u64,
    pub ingest_metric_rounding: u32,
    pub score_metric_rounding: u32,
    pub summary_metric_timestamp_max_days_ago: u32,
    pub metric_tags: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    pub delete_after_n_days: u32,
    pub chain_after_ingest: bool,
    pub vars: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub gcp_project_id: Option<String>,

    pub disable_dashboard: bool,
    pub dashboard_stale_metric_max_days_ago: u32,

    pub model_path: String,
    pub model_configs: Vec<ModelConfig>,
    pub model_combination_method: CombinationMethod,
    pub model_score_method: ScoreMethod,
    pub train_max_n: usize,
    pub train_min_n: usize,
    pub train_metric_timestamp_max_days_ago: u32,
    pub score_max_n: usize,
    pub score_metric_timestamp_max_days_ago: u32,
    pub preprocess_params: PreprocessParams,
    pub train_exclude_metrics: Vec<String>,
    pub score_exclude_metrics: Vec<String>,

    pub alert_methods: Methods,
    /// Channels for change alerts; `None` means `alert_methods`.
    pub change_methods: Option<Methods>,
    /// Channels for LLM alerts; `None` means `alert_methods`.
    pub llmalert_methods: Option<Methods>,
    /// Where alerts go by metric tag; the first matching route decides.
    pub routes: Vec<Route>,
    pub alert_always: bool,
    /// Send a "back to normal" notice once a metric that alerted has this many scored points
    /// below the threshold after its alert (0: never).
    pub alert_resolve_n: usize,
    pub alert_metric_timestamp_max_days_ago: u32,
    pub alert_recent_n: usize,
    pub alert_max_n: usize,
    pub alert_smooth_n: usize,
    pub alert_snooze_n: usize,
    pub alert_threshold: f64,
    pub alert_exclude_metrics: Vec<String>,
    /// A point whose raw score exceeds its model's training maximum by this share of the
    /// training score range alerts on its own score, without smoothing (`None`: never).
    pub alert_extreme_margin: Option<f64>,
    pub alert_direction: Direction,
    pub alert_min_abs_change: f64,
    pub alert_min_rel_change: f64,
    /// Per-metric values of the alert rule's direction and noise floor, and of staleness.
    pub metric_alert_settings: BTreeMap<String, MetricAlertSettings>,
    /// A 👎 mutes a metric's ML alerts up to the rejected point's level times 1 + this.
    pub feedback_margin: f64,
    /// Scored points after which a 👎's mute has halved (0: feedback does not mute).
    pub feedback_half_life_n: usize,
    /// At most this many ML alerts per period for each metric (`2/day`); none: no budget.
    pub alert_budget: Option<AlertBudget>,
    /// A metric is stale when nothing arrived for this many of its usual intervals (0: never).
    pub stale_after_n: usize,
    /// Alerts of the batch (or sharing a metric tag) within this many minutes of an
    /// incident's last alert join it (0: no incidents, every alert told on its own).
    pub incident_window_minutes: u32,

    pub tholdalert_methods: Methods,
    pub tholdalert_recent_n: usize,
    pub tholdalert_snooze_n: usize,
    pub tholdalert_thresholds: BTreeMap<String, ThresholdBounds>,
    pub tholdalert_exclude_metrics: Vec<String>,

    pub change_metric_timestamp_max_days_ago: u32,
    pub change_max_n: usize,
    pub change_smooth_n: usize,
    pub change_snooze_n: usize,
    pub change_threshold: f64,
    pub change_detect_last_n: usize,
    pub change_include_metrics: Vec<String>,
    pub change_exclude_metrics: Vec<String>,

    pub llmalert_model: String,
    pub llmalert_recent_n: usize,
    pub llmalert_smooth_n: usize,
    pub llmalert_metric_rounding: i32,
    pub llmalert_metric_timestamp_max_days_ago: u32,
    pub llmalert_prompt_max_n: usize,
    pub llmalert_include_plot: bool,
    pub llmalert_anomaly_agent_detection_prompt: Option<String>,
    pub llmalert_anomaly_agent_system_prompt: Option<String>,
    pub llmalert_anomaly_agent_verification_prompt: Option<String>,

    pub ingest_cron_schedule: CronSchedule,
    pub ingest_default_schedule_status: ScheduleStatus,
    pub train_cron_schedule: CronSchedule,
    pub train_default_schedule_status: ScheduleStatus,
    pub score_cron_schedule: CronSchedule,
    pub score_default_schedule_status: ScheduleStatus,
    pub alert_cron_schedule: CronSchedule,
    pub alert_default_schedule_status: ScheduleStatus,
    pub change_cron_schedule: CronSchedule,
    pub change_default_schedule_status: ScheduleStatus,
    pub llmalert_cron_schedule: CronSchedule,
    pub llmalert_default_schedule_status: ScheduleStatus,
    pub plot_cron_schedule: CronSchedule,
    pub plot_default_schedule_status: ScheduleStatus,
    pub delete_cron_schedule: CronSchedule,
    pub delete_default_schedule_status: ScheduleStatus,
    pub summary_cron_schedule: CronSchedule,

    pub disable_ingest: bool,
    pub disable_train: bool,
    pub disable_score: bool,
    pub disable_alert: bool,
    pub disable_change: bool,
    pub disable_llmalert: bool,
    pub disable_plot: bool,
    pub disable_summary: bool,
    pub disable_delete: bool,
    pub disable_tholdalert: bool,

    pub train_sql: String,
    pub score_sql: String,
    pub alert_sql: String,
    pub change_sql: String,
    pub llmalert_sql: String,
    pub plot_sql: String,
    pub delete_sql: String,
    pub summary_sql: String,
    pub preprocess_fn: Option<String>,
    pub prompt_fn: Option<String>,
    pub dashboard_sql: Option<String>,
    /// The dialect `ingest_sql` is written in; `auto` is the dialect of the engine `db` names.
    /// SQL that runs on another engine (DuckDB SQL on the app database) is translated.
    pub sql_dialect: SqlDialect,
    /// Keys that are not configuration keys, kept as template variables.
    #[serde(default, rename = "__custom")]
    pub custom: BTreeMap<String, serde_json::Value>,
}

/// The SQL dialect a batch's `ingest_sql` is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    /// The dialect of the engine `db` names.
    Auto,
    Duckdb,
    Sqlite,
}

impl SqlDialect {
    pub fn as_str(self) -> &'static str {
        match self {
            SqlDialect::Auto => "auto",
            SqlDialect::Duckdb => "duckdb",
            SqlDialect::Sqlite => "sqlite",
        }
    }
}

/// The per-batch jobs, each with its own cron, default status and disable flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchJob {
    Ingest,
    Train,
    Score,
    Alert,
    Change,
    Llmalert,
    Plot,
    Delete,
}

impl BatchJob {
    pub const ALL: [BatchJob; 8] = [
        BatchJob::Ingest,
        BatchJob::Train,
        BatchJob::Score,
        BatchJob::Alert,
        BatchJob::Change,
        BatchJob::Llmalert,
        BatchJob::Plot,
        BatchJob::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BatchJob::Ingest => "ingest",
            BatchJob::Train => "train",
            BatchJob::Score => "score",
            BatchJob::Alert => "alert",
            BatchJob::Change => "change",
            BatchJob::Llmalert => "llmalert",
            BatchJob::Plot => "plot",
            BatchJob::Delete => "delete",
        }
    }
}

impl fmt::Display for BatchJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's schedule as configured for one batch.
#[derive(Debug, Clone, Copy)]
pub struct JobSchedule<'a> {
    pub cron: &'a CronSchedule,
    pub default_status: ScheduleStatus,
    pub disabled: bool,
}

impl BatchSpec {
    pub fn schedule(&self, job: BatchJob) -> JobSchedule<'_> {
        let (cron, default_status, disabled) = match job {
            BatchJob::Ingest => (
                &self.ingest_cron_schedule,
                self.ingest_default_schedule_status,
                self.disable_ingest,
            ),
            BatchJob::Train => (
                &self.train_cron_schedule,
                self.train_default_schedule_status,
                self.disable_train,
            ),
            BatchJob::Score => (
                &self.score_cron_schedule,
                self.score_default_schedule_status,
                self.disable_score,
            ),
            BatchJob::Alert => (
                &self.alert_cron_schedule,
                self.alert_default_schedule_status,
                self.disable_alert,
            ),
            BatchJob::Change => (
                &self.change_cron_schedule,
                self.change_default_schedule_status,
                self.disable_change,
            ),
            BatchJob::Llmalert => (
                &self.llmalert_cron_schedule,
                self.llmalert_default_schedule_status,
                self.disable_llmalert,
            ),
            BatchJob::Plot => (
                &self.plot_cron_schedule,
                self.plot_default_schedule_status,
                self.disable_plot,
            ),
            BatchJob::Delete => (
                &self.delete_cron_schedule,
                self.delete_default_schedule_status,
                self.disable_delete,
            ),
        };
        JobSchedule {
            cron,
            default_status,
            disabled,
        }
    }

    /// Preprocessing settings for the detectors.
    pub fn preprocess(&self) -> Preprocess {
        let p = &self.preprocess_params;
        Preprocess {
            diff_n: p.diff_n,
            smooth_n: p.smooth_n,
            lags_n: p.lags_n,
            resample_seconds: p.freq.as_ref().map(|f| f.seconds() as i64),
            aggregation: match p.freq_agg {
                FreqAgg::Mean => Aggregation::Mean,
                FreqAgg::Sum => Aggregation::Sum,
            },
            center: p.center,
        }
    }

    pub fn combination(&self) -> Combination {
        match self.model_combination_method {
            CombinationMethod::Mean => Combination::Mean,
            CombinationMethod::Min => Combination::Min,
            CombinationMethod::Max => Combination::Max,
        }
    }

    /// The dialect `ingest_sql` is written in: `sql_dialect`, or that of `db`.
    pub fn ingest_dialect(&self) -> Dialect {
        match self.sql_dialect {
            SqlDialect::Duckdb => Dialect::Duckdb,
            SqlDialect::Sqlite => Dialect::Sqlite,
            SqlDialect::Auto => self.db.dialect(),
        }
    }

    /// The detection system prompt, honouring the original's legacy key name.
    pub fn llm_detection_prompt(&self) -> Option<&str> {
        self.llmalert_anomaly_agent_detection_prompt
            .as_deref()
            .or(self.llmalert_anomaly_agent_system_prompt.as_deref())
    }
}

/// Where `ingest_sql` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Sqlite,
    Turso,
    Duckdb,
    Clickhouse,
    Bigquery,
    Snowflake,
    Postgres,
    Redshift,
}

impl DbKind {
    /// The SQL dialect the engine speaks.
    pub fn dialect(self) -> Dialect {
        match self {
            DbKind::Sqlite | DbKind::Turso => Dialect::Sqlite,
            DbKind::Duckdb => Dialect::Duckdb,
            _ => Dialect::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub model_name: String,
    #[serde(default)]
    pub model_tag: Option<String>,
    #[serde(default)]
    pub model_params: BTreeMap<String, serde_json::Value>,
    /// This model's own feature settings, over the batch's `preprocess_params`. (anomstack-rs)
    #[serde(default)]
    pub preprocess_params: Option<PreprocessOverride>,
}

/// Feature settings one model may set for itself. Resampling stays a batch setting: it
/// defines the series every model sees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessOverride {
    pub diff_n: Option<usize>,
    pub smooth_n: Option<usize>,
    pub lags_n: Option<usize>,
    pub center: Option<bool>,
}

impl ModelConfig {
    /// The tag that names this model's file; the lower-cased model name when none is given.
    pub fn tag(&self) -> String {
        self.model_tag
            .clone()
            .unwrap_or_else(|| self.model_name.to_ascii_lowercase())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CombinationMethod {
    Mean,
    Min,
    Max,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessParams {
    pub diff_n: usize,
    pub smooth_n: usize,
    pub lags_n: usize,
    pub freq: Option<ResampleFreq>,
    pub freq_agg: FreqAgg,
    pub center: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreqAgg {
    Mean,
    Sum,
}

/// A pandas-style resampling rule (`10min`, `1h`, `30s`, `1d`, `T`), kept as written and as
/// a length in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResampleFreq {
    text: String,
    seconds: u64,
}

impl ResampleFreq {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let count: u64 = if digits.is_empty() {
            1
        } else {
            digits
                .parse()
                .map_err(|_| format!("invalid resample rule `{text}`"))?
        };
        let unit_seconds = match unit {
            "s" | "S" | "sec" => 1,
            "min" | "T" | "m" => 60,
            "h" | "H" => 3_600,
            "d" | "D" => 86_400,
            "w" | "W" => 604_800,
            _ => {
                return Err(format!(
                    "invalid resample rule `{text}`: expected a number and a unit (s, min, h, d, w), like `10min`"
                ));
            }
        };
        if count == 0 {
            return Err(format!(
                "invalid resample rule `{text}`: the length must be above 0"
            ));
        }
        let seconds = count
            .checked_mul(unit_seconds)
            .ok_or_else(|| format!("invalid resample rule `{text}`: too long"))?;
        Ok(Self {
            text: text.to_owned(),
            seconds,
        })
    }

    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for ResampleFreq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ResampleFreq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ResampleFreq::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ScheduleStatus {
    Running,
    Stopped,
}

impl<'de> Deserialize<'de> for ScheduleStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.trim().to_ascii_uppercase().as_str() {
            "RUNNING" => Ok(ScheduleStatus::Running),
            "STOPPED" => Ok(ScheduleStatus::Stopped),
            _ => Err(serde::de::Error::custom(format!(
                "unknown schedule status `{raw}`; expected RUNNING or STOPPED"
            ))),
        }
    }
}

/// Sends alerts of metrics whose tags match to other channels or recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Tag values that must all be equal (`{priority: p1}`); empty matches every alert.
    #[serde(rename = "match", default)]
    pub matchers: BTreeMap<String, String>,
    /// The channels instead of the batch's; `None` keeps them.
    #[serde(default)]
    pub methods: Option<Methods>,
    /// Email recipients instead of `ANOMSTACK_ALERT_EMAIL_TO`.
    #[serde(default)]
    pub email_to: Vec<String>,
    /// Slack channel instead of `ANOMSTACK_SLACK_CHANNEL`.
    #[serde(default)]
    pub slack_channel: Option<String>,
    /// Webhook URL instead of `ANOMSTACK_WEBHOOK_URL`.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// An alert channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertMethod {
    Email,
    Slack,
    Webhook,
}

impl AlertMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertMethod::Email => "email",
            AlertMethod::Slack => "slack",
            AlertMethod::Webhook => "webhook",
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "email" => Ok(AlertMethod::Email),
            "slack" => Ok(AlertMethod::Slack),
            "webhook" => Ok(AlertMethod::Webhook),
            other => Err(format!(
                "unknown alert method `{other}`; expected email, slack or webhook"
            )),
        }
    }
}

/// Alert channels, written as the original's comma-separated string (`email,slack`) or a list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Methods(pub Vec<AlertMethod>);

impl Methods {
    pub fn contains(&self, method: AlertMethod) -> bool {
        self.0.contains(&method)
    }
}

impl<'de> Deserialize<'de> for Methods {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<String>),
        }
        let items: Vec<String> = match Raw::deserialize(d)? {
            Raw::Text(text) => text.split(',').map(str::to_owned).collect(),
            Raw::List(list) => list,
        };
        let mut methods = Vec::new();
        for item in items.iter().filter(|i| !i.trim().is_empty()) {
            let m = AlertMethod::parse(item).map_err(serde::de::Error::custom)?;
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        Ok(Methods(methods))
    }
}

/// One metric's own alert settings (`metric_alert_settings`); each left out takes the batch's.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricAlertSettings {
    #[serde(default)]
    pub alert_direction: Option<Direction>,
    #[serde(default)]
    pub alert_min_abs_change: Option<f64>,
    #[serde(default)]
    pub alert_min_rel_change: Option<f64>,
    #[serde(default)]
    pub stale_after_n: Option<usize>,
    #[serde(default)]
    pub alert_budget: Option<AlertBudget>,
}

/// Threshold-alert bounds of one metric; either may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdBounds {
    #[serde(default)]
    pub upper: Option<f64>,
    #[serde(default)]
    pub lower: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_rules_parse_pandas_spellings() {
        assert_eq!(ResampleFreq::parse("10min").unwrap().seconds(), 600);
        assert_eq!(ResampleFreq::parse("T").unwrap().seconds(), 60);
        assert_eq!(ResampleFreq::parse("2H").unwrap().seconds(), 7200);
        assert_eq!(ResampleFreq::parse("1d").unwrap().seconds(), 86_400);
        assert!(ResampleFreq::parse("10 parsecs").is_err());
        assert!(ResampleFreq::parse("0min").is_err());
        assert!(ResampleFreq::parse("18446744073709551615min").is_err());
    }

    #[test]
    fn methods_parse_from_a_comma_string_or_a_list() {
        let m: Methods = serde_json::from_str("\"email, slack\"").unwrap();
        assert_eq!(m.0, [AlertMethod::Email, AlertMethod::Slack]);
        let m: Methods = serde_json::from_str("[\"webhook\"]").unwrap();
        assert_eq!(m.0, [AlertMethod::Webhook]);
        let m: Methods = serde_json::from_str("\"\"").unwrap();
        assert!(m.0.is_empty());
        let err = serde_json::from_str::<Methods>("\"email,pager\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown alert method `pager`"),
            "{err}"
        );
    }

    #[test]
    fn schedule_status_is_case_insensitive_but_strict() {
        let s: ScheduleStatus = serde_json::from_str("\"running\"").unwrap();
        assert_eq!(s, ScheduleStatus::Running);
        assert!(serde_json::from_str::<ScheduleStatus>("\"ON\"").is_err());
    }
}
