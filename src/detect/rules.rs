//! Decision rules of the alert jobs, as pure functions of plain values so they are tested
//! without a database and shared by the jobs and the backtest.
//!
//! The anomaly-alert rule is the original's intent (its SQL smoothed towards newer points and
//! never snoozed the newest one): a point's smoothed score is the mean of its score and the
//! scores just before it, `smooth_n` in all; one of the newest `recent_n` points alerts when
//! its smoothed score reaches the threshold and no alert exists within the `snooze_n` points
//! before it, nor on the point itself.

use super::smoothed_scores;

/// When a metric's scores make an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRule {
    /// Scores averaged into the smoothed score, the newest included; 0 or 1 means no smoothing.
    pub smooth_n: usize,
    pub threshold: f64,
    /// Only the newest this-many points may alert.
    pub recent_n: usize,
    /// Points after an alert during which the metric does not alert again.
    pub snooze_n: usize,
    /// Alert on the newest point whatever its score (for testing channels).
    pub always: bool,
}

/// Which of the newest `recent_n` points alert. `scores` are one metric's scores in time order
/// and `alerted[i]` says whether point i already has an alert row. Alerts decided here snooze
/// later points as well. Returns indices into `scores`, oldest first.
pub fn alert_decisions(rule: &AlertRule, scores: &[f64], alerted: &[bool]) -> Vec<usize> {
    let n = scores.len();
    if n == 0 {
        return Vec::new();
    }
    if rule.always {
        // Forced: the newest point, whatever its score or history.
        return if alerted.get(n - 1).copied().unwrap_or(false) {
            Vec::new()
        } else {
            vec![n - 1]
        };
    }
    let smoothed = smoothed_scores(scores, rule.smooth_n);
    let fires: Vec<bool> = smoothed.iter().map(|s| *s >= rule.threshold).collect();
    snoozed_decisions(&fires, alerted, rule.recent_n, rule.snooze_n)
}

/// The snooze shared by every alert kind: of the newest `recent_n` points that fire, those
/// without an alert on themselves or within the `snooze_n` points before (alerts decided here
/// included). Indices oldest first.
pub fn snoozed_decisions(
    fires: &[bool],
    alerted: &[bool],
    recent_n: usize,
    snooze_n: usize,
) -> Vec<usize> {
    let n = fires.len();
    let mut has_alert: Vec<bool> = (0..n)
        .map(|i| alerted.get(i).copied().unwrap_or(false))
        .collect();
    let mut out = Vec::new();
    for i in n.saturating_sub(recent_n.max(1))..n {
        if !fires[i] || has_alert[i] {
            continue;
        }
        if (i.saturating_sub(snooze_n)..i).any(|j| has_alert[j]) {
            continue;
        }
        has_alert[i] = true;
        out.push(i);
    }
    out
}

/// Which bound a value breaches, upper checked first, and the bound's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Breach {
    Upper(f64),
    Lower(f64),
}

impl Breach {
    pub fn kind(&self) -> &'static str {
        match self {
            Breach::Upper(_) => "upper",
            Breach::Lower(_) => "lower",
        }
    }

    pub fn bound(&self) -> f64 {
        match self {
            Breach::Upper(b) | Breach::Lower(b) => *b,
        }
    }
}

/// Whether `value` is above `upper` or below `lower` (strictly, as the original).
pub fn threshold_breach(value: f64, upper: Option<f64>, lower: Option<f64>) -> Option<Breach> {
    match (upper, lower) {
        (Some(u), _) if value > u => Some(Breach::Upper(u)),
        (_, Some(l)) if value < l => Some(Breach::Lower(l)),
        _ => None,
    }
}

/// Change detection: the newest `detect_last_n` values whose MAD modified z-score against the
/// older values exceeds `threshold`, unless the metric already has a change flag among its
/// newest `snooze_n` points. Returns (index, z-score), oldest first.
pub fn change_decisions(
    values: &[f64],
    flagged: &[bool],
    detect_last_n: usize,
    snooze_n: usize,
    threshold: f64,
) -> Vec<(usize, f64)> {
    let n = values.len();
    let last = detect_last_n.max(1);
    // A reference window of a few points at least, or the median means little.
    if n < last.saturating_add(3) {
        return Vec::new();
    }
    if flagged[n.saturating_sub(snooze_n)..].iter().any(|f| *f) {
        return Vec::new();
    }
    let Ok(model) = crate::detect::MadModel::fit_values(&values[..n - last], threshold) else {
        return Vec::new();
    };
    (n - last..n)
        .map(|i| (i, model.score_value(values[i])))
        .filter(|(i, z)| *z > threshold && !flagged[*i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> AlertRule {
        AlertRule {
            smooth_n: 3,
            threshold: 0.8,
            recent_n: 1,
            snooze_n: 3,
            always: false,
        }
    }

    #[test]
    fn smoothing_looks_back_not_forward() {
        let s = smoothed_scores(&[0.0, 0.0, 0.3, 0.6, 0.9], 3);
        assert_eq!(s[4], 0.6);
        assert_eq!(s[0], 0.0);
        assert_eq!(
            smoothed_scores(&[1.0, f64::NAN, 3.0], 2),
            vec![1.0, 1.0, 3.0]
        );
    }

    #[test]
    fn the_newest_point_is_smoothed_before_the_threshold() {
        // A single high score among low ones does not alert (the original's quirk alerted).
        assert!(alert_decisions(&rule(), &[0.1, 0.1, 0.1, 0.95], &[false; 4]).is_empty());
        // Three high scores in a row do.
        assert_eq!(
            alert_decisions(&rule(), &[0.1, 0.9, 0.9, 0.9], &[false; 4]),
            vec![3]
        );
    }

    #[test]
    fn an_alert_snoozes_the_next_periods_and_its_own_timestamp() {
        let scores = [0.9; 6];
        // An alert two points ago snoozes the newest point.
        let mut alerted = [false; 6];
        alerted[3] = true;
        assert!(alert_decisions(&rule(), &scores, &alerted).is_empty());
        // Four points ago it no longer does.
        let mut alerted = [false; 6];
        alerted[1] = true;
        assert_eq!(alert_decisions(&rule(), &scores, &alerted), vec![5]);
        // The same point never alerts twice.
        let mut alerted = [false; 6];
        alerted[5] = true;
        assert!(alert_decisions(&rule(), &scores, &alerted).is_empty());
    }

    #[test]
    fn recent_points_snooze_each_other() {
        let r = AlertRule {
            recent_n: 5,
            smooth_n: 1,
            ..rule()
        };
        assert_eq!(alert_decisions(&r, &[0.9; 5], &[false; 5]), vec![0, 4]);
    }

    #[test]
    fn thresholds_check_upper_first_and_are_strict() {
        assert_eq!(
            threshold_breach(12.5, Some(12.0), Some(0.0)),
            Some(Breach::Upper(12.0))
        );
        assert_eq!(
            threshold_breach(-1.0, Some(12.0), Some(0.0)),
            Some(Breach::Lower(0.0))
        );
        assert_eq!(threshold_breach(12.0, Some(12.0), Some(0.0)), None);
        assert_eq!(threshold_breach(5.0, None, None), None);
    }

    #[test]
    fn a_level_shift_is_a_change_and_then_snoozed() {
        let mut values = vec![10.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9, 10.3];
        values.push(50.0);
        let flagged = vec![false; values.len()];
        let found = change_decisions(&values, &flagged, 1, 3, 3.5);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 8);
        assert!(found[0].1 > 3.5);
        // With a change flag among the newest points the metric is snoozed.
        let mut flagged = flagged;
        flagged[7] = true;
        assert!(change_decisions(&values, &flagged, 1, 3, 3.5).is_empty());
        // Calm values do not change.
        assert!(change_decisions(&values[..8], &[false; 8], 1, 3, 3.5).is_empty());
    }

    #[test]
    fn alert_always_forces_the_newest_point() {
        let r = AlertRule {
            always: true,
            ..rule()
        };
        assert_eq!(alert_decisions(&r, &[0.0, 0.0], &[false; 2]), vec![1]);
    }
}
