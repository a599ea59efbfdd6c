//! Alert budgets (`alert_budget: 2/day`): how many ML alerts a metric may send per period.
//!
//! Two parts. The *calibration* raises a metric's threshold from its own recent score history
//! so that, replayed under the metric's alert rule, that history would have alerted no more
//! often than the budget allows: the expected rate stays within budget without anyone tuning
//! thresholds per metric. The *cap* holds back any alert beyond the budget within the rolling
//! period anyway (a burst the history did not foresee): it is saved and shown "over budget",
//! and goes in the daily summary instead of at once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::rules::{AlertPoint, AlertRule, Rearm, largest_move, snoozed_decisions};

/// Periods of score history the calibration looks at (a week of a daily budget).
pub const HISTORY_PERIODS: i64 = 7;

/// At most `alerts` ML alerts in any `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AlertBudget {
    pub alerts: u32,
    pub period_seconds: i64,
}

const UNITS: [(&str, i64); 3] = [("hour", 3600), ("day", 86_400), ("week", 604_800)];

impl FromStr for AlertBudget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wrong = || {
            format!("expected alerts per period like `2/day`, `5/week` or `1/hour`, got `{text}`")
        };
        let (alerts, unit) = text.split_once('/').ok_or_else(wrong)?;
        let alerts: u32 = alerts.trim().parse().map_err(|_| wrong())?;
        if alerts == 0 {
            return Err(format!(
                "`{text}` allows no alert; use disable_alert: true to turn alerts off"
            ));
        }
        let unit = unit.trim().to_ascii_lowercase();
        let unit = unit.strip_suffix('s').unwrap_or(&unit);
        let period_seconds = UNITS
            .iter()
            .find(|(name, _)| *name == unit || name[..1] == *unit)
            .map(|(_, s)| *s)
            .ok_or_else(wrong)?;
        Ok(Self {
            alerts,
            period_seconds,
        })
    }
}

impl TryFrom<String> for AlertBudget {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for AlertBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match UNITS.iter().find(|(_, s)| *s == self.period_seconds) {
            Some((unit, _)) => write!(f, "{}/{unit}", self.alerts),
            None => write!(f, "{}/{}s", self.alerts, self.period_seconds),
        }
    }
}

impl From<AlertBudget> for String {
    fn from(budget: AlertBudget) -> String {
        budget.to_string()
    }
}

impl AlertBudget {
    /// How far back the calibration reads scores.
    pub fn history_seconds(&self) -> i64 {
        self.period_seconds * HISTORY_PERIODS
    }

    /// Whether an alert at `at` (unix seconds) is beyond the budget: `alerts` alerts within
    /// budget (`spent`, unix seconds) already fell in the period ending at it.
    pub fn exceeded(&self, spent: &[i64], at: i64) -> bool {
        let used = spent
            .iter()
            .filter(|&&t| t > at - self.period_seconds && t <= at)
            .count();
        used >= self.alerts as usize
    }
}

/// The threshold that keeps `points` (a metric's scored history, oldest first, spanning
/// `span_seconds`) within `budget`: the rule's own threshold when the history would not have
/// alerted more than the budget allows over its span, else the lowest score level at which it
/// would not have. The rule is replayed whole: smoothing, extremes, the move's noise floor,
/// feedback mutes, snooze and re-arming, so a metric whose alerts those already hold back is
/// not raised for them. A history shorter than one period says too little: the rule's
/// threshold stands, and the cap alone keeps the budget.
pub fn budget_threshold(
    rule: &AlertRule,
    points: &[AlertPoint],
    span_seconds: i64,
    budget: AlertBudget,
) -> f64 {
    let n = points.len();
    if n == 0 || span_seconds < budget.period_seconds {
        return rule.threshold;
    }
    let allowed = usize::try_from(
        i64::from(budget.alerts).saturating_mul(span_seconds) / budget.period_seconds,
    )
    .unwrap_or(usize::MAX);
    let smoothed = rule.smoothed(points);
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    // What does not depend on the threshold is worked out once.
    let gate: Vec<bool> = (0..n)
        .map(|i| !points[i].muted && rule.moved_enough(largest_move(&values, i)))
        .collect();
    // The score a point fires on: its smoothed score, or its own when it is extreme.
    let level: Vec<f64> = (0..n)
        .map(|i| {
            if points[i].extreme {
                smoothed[i].max(points[i].score)
            } else {
                smoothed[i]
            }
        })
        .collect();
    let alerts_at = |t: f64| {
        let fires: Vec<bool> = (0..n).map(|i| gate[i] && level[i] >= t).collect();
        let quiet: Vec<bool> = smoothed.iter().map(|s| *s < t).collect();
        snoozed_decisions(
            &fires,
            &[],
            n,
            rule.snooze_n,
            (rule.resolve_n > 0).then_some(Rearm {
                quiet: &quiet,
                n: rule.resolve_n,
            }),
        )
        .len()
    };
    if alerts_at(rule.threshold) <= allowed {
        return rule.threshold;
    }
    let mut candidates: Vec<f64> = level
        .iter()
        .copied()
        .filter(|l| l.is_finite() && *l > rule.threshold)
        .collect();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let Some(&top) = candidates.last() else {
        return rule.threshold;
    };
    if alerts_at(top) > allowed {
        // Even the highest level alerts too often (scores saturate): the cap holds the rest.
        return top;
    }
    // Fewer alerts as the threshold rises (snooze and re-arming aside): the lowest that fits.
    let (mut lo, mut hi) = (0, candidates.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if alerts_at(candidates[mid]) <= allowed {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    candidates[lo]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_read_as_alerts_per_period() {
        let b = |s: &str| s.parse::<AlertBudget>();
        assert_eq!(
            b("2/day"),
            Ok(AlertBudget {
                alerts: 2,
                period_seconds: 86_400
            })
        );
        assert_eq!(b(" 5 / Weeks").map(|b| b.to_string()), Ok("5/week".into()));
        assert_eq!(b("1/h").map(|b| b.period_seconds), Ok(3600));
        assert_eq!(b("3/d").map(|b| b.to_string()), Ok("3/day".into()));
        assert!(b("0/day").unwrap_err().contains("allows no alert"));
        for bad in ["2", "2/fortnight", "x/day", "-1/day", "2/"] {
            assert!(b(bad).unwrap_err().contains("like `2/day`"), "{bad}");
        }
    }

    #[test]
    fn the_cap_counts_alerts_within_the_period_before_the_point() {
        let b: AlertBudget = "2/day".parse().unwrap();
        assert!(!b.exceeded(&[], 100_000));
        assert!(!b.exceeded(&[90_000], 100_000));
        assert!(b.exceeded(&[20_000, 90_000], 100_000));
        // One of the two is more than a day before.
        assert!(!b.exceeded(&[13_600, 90_000], 100_000));
    }

    /// A metric scored every 5 minutes for `days` whose score jumps every `every` points
    /// (one point each), to one of 20 levels above 0.995 in turn.
    fn spiky(days: usize, every: usize) -> Vec<AlertPoint> {
        let n = days * 288;
        (0..n)
            .map(|i| {
                let score = if i % every == every - 1 {
                    0.996 + 0.0035 * ((i / every) % 20) as f64 / 19.0
                } else {
                    0.2
                };
                AlertPoint::scored(score)
            })
            .collect()
    }

    fn rule() -> AlertRule {
        AlertRule {
            threshold: 0.995,
            recent_n: 1,
            ..AlertRule::default()
        }
    }

    #[test]
    fn a_metric_that_would_alert_20_times_a_day_is_raised_to_its_budget() {
        // 288 points a day, a spike every 14 or 15: 20 alerts a day at the rule's threshold.
        let points = spiky(7, 14);
        let span = 7 * 86_400;
        let at = |t: f64| {
            snoozed_decisions(
                &rule()
                    .smoothed(&points)
                    .iter()
                    .map(|s| *s >= t)
                    .collect::<Vec<_>>(),
                &[],
                points.len(),
                0,
                None,
            )
            .len()
        };
        assert!(at(0.995) >= 7 * 20, "{}", at(0.995));
        for (budget, most) in [("2/day", 14), ("5/day", 35), ("10/week", 10)] {
            let budget: AlertBudget = budget.parse().unwrap();
            let t = budget_threshold(&rule(), &points, span, budget);
            assert!(t > 0.995, "{budget}: {t}");
            // The budget keeps the highest spikes.
            assert!(at(t) <= most, "{budget}: {} alerts at {t}", at(t));
            assert!(at(t) > 0, "{budget}: not silenced");
        }
        // A generous budget leaves the threshold alone.
        let t = budget_threshold(&rule(), &points, span, "30/day".parse().unwrap());
        assert_eq!(t, 0.995);
        // Too little history: the threshold stands (the cap keeps the budget).
        let t = budget_threshold(&rule(), &points[..200], 200 * 300, "2/day".parse().unwrap());
        assert_eq!(t, 0.995);
    }

    #[test]
    fn what_the_rule_already_holds_back_does_not_raise_the_threshold() {
        let points = spiky(7, 14);
        // A snooze of a day lets at most one alert a day through: within 2/day already.
        let snoozed = AlertRule {
            snooze_n: 288,
            ..rule()
        };
        let t = budget_threshold(&snoozed, &points, 7 * 86_400, "2/day".parse().unwrap());
        assert_eq!(t, 0.995);
        // Muted points do not count either.
        let muted: Vec<AlertPoint> = points
            .iter()
            .enumerate()
            .map(|(i, p)| AlertPoint {
                muted: i % 100 != 0,
                ..*p
            })
            .collect();
        let t = budget_threshold(&rule(), &muted, 7 * 86_400, "2/day".parse().unwrap());
        assert_eq!(t, 0.995);
    }
}
