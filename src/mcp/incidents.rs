//! The incident tools: list incidents (read), and acknowledge or resolve one (write, the same
//! store call as the admin button and `/api/v1/incidents/{id}/...`, with who and when).

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ToolError;
use crate::incident::State;
use crate::store::{Store, Transition};

/// Incidents listed at most.
const MAX_LISTED: usize = 200;

#[derive(Debug, Deserialize)]
pub struct ListArgs {
    /// `active` (open or acknowledged, the default), `open`, `acknowledged`, `resolved` or `all`.
    pub state: Option<String>,
    pub limit: Option<usize>,
}

/// `list_incidents`: the newest incidents in a state, open and acknowledged ones first.
pub async fn list_incidents(store: &Store, args: ListArgs) -> Result<Value, ToolError> {
    let limit = args.limit.unwrap_or(20).clamp(1, MAX_LISTED);
    let wanted = args.state.as_deref().unwrap_or("active");
    let found = match (wanted, State::parse(wanted)) {
        ("all", _) => store.incidents(limit).await?,
        ("active", _) => store.active_incidents().await?,
        (_, Some(state)) => store.incidents_in(state, limit).await?,
        (other, None) => {
            return Err(ToolError::BadInput(format!(
                "`state`: expected active, open, acknowledged, resolved or all, got `{other}`"
            )));
        }
    };
    let incidents: Vec<Value> = found.iter().take(limit).map(|i| i.json()).collect();
    Ok(json!({ "state": wanted, "incidents": incidents }))
}

#[derive(Debug, Deserialize)]
pub struct MoveArgs {
    pub incident: i64,
}

/// `acknowledge_incident` and `resolve_incident`: moves the incident forward for `by`.
pub async fn move_incident(
    store: &Store,
    args: MoveArgs,
    to: State,
    by: &str,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let moved = store.set_incident_state(args.incident, to, by, now).await?;
    let changed = match moved {
        Transition::Missing => {
            return Err(ToolError::NotFound(format!(
                "there is no incident #{} (list_incidents gives them)",
                args.incident
            )));
        }
        Transition::Changed => true,
        Transition::Already(..) => false,
    };
    let Some(incident) = store.incident(args.incident).await? else {
        return Err(ToolError::NotFound(format!(
            "there is no incident #{}",
            args.incident
        )));
    };
    let mut out = incident.json();
    out["changed"] = changed.into();
    Ok(out)
}
