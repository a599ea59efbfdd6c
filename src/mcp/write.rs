//! The write tools: feedback on an anomaly and silences. Each makes the same store calls, with
//! the same checks, as its `/api/v1` endpoint, so an assistant can do nothing a write token
//! could not do through the API. Only offered to callers with the write scope (see `mod.rs`).

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ToolError;
use super::args::{iso, parse_time};
use super::tools::find_batch;
use crate::config::Config;
use crate::notify::silence::SilenceForm;
use crate::store::{Feedback, Store};

#[derive(Debug, Deserialize)]
pub struct FeedbackArgs {
    pub batch: String,
    pub metric: String,
    pub at: String,
    /// `useful`, `not_useful` or `clear`.
    pub verdict: String,
}

/// `give_feedback`: 👍 (useful) or 👎 (not useful) on one anomaly, or `clear` to take it back.
pub async fn give_feedback(
    store: &Store,
    config: &Config,
    args: FeedbackArgs,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let batch = find_batch(config, &args.batch)?;
    if let Some(why) = crate::names::problem(&args.metric) {
        return Err(ToolError::BadInput(format!("`metric`: {why}")));
    }
    let at = parse_time("at", &args.at, now)?;
    let verdict = match args.verdict.as_str() {
        "useful" => Some(Feedback::Up),
        "not_useful" => Some(Feedback::Down),
        "clear" => None,
        other => {
            return Err(ToolError::BadInput(format!(
                "`verdict`: expected useful, not_useful or clear, got `{other}`"
            )));
        }
    };
    let table = &batch.spec.table_key;
    if !store
        .is_anomaly(table, batch.name(), &args.metric, at)
        .await?
    {
        return Err(ToolError::NotFound(format!(
            "metric `{}` of batch `{}` has no anomaly at {} (list_anomalies gives the times)",
            args.metric,
            batch.name(),
            iso(at)
        )));
    }
    store
        .set_feedback(table, batch.name(), &args.metric, at, verdict)
        .await?;
    Ok(json!({
        "batch": batch.name(), "metric": args.metric, "at": iso(at), "verdict": args.verdict,
        "effect": "later alerts of this metric learn from it (a not_useful verdict mutes alerts like it; a useful one keeps the point out of training)",
    }))
}

#[derive(Debug, Deserialize)]
pub struct SilenceArgs {
    pub batch: Option<String>,
    pub metric: Option<String>,
    pub tag: Option<String>,
    pub duration: Option<String>,
    pub ends_at: Option<String>,
    pub comment: Option<String>,
}

/// `add_silence`: mutes alerts matching batch / metric (glob) / tag for a while; made by `by`.
pub async fn add_silence(
    store: &Store,
    config: &Config,
    args: SilenceArgs,
    by: &str,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let duration = match (&args.duration, &args.ends_at) {
        (Some(d), None) => d.clone(),
        (None, Some(end)) => {
            let end = parse_time("ends_at", end, now)?;
            let minutes = (end - now).num_seconds().div_euclid(60) + 1;
            if end <= now {
                return Err(ToolError::BadInput(format!(
                    "`ends_at`: {} is not in the future",
                    iso(end)
                )));
            }
            format!("{minutes}m")
        }
        _ => {
            return Err(ToolError::BadInput(
                "give either `duration` (30m, 4h, 1d, 1w) or `ends_at`".into(),
            ));
        }
    };
    // The API's own form, so the checks and their wording are the API's.
    let form: SilenceForm = serde_json::from_value(json!({
        "batch": args.batch.unwrap_or_default(),
        "metric": args.metric.unwrap_or_default(),
        "tag": args.tag.unwrap_or_default(),
        "duration": duration,
        "comment": args.comment.unwrap_or_default(),
    }))
    .map_err(|e| ToolError::BadInput(e.to_string()))?;
    let new = form
        .silence(by, |b| config.batch(b).is_some())
        .map_err(ToolError::BadInput)?;
    let id = store.create_silence(&new).await?;
    let tag = (!new.tag_key.is_empty()).then(|| format!("{}={}", new.tag_key, new.tag_value));
    Ok(json!({
        "id": id, "batch": new.batch, "metric": new.metric, "tag": tag,
        "comment": new.comment, "created_by": new.created_by,
        "starts_at": iso(new.starts_at), "ends_at": iso(new.ends_at),
    }))
}
