//! `backtest_metric`: "would it have fired?" The metric's stored scores and values replayed,
//! oldest first, through the batch's alert rule (`detect::rules::alert_decisions`, the rule the
//! alert job runs) with the caller's overrides, compared with the ML alerts actually stored.
//! Models are not retrained: this answers what a threshold or smoothing change does to these
//! very scores, in milliseconds.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ToolError;
use super::args::{iso, parse_time};
use super::tools::find_batch;
use crate::detect::rules::{AlertPoint, AlertRule, Direction, alert_decisions};
use crate::store::{MAX_WINDOW_POINTS, Store, Window};

/// Alert-rule keys a backtest may change, named as in the batch YAML.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub alert_threshold: Option<f64>,
    pub alert_smooth_n: Option<usize>,
    pub alert_snooze_n: Option<usize>,
    pub alert_resolve_n: Option<usize>,
    pub alert_direction: Option<Direction>,
    pub alert_min_abs_change: Option<f64>,
    pub alert_min_rel_change: Option<f64>,
}

impl Overrides {
    /// `rule` with these keys over it; the error names the key out of range.
    pub fn apply(&self, mut rule: AlertRule) -> Result<AlertRule, ToolError> {
        if let Some(t) = self.alert_threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(ToolError::BadInput(format!(
                    "`overrides.alert_threshold`: expected a number between 0 and 1, got {t}"
                )));
            }
            rule.threshold = t;
        }
        for (key, v) in [
            ("alert_min_abs_change", self.alert_min_abs_change),
            ("alert_min_rel_change", self.alert_min_rel_change),
        ] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(ToolError::BadInput(format!(
                    "`overrides.{key}`: expected a number of 0 or more"
                )));
            }
        }
        rule.smooth_n = self.alert_smooth_n.unwrap_or(rule.smooth_n);
        rule.snooze_n = self.alert_snooze_n.unwrap_or(rule.snooze_n);
        rule.resolve_n = self.alert_resolve_n.unwrap_or(rule.resolve_n);
        rule.direction = self.alert_direction.unwrap_or(rule.direction);
        rule.min_abs_change = self.alert_min_abs_change.unwrap_or(rule.min_abs_change);
        rule.min_rel_change = self.alert_min_rel_change.unwrap_or(rule.min_rel_change);
        Ok(rule)
    }
}

/// Which of `points` (one metric's scored history, oldest first) `rule` fires on when each
/// arrives in turn: every point may alert (`recent_n` is the whole history), and each alert
/// snoozes the ones after it, as in the alert job and `detect::replay`.
pub fn replay_alerts(rule: &AlertRule, points: &[AlertPoint]) -> Vec<usize> {
    let whole = AlertRule {
        recent_n: points.len(),
        always: false,
        ..*rule
    };
    alert_decisions(&whole, points, &vec![false; points.len()])
}

#[derive(Debug, Deserialize)]
pub struct BacktestArgs {
    pub batch: String,
    pub metric: String,
    #[serde(default)]
    pub overrides: Overrides,
    pub since: Option<String>,
}

/// Times listed per side at most (the counts are whole).
const LISTED: usize = 100;

pub async fn backtest_metric(
    store: &Store,
    config: &crate::config::Config,
    args: BacktestArgs,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let batch = find_batch(config, &args.batch)?;
    let table = &batch.spec.table_key;
    let configured = batch.spec.alert_rule_for(&args.metric);
    let rule = args.overrides.apply(configured)?;
    let mut points = match &args.since {
        Some(raw) => {
            let since = parse_time("since", raw, now)?;
            store
                .series_between(table, batch.name(), &args.metric, since, None)
                .await?
        }
        None => {
            store
                .dashboard_series(
                    table,
                    batch.name(),
                    &args.metric,
                    Window::Last(MAX_WINDOW_POINTS),
                    now,
                    None,
                )
                .await?
        }
    };
    if points.len() > MAX_WINDOW_POINTS {
        points.drain(..points.len() - MAX_WINDOW_POINTS);
    }
    points.retain(|p| p.score.is_some());
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Err(ToolError::NotFound(format!(
            "metric `{}` of batch `{}` has no stored scores here to replay",
            args.metric,
            batch.name()
        )));
    };
    let alert_points: Vec<AlertPoint> = points
        .iter()
        .map(|p| AlertPoint {
            score: p.score.unwrap_or(0.0),
            value: p.value.unwrap_or(f64::NAN),
            extreme: false,
            muted: false,
        })
        .collect();
    let would: BTreeSet<NaiveDateTime> = replay_alerts(&rule, &alert_points)
        .into_iter()
        .map(|i| points[i].timestamp)
        .collect();
    let actual: BTreeSet<NaiveDateTime> = points
        .iter()
        .filter(|p| p.alert)
        .map(|p| p.timestamp)
        .collect();
    let newest = |set: &mut dyn Iterator<Item = &NaiveDateTime>| -> Vec<String> {
        let mut v: Vec<String> = set.map(|t| iso(*t)).collect();
        v.reverse();
        v.truncate(LISTED);
        v
    };
    Ok(json!({
        "batch": batch.name(),
        "metric": args.metric,
        "from": iso(first.timestamp),
        "to": iso(last.timestamp),
        "scored_points": points.len(),
        "rule": {
            "alert_threshold": rule.threshold,
            "alert_smooth_n": rule.smooth_n,
            "alert_snooze_n": rule.snooze_n,
            "alert_resolve_n": rule.resolve_n,
            "alert_direction": rule.direction,
            "alert_min_abs_change": rule.min_abs_change,
            "alert_min_rel_change": rule.min_rel_change,
            "configured_threshold": configured.threshold,
        },
        "would_alert": {"count": would.len(), "newest": newest(&mut would.iter())},
        "actually_alerted": {"count": actual.len(), "newest": newest(&mut actual.iter())},
        "only_in_backtest": newest(&mut would.difference(&actual)),
        "only_actual": newest(&mut actual.difference(&would)),
        "note": "stored scores replayed through the alert rule (smoothing, threshold, move floor, snooze, re-arming); models are not retrained, and the extreme-score shortcut, feedback mutes and alert budgets are not replayed",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(scores: &[f64]) -> Vec<AlertPoint> {
        scores.iter().map(|&s| AlertPoint::scored(s)).collect()
    }

    #[test]
    fn a_lower_threshold_fires_at_least_as_often_and_snooze_holds_repeats() {
        let scores = [0.1, 0.85, 0.2, 0.95, 0.96, 0.1, 0.7, 0.1];
        let rule = AlertRule {
            threshold: 0.9,
            ..AlertRule::default()
        };
        assert_eq!(replay_alerts(&rule, &points(&scores)), vec![3, 4]);
        let snoozed = AlertRule {
            snooze_n: 2,
            ..rule
        };
        assert_eq!(replay_alerts(&snoozed, &points(&scores)), vec![3]);
        let low = AlertRule {
            threshold: 0.6,
            ..rule
        };
        assert_eq!(replay_alerts(&low, &points(&scores)), vec![1, 3, 4, 6]);
    }

    #[test]
    fn overrides_are_checked_and_applied() {
        let o: Overrides =
            serde_json::from_value(json!({"alert_threshold": 0.5, "alert_smooth_n": 3})).unwrap();
        let r = o.apply(AlertRule::default()).unwrap();
        assert_eq!((r.threshold, r.smooth_n), (0.5, 3));
        let bad: Overrides = serde_json::from_value(json!({"alert_threshold": 5})).unwrap();
        assert!(bad.apply(AlertRule::default()).is_err());
        assert!(serde_json::from_value::<Overrides>(json!({"alert_treshold": 0.5})).is_err());
    }
}
