//! Decision rules of the alert jobs, as pure functions of plain values so they are tested
//! without a database and shared by the jobs and the backtest.
//!
//! The anomaly-alert rule is the original's intent (its SQL smoothed towards newer points and
//! never snoozed the newest one): a point's smoothed score is the mean of its score and the
//! scores just before it, `smooth_n` in all; one of the newest `recent_n` points alerts when
//! its smoothed score reaches the threshold and no alert exists within the `snooze_n` points
//! before it, nor on the point itself.

/// The parameters of the anomaly-alert rule (`alert_*` keys).
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

/// Trailing mean over `window` scores (fewer at the start); NaN scores are left out, and a
/// window with only NaN gives NaN.
pub fn smoothed_scores(scores: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    (0..scores.len())
        .map(|i| {
            let start = (i + 1).saturating_sub(window);
            let (sum, n) = scores[start..=i]
                .iter()
                .filter(|s| !s.is_nan())
                .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            if n == 0 { f64::NAN } else { sum / n as f64 }
        })
        .collect()
}

/// Which of the newest `recent_n` points alert. `scores` are one metric's scores in time order
/// and `alerted[i]` says whether point i already has an alert row. Alerts decided here snooze
/// later points as well. Returns indices into `scores`, oldest first.
pub fn alert_decisions(rule: &AlertRule, scores: &[f64], alerted: &[bool]) -> Vec<usize> {
    let n = scores.len();
    if n == 0 {
        return Vec::new();
    }
    let smoothed = smoothed_scores(scores, rule.smooth_n);
    let mut has_alert: Vec<bool> = (0..n)
        .map(|i| alerted.get(i).copied().unwrap_or(false))
        .collect();
    let mut out = Vec::new();
    let first_recent = n.saturating_sub(rule.recent_n.max(1));
    for i in first_recent..n {
        let fires = if rule.always {
            i == n - 1
        } else {
            smoothed[i] >= rule.threshold
        };
        if !fires || has_alert[i] {
            continue;
        }
        let snoozed = (i.saturating_sub(rule.snooze_n)..i).any(|j| has_alert[j]);
        if snoozed && !rule.always {
            continue;
        }
        has_alert[i] = true;
        out.push(i);
    }
    out
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
    fn alert_always_forces_the_newest_point() {
        let r = AlertRule {
            always: true,
            ..rule()
        };
        assert_eq!(alert_decisions(&r, &[0.0, 0.0], &[false; 2]), vec![1]);
    }
}
